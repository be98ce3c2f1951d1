"""Outputs players cannot open are announced before any work, or refused on request (issue 38)."""

from __future__ import annotations

import av
import numpy as np
from conftest import run_rtsr_here

from rtsr.io.playable import playability_problems


def test_beyond_every_level_the_largest_scale_that_fits_is_suggested():
    problems = playability_problems("libx264", (15360, 8640), "yuv420p", 4)  # 4K ×4
    assert len(problems) == 1 and "beyond the highest H.264 level" in problems[0]
    assert "choose --scale 2 (7680×4320)" in problems[0]
    assert "HEVC level" in playability_problems("libx265", (9600, 5400), "yuv420p10le", 5)[0]  # 1080p ×5
    assert playability_problems("libx265", (7680, 4320), "yuv420p10le", 2) == []  # 8K fits
    assert playability_problems("ffv1", (15360, 8640), "yuv444p", 4) == []  # an archive, not for players


def test_h264_beyond_8_bit_420_is_for_editing_software_only():
    for pix_fmt, what in (("yuv444p", "4:4:4"), ("yuv422p", "4:2:2"), ("yuv420p10le", "10-bit"), ("gbrp", "4:4:4")):
        problems = playability_problems("libx264", (1920, 1080), pix_fmt, 2)
        assert len(problems) == 1 and f"({what})" in problems[0], (pix_fmt, problems)
    assert playability_problems("libx264", (1920, 1080), "yuv420p", 2) == []
    assert playability_problems("libx265", (1920, 1080), "yuv444p", 2) == []


def _clip(path, width, height, pix_fmt, frames=2):
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=24, options={"crf": "30"})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90 + index, np.uint8), format="rgb24")
            frame = frame.reformat(format=pix_fmt)
            frame.pts = index
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def test_a_444_input_is_warned_about_and_refused_on_request(tmp_path, random_weights):
    src = _clip(tmp_path / "in444.mkv", 64, 48, "yuv444p")
    weights = ["--scale", "2", "--engine", "cpu", "--weights", random_weights("fsrcnn", 2)]
    warned = run_rtsr_here(src, "-o", tmp_path / "out.mkv", *weights)
    assert warned.returncode == 0 and "warning: H.264 in yuv444p (4:4:4) plays in editing software" in warned.stderr
    refused = run_rtsr_here(src, "-o", tmp_path / "refused.mkv", *weights, "--refuse-unplayable")
    assert refused.returncode == 1 and refused.stderr.count("rtsr: error:") == 1, refused.stderr
    assert "(--refuse-unplayable)" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "refused.mkv").exists() and not list(tmp_path.glob(".refused*"))


def test_an_8k_beyond_output_is_refused_before_any_work(tmp_path, random_weights):
    src = _clip(tmp_path / "big.mp4", 2208, 1248, "yuv420p", frames=1)  # ×4: 8832×4992, 44 Mpixel
    result = run_rtsr_here(src, "-o", tmp_path / "out.mkv", "--scale", "4", "--engine", "cpu", "--refuse-unplayable",
                      "--weights", random_weights("fsrcnn", 4), "--codec", "libx265")
    assert result.returncode == 1 and "8832×4992, beyond the highest HEVC level" in result.stderr, result.stderr
    assert "choose --scale 3 (6624×3744)" in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["big.mp4"]  # no output, no work folder
