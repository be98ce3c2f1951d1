"""rtsr.io.describe: an input's facts, with how compressed it is in rtsr's one vocabulary."""

from __future__ import annotations

import pytest

from rtsr.io.degradation import judge_video
from rtsr.io.describe import describe_input
from rtsr.io.probe import InputVideo


def test_a_clip_is_described(clip_factory) -> None:
    path = clip_factory("d.mkv", width=160, height=120, frames=24, pix_fmt="yuv420p10le", codec="libx265")
    with InputVideo.open(path) as video:
        described = describe_input(video)
    assert (described.codec, described.bit_depth) == ("hevc", 10) and "matroska" in described.container
    assert abs(described.frames - 24) <= 1 and described.duration_seconds == pytest.approx(1.0, abs=0.05)
    assert described.bit_rate and described.compression.bits_per_pixel
    assert described.audio_streams == 1
    lines = described.lines()
    assert lines[0].startswith("hevc") and "160×120" in lines[0] and "10-bit" in lines[0]
    assert lines[2].startswith("compression: clean (") or lines[2].startswith("compression: compressed (")


def test_an_input_judged_compressed_is_never_called_light(clip_factory) -> None:
    """One vocabulary: what check describes is what picks the weights (h264 by its quantiser)."""
    path = clip_factory("q.mp4", width=160, height=120, frames=24, audio=False, extra_options={"crf": "40"})
    with InputVideo.open(path) as video:
        described = describe_input(video)
        assert described.compression is judge_video(video)
    assert described.compression.level == "compressed" and described.compression.heavy
    assert described.lines()[2].startswith("compression: heavily compressed (h264, mean QP ")
