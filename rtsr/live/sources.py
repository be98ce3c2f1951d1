"""Where live frames come from: a webcam (OpenCV), or anything PyAV opens (stream, file, lavfi source).

Every source yields ``(frame, capture_time)``: an ``av.VideoFrame`` as it was
decoded or captured (YUV from streams and files, BGR from cameras) and the
``time.monotonic()`` second it arrived.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Protocol

import av
import cv2

from rtsr.errors import InputError
from rtsr.io.degradation import Degradation, bits_per_pixel, judge_stream
from rtsr.io.deinterlace import field_order
from rtsr.io.probe import frame_step, main_video_stream
from rtsr.io.reader import FrameReader
from rtsr.threads import call_on_thread

log = logging.getLogger("rtsr")

LAVFI_SOURCES = ("testsrc", "testsrc2", "smptebars", "smptehdbars", "mandelbrot", "life", "rgbtestsrc",
                 "yuvtestsrc", "cellauto", "color")
NETWORK_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt", "rtp")
RECONNECT_ATTEMPTS = 5  # after a stream that was playing drops out; the first connection is tried once
NETWORK_TIMEOUT = 10.0  # seconds a network source may stay silent while connecting or reading (--timeout)


class Source(Protocol):
    """Frames from somewhere, as (frame, capture_time) with time.monotonic() seconds."""

    description: str
    rate: float | None
    audio: av.audio.stream.AudioStream | None  # the sound recordings copy, when the source has any
    on_audio: Callable[[av.Packet, float], object] | None  # where its packets go, with their capture times

    def frame_size(self) -> tuple[int, int] | None:
        """(width, height) of the frames to come when the source says so before the first one, else None."""
        ...

    def frames(self, stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]: ...

    def degradation(self) -> Degradation:
        """How compressed the pictures are, for the choice of weights (rtsr.io.degradation)."""
        ...

    def close(self) -> None: ...


class CameraSource:
    """A webcam or capture card through OpenCV (index like 0, or a /dev/video path); frames are BGR."""

    audio = None  # OpenCV captures pictures only
    on_audio = None

    def __init__(self, device: int | str) -> None:
        self.description = f"camera {device}"
        self.capture = cv2.VideoCapture(device)
        if not self.capture.isOpened():
            raise InputError(f"cannot open camera {device}: no such device, or it is busy")
        self.rate = self.capture.get(cv2.CAP_PROP_FPS) or None

    def degradation(self) -> Degradation:
        """A camera's frames count as clean: OpenCV does not say how the camera compressed them, if at all."""
        return Degradation("none", "a camera, taken as clean")

    def frame_size(self) -> tuple[int, int] | None:
        width = int(self.capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self.capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        return (width, height) if width > 0 and height > 0 else None

    def frames(self, stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]:
        while not stop.is_set():
            ok, bgr = self.capture.read()
            if not ok:
                raise InputError(f"{self.description} stopped delivering frames")
            yield av.VideoFrame.from_ndarray(bgr, format="bgr24"), time.monotonic()

    def close(self) -> None:
        self.capture.release()


class PyAVSource:
    """Anything PyAV opens: a file or test pattern (paced at its own frame rate) or a network stream.

    The video is the main one (never cover art), decoded by rtsr.io's
    FrameReader under the same policy as files. Network streams are
    reconnected up to RECONNECT_ATTEMPTS times when they fail to open or drop out.
    """

    def __init__(self, url: str, format: str | None = None, paced: bool = True,
                 network: bool = False, timeout: float = NETWORK_TIMEOUT) -> None:
        self.url, self.format, self.paced, self.network = url, format, paced, network
        self.timeout = timeout
        self.description = f"{format}:{url}" if format else url
        self.container, self.stream = self._open(attempts=1)
        rate = self.stream.average_rate or self.stream.guessed_rate
        self.rate = float(rate) if rate else None
        self.audio = next(iter(self.container.streams.audio), None)
        self.on_audio: Callable[[av.Packet, float], object] | None = None  # set by the session while recording
        self._clock_offset: float | None = None  # capture clock minus source time, from the first frame

    def frame_size(self) -> tuple[int, int] | None:
        width, height = self.stream.codec_context.width, self.stream.codec_context.height
        return (width, height) if width > 0 and height > 0 else None

    def degradation(self) -> Degradation:
        """How compressed the stream is (rtsr.io.degradation): a file's H.264 by its quantiser, the rest by the
        header's bit rate (a network stream is not read twice)."""
        codec = self.stream.codec_context.name
        bpp = bits_per_pixel(self.stream.bit_rate or self.container.bit_rate, *(self.frame_size() or (0, 0)),
                             self.rate)
        return judge_stream(codec, bpp, None if self.network or self.format else Path(self.url))

    def _open(self, attempts: int) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
        attempts = attempts if self.network else 1
        for attempt in range(1, attempts + 1):
            try:
                container = self._connect()
            except av.FFmpegError as err:
                reason = (f"no answer within {self.timeout:g} s (--timeout)" if isinstance(err, av.error.ExitError)
                          else err.strerror)
                if attempt == attempts:
                    raise InputError(f"cannot open {self.description}: {reason}") from None
                log.warning("cannot open %s (%s); retrying (%d/%d)", self.description, reason,
                            attempt, attempts)
                time.sleep(min(8, 2 ** (attempt - 1)))
                continue
            stream = main_video_stream(container)
            if stream is None:
                container.close()
                raise InputError(f"{self.description} has no video stream")
            return container, stream
        raise AssertionError("unreachable")  # pragma: no cover

    def _connect(self) -> av.container.InputContainer:
        """av.open, on a helper thread for network sources, so that Ctrl-C stops a connection at once.

        FFmpeg blocks until its time-out while connecting, and PyAV runs
        Python's signal handlers inside FFmpeg's interrupt callback, where
        the KeyboardInterrupt is lost: the main thread only waits here, and
        Ctrl-C raises in it at once (the helper, a daemon, is left to its time-out).
        """
        if not self.network:
            return av.open(self.url, format=self.format)
        options = {"rtsp_transport": "tcp", "fflags": "nobuffer"}
        return call_on_thread(lambda: av.open(self.url, format=self.format, options=options,
                                              timeout=(self.timeout, self.timeout)), "rtsr-connect", daemon=True)

    def frames(self, stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]:
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
                self.container, self.stream = self._open(attempts=RECONNECT_ATTEMPTS)

    def _decode(self, stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]:
        time_base = self.stream.time_base
        order = field_order(self.stream.codec_context.field_order, None)  # broadcast streams are interlaced
        self.audio = next(iter(self.container.streams.audio), None)  # (a reconnect opens a new container)
        reader = FrameReader(self.container, self.stream, step=frame_step(self.rate, time_base),
                             reorder_depth=0,  # held frames are latency
                             deinterlace=order if order in ("tff", "bff") else None,
                             other_streams=(self.audio,) if self.audio is not None else (),
                             on_packet=self._audio_packet)
        self._clock_offset = None
        started: float | None = None
        first_pts: float | None = None
        for frame in reader.frames():
            if stop.is_set():
                return
            if self.paced and frame.pts is not None and time_base:
                seconds = float(frame.pts * time_base)
                if started is None:
                    started, first_pts = time.monotonic(), seconds
                ahead = started + (seconds - first_pts) - time.monotonic()
                if ahead > 0:
                    stop.wait(ahead)
            captured = time.monotonic()
            if self._clock_offset is None and frame.pts is not None and time_base:
                self._clock_offset = captured - float(frame.pts * time_base)
            yield frame, captured

    def _audio_packet(self, packet: av.Packet) -> None:
        """An audio packet to the recorder, timed on the capture clock through the first frame's offset
        (packets before the first frame, or without a pts, have no place on it and are dropped)."""
        sink, offset = self.on_audio, self._clock_offset
        if sink is None or offset is None or packet.pts is None or packet.time_base is None:
            return
        sink(packet, offset + float(packet.pts * packet.time_base))

    def close(self) -> None:
        self.container.close()


def open_source(spec: str, timeout: float = NETWORK_TIMEOUT) -> Source:
    """Webcam index or /dev/video path, URL, lavfi test source, or file; ``timeout`` for network sources."""
    if spec.isdigit():
        return CameraSource(int(spec))
    if spec.startswith("/dev/video"):
        return CameraSource(spec)
    scheme = spec.split("://", 1)[0].lower() if "://" in spec else ""
    if scheme in NETWORK_SCHEMES:
        return PyAVSource(spec, paced=False, network=True, timeout=timeout)
    if spec.startswith("lavfi:"):
        return PyAVSource(spec[len("lavfi:"):], format="lavfi")
    if re.match(rf"^({'|'.join(LAVFI_SOURCES)})(=|$)", spec):
        return PyAVSource(spec, format="lavfi")
    if Path(spec).is_file():
        return PyAVSource(spec)
    raise InputError(f"cannot open source {spec!r}: not a camera, URL, lavfi source or file")
