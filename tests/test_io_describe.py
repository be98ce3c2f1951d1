"""rtsr.io.describe: an input's facts and how compressed it looks."""

from __future__ import annotations

import pytest

from rtsr.io.describe import compression, describe_input
from rtsr.io.probe import InputVideo


@pytest.mark.parametrize("codec, bit_rate, level", [
    ("h264", 0.10 * 320 * 240 * 24, "light"),
    ("h264", 0.05 * 320 * 240 * 24, "moderate"),
    ("h264", 0.02 * 320 * 240 * 24, "heavy"),
    ("hevc", 0.05 * 320 * 240 * 24, "light"),  # HEVC needs fewer bits for the same picture
    ("mpeg2video", 0.10 * 320 * 240 * 24, "moderate"),  # MPEG-2 more
    ("ffv1", None, "none"),
    ("h264", None, "unknown"),
])
def test_compression_levels(codec, bit_rate, level) -> None:
    judged = compression(codec, int(bit_rate) if bit_rate else None, 320, 240, 24.0)
    assert judged.level == level and codec in judged.reason


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
    assert lines[2].startswith("compression: ")
