"""rtsr live: sources, the drop policy, headless recording, and the window under Xvfb."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from conftest import frame_times, run_rtsr_here

from rtsr.errors import InputError
from rtsr.live import LatestSlot, LiveOptions, PyAVSource, Recorder, open_source, run_live

SOURCE = "testsrc2=size=64x48:rate=24"


def nearest_x2(frame: av.VideoFrame) -> av.VideoFrame:
    """A stand-in for the model: the frame at twice its size, pixels repeated, tags kept."""
    bigger = frame.reformat(width=frame.width * 2, height=frame.height * 2, interpolation="POINT")
    bigger.colorspace, bigger.color_range = frame.colorspace, frame.color_range
    return bigger


def test_latest_slot_keeps_only_the_newest() -> None:
    slot = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True  # 1 was never taken: a drop
    assert slot.take(0.01) == 2 and slot.empty()
    assert slot.take(0.01) is None


def test_sources_are_recognised(clip_factory, tmp_path) -> None:
    assert isinstance(open_source(SOURCE), PyAVSource)
    assert open_source("lavfi:color=c=red:size=32x32:rate=10").rate == 10
    clip = clip_factory("clip.mp4", frames=3)
    assert open_source(str(clip)).rate == 24
    with pytest.raises(InputError, match="cannot open source"):
        open_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(InputError, match="cannot open camera"):
        open_source("/dev/video99")


def test_a_fast_model_keeps_up_without_drops() -> None:
    report = run_live(open_source(SOURCE), nearest_x2, LiveOptions(window=False, duration=2.0))
    assert report.captured >= 36  # about 24 fps for 2 s
    assert report.dropped <= 2  # a loaded CI machine may lose a frame or two
    assert report.processed >= report.captured - 3
    assert report.latency_ms < 100


def test_a_slow_model_drops_frames_and_latency_stays_bounded() -> None:
    def slow(frame: av.VideoFrame) -> av.VideoFrame:
        time.sleep(0.1)  # 10 fps against a 24 fps source
        return nearest_x2(frame)

    report = run_live(open_source(SOURCE), slow, LiveOptions(window=False, duration=2.5))
    assert report.dropped >= 15
    assert report.processed <= 27
    assert report.captured >= 45  # capture kept the source's pace
    # Latency: at most one frame waiting plus one inference, never a growing backlog.
    assert report.latency_ms < 300
    assert max(report.latencies_ms) < 400


def test_headless_recording_has_every_shown_frame_with_increasing_timestamps(tmp_path) -> None:
    out = tmp_path / "live.mp4"
    report = run_live(open_source(SOURCE), nearest_x2, LiveOptions(window=False, output=out, duration=2.0))
    times = frame_times(out)
    assert len(times) == report.recorded == report.shown >= 36
    assert all(b > a for a, b in zip(times, times[1:]))
    assert 1.4 <= float(times[-1] - times[0]) <= 2.2  # real time, not decode speed
    with __import__("av").open(str(out)) as container:
        assert (container.streams.video[0].width, container.streams.video[0].height) == (128, 96)


def test_recording_scales_frames_after_a_source_resolution_change(tmp_path) -> None:
    first = np.zeros((96, 128, 3), np.uint8)
    larger = np.zeros((193, 257, 3), np.uint8)  # odd, and twice the size: the source switched
    larger[:, 193:] = 255  # a bright right quarter, lost if the frame were cropped
    recorder = Recorder(tmp_path / "rec.mp4", (128, 96), 24)
    recorder.add(av.VideoFrame.from_ndarray(first, format="rgb24").reformat(format="yuv420p"), 0.0)
    recorder.add(av.VideoFrame.from_ndarray(larger, format="rgb24"), 0.05)
    assert recorder.close() == 2
    with __import__("av").open(str(tmp_path / "rec.mp4")) as container:
        lumas = [frame.to_ndarray(format="gray") for frame in container.decode(video=0)]
    assert [luma.shape for luma in lumas] == [(96, 128), (96, 128)]
    assert lumas[0][:, -24:].mean() < 40 and lumas[1][:, -24:].mean() > 200


def test_live_cli_errors_are_one_line(tmp_path) -> None:
    result = run_rtsr_here("live", "nonsense-source", "--no-window")
    assert result.returncode == 1 and "cannot open source" in result.stderr
    assert "Traceback" not in result.stderr
    help_text = run_rtsr_here("live", "--help").stdout
    for key in ("q / Esc", "c ", "s ", "r "):
        assert key in help_text


@pytest.fixture
def xvfb():
    """A virtual X display for the window tests (Xvfb from Debian's packages)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (.ci/run installs it)")
    read_end, write_end = os.pipe()  # Xvfb picks a free display and writes its number when ready
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24",
                               "-nolisten", "tcp", "-noreset"], pass_fds=(write_end,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as ready:
        number = ready.readline().strip()
    if not number:
        pytest.fail("Xvfb did not start")
    display = f":{number}"
    yield display
    server.terminate()
    server.wait(10)


def _grab(display: str) -> np.ndarray:
    from PIL import ImageGrab

    return np.asarray(ImageGrab.grab(xdisplay=display))


def _window_origin(display: str) -> tuple[int, int]:
    """Top-left corner of the rtsr window on the screen (0, 0 unless xdotool says otherwise)."""
    if shutil.which("xdotool") is None:
        return 0, 0
    result = subprocess.run(["xdotool", "search", "--name", "rtsr live", "getwindowgeometry", "--shell"],
                            env={**os.environ, "DISPLAY": display}, capture_output=True, text=True, timeout=20)
    values = dict(line.split("=", 1) for line in result.stdout.split() if "=" in line)
    return int(values.get("X", 0)), int(values.get("Y", 0))


def _xdotool(display: str, *commands: str) -> None:
    subprocess.run(["xdotool", "search", "--name", "rtsr live", *commands],
                   env={**os.environ, "DISPLAY": display}, check=False, timeout=20, capture_output=True)


def _press(display: str, key: str) -> None:
    _xdotool(display, "windowfocus", "--sync", "key", key)


def test_window_shows_upscaled_picture_with_overlay_and_keys_work(xvfb, random_weights, tmp_path) -> None:
    env = {**os.environ, "DISPLAY": xvfb, "QT_LOGGING_RULES": "*=false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "rtsr", "live", "testsrc2=size=160x120:rate=24", "--scale", "2",
         "--engine", "cpu", "--weights", str(random_weights("fsrcnn", 2)), "--duration", "40",
         "--screenshot-dir", str(tmp_path)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        remap_at = time.monotonic() + 3
        while True:  # wait until the window is drawn
            x, y = _window_origin(xvfb)
            screen = _grab(xvfb)[y:, x:]
            if (screen[:60, :200] > 240).all(axis=2).any():
                break
            if process.poll() is not None or time.monotonic() > deadline:
                from PIL import Image

                Image.fromarray(_grab(xvfb)).save(tmp_path / "screen.png")
                pytest.fail(f"no window drawn (screen saved to {tmp_path / 'screen.png'}): "
                            + process.stderr.read()[-500:])
            if time.monotonic() > remap_at and shutil.which("xdotool"):
                # Xvfb without a window manager sometimes loses Qt's first expose event and the
                # window stays unpainted; unmapping and mapping it again delivers a new one.
                _xdotool(xvfb, "windowunmap", "--sync", "windowmap", "--sync")
                remap_at = deadline
            time.sleep(0.3)
        time.sleep(0.5)
        screen = _grab(xvfb)[y:, x:]
        window = screen[:240, :320].astype(int)
        band = window[:60, :200]  # the overlay: dim band with white text
        assert (band > 240).all(axis=2).sum() > 50, "no overlay text"
        assert np.median(band) < 110, "no dark overlay band"
        assert (screen[250:, 330:] == 0).all(), "the window is not 320x240 (2x the 160x120 source)"

        if shutil.which("xdotool") is None:
            pytest.skip("xdotool is not installed (.ci/run installs it)")
        _press(xvfb, "c")
        time.sleep(1.0)
        _press(xvfb, "s")
        deadline = time.monotonic() + 10
        shot = None
        while shot is None:  # the file may show up before it is completely written
            assert time.monotonic() < deadline, "the 's' key saved no screenshot"
            time.sleep(0.2)
            saved = list(tmp_path.glob("rtsr-live-*.png"))
            shot = cv2.imread(str(saved[0])) if saved else None
        assert shot.shape == (240, 320, 3)
        assert (shot[100:200, 160] > 240).all(), "no split line in comparison mode"
        _press(xvfb, "q")
        process.wait(15)
        assert process.returncode == 0
        assert "live:" in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()


def _recorded_tags(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        return ctx.colorspace, ctx.color_range


@pytest.mark.parametrize("source, tags", [
    (SOURCE, (6, 1)),  # untagged 48-line video: BT.601 (SMPTE 170M) limited range, as assumed, written
    (SOURCE + ",setparams=colorspace=bt709:range=tv", (1, 1)),  # the source's own tags, kept
])
def test_live_recordings_are_upscaled_as_yuv_and_tagged_with_their_colour(source, tags, random_weights,
                                                                           tmp_path) -> None:
    from rtsr.live import LiveUpscaler
    from rtsr.run_spec import RunSpec
    from rtsr.runner import build_runner

    out = tmp_path / "live.mkv"
    upscale = LiveUpscaler(build_runner(RunSpec("fsrcnn", 2, "none", str(random_weights("fsrcnn", 2)), "cpu")))
    report = run_live(open_source(source), upscale, LiveOptions(window=False, output=out, duration=1.0))
    assert report.recorded >= 10
    assert _recorded_tags(out) == tags
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert (stream.width, stream.height, stream.codec_context.format.name) == (128, 96, "yuv420p")


def _frame(width: int = 64, height: int = 48) -> av.VideoFrame:
    frame = av.VideoFrame.from_ndarray(np.full((height, width, 3), 90, np.uint8), format="rgb24")
    return frame.reformat(format="yuv420p")


def test_a_stalled_recording_encoder_never_grows_the_queue(tmp_path, monkeypatch) -> None:
    from rtsr.live.recorder import RECORD_QUEUE_FRAMES

    release = threading.Event()
    original = Recorder._encode

    def stalled(self, frame, captured):
        release.wait(10)  # a disk that stopped answering
        original(self, frame, captured)

    monkeypatch.setattr(Recorder, "_encode", stalled)
    recorder = Recorder(tmp_path / "rec.mp4", (64, 48), 24)
    for index in range(100):
        recorder.add(_frame(), index / 24)
        assert recorder.queue.qsize() <= RECORD_QUEUE_FRAMES
    assert recorder.skipped >= 100 - RECORD_QUEUE_FRAMES - 1  # one may be in the stalled encoder's hands
    release.set()
    written = recorder.close()
    assert written == 100 - recorder.skipped and recorder.error is None
    assert len(frame_times(tmp_path / "rec.mp4")) == written


FAILING_RECORDER = """
import sys
import av
from rtsr.live.recorder import Recorder
original = Recorder._encode
def failing(self, frame, captured):
    if self.written == 5:
        raise av.error.OSError(28, "No space left on device", str(self.path))
    original(self, frame, captured)
Recorder._encode = failing
from rtsr.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failing_recording_encoder_ends_live_with_one_line_and_a_finalised_file(random_weights, tmp_path):
    out = tmp_path / "rec.mkv"
    result = subprocess.run([sys.executable, "-c", FAILING_RECORDER, "live", SOURCE, "--no-window", "-o", str(out),
                             "--engine", "cpu", "--weights", str(random_weights("fsrcnn", 2)), "--duration", "20"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stderr
    assert "rtsr: error: recording to" in result.stderr and "No space left on device" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(frame_times(out)) == 5  # what was encoded before the failure is playable


def _start_live_recording(random_weights, out: Path) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "-m", "rtsr", "live", SOURCE, "--no-window", "-o", str(out), "--engine", "cpu",
         "--weights", str(random_weights("fsrcnn", 2)), "--duration", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list(out.parent.glob(f".{out.stem}.rtsr-*")):  # recording has started
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.05)
    time.sleep(2.5)
    assert not out.exists(), "the output path holds the recording while it is being written"
    return process


def test_sigterm_finalises_a_headless_recording_at_its_path(random_weights, tmp_path) -> None:
    out = tmp_path / "rec.mp4"
    process = _start_live_recording(random_weights, out)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 143, stderr
    assert "Traceback" not in stderr
    assert len(frame_times(out)) >= 24  # at least a second of 24 fps, playable
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_a_killed_recording_leaves_a_playable_hidden_file_and_nothing_at_the_path(random_weights, tmp_path):
    out = tmp_path / "rec.mp4"
    process = _start_live_recording(random_weights, out)
    process.kill()
    process.wait(10)
    assert not out.exists()
    (partial,) = tmp_path.glob(".rec.rtsr-*.partial.mp4")
    assert len(frame_times(partial)) >= 24  # the fragments written before the kill play


def test_the_next_recording_to_the_same_path_keeps_a_killed_one_in_sight(random_weights, tmp_path) -> None:
    from rtsr.live.command import rescue_partial_recordings

    out = tmp_path / "rec.mp4"
    process = _start_live_recording(random_weights, out)
    process.kill()
    process.wait(10)
    (kept,) = rescue_partial_recordings(out, "keep")
    assert kept.name.startswith("rec.partial-") and kept.suffix == ".mp4" and len(frame_times(kept)) >= 24
    assert not list(tmp_path.glob(".rec.rtsr-*"))
    assert rescue_partial_recordings(out, "keep") == []  # said once
    hidden = tmp_path / ".rec.rtsr-999999.partial.mp4"  # no such process: orphaned
    hidden.write_bytes(b"x")
    assert rescue_partial_recordings(out, "remove") == [] and not hidden.exists()
    mine = tmp_path / f".rec.rtsr-{os.getppid()}.partial.mp4"  # a running writer's: left alone
    mine.write_bytes(b"x")
    assert rescue_partial_recordings(out, "remove") == [] and mine.exists()


@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
def test_a_recording_keeps_the_sources_audio_in_sync(clip_factory, tmp_path, name) -> None:
    clip = clip_factory(name, width=64, height=48, frames=48)  # 2 s of testsrc2 and a 440 Hz tone
    out = tmp_path / "rec.mp4"
    report = run_live(open_source(str(clip)), nearest_x2, LiveOptions(window=False, output=out))
    assert report.recorded == 48
    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        assert audio.codec_context.name == "aac"
        both = [p for p in container.demux(video, audio) if p.pts is not None]
        packets = [p for p in both if p.stream.type == "audio"]
        first_video = min((p for p in both if p.stream.type == "video"), key=lambda p: p.pts)
        starts = float(packets[0].pts * packets[0].time_base), float(first_video.pts * first_video.time_base)
        ends = float((packets[-1].pts + packets[-1].duration) * packets[-1].time_base)
    assert abs(starts[0] - starts[1]) < 0.15  # both start with the recording's first frame
    assert 1.8 < ends < 2.3  # the whole 2 s of sound, not squeezed or stretched


def test_a_camera_records_the_picture_only() -> None:
    from rtsr.live.sources import CameraSource

    assert CameraSource.audio is None


def test_a_named_sound_input_is_recorded_with_a_source_that_has_none(tmp_path) -> None:
    from rtsr.live.sound import SoundDevice, WithSound

    out = tmp_path / "cam.mp4"
    source = WithSound(open_source(SOURCE), SoundDevice("lavfi:sine=frequency=440:sample_rate=48000"))
    report = run_live(source, nearest_x2, LiveOptions(window=False, output=out, duration=2.0))
    assert report.recorded >= 36
    with av.open(str(out)) as container:  # packets are read while their container is open
        assert container.streams.audio[0].codec_context.name == "aac"
        both = [p for p in container.demux() if p.pts is not None]
        audio = [p for p in both if p.stream.type == "audio"]
        video = [p for p in both if p.stream.type == "video"]
        audio_start = float(audio[0].pts * audio[0].time_base)
        video_start = float(min(p.pts for p in video) * video[0].time_base)
        video_end = float(max(p.pts for p in video) * video[0].time_base)
        audio_end = float(audio[-1].pts * audio[-1].time_base)
    assert abs(audio_start - video_start) < 0.15 and abs(audio_end - video_end) < 0.3


@pytest.mark.parametrize("spec, message", [("sine", "takes FORMAT:DEVICE"), ("nosuchformat:x", "cannot open")])
def test_a_bad_sound_input_is_one_line(spec, message, capsys) -> None:
    from rtsr.cli import main

    assert main(["live", SOURCE, "--no-window", "--duration", "1", "--audio", spec]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


def test_a_source_with_sound_keeps_its_own(clip_factory, capsys) -> None:
    from rtsr.cli import main

    clip = clip_factory("c.mkv", width=64, height=48, frames=24)
    assert main(["live", str(clip), "--no-window", "--audio", "lavfi:sine"]) == 1
    assert "has its own sound" in capsys.readouterr().err
