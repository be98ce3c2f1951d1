"""``rtsr live``: upscale a webcam, a network stream, a file or a test source in real time.

    capture thread ──▶ [latest frame] ──▶ inference thread ──▶ [latest result] ──▶ display / recorder
                       (newest wins)                          (newest wins)

Each hand-over holds one item and a newer one replaces it, so processing never
falls behind the source and nothing grows: a frame that is replaced before the
inference thread takes it is *dropped* and counted. Latency is measured from
the moment a frame is captured to the moment its upscaled picture is shown
(or, headless, handed to the recorder).

Frames travel as (H, W, 3) uint8 RGB: live sources are 8-bit, and the
window and the recorder want RGB/BGR anyway.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from rtsr.errors import InputError
from rtsr.video import encoder_options

log = logging.getLogger("rtsr")

WINDOW = "rtsr live"
KEYS = {"q / Esc": "quit", "c": "split-screen comparison with bicubic", "s": "save a PNG screenshot",
        "r": "start / stop recording the upscaled picture"}
LAVFI_SOURCES = ("testsrc", "testsrc2", "smptebars", "smptehdbars", "mandelbrot", "life", "rgbtestsrc",
                 "yuvtestsrc", "cellauto", "color")
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")
RECONNECT_ATTEMPTS = 5


# --------------------------------------------------------------------------- sources


class Source(Protocol):
    """Frames from somewhere, as (rgb, capture_time) with time.monotonic() seconds."""

    description: str
    rate: float | None

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]: ...

    def close(self) -> None: ...


class CameraSource:
    """A webcam or capture card through OpenCV (index like 0, or a /dev/video path)."""

    def __init__(self, device: int | str) -> None:
        self.description = f"camera {device}"
        self.capture = cv2.VideoCapture(device)
        if not self.capture.isOpened():
            raise InputError(f"cannot open camera {device}: no such device, or it is busy")
        self.rate = self.capture.get(cv2.CAP_PROP_FPS) or None

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]:
        while not stop.is_set():
            ok, bgr = self.capture.read()
            if not ok:
                raise InputError(f"{self.description} stopped delivering frames")
            yield cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), time.monotonic()

    def close(self) -> None:
        self.capture.release()


class PyAVSource:
    """Anything PyAV opens: a file or test pattern (paced at its own frame rate) or a network stream.

    Network streams are reconnected up to RECONNECT_ATTEMPTS times when they
    fail to open or drop out.
    """

    def __init__(self, url: str, format: str | None = None, paced: bool = True,
                 network: bool = False) -> None:
        self.url, self.format, self.paced, self.network = url, format, paced, network
        self.description = f"{format}:{url}" if format else url
        self.container = self._open()
        stream = self.container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        self.rate = float(rate) if rate else None

    def _open(self) -> av.container.InputContainer:
        options = {"rtsp_transport": "tcp", "fflags": "nobuffer"} if self.network else {}
        attempts = RECONNECT_ATTEMPTS if self.network else 1
        for attempt in range(1, attempts + 1):
            try:
                container = av.open(self.url, format=self.format, options=options, timeout=10)
            except av.FFmpegError as err:
                if attempt == attempts:
                    raise InputError(f"cannot open {self.description}: {err.strerror}") from None
                log.warning("cannot open %s (%s); retrying (%d/%d)", self.description, err.strerror,
                            attempt, attempts)
                time.sleep(min(8, 2 ** (attempt - 1)))
                continue
            if not container.streams.video:
                container.close()
                raise InputError(f"{self.description} has no video stream")
            container.streams.video[0].thread_type = "AUTO"
            return container
        raise AssertionError("unreachable")  # pragma: no cover

    def frames(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]:
        reconnects = 0
        while not stop.is_set():
            try:
                yield from self._decode(stop)
                return
            except av.FFmpegError as err:
                if not self.network or reconnects >= RECONNECT_ATTEMPTS:
                    raise InputError(f"{self.description} failed: {err.strerror}") from None
                reconnects += 1
                log.warning("%s dropped out (%s); reconnecting (%d/%d)", self.description,
                            err.strerror, reconnects, RECONNECT_ATTEMPTS)
                self.container.close()
                self.container = self._open()

    def _decode(self, stop: threading.Event) -> Iterator[tuple[np.ndarray, float]]:
        stream = self.container.streams.video[0]
        started: float | None = None
        first_pts: float | None = None
        for frame in self.container.decode(stream):
            if stop.is_set():
                return
            if self.paced and frame.pts is not None:
                seconds = float(frame.pts * stream.time_base)
                if started is None:
                    started, first_pts = time.monotonic(), seconds
                ahead = started + (seconds - first_pts) - time.monotonic()
                if ahead > 0:
                    stop.wait(ahead)
            yield frame.to_ndarray(format="rgb24"), time.monotonic()

    def close(self) -> None:
        self.container.close()


def open_source(spec: str) -> Source:
    """Webcam index or /dev/video path, URL, lavfi test source, or file."""
    if spec.isdigit():
        return CameraSource(int(spec))
    if spec.startswith("/dev/video"):
        return CameraSource(spec)
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in NETWORK_SCHEMES:
        return PyAVSource(spec, paced=False, network=True)
    if spec.startswith("lavfi:"):
        return PyAVSource(spec[len("lavfi:"):], format="lavfi")
    if re.match(rf"^({'|'.join(LAVFI_SOURCES)})(=|$)", spec):
        return PyAVSource(spec, format="lavfi")
    if Path(spec).is_file():
        return PyAVSource(spec)
    raise InputError(f"cannot open source {spec!r}: not a camera, URL, lavfi source or file")


# --------------------------------------------------------------------------- plumbing


class LatestSlot:
    """A one-item hand-over where a newer item replaces an unread one."""

    def __init__(self) -> None:
        self._item: object | None = None
        self._ready = threading.Condition()

    def put(self, item: object) -> bool:
        """Store ``item``; True when it replaced one nobody had taken (a drop)."""
        with self._ready:
            replaced = self._item is not None
            self._item = item
            self._ready.notify()
            return replaced

    def empty(self) -> bool:
        with self._ready:
            return self._item is None

    def take(self, timeout: float) -> object | None:
        with self._ready:
            if self._item is None:
                self._ready.wait(timeout)
            item, self._item = self._item, None
            return item


class Rate:
    """Events per second over the last ``window`` seconds."""

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self.times: deque[float] = deque()

    def tick(self, now: float) -> None:
        self.times.append(now)
        while self.times and now - self.times[0] > self.window:
            self.times.popleft()

    def value(self) -> float:
        if len(self.times) < 2:
            return 0.0
        span = self.times[-1] - self.times[0]
        return (len(self.times) - 1) / span if span > 0 else 0.0


@dataclass
class LiveReport:
    """Counters of one live session."""

    captured: int = 0
    processed: int = 0
    shown: int = 0
    dropped: int = 0  # captured frames replaced before inference took them
    recorded: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    source_rate: Rate = field(default_factory=Rate)
    processed_rate: Rate = field(default_factory=Rate)
    seconds: float = 0.0

    @property
    def latency_ms(self) -> float:
        """Mean capture-to-display latency over the last 100 frames."""
        recent = self.latencies_ms[-100:]
        return sum(recent) / len(recent) if recent else 0.0

    def summary(self) -> str:
        fps = self.processed / self.seconds if self.seconds > 0 else 0.0
        return (f"live: {self.captured} frames captured, {self.processed} upscaled ({fps:.1f} fps), "
                f"{self.dropped} dropped, latency {self.latency_ms:.0f} ms"
                + (f", {self.recorded} recorded" if self.recorded else ""))


class Recorder:
    """Encodes upscaled RGB frames to a file on its own thread; timestamps from capture times."""

    def __init__(self, path: Path, size: tuple[int, int], rate: float | None, codec: str = "libx264",
                 crf: int = 20, preset: str = "veryfast") -> None:
        self.path = path
        self.container = av.open(str(path), "w")
        self.stream = self.container.add_stream(codec, rate=Fraction(rate or 30).limit_denominator(1001),
                                                options=encoder_options(codec, crf, preset))
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = Fraction(1, 1000)
        self.queue: deque[tuple[np.ndarray, float]] = deque()
        self.wake = threading.Event()
        self.closing = False
        self.first: float | None = None
        self.last_pts = -1
        self.written = 0
        self.thread = threading.Thread(target=self._work, name="rtsr-record", daemon=True)
        self.thread.start()

    def add(self, rgb: np.ndarray, captured: float) -> None:
        self.queue.append((rgb, captured))
        self.wake.set()

    def _work(self) -> None:
        while True:
            self.wake.wait(0.1)
            self.wake.clear()
            while self.queue:
                self._encode(*self.queue.popleft())
            if self.closing and not self.queue:
                return

    def _encode(self, rgb: np.ndarray, captured: float) -> None:
        if self.first is None:
            self.first = captured
        pts = max(self.last_pts + 1, round((captured - self.first) * 1000))
        self.last_pts = pts
        height, width = self.stream.height, self.stream.width
        if _even(rgb.shape) == (width, height):  # the usual case: at most an odd column/row cropped
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24")
            frame = frame.reformat(format="yuv420p")
        else:  # the source changed resolution: scale to the recording's size, never crop
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
            frame = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        self.container.mux(self.stream.encode(frame))
        self.written += 1

    def close(self) -> int:
        """Encode what is queued, flush the encoder, close the file; returns frames written."""
        self.closing = True
        self.wake.set()
        self.thread.join()
        self.container.mux(self.stream.encode(None))
        self.container.close()
        return self.written


# --------------------------------------------------------------------------- the session


def _even(rgb_shape: tuple[int, ...]) -> tuple[int, int]:
    height, width = rgb_shape[:2]
    return width - width % 2, height - height % 2


def compose_view(upscaled: np.ndarray, source: np.ndarray, compare: bool) -> np.ndarray:
    """The picture to show (BGR): the upscaled frame, or bicubic | model split down the middle."""
    view = upscaled
    if compare:
        height, width = upscaled.shape[:2]
        bicubic = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
        view = upscaled.copy()
        view[:, : width // 2] = bicubic[:, : width // 2]
        cv2.line(view, (width // 2, 0), (width // 2, height - 1), (255, 255, 255), 1)
        for text, x in (("bicubic", 8), ("model", width // 2 + 8)):
            cv2.putText(view, text, (x, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (255, 255, 0), 2)
    return cv2.cvtColor(view, cv2.COLOR_RGB2BGR)


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> None:
    """White text on a dark band in the top-left corner (in place)."""
    height = 22 * len(lines) + 8
    width = min(bgr.shape[1], 12 + 9 * max(len(line) for line in lines))
    band = bgr[:height, :width]
    band[:] = (band * 0.35).astype(np.uint8)
    for row, line in enumerate(lines):
        cv2.putText(bgr, line, (6, 20 + 22 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)


@dataclass
class LiveOptions:
    label: str = ""  # "fsrcnn ×2 cpu", shown in the overlay
    window: bool = True
    output: Path | None = None  # headless: record here; window: where 'r' records
    duration: float | None = None  # stop after this many seconds
    screenshot_dir: Path = Path(".")
    codec: str = "libx264"
    crf: int = 20
    preset: str = "veryfast"


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def overlay_lines(report: LiveReport, label: str, recording: bool) -> list[str]:
    return [
        f"source {report.source_rate.value():5.1f} fps   upscaled {report.processed_rate.value():5.1f} fps",
        f"dropped {report.dropped}   latency {report.latency_ms:4.0f} ms",
        label + ("   REC" if recording else ""),
    ]


class _Session:
    """The main thread's side: shows or records results and reacts to keys."""

    def __init__(self, source: Source, options: LiveOptions, report: LiveReport) -> None:
        self.source, self.options, self.report = source, options, report
        self.recorder: Recorder | None = None
        self.compare = False
        self.last: tuple[np.ndarray, np.ndarray] | None = None  # (source rgb, upscaled rgb)
        self.view: np.ndarray | None = None

    def start_recording(self, path: Path, upscaled: np.ndarray) -> None:
        o = self.options
        self.recorder = Recorder(path, _even(upscaled.shape), self.source.rate, o.codec, o.crf, o.preset)
        log.info("recording to %s", path)

    def stop_recording(self) -> None:
        if self.recorder is not None:
            self.report.recorded += self.recorder.close()
            log.info("stopped recording %s", self.recorder.path)
            self.recorder = None

    def show(self, source_rgb: np.ndarray, upscaled: np.ndarray, captured: float) -> None:
        o = self.options
        if self.recorder is None and o.output is not None and not o.window:
            self.start_recording(o.output, upscaled)
        if self.recorder is not None:
            self.recorder.add(upscaled, captured)
        self.last = (source_rgb, upscaled)
        self.report.latencies_ms.append(1000 * (time.monotonic() - captured))
        self.report.shown += 1
        if o.window:
            self.view = compose_view(upscaled, source_rgb, self.compare)
            draw_overlay(self.view, overlay_lines(self.report, o.label, self.recorder is not None))
            cv2.imshow(WINDOW, self.view)

    def handle_key(self, key: int) -> bool:
        """React to one key; False means quit."""
        if key in (ord("q"), 27):
            return False
        if key == ord("c"):
            self.compare = not self.compare
        elif key == ord("s") and self.view is not None:
            path = self.options.screenshot_dir / f"rtsr-live-{_stamp()}.png"
            cv2.imwrite(str(path), self.view)
            log.info("saved %s", path)
        elif key == ord("r") and self.last is not None:
            if self.recorder is None:
                self.start_recording(self.options.output or Path(f"rtsr-live-{_stamp()}.mp4"), self.last[1])
            else:
                self.stop_recording()
        return True


def run_live(source: Source, upscale: Callable[[np.ndarray], np.ndarray], options: LiveOptions) -> LiveReport:
    """Run one live session until the source ends, the user quits, ``duration`` passes or Ctrl-C.

    ``upscale`` maps (H, W, 3) uint8 RGB to its upscaled version. A recording
    in progress is always finalized into a playable file.
    """
    report = LiveReport()
    stop, captured_all = threading.Event(), threading.Event()
    frames_in, results = LatestSlot(), LatestSlot()
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            for rgb, captured in source.frames(stop):
                report.captured += 1
                report.source_rate.tick(captured)
                report.dropped += frames_in.put((rgb, captured))
        except BaseException as err:  # handed to the main thread
            errors.append(err)
        finally:
            captured_all.set()

    def infer() -> None:
        try:
            while not stop.is_set():
                item = frames_in.take(0.05)
                if item is None:
                    if captured_all.is_set() and frames_in.empty():
                        return
                    continue
                rgb, captured = item
                upscaled = upscale(rgb)
                report.processed += 1
                report.processed_rate.tick(time.monotonic())
                results.put((rgb, upscaled, captured))
        except BaseException as err:
            errors.append(err)
        finally:
            stop.set()

    threads = [threading.Thread(target=capture, name="rtsr-capture", daemon=True),
               threading.Thread(target=infer, name="rtsr-infer", daemon=True)]
    session = _Session(source, options, report)
    if options.window:
        cv2.namedWindow(WINDOW, cv2.WINDOW_AUTOSIZE | cv2.WINDOW_GUI_NORMAL)
        cv2.moveWindow(WINDOW, 0, 0)
    started = last_status = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        while not (stop.is_set() and results.empty()):
            if options.duration and time.monotonic() - started > options.duration:
                break
            item = results.take(0.02)
            if item is not None:
                session.show(*item)
            if options.window:
                if not session.handle_key(cv2.waitKey(1) & 0xFF):
                    break
                if cv2.getWindowProperty(WINDOW, cv2.WND_PROP_VISIBLE) < 1:
                    break
            elif time.monotonic() - last_status > 5:
                last_status = time.monotonic()
                log.info(" | ".join(overlay_lines(report, options.label, session.recorder is not None)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(5)
        session.stop_recording()
        if options.window:
            cv2.destroyAllWindows()
            cv2.waitKey(1)
        source.close()
        report.seconds = time.monotonic() - started
    if errors:
        raise errors[0]
    return report
