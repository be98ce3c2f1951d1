"""Transparency (issue 38): the alpha plane upscaled and kept where the output holds it, else one warning and
no false ALPHA_MODE tag."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from conftest import run_rtsr_here

from rtsr.formats import LAYOUTS
from rtsr.io.alpha import output_alpha_format

RAMP = np.linspace(0, 255, 64)  # alpha across the picture, left to right


def make_alpha(path: Path, codec: str, pix_fmt: str, frames: int = 3, options: dict | None = None) -> Path:
    """A 64×48 red clip whose alpha ramps from 0 (left) to 255 (right)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=24, options=options or {})
        stream.width, stream.height, stream.pix_fmt = 64, 48, pix_fmt
        for index in range(frames):
            rgba = np.zeros((48, 64, 4), np.uint8)
            rgba[..., 0] = 200
            rgba[..., 3] = RAMP[None, :].astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format=pix_fmt)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _first_frame(path: Path) -> tuple[av.VideoFrame, dict]:
    """The first frame (VP9 through libvpx, the decoder that reads its alpha) and the stream's tags."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        tags = {key.lower(): value for key, value in stream.metadata.items()}
        if stream.codec_context.name == "vp9":
            decoder = av.CodecContext.create("libvpx-vp9", "r")
            frames = (f for packet in container.demux(stream) for f in decoder.decode(packet))
        else:
            frames = container.decode(stream)
        return next(frames), tags


def _alpha_row(frame: av.VideoFrame) -> np.ndarray:
    rgba = frame.reformat(format="rgba").to_ndarray()
    return rgba[rgba.shape[0] // 2, :, 3].astype(np.float64)


def _assert_ramp_upscaled(frame: av.VideoFrame, scale: int = 2) -> None:
    row = _alpha_row(frame)
    expected = np.interp(np.arange(64 * scale), np.arange(64) * scale + (scale - 1) / 2, RAMP)
    assert frame.width == 64 * scale and np.abs(row - expected).max() < 6, row[:12]


@pytest.mark.parametrize("name, codec, pix_fmt, extra, kept", [
    ("vp9.webm", "libvpx-vp9", "yuva420p", [], "yuva420p"),  # the default codec of .webm
    ("prores.mov", "prores_ks", "yuva444p10le", ["--codec", "prores_ks"], "yuva444p10le"),
    ("ffv1.mkv", "ffv1", "yuva420p", ["--codec", "ffv1", "--jobs", "2", "--segment-seconds", "0.05"], "yuva420p"),
])
def test_alpha_is_upscaled_and_kept(name, codec, pix_fmt, extra, kept, tmp_path, random_weights):
    src = make_alpha(tmp_path / name, codec, pix_fmt, frames=6, options={"g": "1"} if codec == "ffv1" else None)
    dst = tmp_path / f"out{Path(name).suffix}"
    result = run_rtsr_here(src, "-o", dst, "--scale", "2", "--engine", "cpu",
                           "--weights", random_weights("fsrcnn", 2), *extra)
    assert result.returncode == 0, result.stderr
    assert f"alpha: kept ({kept}; the alpha plane upscaled bicubically)" in result.stderr, result.stderr
    frame, tags = _first_frame(dst)
    assert frame.format.name.startswith("yuva") and tags.get("alpha_mode") == ("1" if codec == "libvpx-vp9" else None)
    _assert_ramp_upscaled(frame)
    with av.open(str(dst)) as container:
        assert container.streams.video[0].frames in (0, 6)  # Matroska does not count
        assert sum(1 for _ in container.demux(video=0) if _.size) == 6


def test_an_output_without_alpha_warns_once_and_drops_the_tag(tmp_path, random_weights):
    src = make_alpha(tmp_path / "vp9.webm", "libvpx-vp9", "yuva420p")
    with av.open(str(src)) as container:
        assert container.streams.video[0].metadata.get("alpha_mode") == "1"
    result = run_rtsr_here(src, "-o", tmp_path / "out.mkv", "--scale", "2", "--engine", "cpu",
                           "--weights", random_weights("fsrcnn", 2))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("warning: the input's transparency (alpha) is dropped: libx264 in matroska") == 1
    assert "alpha: NOT kept: libx264 in matroska cannot hold it" in result.stderr
    frame, tags = _first_frame(tmp_path / "out.mkv")
    assert frame.format.name == "yuv420p" and "alpha_mode" not in tags


def test_a_png_sequence_keeps_alpha_at_16_bits_for_deep_input(tmp_path, random_weights):
    src = make_alpha(tmp_path / "prores.mov", "prores_ks", "yuva444p10le", frames=2)
    (tmp_path / "seq").mkdir()
    result = run_rtsr_here(src, "-o", tmp_path / "seq" / "%03d.png", "--scale", "2", "--engine", "cpu",
                           "--weights", random_weights("fsrcnn", 2))
    assert result.returncode == 0 and "alpha: kept (rgba64be;" in result.stderr, result.stderr
    frame, _ = _first_frame(tmp_path / "seq" / "001.png")
    assert frame.format.name == "rgba64be"
    _assert_ramp_upscaled(frame)


def test_which_outputs_keep_alpha():
    yuv420, yuv444_10 = LAYOUTS["yuv420p"], LAYOUTS["yuv444p10le"]
    assert output_alpha_format("libvpx-vp9", "webm", yuv420) == "yuva420p"
    assert output_alpha_format("libvpx-vp9", "mp4", yuv420) is None  # MP4 has no place for VP9's alpha
    assert output_alpha_format("prores_ks", "mov", yuv420) == "yuva444p10le"
    assert output_alpha_format("ffv1", "matroska", yuv444_10) == "yuva444p10le"
    assert output_alpha_format("png", "image2", yuv420) == "rgba"
    assert output_alpha_format("libx264", "matroska", yuv420) is None
