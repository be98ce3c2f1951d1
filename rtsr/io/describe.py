"""What an input is, for people: codec, rate, depth, colour, how compressed, interlacing, length.

``rtsr check`` prints it. How compressed the input is comes from the one
judgement every part of rtsr uses (rtsr.io.degradation: clean, compressed,
heavily compressed). Torch-free, like all of rtsr.io.
"""

from __future__ import annotations

from dataclasses import dataclass

from rtsr.io.degradation import Degradation, judge_video, video_bit_rate
from rtsr.io.probe import InputVideo, component_bits, container_seconds
from rtsr.text import counted

FIELD_ORDERS = {1: "progressive", 2: "interlaced, top field first", 3: "interlaced, bottom field first",
                4: "interlaced, top field first (bottom coded first)",
                5: "interlaced, bottom field first (top coded first)"}


@dataclass(frozen=True)
class InputDescription:
    """An input's facts as ``rtsr check`` reports them (JSON-ready: plain numbers and strings)."""

    path: str
    container: str
    codec: str
    profile: str | None
    width: int
    height: int
    fps: float | None
    pix_fmt: str
    bit_depth: int
    color: str  # "bt709, limited range"
    bit_rate: int | None  # video bits per second, None when neither the stream nor the file says
    compression: Degradation  # clean, compressed or heavily compressed, and why (rtsr.io.degradation)
    field_order: str  # "progressive", "interlaced, top field first", or "not flagged"
    duration_seconds: float | None
    frames: int
    audio_streams: int
    subtitle_streams: int
    picture: bool = False  # one still picture (a .jpg, .png...): no rate, length or fields

    def lines(self) -> list[str]:
        """The description for people, a few short lines."""
        if self.picture:
            return [f"{self.codec} picture in {self.container}, {self.width}×{self.height}, {self.bit_depth}-bit "
                    f"{self.pix_fmt}, {self.color}",
                    f"compression: {self.compression.words} ({self.compression.reason})"]
        fps = f"{self.fps:.3g} fps" if self.fps else "unknown frame rate"
        frames = counted(self.frames, "frame")
        seconds = self.duration_seconds or 0
        length = (f"{seconds:.{1 if seconds >= 1 else 2}f} s, {frames}" if seconds
                  else frames if self.frames else "length unknown")
        rate = f", {self.bit_rate / 1000:.0f} kbit/s" if self.bit_rate else ""
        extra = [f"{n} {kind} stream{'s' * (n != 1)}" for n, kind in
                 ((self.audio_streams, "audio"), (self.subtitle_streams, "subtitle")) if n]
        return [
            f"{self.codec}{f' ({self.profile})' if self.profile else ''} in {self.container}, "
            f"{self.width}×{self.height}, {fps}, {self.bit_depth}-bit {self.pix_fmt}, {self.color}",
            f"{length}{rate}; {self.field_order}" + (f"; {', '.join(extra)}" if extra else ""),
            f"compression: {self.compression.words} ({self.compression.reason})",
        ]


def describe_input(video: InputVideo) -> InputDescription:
    """The facts of an opened input: the header and the stream's parameters, and how compressed it is
    (rtsr.io.degradation, judged once per opened input: an H.264 file's quantiser is read from 48 frames)."""
    info, stream, container = video.info, video.stream, video.container
    ctx = stream.codec_context
    fps = float(info.rate) if info.rate else None
    duration = None
    if stream.duration and stream.time_base:
        duration = float(stream.duration * stream.time_base)
    else:
        duration = container_seconds(container)
    picture = video.is_picture
    if picture:  # no rate or length
        fps, duration = None, None
    bit_rate = None if picture else video_bit_rate(video)
    color = f"{info.color.matrix}, {'full' if info.color.full_range else 'limited'} range"
    return InputDescription(
        path=str(video.path), container=container.format.name, codec=ctx.name,
        profile=stream.profile or None, width=info.width, height=info.height, fps=fps, pix_fmt=info.pix_fmt,
        bit_depth=component_bits(info.pix_fmt), color=color, bit_rate=bit_rate,
        compression=judge_video(video),
        field_order=FIELD_ORDERS.get(int(ctx.field_order or 0), "field order not flagged"),
        duration_seconds=round(duration, 3) if duration else None, frames=1 if picture else info.frames,
        audio_streams=len(container.streams.audio), subtitle_streams=len(container.streams.subtitles),
        picture=picture,
    )
