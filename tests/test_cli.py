"""The rtsr command as a user runs it: exit codes, one-line errors, Ctrl-C, help and summary."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import frame_times
from conftest import run_rtsr as rtsr


def test_help_shows_worked_examples() -> None:
    result = rtsr("--help")
    assert result.returncode == 0
    assert "rtsr input.mp4 -o output.mp4 --scale 3" in result.stdout
    assert "exit codes" in result.stdout


def test_help_and_usage_errors_answer_without_loading_torch() -> None:
    """The parsers and their checks are torch-free: `rtsr --help`, `rtsr live/check/compare --help` and a typo
    answer at once."""
    code = ("import sys, rtsr.cli\n"
            "for argv in (['--help'], ['live', '--help'], ['check', '--help'], ['compare', 'x.mp4', '--bogus'],\n"
            "             ['in.mp4'], ['in.mp4', '-o', 'x.mp4', '--scale', '5']):\n"
            "    try:\n"
            "        rtsr.cli.main(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "assert 'torch' not in sys.modules, 'torch imported'\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "unsupported scale 5" in result.stderr and "usage: rtsr live" in result.stdout
    assert "usage: rtsr check" in result.stdout and "(see rtsr compare --help)" in result.stderr


def test_the_documented_command_works(clip_factory, tmp_path) -> None:
    """Exactly `rtsr input.mp4 -o output.mp4 --scale 3`, with the shipped weights."""
    src = clip_factory("input.mp4", frames=6)
    result = rtsr("input.mp4", "-o", "output.mp4", "--scale", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert frame_times(tmp_path / "output.mp4") == frame_times(src)
    summary = result.stderr
    assert "6 frames 96×64 → 288×192" in summary
    assert "× real time (the input's 24 fps)" in summary
    assert "bottleneck:" in summary and "decode" in summary and "inference" in summary
    assert "\r" not in summary  # no progress bar when stderr is not a terminal


def test_quiet_prints_nothing(clip_factory, random_weights, tmp_path) -> None:
    src = clip_factory("input.mp4", frames=3)
    result = rtsr(src, "-o", tmp_path / "o.mp4", "--scale", "2", "--quiet",
                  "--weights", random_weights("fsrcnn", 2))
    assert result.returncode == 0 and result.stderr == "" and result.stdout == ""


@pytest.mark.parametrize("case, message", [
    ("missing", "input not found"),
    ("not_video", "not a media file"),
    ("same", "output path is the input"),
    ("exists", "output exists"),
    ("unwritable", "output directory"),
    ("model", "unknown model 'edsr'"),
    ("scale", "unsupported scale 5"),
    ("engine", "unknown engine 'vulkan'"),
    ("extension", "unknown output extension '.xyz'"),
    ("no_output", "the following arguments are required: -o/--output"),
    ("weights_scale", "is for ×2, not ×3"),
])
def test_bad_input_is_one_line_exit_1_and_no_output(case, message, clip_factory, random_weights, tmp_path):
    src = clip_factory("in.mp4", frames=2)
    out = tmp_path / "out.mp4"
    extra: list[object] = ["--weights", random_weights("fsrcnn", 3)]
    args: list[object]
    if case == "missing":
        args = [tmp_path / "nope.mp4", "-o", out]
    elif case == "not_video":
        (tmp_path / "text.mp4").write_text("hello\n" * 100)
        args = [tmp_path / "text.mp4", "-o", out]
    elif case == "same":
        args = [src, "-o", src]
    elif case == "exists":
        out.write_bytes(b"precious")
        args = [src, "-o", out]
    elif case == "unwritable":
        args = [src, "-o", tmp_path / "no" / "such" / "dir" / "out.mp4"]
    elif case == "model":
        args = [src, "-o", out, "--model", "edsr"]
    elif case == "scale":
        args = [src, "-o", out, "--scale", "5"]
    elif case == "engine":
        args = [src, "-o", out, "--engine", "vulkan"]
    elif case == "extension":
        args = [src, "-o", tmp_path / "out.xyz"]
    elif case == "no_output":
        args = [src]
    else:
        args, extra = [src, "-o", out], ["--weights", random_weights("fsrcnn", 2)]
    before = sorted(p.name for p in tmp_path.iterdir())
    result = rtsr(*args, *extra)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere; permission bits do not apply")
def test_read_only_output_directory(clip_factory, random_weights, tmp_path):
    src = clip_factory("in.mp4", frames=2)
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = rtsr(src, "-o", locked / "o.mp4", "--weights", random_weights("fsrcnn", 3))
    assert result.returncode == 1 and "not writable" in result.stderr


@pytest.mark.skipif(not hasattr(signal, "SIGTERM"), reason="needs POSIX signals")
@pytest.mark.parametrize("signal_name, exit_code, said", [
    ("SIGINT", 130, "interrupted"),  # Ctrl-C
    ("SIGTERM", 143, "terminated"),  # systemd, docker, kill, timeout
])
def test_a_stop_signal_keeps_the_work_and_the_same_command_resumes(signal_name, exit_code, said, clip_factory,
                                                                    random_weights, tmp_path):
    src, out, command, process = _start_long_run(clip_factory, random_weights, tmp_path)
    process.send_signal(getattr(signal, signal_name))
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    stopped_after = time.monotonic() - sent
    assert process.returncode == exit_code, stderr
    # It encodes what x264 holds for its lookahead before it stops: seconds of CPU work (6 s once beside a
    # busy loop and another test), never the rest of the clip.
    assert stopped_after < 15, f"took {stopped_after:.1f} s to stop"
    assert said in stderr and "Traceback" not in stderr
    assert "run the same command again to resume" in stderr  # what was upscaled is kept, not the output
    _resumes(src, out, command, tmp_path)


def _start_long_run(clip_factory, random_weights, tmp_path):
    """A 240-frame ×3 run, started and seen writing its work folder: (src, out, command, process)."""
    src = clip_factory("long.mp4", width=320, height=240, frames=240)
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "rtsr", str(src), "-o", str(out), "--scale", "3",
               "--weights", str(random_weights("fsrcnn", 3))]
    # As in a terminal: a runner started in the background (nohup, `&`) hands SIGINT down ignored.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    # Signalled once frames are being encoded into the first chunk (not at a set time after the start: on a
    # busy machine the engine measurement before the first frame can take seconds).
    deadline = time.monotonic() + 120
    while not any(chunk.stat().st_size > 4096 for chunk in tmp_path.glob(".*.rtsr-work/chunk-*")):
        assert process.poll() is None and time.monotonic() < deadline, "never started encoding"
        time.sleep(0.05)
    assert process.poll() is None, "the run ended before it was signalled"
    return src, out, command, process


def _resumes(src, out, command, tmp_path) -> None:
    """The stopped run kept its work folder and nothing at the output; the same command finishes the job."""
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.mp4.rtsr-work", "long.mp4"]
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "resumed:" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["long.mp4", "out.mp4"]
    assert frame_times(out) == frame_times(src)


@pytest.mark.skipif(not hasattr(signal, "SIGINT"), reason="needs POSIX signals")
def test_a_second_ctrl_c_never_loses_the_saved_work(clip_factory, random_weights, tmp_path):
    src, out, command, process = _start_long_run(clip_factory, random_weights, tmp_path)
    process.send_signal(signal.SIGINT)
    for _ in range(3):  # an impatient user, while the run closes its chunk
        time.sleep(0.05)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr and "run the same command again to resume" in stderr
    _resumes(src, out, command, tmp_path)
