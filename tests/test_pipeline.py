"""Whole files through the Python API: sizes, frames, timestamps, audio, subtitles, colour, errors."""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import SHARED, audio_payloads, damage_packet, frame_times, make_resolution_change, noise_like

import rtsr.io.probe
from rtsr import DecodeError, EncodeError, InputError, Upscaler
from rtsr.atomic import temporary_path


@pytest.fixture
def upscaler(random_weights):
    def make(model: str = "fsrcnn", scale: int = 2) -> Upscaler:
        return Upscaler(model, scale, "cpu", random_weights(model, scale))

    return make


def _stream_info(path: Path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        ctx = stream.codec_context
        frames = list(container.decode(stream))
        return {
            "size": (ctx.width, ctx.height),
            "pix_fmt": ctx.format.name,
            "frames": len(frames),
            "color": (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range),
            "end": Fraction(frames[-1].pts + (frames[-1].duration or 0)) * stream.time_base,
        }


def _no_leftovers(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if ".rtsr-" in p.name]


def test_upscales_with_same_frames_timestamps_and_identical_audio(clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", width=96, height=64, frames=12)
    dst = tmp_path / "out.mp4"
    report = upscaler("fsrcnn", 3).upscale_video(src, dst)
    before, after = _stream_info(src), _stream_info(dst)
    assert after["size"] == (288, 192)
    assert after["frames"] == before["frames"] == report.frames == 12
    assert frame_times(dst) == frame_times(src)
    assert after["end"] == before["end"]
    payloads = audio_payloads(src)
    assert payloads and audio_payloads(dst) == payloads
    assert report.copied_streams == ["#1 audio aac"] and not report.skipped_streams
    assert report.output_size == (288, 192) and report.fps > 0
    assert set(report.stage_seconds) == {"decode", "convert", "inference", "encode"}
    assert all(seconds > 0 for seconds in report.stage_seconds.values())
    assert _no_leftovers(tmp_path)


def test_variable_frame_rate_timestamps_survive(clip_factory, upscaler, tmp_path):
    src = clip_factory("vfr.mkv", vfr=True, frames=10)
    dst = tmp_path / "vfr_out.mkv"
    upscaler().upscale_video(src, dst)
    times = frame_times(src)
    assert len(set(np.diff([float(t) for t in times]).round(3))) > 1  # really variable
    assert frame_times(dst) == times
    assert _stream_info(dst)["end"] == _stream_info(src)["end"]


def test_ten_bit_bt709_stays_ten_bit_and_tagged(clip_factory, upscaler, tmp_path):
    src = clip_factory("ten.mkv", pix_fmt="yuv420p10le", bt709=True, frames=6)
    dst = tmp_path / "ten_out.mkv"
    report = upscaler().upscale_video(src, dst)
    info = _stream_info(dst)
    assert info["pix_fmt"] == "yuv420p10le" and report.pix_fmt == "yuv420p10le"
    assert info["color"] == _stream_info(src)["color"] == (1, 1, 1, 1)


def test_full_range_tag_is_kept(clip_factory, upscaler, tmp_path):
    src = clip_factory("full.mkv", full_range=True, frames=4)
    dst = tmp_path / "full_out.mkv"
    upscaler().upscale_video(src, dst)
    assert _stream_info(dst)["color"][3] == 2


def test_rgb_model_on_ten_bit_input(clip_factory, upscaler, tmp_path):
    src = clip_factory("ten.mkv", pix_fmt="yuv444p10le", bt709=True, frames=3, audio=False)
    dst = tmp_path / "rgb_out.mkv"
    upscaler("srresnet", 2).upscale_video(src, dst)
    info = _stream_info(dst)
    assert info["size"] == (192, 128) and info["pix_fmt"] == "yuv444p10le" and info["frames"] == 3


def test_odd_size_is_cropped_to_even_with_a_warning(clip_factory, upscaler, tmp_path, caplog):
    src = clip_factory("odd.mkv", width=43, height=25, codec="ffv1", frames=4)
    dst = tmp_path / "odd_out.mp4"
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        report = upscaler("fsrcnn", 3).upscale_video(src, dst)
    assert _stream_info(dst)["size"] == (128, 74) == report.output_size
    assert "needs even dimensions" in caplog.text


def test_odd_size_in_444_keeps_every_pixel(clip_factory, upscaler, tmp_path):
    src = clip_factory("odd444.mkv", width=43, height=25, codec="ffv1", pix_fmt="yuv444p", frames=3)
    dst = tmp_path / "odd444_out.mkv"
    upscaler("fsrcnn", 3).upscale_video(src, dst)
    assert _stream_info(dst)["size"] == (129, 75)


def test_corrupt_packet_is_skipped_counted_and_the_run_continues(clip_factory, upscaler, tmp_path, caplog):
    clean = clip_factory("clean.mkv", codec="ffv1", frames=10, audio=False)
    broken = damage_packet(clean, tmp_path / "broken.mkv", 4, noise_like)
    dst = tmp_path / "repaired.mkv"
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        report = upscaler().upscale_video(broken, dst)
    assert report.corrupt_packets == 1
    assert report.frames == _stream_info(dst)["frames"] == 9
    assert "corrupt video packet" in caplog.text and "1 corrupt" in report.summary()


def test_resolution_change_part_way_is_resized_not_cropped(tmp_path, caplog):
    src = make_resolution_change(tmp_path / "change.ts", 5)
    dst = tmp_path / "out.mkv"
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        # The shipped weights: unlike random ones they keep a flat area's brightness.
        report = Upscaler("fsrcnn", 2, "cpu").upscale_video(src, dst)
    assert report.frames == 10 and report.resized_frames == 5
    assert "changes resolution at" in caplog.text and "(96×64, was 64×48)" in caplog.text
    assert "resized 5 frame(s) to 64×48" in report.summary()
    with av.open(str(dst)) as result:
        lumas = [frame.to_ndarray(format="gray") for frame in result.decode(video=0)]
    assert {luma.shape for luma in lumas} == {(96, 128)}
    # The bright right quarter of the 96×64 part is in the picture: it was scaled, not cropped away.
    assert all(luma[:, -24:].mean() > 200 for luma in lumas[5:])
    assert all(luma[:, -24:].mean() < 40 for luma in lumas[:5])


class _FailingInput:
    """An opened input whose demuxer fails with an I/O error after ``good`` packets (a pulled drive)."""

    def __init__(self, container, good: int) -> None:
        self._container, self._good = container, good

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._container.close()

    def __getattr__(self, name: str):
        return getattr(self._container, name)

    def demux(self, *args, **kwargs):
        for index, packet in enumerate(self._container.demux(*args, **kwargs)):
            if index == self._good:
                raise av.error.OSError(5, "Input/output error", "in.mp4")
            yield packet


def test_input_failing_part_way_is_a_decode_error_and_leaves_no_output(clip_factory, upscaler, tmp_path,
                                                                      monkeypatch):
    src = clip_factory("in.mp4", frames=10)
    opened = rtsr.io.probe.open_input
    monkeypatch.setattr(rtsr.io.probe, "open_input", lambda path: _FailingInput(opened(path), good=6))
    with pytest.raises(DecodeError, match="reading the input failed: .*Input/output error"):
        upscaler().upscale_video(src, tmp_path / "out.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_pix_fmt_option_converts_the_output(clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", frames=3)
    dst = tmp_path / "out444.mkv"
    report = upscaler().upscale_video(src, dst, pix_fmt="yuv444p")
    assert _stream_info(dst)["pix_fmt"] == "yuv444p" == report.pix_fmt


def test_non_yuv_input_is_converted_once(clip_factory, upscaler, tmp_path):
    src = clip_factory("rgb.mkv", codec="ffv1", pix_fmt="bgr0", frames=3, audio=False)
    dst = tmp_path / "rgb_out.mkv"
    upscaler().upscale_video(src, dst)
    assert _stream_info(dst)["pix_fmt"] == "yuv420p"


@pytest.mark.parametrize("codec, pix_fmt, siting", [
    ("libx264", "yuv420p", "left"),  # MPEG family: chroma on the first of its two luma columns
    ("mjpeg", "yuvj420p", "center"),  # JPEG: chroma between them
    ("ffv1", "bgr0", "center"),  # RGB: FFmpeg's scaler subsamples it centred
])
def test_probe_knows_where_the_chroma_sits(clip_factory, codec, pix_fmt, siting):
    src = clip_factory("in.mkv", codec=codec, pix_fmt=pix_fmt, frames=2, audio=False)
    with rtsr.io.probe.open_input(src) as container:
        assert rtsr.io.probe.probe_video(container, src).color.chroma_siting == siting


def test_output_is_never_half_written_on_encoder_errors(clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", frames=3)
    with pytest.raises(EncodeError, match="cannot encode yuv420p12le"):
        upscaler().upscale_video(src, tmp_path / "a.mp4", pix_fmt="yuv420p12le")
    with pytest.raises(EncodeError, match="unknown encoder"):
        upscaler().upscale_video(src, tmp_path / "b.mp4", codec="nonsense264")
    with pytest.raises(EncodeError, match="cannot hold libx264"):
        upscaler().upscale_video(src, tmp_path / "c.webm", codec="libx264")
    with pytest.raises(EncodeError, match="unknown --preset 'warp-speed' for libx264: use ultrafast"):
        upscaler().upscale_video(src, tmp_path / "d.mp4", preset="warp-speed")  # checked before any work
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


@pytest.mark.parametrize("problem, message", [
    ("missing", "input not found"),
    ("not_video", "not a media file"),
    ("audio_only", "has no video stream"),
    ("same", "output path is the input"),
    ("exists", "output exists"),
    ("no_dir", "output directory does not exist"),
    ("extension", "unknown output extension"),
])
def test_bad_paths_raise_input_errors(problem, message, clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", frames=2)
    dst = tmp_path / "out.mp4"
    if problem == "missing":
        src = tmp_path / "nope.mp4"
    elif problem == "not_video":
        src = tmp_path / "notes.mp4"
        src.write_text("just text\n" * 50)
    elif problem == "audio_only":
        src = tmp_path / "sound.m4a"
        with av.open(str(src), "w") as out:
            stream = out.add_stream("aac", rate=48000)
            with av.open("sine=duration=0.2", format="lavfi") as sine:
                for frame in sine.decode(audio=0):
                    out.mux(stream.encode(frame))
            out.mux(stream.encode(None))
    elif problem == "same":
        dst = src
    elif problem == "exists":
        dst.write_bytes(b"keep me")
    elif problem == "no_dir":
        dst = tmp_path / "missing" / "out.mp4"
    elif problem == "extension":
        dst = tmp_path / "out.xyz"
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    with pytest.raises(InputError, match=message):
        upscaler().upscale_video(src, dst)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before


def test_overwrite_replaces_and_input_is_untouched(clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", frames=3)
    original = src.read_bytes()
    dst = tmp_path / "out.mp4"
    dst.write_bytes(b"old")
    upscaler().upscale_video(src, dst, overwrite=True)
    assert dst.read_bytes() != b"old" and src.read_bytes() == original


def test_temporary_files_of_a_killed_run_are_cleaned_up(clip_factory, upscaler, tmp_path):
    src = clip_factory("in.mp4", frames=3)
    dst = tmp_path / "out [1].mp4"  # glob characters in the name
    stale = tmp_path / ".out [1].rtsr-99999999.partial.mp4"
    stale.write_bytes(b"left by a run killed while it muxed")
    unrelated = tmp_path / ".other.rtsr-99999999.partial.mp4"
    unrelated.write_bytes(b"another output's")
    upscaler().upscale_video(src, dst)
    assert sorted(p.name for p in tmp_path.iterdir()) == [unrelated.name, "in.mp4", dst.name]


def test_temporary_file_sits_beside_the_output_and_is_hidden(tmp_path):
    tmp = temporary_path(tmp_path / "movie.mp4")
    assert tmp.parent == tmp_path and tmp.name.startswith(".movie.") and tmp.suffix == ".mp4"


def test_upscale_image_api(upscaler):
    rgb = np.random.default_rng(0).integers(0, 256, (10, 7, 3), dtype=np.uint8)
    for model in ("fsrcnn", "srcnn", "srresnet"):
        out = upscaler(model, 2).upscale_image(rgb)
        assert out.shape == (20, 14, 3) and out.dtype == np.uint8
    with pytest.raises(InputError, match="H×W×3 uint8"):
        upscaler().upscale_image(rgb.astype(np.float32))


@pytest.mark.shared
@pytest.mark.skipif(not (SHARED / "videos" / "akiyo_cif.mp4").is_file(), reason="../shared/videos not present")
def test_real_footage_end_to_end(upscaler, tmp_path):
    src = SHARED / "videos" / "akiyo_cif.mp4"
    dst = tmp_path / "akiyo_x2.mp4"
    report = upscaler("fsrcnn", 2).upscale_video(src, dst, preset="ultrafast")
    info = _stream_info(dst)
    assert info["size"] == (704, 576) and info["frames"] == 300 == report.frames
    assert frame_times(dst) == frame_times(src)


def _fake_frames(pts_values):
    from types import SimpleNamespace

    return [SimpleNamespace(pts=p, dts=None, name=i) for i, p in enumerate(pts_values)]


def test_pts_order_passes_well_formed_timestamps_through():
    from rtsr.io.reader import PtsOrder

    order = PtsOrder(step=1, depth=3)
    frames = _fake_frames([0, 1, 2, 4, 7, 8, 15])  # variable frame rate
    out = [f for frame in frames for f in order.push(frame)] + list(order.flush())
    assert [f.name for f in out] == list(range(7))
    assert [f.pts for f in out] == [0, 1, 2, 4, 7, 8, 15] and order.repaired == 0


def test_pts_order_restores_decode_order_timestamps():
    """AVI-style: pts shuffled the way vtest.avi's decoder output is (1, 4, 3, 5, 2, 8, 7, 9, 6...)."""
    from rtsr.io.reader import PtsOrder

    order = PtsOrder(step=1, depth=4)
    frames = _fake_frames([1, 4, 3, 5, 2, 8, 7, 9, 6, 10, None])
    out = [f for frame in frames for f in order.push(frame)] + list(order.flush())
    assert [f.name for f in out] == list(range(11))  # no frame lost or reordered
    assert [f.pts for f in out] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]


def test_pts_order_nudges_what_it_cannot_sort():
    from rtsr.io.reader import PtsOrder

    order = PtsOrder(step=1, depth=1)
    out = [f for frame in _fake_frames([5, 5, 5, 2]) for f in order.push(frame)] + list(order.flush())
    pts = [f.pts for f in out]
    assert len(out) == 4 and all(b > a for a, b in zip(pts, pts[1:])) and order.repaired > 0
