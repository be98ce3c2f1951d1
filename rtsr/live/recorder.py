"""Recording live frames: encoded on their own thread, in a bounded queue, timestamps from capture times."""

from __future__ import annotations

import logging
import queue
import threading
from fractions import Fraction
from pathlib import Path

import av

from rtsr.atomic import commit_file, temporary_path
from rtsr.errors import EncodeError
from rtsr.formats import LAYOUTS, describe_color
from rtsr.io.encode import EncodePlan, add_video_stream, choose_pix_fmt, muxer_holds, video_encoder
from rtsr.io.output import muxer_for
from rtsr.io.planes import frame_planes, planes_frame
from rtsr.io.probe import format_layout
from rtsr.live.sound import SoundFormat

log = logging.getLogger("rtsr")

RECORD_QUEUE_FRAMES = 16  # about half a second at 30 fps: rides out an encoder hiccup, bounds memory
AUDIO_QUEUE_PACKETS = 256  # several seconds of AAC: copied packets are small, and wait for the next frame
_CLOSING = object()


class Recorder:
    """Encodes upscaled frames into ``path`` on its own thread; pts are capture times in milliseconds.

    The file is written as a hidden temporary beside ``path`` and renamed into
    place when the recording closes (also after Ctrl-C or SIGTERM), so
    ``path`` never holds a half-written file. MP4/MOV recordings are written
    in fragments of about a second, so even after a crash or SIGKILL the
    temporary file plays up to its last whole second.

    The recording's pixel format and colour tags are those of the first
    frame (the upscaled YUV planes, as the file pipeline writes them); its
    size is ``size``, and a frame of another size (the source changed
    resolution) is scaled to it, never cropped. The queue holds at most
    RECORD_QUEUE_FRAMES: when the encoder falls that far behind, newer frames
    are left out of the recording and counted in ``skipped``, so memory stays
    bounded and the live picture never waits for the disk. An encoder or
    disk failure stops the thread; ``error`` then holds an EncodeError that
    the session raises, after :meth:`close` has finalised what was written.

    ``audio`` (the source's audio stream) adds its packets, copied, timed on
    the same capture clock as the frames (:meth:`add_audio`); packets from
    before the first frame are left out. A codec the container cannot hold
    is left out with a warning. ``audio`` as a SoundFormat (a sound device's,
    rtsr.live.sound) takes decoded frames instead, encoded as AAC.
    """

    def __init__(self, path: Path, size: tuple[int, int], rate: float | None, codec: str = "libx264",
                 crf: float | None = 20, preset: str | None = "veryfast",
                 audio: av.audio.stream.AudioStream | SoundFormat | None = None) -> None:
        self.path, self.size, self.rate = Path(path), size, rate
        self.partial = temporary_path(self.path)  # renamed to ``path`` when closed
        self.codec, self.crf, self.preset = video_encoder(codec), crf, preset
        self.queue: queue.Queue = queue.Queue(RECORD_QUEUE_FRAMES)
        self.container: av.container.OutputContainer | None = None
        self.stream: av.video.stream.VideoStream | None = None
        self.error: EncodeError | None = None
        self.first: float | None = None
        self.last_pts = -1
        self.written = 0
        self.skipped = 0
        self.audio_template = audio
        self.audio_queue: queue.Queue = queue.Queue(AUDIO_QUEUE_PACKETS)
        self.audio_stream: av.stream.Stream | None = None
        self.audio_last = -1
        self.audio_packets = 0
        self.resampler: av.AudioResampler | None = None  # a sound device's frames, to the AAC encoder's format
        self.thread = threading.Thread(target=self._work, name="rtsr-record", daemon=True)
        self.thread.start()

    def add(self, frame: av.VideoFrame, captured: float) -> None:
        """Queue one frame for encoding; raises the encoder's EncodeError once it has failed."""
        if self.error is not None:
            raise self.error
        try:
            self.queue.put_nowait((frame, captured))
        except queue.Full:
            if not self.skipped:
                log.warning("the recording encoder cannot keep up; frames are left out of %s", self.path)
            self.skipped += 1

    def add_audio(self, packet: av.Packet | av.AudioFrame, captured: float) -> None:
        """Queue one of the source's audio packets, or a sound device's frames (``captured``: its time
        on the frames' clock)."""
        try:
            self.audio_queue.put_nowait((packet, captured))
        except queue.Full:
            pass  # the thread has stopped or stalled: the picture comes first

    def _work(self) -> None:
        try:
            while True:
                item = self.queue.get()
                self._copy_audio()
                if item is _CLOSING:
                    return
                self._encode(*item)
        except (av.FFmpegError, OSError, ValueError) as err:
            self.error = EncodeError(f"recording to {self.path} failed: {err}")

    def _start(self, frame: av.VideoFrame) -> None:
        """Open the file and set the encoder up from the first frame's format and colour tags."""
        layout = format_layout(frame.format)
        color = describe_color(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc,
                               layout, frame.height)
        plan = EncodePlan(muxer=muxer_for(self.path), codec=self.codec.name,
                          pix_fmt=choose_pix_fmt(self.codec, layout, None), size=self.size,
                          time_base=Fraction(1, 1000), rate=Fraction(self.rate or 30).limit_denominator(1001),
                          crf=self.crf, preset=self.preset, color=color)
        self.container = av.open(str(self.partial), "w", format=plan.muxer, options=_streamable(plan.muxer))
        self.stream = add_video_stream(self.container, plan)
        template = self.audio_template
        if isinstance(template, SoundFormat):
            self.audio_stream = self.container.add_stream("aac", rate=template.rate, layout=template.layout)
            self.resampler = av.AudioResampler(format="fltp", layout=template.layout, rate=template.rate)
        elif template is not None:
            if muxer_holds(self.container, template.codec_context.name):
                self.audio_stream = self.container.add_stream_from_template(template)
            else:
                log.warning("the source's %s audio cannot go into a %s recording: recording the picture only",
                            template.codec_context.name, plan.muxer)

    def _copy_audio(self) -> None:
        """Mux the audio packets queued so far, each at its capture time since the first frame."""
        while True:
            try:
                packet, captured = self.audio_queue.get_nowait()
            except queue.Empty:
                return
            if self.audio_stream is None or self.first is None:
                continue
            if isinstance(packet, av.AudioFrame):
                self._encode_audio(packet, captured)
                continue
            if packet.time_base is None:
                continue
            pts = round((captured - self.first) / packet.time_base)
            if pts < 0 or pts <= self.audio_last:
                continue  # before the recording's first frame, or out of order
            packet.pts = packet.dts = self.audio_last = pts
            packet.stream = self.audio_stream
            self.container.mux(packet)
            self.audio_packets += 1

    def _encode_audio(self, frame: av.AudioFrame, captured: float) -> None:
        """A sound device's frame, encoded at its capture time (in samples since the first video frame)."""
        rate = self.audio_stream.codec_context.sample_rate
        start = round((captured - self.first) * rate)
        if start + frame.samples <= 0:
            return  # all before the recording's first frame
        for out in self.resampler.resample(frame):
            at = max(start, self.audio_last + 1)
            out.pts, out.time_base = at, Fraction(1, rate)
            self.audio_last = at + out.samples - 1
            start += out.samples
            self.container.mux(self.audio_stream.encode(out))
            self.audio_packets += 1

    def _encode(self, frame: av.VideoFrame, captured: float) -> None:
        if self.container is None:
            self.first = captured
            self._start(frame)
        pts = max(self.last_pts + 1, round((captured - self.first) * 1000))
        self.last_pts = pts
        width, height = self.size
        stream = self.stream
        if (frame.width, frame.height, frame.format.name) != (width, height, stream.pix_fmt):
            if (frame.width - frame.width % 2, frame.height - frame.height % 2) == (width, height):
                frame = _crop_to_even(frame)  # the usual case: an odd column/row dropped
            if (frame.width, frame.height) != (width, height) or frame.format.name != stream.pix_fmt:
                frame = frame.reformat(width=width, height=height, format=stream.pix_fmt, interpolation="BICUBIC")
        frame.pts, frame.time_base = pts, Fraction(1, 1000)
        self.container.mux(stream.encode(frame))
        self.written += 1

    def close(self) -> int:
        """Encode what is queued, flush the encoder, close the file; returns frames written.

        Also after a failure: what was written before it is finalised as far
        as the failing output allows, and ``error`` says what happened.
        """
        while True:
            try:
                self.queue.put(_CLOSING, timeout=0.1)
                break
            except queue.Full:
                if not self.thread.is_alive():  # it failed: nobody drains the queue any more
                    break
        self.thread.join()
        if self.container is not None:
            try:
                self._copy_audio()
                if self.resampler is not None and self.audio_stream is not None:
                    self.container.mux(self.audio_stream.encode(None))  # the AAC encoder's last frames
            except (av.FFmpegError, OSError, ValueError) as err:
                self.error = self.error or EncodeError(f"recording to {self.path} failed: {err}")
            try:  # the encoder still holds its lookahead: flush it, also after a failure, to keep what it can
                self.container.mux(self.stream.encode(None))
            except (av.FFmpegError, OSError, ValueError) as err:
                self.error = self.error or EncodeError(f"recording to {self.path} failed: {err}")
            try:
                self.container.close()
            except (av.FFmpegError, OSError, ValueError) as err:
                self.error = self.error or EncodeError(f"recording to {self.path} failed: {err}")
            if self.partial.exists():
                commit_file(self.partial, self.path)
        if self.skipped:
            log.warning("%d frames were left out of %s: the encoder could not keep up", self.skipped, self.path)
        return self.written


def _streamable(muxer: str) -> dict[str, str]:
    """Muxer options that keep a file playable when it is cut off.

    MP4/MOV are written in fragments of one second (a plain MP4 is unplayable
    until its index is written at the end); Matroska and WebM play up to where
    they stop as they are. Every container's packets go to the disk as they
    are muxed, not when an I/O buffer fills.
    """
    if muxer in ("mp4", "mov"):
        return {"movflags": "empty_moov+default_base_moof", "frag_duration": "1000000", "flush_packets": "1"}
    return {"flush_packets": "1"}


def _crop_to_even(frame: av.VideoFrame) -> av.VideoFrame:
    """The frame without its last column/row where they are odd (4:2:0 needs even sizes); tags kept."""
    layout = LAYOUTS.get(frame.format.name)
    if layout is None:  # not a planar YUV frame: the scaler resizes it by the pixel instead
        return frame
    width, height = frame.width - frame.width % 2, frame.height - frame.height % 2
    y, u, v = frame_planes(frame, layout, frame.width, frame.height)
    cw, ch = layout.chroma_size(width, height)
    cropped = planes_frame([y[:height, :width], u[:ch, :cw], v[:ch, :cw]], layout)
    cropped.colorspace, cropped.color_range = frame.colorspace, frame.color_range
    return cropped
