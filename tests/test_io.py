"""rtsr.io on its own: no torch, the decode policy without threads, one probe per run, the encoder set-up."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import av
import pytest
from conftest import damage_packet, noise_like

import rtsr.io.probe
from rtsr.io.encode import EncodePlan, add_video_stream
from rtsr.io.probe import InputVideo
from rtsr.io.reader import FrameReader


def test_rtsr_io_imports_without_torch() -> None:
    code = ("import sys, rtsr.io, rtsr.io.chunks, rtsr.io.remux, rtsr.io.resume, rtsr.io.planes, rtsr.formats, "
            "rtsr.atomic; assert 'torch' not in sys.modules, 'torch imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _read(path, **policy) -> tuple[list[int], FrameReader]:
    with InputVideo.open(path) as video:
        reader = FrameReader(video.container, video.stream, step=video.info.frame_step, **policy)
        return [frame.pts for frame in reader.frames()], reader


def test_reader_gives_every_frame_in_display_order_with_increasing_pts(clip_factory) -> None:
    src = clip_factory("in.mp4", frames=20)  # x264 with B-frames: decode order is not display order
    pts, reader = _read(src)
    assert len(pts) == 20 and pts == sorted(set(pts))
    assert reader.corrupt_packets == 0 and reader.position == 19


def test_reader_resumes_after_a_pts_by_seeking(clip_factory) -> None:
    src = clip_factory("in.mkv", frames=30, extra_options={"g": "8"})  # keyframes every 8 frames
    everything, _ = _read(src)
    resumed, reader = _read(src, after_pts=everything[17])
    assert resumed == everything[18:]
    assert reader.position < 29  # it seeked to a keyframe after the start instead of decoding all 30


def test_reader_skips_and_counts_a_corrupt_packet(clip_factory, tmp_path) -> None:
    clean = clip_factory("clean.mkv", codec="ffv1", frames=10, audio=False)
    broken = damage_packet(clean, tmp_path / "broken.mkv", 4, noise_like)
    pts, reader = _read(broken)
    assert len(pts) == 9 and reader.corrupt_packets == 1 and reader.damaged_frames == 0


def test_reader_can_drop_every_damaged_picture_up_to_the_next_keyframe(clip_factory, tmp_path) -> None:
    clean = clip_factory("clean.mp4", frames=24, audio=False, extra_options={"g": "8", "bf": "0"})
    broken = damage_packet(clean, tmp_path / "broken.mp4", 3, noise_like)
    kept, reader = _read(broken, drop_damaged=True)
    everything, _ = _read(clean)
    # Packet 3 is lost, and frames 4..7 predict from it; the keyframe at 8 starts clean pictures again.
    assert reader.damaged_frames >= 5 and len(kept) == 24 - reader.damaged_frames
    assert kept[:3] == everything[:3] and kept[-16:] == everything[-16:]


def test_one_run_probes_the_input_once(clip_factory, random_weights, tmp_path, monkeypatch) -> None:
    """The CLI path: checked, opened and probed once, decoded from that container; judged once; the mux reads it
    once more."""
    from rtsr.cli import main

    src = clip_factory("in.mp4", frames=6)
    opens, probes = [], []
    real_open, real_probe = av.open, rtsr.io.probe.probe_video

    def counting_open(file, *args, **kwargs):
        if str(file) == str(src):
            opens.append(args)
        return real_open(file, *args, **kwargs)

    def counting_probe(container, path, *args, **kwargs):
        probes.append(path)
        return real_probe(container, path, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    monkeypatch.setattr(rtsr.io.probe, "probe_video", counting_probe)
    code = main([str(src), "-o", str(tmp_path / "out.mp4"), "--scale", "2", "--quiet",
                 "--weights", str(random_weights("fsrcnn", 2))])
    assert code == 0
    assert len(probes) == 1
    # decode (after the probe), the judgement (H.264's quantiser, read once for the weights and the summary:
    # rtsr.io.degradation) and the final mux's copy of the audio
    assert len(opens) == 3


def test_encoder_setup_writes_size_format_time_base_and_colour_tags(tmp_path) -> None:
    from rtsr.formats import ColorInfo

    path = tmp_path / "tagged.mkv"
    plan = EncodePlan(muxer="matroska", codec="libx264", pix_fmt="yuv422p", size=(64, 48),
                      time_base=Fraction(1, 25), rate=Fraction(25), crf=30, preset="ultrafast",
                      color=ColorInfo("bt709", True, primaries=1, transfer=1, colorspace=1, color_range=2),
                      sample_aspect_ratio=Fraction(4, 3))
    with av.open(str(path), "w") as out:
        stream = add_video_stream(out, plan)
        for index in range(3):
            frame = av.VideoFrame(64, 48, "yuv422p")
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.pts, frame.time_base = index, Fraction(1, 25)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as result:
        ctx = result.streams.video[0].codec_context
        # (FFmpeg's H.264 decoder names full-range 4:2:2 by its deprecated alias, yuvj422p)
        assert (ctx.width, ctx.height) == (64, 48) and ctx.format.name in ("yuv422p", "yuvj422p")
        assert (ctx.colorspace, ctx.color_primaries, ctx.color_trc, ctx.color_range) == (1, 1, 1, 2)
        assert ctx.sample_aspect_ratio == Fraction(4, 3)


def test_a_container_that_cannot_hold_the_codec_is_a_clear_error(tmp_path) -> None:
    from rtsr.errors import EncodeError

    plan = EncodePlan(muxer="webm", codec="libx264", pix_fmt="yuv420p", size=(64, 48), time_base=Fraction(1, 25))
    with av.open(str(tmp_path / "x.webm"), "w") as out:
        with pytest.raises(EncodeError, match="a webm file cannot hold libx264"):
            add_video_stream(out, plan)
