"""``rtsr live``: one session -- capture, upscale and show or record, each on its own thread.

    capture thread ──▶ [latest frame] ──▶ upscale thread ──▶ [latest result] ──▶ window / recorder
                       (newest wins)                        (newest wins)      (main thread)

Each hand-over holds one item and a newer one replaces it, so processing never
falls behind the source and nothing grows: a frame that is replaced before the
upscale thread takes it is *dropped* and counted. Latency is measured from
the moment a frame is captured to the moment its upscaled picture is shown
(or, headless, handed to the recorder).

Frames travel as ``av.VideoFrame``: YUV from streams and files, as decoded,
so the upscaling is the file pipeline's (rtsr.live.upscale); they become BGR
only to be shown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from rtsr.live.recorder import Recorder
from rtsr.live.sources import Source
from rtsr.live.view import compose_view, draw_overlay, to_bgr
from rtsr.text import counted

log = logging.getLogger("rtsr")

WINDOW = "rtsr live"
KEYS = {"q / Esc": "quit", "c": "split-screen comparison with bicubic", "s": "save a PNG screenshot",
        "r": "start / stop recording the upscaled picture"}

FrameUpscale = Callable[[av.VideoFrame], av.VideoFrame]


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
    not_recorded: int = 0  # shown, but left out of the recording because its encoder fell behind
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
        return (f"live: {counted(self.captured, 'frame')} captured, {self.processed} upscaled ({fps:.1f} fps), "
                f"{self.dropped} dropped, latency {self.latency_ms:.0f} ms"
                + (f", {self.recorded} recorded" if self.recorded else "")
                + (f" ({self.not_recorded} left out: the encoder fell behind)" if self.not_recorded else "")
                + ("\nhint: upscaling kept up with under half of the source's frames; `rtsr check CLIP` on a "
                   "clip of this source times each model and engine at its size"
                   if self.captured >= 10 and self.dropped > self.processed else ""))


@dataclass
class LiveOptions:
    label: str = ""  # "fsrcnn ×2 cpu", shown in the overlay
    window: bool = True
    output: Path | None = None  # headless: record here; window: where 'r' records
    duration: float | None = None  # stop after this many seconds
    screenshot_dir: Path = Path(".")
    codec: str = "libx264"
    crf: float = 20
    preset: str = "veryfast"


def overlay_lines(report: LiveReport, label: str, recording: bool) -> list[str]:
    return [
        f"source {report.source_rate.value():5.1f} fps   upscaled {report.processed_rate.value():5.1f} fps",
        f"dropped {report.dropped}   latency {report.latency_ms:4.0f} ms",
        label + ("   REC" if recording else ""),
    ]


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def _even(frame: av.VideoFrame) -> tuple[int, int]:
    return frame.width - frame.width % 2, frame.height - frame.height % 2


class _Session:
    """The main thread's side: shows or records results and reacts to keys."""

    def __init__(self, source: Source, options: LiveOptions, report: LiveReport) -> None:
        self.source, self.options, self.report = source, options, report
        self.recorder: Recorder | None = None
        self.compare = False
        self.last: tuple[av.VideoFrame, av.VideoFrame] | None = None  # (source, upscaled)
        self.view: np.ndarray | None = None

    def start_recording(self, path: Path, upscaled: av.VideoFrame) -> None:
        o = self.options
        self.recorder = Recorder(path, _even(upscaled), self.source.rate, o.codec, o.crf, o.preset,
                                 audio=self.source.audio)
        self.source.on_audio = self.recorder.add_audio  # the source's sound, while this recording runs
        log.info("recording to %s", path)

    def stop_recording(self) -> None:
        """Finalise the recording; raises its EncodeError when the encoder failed."""
        recorder, self.recorder = self.recorder, None
        self.source.on_audio = None
        if recorder is not None:
            self.report.recorded += recorder.close()
            self.report.not_recorded += recorder.skipped
            if recorder.error is not None:
                raise recorder.error
            log.info("stopped recording %s", recorder.path)

    def show(self, source: av.VideoFrame, upscaled: av.VideoFrame, captured: float) -> None:
        o = self.options
        if self.recorder is None and o.output is not None and not o.window:
            self.start_recording(o.output, upscaled)
        if self.recorder is not None:
            self.recorder.add(upscaled, captured)
        self.last = (source, upscaled)
        self.report.latencies_ms.append(1000 * (time.monotonic() - captured))
        self.report.shown += 1
        if o.window:
            self.view = compose_view(to_bgr(upscaled), to_bgr(source) if self.compare else None, self.compare)
            draw_overlay(self.view, overlay_lines(self.report, o.label, self.recorder is not None))
            cv2.imshow(WINDOW, self.view)

    def deliver_last(self, item: tuple[av.VideoFrame, av.VideoFrame, float] | None) -> None:
        """The frame upscaled while the session was ending (duration, quit, Ctrl-C): into the recording too.

        Headless, the recording is what is shown, so it counts as shown; a
        recorder that has failed is left for stop_recording to report.
        """
        recorder = self.recorder
        if item is None or recorder is None or recorder.error is not None:
            return
        _, upscaled, captured = item
        recorder.add(upscaled, captured)
        if not self.options.window:
            self.report.shown += 1
            self.report.latencies_ms.append(1000 * (time.monotonic() - captured))

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


def run_live(source: Source, upscale: FrameUpscale, options: LiveOptions) -> LiveReport:
    """Run one live session until the source ends, the user quits, ``duration`` passes or Ctrl-C.

    ``upscale`` maps a captured frame to its upscaled frame (rtsr.live.LiveUpscaler).
    A recording in progress is always finalised into a playable file; a
    recording encoder that fails ends the session with its EncodeError.
    """
    report = LiveReport()
    stop, captured_all = threading.Event(), threading.Event()
    frames_in, results = LatestSlot(), LatestSlot()
    errors: list[BaseException] = []

    def capture() -> None:
        try:
            for frame, captured in source.frames(stop):
                report.captured += 1
                report.source_rate.tick(captured)
                report.dropped += frames_in.put((frame, captured))
        except BaseException as err:  # noqa: BLE001  (handed to the main thread)
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
                frame, captured = item
                upscaled = upscale(frame)
                report.processed += 1
                report.processed_rate.tick(time.monotonic())
                results.put((frame, upscaled, captured))
        except BaseException as err:  # noqa: BLE001  (handed to the main thread)
            errors.append(err)
        finally:
            stop.set()

    threads = [threading.Thread(target=capture, name="rtsr-capture", daemon=True),
               threading.Thread(target=infer, name="rtsr-upscale", daemon=True)]
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
        try:
            try:
                session.deliver_last(results.take(0))
            finally:
                session.stop_recording()
        finally:
            if options.window:
                cv2.destroyAllWindows()
                cv2.waitKey(1)
            source.close()
            report.seconds = time.monotonic() - started
    if errors:
        raise errors[0]
    return report
