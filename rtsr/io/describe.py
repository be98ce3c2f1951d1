"""What an input is, for people: codec, rate, depth, colour, how compressed, interlacing, length.

``rtsr check`` prints it; the file run's summary uses :func:`compression` to
decide whether to mention ``rtsr check``. Torch-free, like all of rtsr.io.

How compressed an input is gets judged from its bits per pixel per frame,
converted to H.264's worth (HEVC, VP9 and AV1 need fewer bits for the same
picture, MPEG-2 and MPEG-4 part 2 more). The thresholds come from x264 on
the two real clips in ../shared/videos (calm footage, 352×288 and 480×360):
CRF 18 gave 0.08-0.10 bit/pixel, CRF 23 0.04-0.06, CRF 28 0.02-0.03, CRF 33
0.012-0.018 (docs/check.md). Busy footage needs more bits at each CRF, so
the judgement is a first guess; ``rtsr check``'s own measurement of the gain
is what decides.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rtsr.io.probe import InputVideo, component_bits, container_seconds
from rtsr.text import counted

# Bits an encoder needs for the picture H.264 gives at one bit (rough, from the codecs' published comparisons).
H264_EQUIVALENT = {"hevc": 0.6, "vp9": 0.65, "av1": 0.5, "vvc": 0.45, "mpeg2video": 2.0, "mpeg1video": 2.2,
                   "mpeg4": 1.6, "msmpeg4v3": 1.7, "h263": 1.8, "vp8": 1.1, "mjpeg": 5.0, "theora": 1.3}
LOSSLESS_CODECS = frozenset({"rawvideo", "ffv1", "huffyuv", "ffvhuff", "utvideo", "png", "qtrle", "v210",
                             "v410", "r210", "magicyuv", "tiff", "bmp", "gif", "zlib", "flashsv",
                             "wrapped_avframe"})  # the last: frames handed over as decoded (lavfi, devices)
INTRA_HIGH_RATE = frozenset({"prores", "dnxhd", "cfhd", "v308", "mjpeg2000", "jpeg2000"})  # mastering codecs
LIGHT_BPP, HEAVY_BPP = 0.08, 0.03  # H.264-equivalent bits per pixel: ≥ light, < heavy (see the module doc)
FIELD_ORDERS = {1: "progressive", 2: "interlaced, top field first", 3: "interlaced, bottom field first",
                4: "interlaced, top field first (bottom coded first)",
                5: "interlaced, bottom field first (top coded first)"}


@dataclass(frozen=True)
class Compression:
    """How compressed the video stream is: ``level`` none | light | moderate | heavy | unknown."""

    level: str
    bits_per_pixel: float | None  # per pixel per frame, as stored (not converted to H.264's worth)
    reason: str  # "h264 at 0.019 bit/pixel", "lossless ffv1", ...


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
    compression: Compression
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
                    f"compression: {self.compression.level} ({self.compression.reason})"]
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
            f"compression: {self.compression.level} ({self.compression.reason})",
        ]


def video_bit_rate(video: InputVideo) -> int | None:
    """The video stream's bits per second: its own figure, else the file's minus the other streams'."""
    stream = video.stream
    if stream.bit_rate:
        return int(stream.bit_rate)
    container = video.container
    others = sum(getattr(s, "bit_rate", 0) or 0 for s in container.streams  # attachments have none
                 if s.index != stream.index)
    total = container.bit_rate
    seconds = container_seconds(container)
    if not total and seconds:
        try:
            total = os.path.getsize(video.path) * 8 / seconds
        except OSError:
            total = None
    return int(total - others) if total and total > others else None


def lossless_reason(codec: str) -> str:
    """"lossless ffv1"; frames FFmpeg hands over decoded (lavfi sources, devices) are named as such."""
    return "uncompressed frames from a lavfi source or a device" if codec == "wrapped_avframe" else f"lossless {codec}"


def compression(codec: str, bit_rate: int | None, width: int, height: int, fps: float | None) -> Compression:
    """Judge how compressed a stream is from its codec and bits per pixel (see the module doc)."""
    if codec in LOSSLESS_CODECS:
        return Compression("none", None, lossless_reason(codec))
    bpp = bit_rate / (width * height * fps) if bit_rate and fps and width and height else None
    if codec in INTRA_HIGH_RATE:
        return Compression("light", bpp, f"{codec}, a mastering codec")
    if bpp is None:
        return Compression("unknown", None, f"{codec}, bit rate or frame rate unknown")
    equivalent = bpp / H264_EQUIVALENT.get(codec, 1.0)
    level = "light" if equivalent >= LIGHT_BPP else "heavy" if equivalent < HEAVY_BPP else "moderate"
    worth = f", worth {equivalent:.3f} in h264" if codec in H264_EQUIVALENT else ""
    return Compression(level, round(bpp, 4), f"{codec} at {bpp:.3f} bit/pixel{worth}")


def describe_compression(video: InputVideo) -> Compression:
    """How compressed the opened input's video stream is (header figures only)."""
    info = video.info
    if video.is_picture:  # no rate: the file's bits over its one frame
        return compression(video.stream.codec_context.name, _file_bits(video), info.width, info.height, 1.0)
    return compression(video.stream.codec_context.name, video_bit_rate(video), info.width, info.height,
                       float(info.rate) if info.rate else None)


def describe_input(video: InputVideo) -> InputDescription:
    """The facts of an opened input (no decoding: the header and the stream's parameters)."""
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
        compression=describe_compression(video),
        field_order=FIELD_ORDERS.get(int(ctx.field_order or 0), "field order not flagged"),
        duration_seconds=round(duration, 3) if duration else None, frames=1 if picture else info.frames,
        audio_streams=len(container.streams.audio), subtitle_streams=len(container.streams.subtitles),
        picture=picture,
    )


def _file_bits(video: InputVideo) -> int | None:
    try:
        return os.path.getsize(video.path) * 8
    except OSError:
        return None

