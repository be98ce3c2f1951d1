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


def test_real_time_is_the_input_s_own_frame_rate():
    """Issue 37: a 10 fps clip upscaled at 6.2 fps runs 0.62× real time, not 0.26×; 24 fps only without a rate."""
    slow_clip = _report(input_fps=10.0)
    slow_clip.wall_seconds = 48 / 6.2
    assert round(slow_clip.realtime_ratio, 2) == 0.62
    assert "6.20 fps = 0.62× real time (the input's 10 fps)" in slow_clip.summary()
    ntsc = _report(input_fps=30000 / 1001)
    assert "24.00 fps = 0.80× real time (the input's 29.97 fps)" in ntsc.summary()
    assert "1.00× real time (24 fps: the input has no frame rate)" in _report().summary()


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


def test_slow_or_heavily_compressed_runs_point_to_rtsr_check_once():
    assert "rtsr check" not in _report().summary()  # real time: nothing to say
    slow_report = _report()
    slow_report.wall_seconds = 20.0  # 2.4 fps = 0.10× real time
    slow = slow_report.summary()
    assert slow.count("rtsr check in.mp4") == 1 and "ran at 0.10× real time" in slow
    slow_report.heavy_compression = "h264 at 0.020 bit/pixel"
    both = slow_report.summary()
    assert both.count("rtsr check") == 1 and "heavily compressed (h264 at 0.020 bit/pixel)" in both
    assert both.splitlines()[-1] == "wrote out.mp4"


def test_a_run_of_a_heavily_compressed_clip_says_so(clip_factory, tmp_path):
    from rtsr.upscaler import Upscaler

    path = clip_factory("soft.mp4", width=320, height=240, frames=24, filters="gblur=sigma=2",
                        extra_options={"crf": "45"})
    report = Upscaler("fsrcnn", 2, "cpu").upscale_video(path, tmp_path / "out.mp4")
    assert report.heavy_compression.startswith("h264, mean QP 4") and f"rtsr check {path}" in report.summary()
    assert "for compressed input (h264, mean QP 4" in report.weights  # the same judgement picked the weights


def test_live_points_to_rtsr_check_when_it_cannot_keep_up():
    from rtsr.live.session import LiveReport

    assert "rtsr check" not in LiveReport(captured=100, processed=90, dropped=10, seconds=4).summary()
    assert "rtsr check" in LiveReport(captured=100, processed=30, dropped=70, seconds=4).summary()
