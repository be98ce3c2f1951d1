"""HDR input (issue 38): HEVC Main10 by default, the mastering display and light level carried, HLG kept."""

from __future__ import annotations

import struct
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import run_rtsr_here

from rtsr.io.hdr import HdrInfo, MasteringDisplay, encoder_parameters, hdr_outcome, read_hdr

MASTER = "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,50)"  # BT.2020, 1000 cd/m²
PQ, HLG, BT2020 = 16, 18, 9


def make_hdr(path: Path, transfer: int = PQ, metadata: bool = True, frames: int = 4) -> Path:
    """A 64×48 HEVC Main10 clip tagged BT.2020 with ``transfer``, and HDR10 metadata when asked."""
    params = "log-level=error" + (f":hdr10=1:master-display={MASTER}:max-cll=1000,400" if metadata else "")
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx265", rate=24, options={"x265-params": params})
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p10le"
        ctx = stream.codec_context
        ctx.color_primaries, ctx.color_trc, ctx.colorspace = BT2020, transfer, BT2020
        rng = np.random.default_rng(1)
        for index in range(frames):
            rgb = (rng.random((48, 64, 3)) * 65535).astype(np.uint16)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb48le").reformat(format="yuv420p10le")
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _first_frame_hdr(path: Path) -> tuple[av.video.stream.VideoStream, HdrInfo | None]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        return stream, read_hdr(frame, stream.codec_context.color_trc, 10)


def _run(src: Path, dst: Path, weights: Path, *extra: str):
    result = run_rtsr_here(src, "-o", dst, "--scale", "2", "--engine", "cpu", "--weights", weights, *extra)
    assert result.returncode == 0, result.stderr
    return result


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_hdr10_becomes_hevc_main10_with_its_metadata(suffix, tmp_path, random_weights):
    src = make_hdr(tmp_path / f"hdr10{suffix}")
    _, before = _first_frame_hdr(src)
    assert before.mastering is not None and before.light_level == (1000, 400)
    result = _run(src, tmp_path / f"out{suffix}", random_weights("fsrcnn", 2))
    assert "hdr: HDR (PQ) with mastering display 0.005-1000 cd/m², MaxCLL 1000 / MaxFALL 400; encoded as HEVC " \
           "Main10 (libx265)" in result.stderr and "are carried" in result.stderr, result.stderr
    stream, after = _first_frame_hdr(tmp_path / f"out{suffix}")
    assert stream.codec_context.name == "hevc" and stream.profile == "Main 10"
    ctx = stream.codec_context
    assert (ctx.color_primaries, ctx.color_trc, ctx.colorspace) == (BT2020, PQ, BT2020)
    assert after == before


@pytest.mark.parametrize("codec, carried", [("libx264", True), ("libsvtav1", True), ("ffv1", False)])
def test_a_chosen_encoder_carries_the_metadata_or_says_it_cannot(codec, carried, tmp_path, random_weights):
    src = make_hdr(tmp_path / "hdr10.mkv", frames=2)
    result = _run(src, tmp_path / "out.mkv", random_weights("fsrcnn", 2), "--codec", codec)
    stream, after = _first_frame_hdr(tmp_path / "out.mkv")
    assert stream.codec_context.color_trc == PQ and "encoded as HEVC" not in result.stderr
    if carried:
        assert after.light_level == (1000, 400) and float(after.mastering.max_luminance) == 1000
        assert abs(float(after.mastering.red[0]) - 0.68) < 1e-3  # AV1 stores 16-bit fractions
        assert "will not carry" not in result.stderr, result.stderr
    else:
        assert after.mastering is None and after.light_level is None
        assert f"warning: the output will not carry the input's mastering display and light level: {codec}" \
            in result.stderr, result.stderr


def test_hlg_keeps_its_transfer_and_goes_to_hevc(tmp_path, random_weights):
    src = make_hdr(tmp_path / "hlg.mkv", transfer=HLG, metadata=False, frames=2)
    result = _run(src, tmp_path / "out.mkv", random_weights("fsrcnn", 2))
    stream, after = _first_frame_hdr(tmp_path / "out.mkv")
    assert stream.codec_context.name == "hevc" and stream.codec_context.color_trc == HLG
    assert after == HdrInfo("HLG") and "hdr: HDR (HLG); encoded as HEVC Main10" in result.stderr


def test_hdr10_to_standard_output_keeps_its_metadata(tmp_path, random_weights):
    src = make_hdr(tmp_path / "hdr10.mkv", frames=2)
    result = subprocess.run([sys.executable, "-m", "rtsr", str(src), "-o", "-", "--scale", "2", "--engine", "cpu",
                             "--weights", str(random_weights("fsrcnn", 2))], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    (tmp_path / "piped.mkv").write_bytes(result.stdout)
    stream, after = _first_frame_hdr(tmp_path / "piped.mkv")
    assert stream.profile == "Main 10" and after == _first_frame_hdr(src)[1]


def _mastering_payload() -> bytes:
    rationals = [(34000, 50000), (16000, 50000), (13250, 50000), (34500, 50000), (7500, 50000), (3000, 50000),
                 (15635, 50000), (16450, 50000), (50, 10000), (10000000, 10000)]
    return struct.pack("20i2i", *[v for pair in rationals for v in pair], 1, 1)


def test_the_parameters_spell_st2086_as_each_encoder_reads_it():
    from rtsr.io.hdr import _mastering

    hdr = HdrInfo("PQ", _mastering(_mastering_payload()), (1000, 400))
    assert encoder_parameters("libx265", hdr) == {"hdr10": "1", "repeat-headers": "1", "master-display": MASTER,
                                                  "max-cll": "1000,400"}
    assert encoder_parameters("libx264", hdr) == {"mastering-display": MASTER, "cll": "1000,400"}
    assert encoder_parameters("libsvtav1", hdr)["mastering-display"].startswith("G(0.26500,0.69000)B(0.15000,")
    assert encoder_parameters("ffv1", hdr) == {} and encoder_parameters("libx265", HdrInfo("HLG")) == {}


def test_pq_on_8_bits_is_not_hdr_and_dynamic_metadata_is_named():
    assert read_hdr(None, PQ, 8) is None and read_hdr(None, 1, 10) is None
    line, warning = hdr_outcome(HdrInfo("PQ", None, (1000, 400), ("Dolby Vision RPUs",)), "libx265", True)
    assert "NOT carried: Dolby Vision RPUs" in line and "Dolby Vision RPUs" in warning
    display = MasteringDisplay(*[(Fraction(1, 3), Fraction(1, 3))] * 4, Fraction(0), Fraction(1000))
    assert "0-1000 cd/m²" in HdrInfo("PQ", display).describe()
