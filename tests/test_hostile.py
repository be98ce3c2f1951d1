"""Hostile input and settings (issue 22): one clear line instead of a traceback, no silent wrong results."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np
import pytest
import torch
from conftest import run_rtsr, run_rtsr_here

from rtsr import Upscaler
from rtsr.checkpoints import load_model, read_checkpoint
from rtsr.errors import InputError, WeightsError
from rtsr.models import MODELS


def _rtsr(*args: object) -> subprocess.CompletedProcess:
    return run_rtsr_here(*args)


def _one_line_error(result: subprocess.CompletedProcess, text: str) -> None:
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and text in result.stderr, result.stderr


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KB tmpfs, mounted for the test (skipped where mounting is not allowed)."""
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_full_disk_while_encoding_is_one_line(jobs, small_disk, clip_factory, random_weights):
    src = clip_factory("clip.mp4", width=160, height=96, frames=48,
                       extra_options={"x264-params": "keyint=12:min-keyint=12"})
    result = _rtsr(src, "-o", small_disk / "out.mp4", "--scale", "2", "--crf", "0", "--jobs", jobs,
                   "--segment-seconds", "0.5", "--weights", random_weights("fsrcnn", 2))
    _one_line_error(result, "No space left on device")
    assert not (small_disk / "out.mp4").exists()


def test_an_output_folder_where_no_work_folder_can_be_made(clip_factory, random_weights):
    result = _rtsr(clip_factory(), "-o", "/proc/out.mp4", "--weights", random_weights("fsrcnn", 3))
    _one_line_error(result, "cannot create the work folder /proc/.out.mp4.rtsr-work")


def test_a_url_is_pointed_to_rtsr_live(tmp_path):
    result = _rtsr("http://127.0.0.1:9/x.mp4", "-o", tmp_path / "o.mp4")
    _one_line_error(result, "http://127.0.0.1:9/x.mp4 is a stream, not a file: `rtsr live")


def test_weights_messages_never_suggest_the_unsafe_load(tmp_path):
    pickled = tmp_path / "pickled.pt"
    torch.save({"layer": torch.nn.Linear(2, 2)}, pickled)  # a module: pickled code, not just tensors
    with pytest.raises(WeightsError) as refused:
        load_model("fsrcnn", 3, pickled)
    assert "weights_only" not in str(refused.value) and "never runs code" in str(refused.value)
    truncated = tmp_path / "truncated.pt"
    whole = MODELS["fsrcnn"].weights_path(3).read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(WeightsError, match="not a complete torch weights file, truncated or damaged"):
        load_model("fsrcnn", 3, truncated)
    flat = tmp_path / "flat.pt"
    state = read_checkpoint(MODELS["fsrcnn"].weights_path(3))["state_dict"]
    torch.save({name: tensor.reshape(-1) for name, tensor in state.items()}, flat)  # every tensor 1-D
    with pytest.raises(WeightsError, match="does not fit fsrcnn"):
        load_model("fsrcnn", 3, flat)


def test_a_plain_fsrcnn_state_dict_for_another_scale_is_refused(tmp_path, caplog):
    bare = tmp_path / "fsrcnn_x2_bare.pt"
    torch.save(read_checkpoint(MODELS["fsrcnn"].weights_path(2))["state_dict"], bare)
    with pytest.raises(WeightsError, match=r"look like ×2 weights \(pass --scale 2\)"):
        load_model("fsrcnn", 3, bare)
    with caplog.at_level("INFO", logger="rtsr"):
        assert load_model("fsrcnn", 2, bare).scale == 2
    assert "does not say its scale; assumed ×2" in caplog.text
    untrained = tmp_path / "untrained.pt"
    torch.save(MODELS["fsrcnn"].build(3).state_dict(), untrained)
    with pytest.raises(WeightsError, match="look untrained"):
        load_model("fsrcnn", 3, untrained)


@pytest.mark.parametrize("codec, suffix", [("libsvtav1", ".mkv"), ("libsvtav1", ".mp4"), ("mjpeg", ".mkv"),
                                           ("auto", ".webm")])
def test_encoders_beyond_h264_work_end_to_end(codec, suffix, clip_factory, random_weights, tmp_path):
    if codec != "auto" and codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec}")
    src = clip_factory("clip.mp4", width=64, height=64, frames=6)
    out = tmp_path / f"out{suffix}"
    # The default preset (medium) and crf (18) for every encoder: each takes them in its own terms.
    report = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(src, out, codec=codec)
    assert report.frames == 6 and (report.codec == "libvpx-vp9" if codec == "auto" else report.codec == codec)
    with av.open(str(out)) as result:
        assert len(list(result.decode(video=0))) == 6


def test_upscale_image_takes_flipped_views_and_refuses_empty_pictures():
    upscaler = Upscaler("fsrcnn", 2, "cpu")
    bgr = np.random.default_rng(0).integers(0, 256, (12, 20, 3), np.uint8)
    flipped = bgr[..., ::-1]  # as cv2.imread(path)[..., ::-1] gives: negative strides
    np.testing.assert_array_equal(upscaler.upscale_image(flipped), upscaler.upscale_image(flipped.copy()))
    with pytest.raises(InputError, match="empty picture"):
        upscaler.upscale_image(np.zeros((0, 0, 3), np.uint8))


def test_rgb_coded_input_is_tagged_with_what_was_written(clip_factory, random_weights, tmp_path):
    src = clip_factory("rgb.mkv", codec="libx264rgb", pix_fmt="bgr24", frames=4, audio=False)
    out = tmp_path / "out.mkv"
    Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(src, out)
    with av.open(str(out)) as result:
        ctx = result.streams.video[0].codec_context
        pix_fmt, colorspace = ctx.pix_fmt, ctx.colorspace
    # What rtsr writes is YUV (the RGB input converted with a stated matrix), tagged with that matrix,
    # never with the RGB "identity" matrix (0), which would make players show false colours.
    assert pix_fmt.startswith("yuv") and colorspace in (1, 5, 6)


def test_a_truncated_input_is_reported_not_passed_over(clip_factory, random_weights, tmp_path, caplog):
    whole = clip_factory("whole.mkv", width=160, height=96, frames=120)
    truncated = tmp_path / "truncated.mkv"
    data = whole.read_bytes()
    truncated.write_bytes(data[: int(len(data) * 0.6)])  # as a download or a copy cut short
    with caplog.at_level("WARNING", logger="rtsr"):
        report = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(
            truncated, tmp_path / "out.mkv")
    assert 0 < report.frames < 100 and report.missing_frames >= 20
    assert "damaged or truncated" in caplog.text
    assert f"MISSING about {report.missing_frames} frame(s)" in report.summary()
    clean = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(whole, tmp_path / "w.mkv")
    assert clean.missing_frames == 0 and "MISSING" not in clean.summary()


def test_a_full_disk_while_saving_the_work_list_is_an_encode_error(tmp_path, monkeypatch):
    from rtsr.errors import EncodeError
    from rtsr.io import resume

    work = resume.WorkFolder(tmp_path / "out.mp4", {"job": 1})
    work.open()
    work.segment_partial_path(0).write_bytes(b"chunk")

    def full(path, text):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr(resume, "write_text_atomically", full)
    with pytest.raises(EncodeError, match="cannot save the upscaled work in .*No space left on device"):
        work.commit_segment(0, 5, 4)
    assert work.chunks == []  # not listed: a run that resumes will not trust it either
    work.close()


@pytest.fixture
def silent_server():
    """A TCP port that accepts connections and never says a word: (port, close)."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def accept() -> None:
        while True:
            try:
                accepted.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in accepted:
        connection.close()


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_ctrl_c_stops_live_while_it_connects_to_a_silent_stream(scheme, silent_server, tmp_path):
    import signal
    import time

    process = subprocess.Popen([sys.executable, "-m", "rtsr", "live", f"{scheme}://127.0.0.1:{silent_server}/x",
                                "--no-window", "-o", str(tmp_path / "rec.mp4")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(3)  # connecting: the 10 s time-out is far off
    assert process.poll() is None
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - sent < 3, stderr
    assert "Traceback" not in stderr and not (tmp_path / "rec.mp4").exists()


def test_live_time_outs_are_configurable_and_say_what_happened(silent_server, tmp_path):
    import time

    started = time.monotonic()
    silent = _rtsr("live", f"http://127.0.0.1:{silent_server}/x", "--no-window", "-o", tmp_path / "a.mp4",
                   "--timeout", "1.5")
    _one_line_error(silent, "no answer within 1.5 s (--timeout)")
    assert time.monotonic() - started < 15  # one attempt, then the message (the process start included)
    refused = _rtsr("live", "http://127.0.0.1:9/x", "--no-window", "-o", tmp_path / "b.mp4")
    _one_line_error(refused, "Connection refused")


def test_an_output_too_large_for_the_encoder_is_refused_before_any_work(clip_factory, random_weights, tmp_path,
                                                                        monkeypatch):
    from rtsr.errors import EncodeError
    from rtsr.io import encode

    monkeypatch.setitem(encode.MAX_SIDE, "libx264", 150)  # as 16384 is for a 8K input ×3
    with pytest.raises(EncodeError, match=r"the output would be 192×128, and libx264 encodes at most 150"):
        Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(clip_factory(), tmp_path / "o.mp4")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.mp4"]


def test_a_damaged_y4m_header_says_so(tmp_path):
    bad = tmp_path / "bad.y4m"
    bad.write_bytes(b"YUV4MPEG2 W0 H0 F25:1\nFRAME\nxxxx")  # FFmpeg reports it as "Device or resource busy"
    result = _rtsr(bad, "-o", tmp_path / "out.mp4")
    _one_line_error(result, "not a media file FFmpeg understands (its header is damaged)")


def test_matroska_output_declares_the_input_frame_rate(clip_factory, random_weights, tmp_path):
    src = clip_factory("clip.mp4", rate=24)  # MP4's time base 1/12288 used to show through as "12288 fps"
    Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(src, tmp_path / "out.mkv")
    with av.open(str(tmp_path / "out.mkv")) as result:
        assert result.streams.video[0].average_rate == 24


def test_live_records_every_frame_it_upscaled(tmp_path):
    import re

    rec = tmp_path / "rec.mp4"
    result = _rtsr("live", "testsrc2=size=64x48:rate=24", "--scale", "2", "--no-window", "--duration", "1.5",
                   "-o", rec)
    assert result.returncode == 0, result.stderr
    upscaled, recorded = (int(n) for n in re.search(r"(\d+) upscaled .* (\d+) recorded", result.stderr).groups())
    with av.open(str(rec)) as container:
        in_file = sum(1 for _ in container.decode(video=0))
    assert upscaled == recorded == in_file > 10


@pytest.mark.parametrize("codec", ["libx265", "libsvtav1"])
def test_quiet_is_not_broken_by_encoder_banners(codec, clip_factory, random_weights, tmp_path):
    if codec not in av.codecs_available:
        pytest.skip(f"this PyAV has no {codec}")
    # A fresh process: the banners go to file descriptor 2 itself, which only a subprocess captures.
    result = run_rtsr(clip_factory("clip.mp4", width=64, height=64, frames=4), "-o", tmp_path / "out.mkv",
                      "--scale", "2", "--codec", codec, "--quiet", "--weights", random_weights("fsrcnn", 2))
    assert result.returncode == 0, result.stderr
    assert "[info]" not in result.stderr and "SVT [version]" not in result.stderr, result.stderr


def test_a_slow_fsrcnn_job_starts_with_an_estimate(monkeypatch, caplog):
    from rtsr import cli
    from rtsr.io.probe import VideoInfo
    from rtsr.run_spec import RunSpec
    from rtsr.runner import build_runner

    runner = build_runner(RunSpec("fsrcnn", 4, "none", None, "cpu"))
    monkeypatch.setattr(runner, "estimate_frame_seconds", lambda width, height: 53.0)  # as for an 8K frame
    info = VideoInfo(0, 7680, 4320, "yuv420p", None, None, None, None, 100, None, None)
    with caplog.at_level("WARNING", logger="rtsr"):
        cli._warn_if_slow(runner, info)
    assert "fsrcnn ×4 runs on the CPU here: about 53.0 s per frame, about 1:28:20 for 100 frames" in caplog.text
