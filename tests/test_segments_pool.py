"""Segments on real worker processes: the CLI with --jobs, a worker killed mid-segment, Ctrl-C with several workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import audio_payloads, frame_times


def _command(src: Path, out: Path, weights: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rtsr", str(src), "-o", str(out), "--scale", "2", "--weights", str(weights),
            "--preset", "ultrafast", *extra]


def _workers(driver: int) -> list[int]:
    """PIDs of the driver's segment workers (its spawned children, not multiprocessing's resource tracker)."""
    children = Path(f"/proc/{driver}/task/{driver}/children").read_text().split()
    pids = []
    for pid in children:
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        except FileNotFoundError:
            continue
        if b"spawn_main" in command:
            pids.append(int(pid))
    return pids


def _wait_for(condition, process: subprocess.Popen, what: str, seconds: float = 90) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()[1]}"
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.05)


def test_cli_jobs_2_matches_one_job(clip_factory, random_weights, tmp_path):
    src = clip_factory("clip.mp4", frames=48, extra_options={"x264-params": "keyint=12:min-keyint=12"})
    weights = random_weights("fsrcnn", 2)
    one = subprocess.run(_command(src, tmp_path / "one.mp4", weights, "--jobs", "1"), capture_output=True,
                         text=True, timeout=120)
    two = subprocess.run(_command(src, tmp_path / "two.mp4", weights, "--jobs", "2", "--segment-seconds", "0.5"),
                         capture_output=True, text=True, timeout=120)
    assert one.returncode == 0 and two.returncode == 0, two.stderr
    assert "jobs: 2 (--jobs)" in two.stderr and "summed over 2 workers" in two.stderr
    assert frame_times(tmp_path / "two.mp4") == frame_times(tmp_path / "one.mp4") == frame_times(src)
    assert audio_payloads(tmp_path / "two.mp4") == audio_payloads(src)


def _start(clip_factory, random_weights, tmp_path) -> tuple[Path, Path, list[str], subprocess.Popen]:
    """A 2-job run of 8 segments, seen with a worker writing a segment."""
    src = clip_factory("long.mp4", width=320, height=240, frames=192,
                       extra_options={"x264-params": "keyint=24:min-keyint=24"})
    out = tmp_path / "out.mp4"
    command = _command(src, out, random_weights("fsrcnn", 2), "--jobs", "2", "--segment-seconds", "1")
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    work = tmp_path / ".out.mp4.rtsr-work"
    _wait_for(lambda: work.is_dir() and any(".partial" in p.name for p in work.iterdir()), process,
              "a segment being written")
    return src, out, command, process


def test_a_killed_worker_has_its_segment_redone_and_the_output_is_complete(clip_factory, random_weights, tmp_path):
    src, out, _, process = _start(clip_factory, random_weights, tmp_path)
    workers = _workers(process.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=180)
    assert process.returncode == 0, stderr
    assert "a segment worker died" in stderr and "will be redone" in stderr
    assert frame_times(out) == frame_times(src)


def test_ctrl_c_stops_every_worker_keeps_finished_segments_and_resumes(clip_factory, random_weights, tmp_path):
    src, out, command, process = _start(clip_factory, random_weights, tmp_path)
    work = tmp_path / ".out.mp4.rtsr-work"
    _wait_for(lambda: any(p.name.startswith("segment-") and ".partial" not in p.name for p in work.iterdir()),
              process, "a finished segment")
    workers = _workers(process.pid)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert time.monotonic() - sent < 5 and "Traceback" not in stderr
    assert "run the same command again to resume" in stderr
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "a worker outlived the run"
    assert not list(work.glob("*.partial*")) and not out.exists()
    again = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert again.returncode == 0, again.stderr
    assert "resumed:" in again.stderr
    assert frame_times(out) == frame_times(src) and not work.exists()


@pytest.mark.parametrize("jobs", ["0", "-1", "many"])
def test_bad_jobs_value_is_one_line(jobs, clip_factory, tmp_path):
    result = subprocess.run([sys.executable, "-m", "rtsr", str(clip_factory()), "-o", str(tmp_path / "o.mp4"),
                             "--jobs", jobs], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "--jobs takes a positive number or auto" in result.stderr
