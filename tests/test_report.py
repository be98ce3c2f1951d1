"""The run summary and the progress line."""

from __future__ import annotations

import io
import time

from rtsr.report import ProgressBar, Report


def _report(**fields) -> Report:
    report = Report(source="in.mp4", output="out.mp4", model="fsrcnn", scale=2, engine="cpu",
                    input_size=(64, 48), output_size=(128, 96), pix_fmt="yuv420p", codec="libx264",
                    frames=48, wall_seconds=2.0, **fields)
    report.stage_seconds.update(decode=0.1, convert=0.2, inference=1.5, encode=0.4)
    return report


def test_summary_reports_speed_bottleneck_and_everything_unusual():
    plain = _report().summary()
    assert "48 frames 64×48 → 128×96" in plain and "24.00 fps = 1.00× real time" in plain
    assert "bottleneck: inference" in plain and plain.endswith("wrote out.mp4")
    assert "resumed" not in plain and "NOT copied" not in plain

    unusual = _report(copied_streams=["#1 audio aac"], chapters=3, skipped_streams=["#2 data (why)"],
                      corrupt_packets=2, resized_frames=5, resumed_frames=100).summary()
    assert "copied: #1 audio aac, 3 chapters" in unusual
    assert "NOT copied: #2 data (why)" in unusual
    assert "skipped 2 corrupt video packet(s)" in unusual
    assert "resized 5 frame(s) to 64×48" in unusual
    assert "resumed: 100 frames were upscaled by an earlier run" in unusual


def test_progress_counts_resumed_frames_in_the_total_but_not_in_the_speed():
    stream = io.StringIO()
    bar = ProgressBar(200, stream=stream, per_second=1e9, already=100)
    bar.started = time.perf_counter() - 2.0  # two seconds into this run
    bar.update(110)  # 10 frames in 2 s
    line = stream.getvalue()
    assert "110/200 frames" in line
    assert " 5.0 fps" in line
    assert "ETA 0:00:18" in line  # 90 frames left at 5 fps
