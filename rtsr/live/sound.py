"""Sound for a source that has none: ``rtsr live 0 --audio pulse:default -o cam.mp4``.

Cameras come through OpenCV, which captures pictures only. ``--audio
FORMAT:DEVICE`` names any FFmpeg audio input (``pulse:default``,
``alsa:hw:1``, ``lavfi:sine=frequency=440`` for a test tone); its frames are
read on their own thread, timed on the frames' capture clock (the first
sample at the time the device was started, then by the samples read), and
encoded into the recording as AAC by the recorder (rtsr.live.recorder).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import av

from rtsr.errors import InputError


@dataclass(frozen=True)
class SoundFormat:
    """What the recorder encodes a device's sound with."""

    rate: int  # samples per second
    layout: str  # "mono", "stereo", ...


class SoundDevice:
    """An FFmpeg audio input read on its own thread; each frame goes to ``on_frame(frame, captured)``.

    Inputs that are not devices (lavfi, files) run faster than real time,
    so frames are paced by their samples: none is delivered before its time.
    """

    def __init__(self, spec: str) -> None:
        fmt, sep, url = spec.partition(":")
        if not sep or not fmt or not url:
            raise InputError(f"--audio takes FORMAT:DEVICE (pulse:default, alsa:hw:1, lavfi:sine), not {spec!r}")
        try:
            self.container = av.open(url, format=fmt)
        except (av.FFmpegError, ValueError) as err:
            raise InputError(f"cannot open the sound input {spec}: {getattr(err, 'strerror', err)}") from None
        if not self.container.streams.audio:
            self.container.close()
            raise InputError(f"{spec} has no sound")
        self.stream = self.container.streams.audio[0]
        self.spec = spec
        self.format = SoundFormat(self.stream.codec_context.sample_rate, self.stream.codec_context.layout.name)
        self.on_frame: Callable[[av.AudioFrame, float], object] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, name="rtsr-sound", daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        started, samples, rate = time.monotonic(), 0, self.format.rate
        try:
            for frame in self.container.decode(self.stream):
                due = started + samples / rate  # the frame's first sample, on the monotonic clock
                if self._stop.wait(max(0.0, due - time.monotonic())):
                    return
                samples += frame.samples
                sink = self.on_frame
                if sink is not None:
                    sink(frame, due)
        except (av.FFmpegError, OSError) as err:  # the device went away: the picture goes on
            self.error = err

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.container.close()


class WithSound:
    """A source that has no sound, with a SoundDevice's (the Source protocol of rtsr.live.sources)."""

    def __init__(self, source, device: SoundDevice) -> None:
        self.source, self.device = source, device
        self.description = f"{source.description} with sound from {device.spec}"
        self.rate = source.rate

    @property
    def audio(self) -> SoundFormat:
        return self.device.format

    @property
    def on_audio(self) -> Callable[[av.AudioFrame, float], object] | None:
        return self.device.on_frame

    @on_audio.setter
    def on_audio(self, sink: Callable[[av.AudioFrame, float], object] | None) -> None:
        self.device.on_frame = sink

    def frame_size(self) -> tuple[int, int] | None:
        return self.source.frame_size()

    def degradation(self):  # -> rtsr.io.degradation.Degradation, of the pictures
        return self.source.degradation()

    def frames(self, stop: threading.Event) -> Iterator[tuple[av.VideoFrame, float]]:
        self.device.start()
        yield from self.source.frames(stop)

    def close(self) -> None:
        try:
            self.device.close()
        finally:
            self.source.close()
