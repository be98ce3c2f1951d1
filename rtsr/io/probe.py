"""Opening an input and describing its video stream, once per run.

An :class:`InputVideo` is the input opened for decoding together with what
was learnt from it (:class:`VideoInfo`). The run that probes it decodes from
the same container, so the input is probed once; only the final mux opens
its own reader for the audio and subtitle packets (rtsr.io.remux).
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rtsr.errors import InputError
from rtsr.formats import ColorInfo, PlaneLayout, chroma_siting, describe_color, working_layout
from rtsr.io.alpha import alpha_beside_packets, has_alpha
from rtsr.io.deinterlace import field_order, wants_deinterlacing
from rtsr.io.hdr import HdrInfo, read_hdr
from rtsr.io.sequences import open_sequence
from rtsr.io.side_data import side_data

log = logging.getLogger("rtsr")


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about an input's video stream."""

    index: int  # the stream's index in its container
    width: int
    height: int
    pix_fmt: str  # as decoded
    layout: PlaneLayout  # as processed
    color: ColorInfo
    time_base: Fraction
    rate: Fraction | None  # average frame rate, None when unknown
    frames: int  # from the container, or estimated from the duration; 0 if unknown
    sample_aspect_ratio: Fraction | None  # pixel shape of anamorphic video; None when square/unknown
    display_matrix: tuple[int, ...] | None  # 9 ints, FFmpeg's layout: rotation/flip for display
    field_order: str = "unknown"  # "progressive", "tff", "bff", "interlaced" or "unknown" (rtsr.io.deinterlace)
    deinterlace: bool = False  # frames go through bwdif before upscaling (decided when the input is opened)
    field_rate: bool = False  # ... one frame per field: the output has twice the frames, in half the time base
    hdr: HdrInfo | None = None  # PQ or HLG at 10+ bits, with its first frame's metadata (rtsr.io.hdr)
    alpha: bool = False  # the frames carry transparency (rtsr.io.alpha)

    @property
    def output_time_base(self) -> Fraction:
        """The time base of the frames the pipeline upscales (half the stream's at the field rate)."""
        return self.time_base / 2 if self.field_rate else self.time_base

    @property
    def output_rate(self) -> Fraction | None:
        return self.rate * 2 if self.field_rate and self.rate else self.rate

    @property
    def output_frames(self) -> int:
        """Frames the output is expected to have (from ``frames``)."""
        return self.frames * 2 if self.field_rate else self.frames

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def frame_step(self) -> int:
        """One frame's duration in time-base ticks (1 when the rate is unknown): the gap a missing pts gets."""
        return frame_step(self.rate, self.time_base)


def frame_step(rate: Fraction | float | None, time_base: Fraction | None) -> int:
    """Ticks of ``time_base`` per frame at ``rate``; 1 when either is unknown."""
    return max(1, round(1 / (Fraction(rate) * time_base))) if rate and time_base else 1


def format_layout(fmt: av.VideoFormat) -> PlaneLayout:
    """The layout frames of a decoded pixel format are processed in (rtsr.formats.working_layout)."""
    return working_layout(fmt.name, component_bits(fmt.name))


def component_bits(pix_fmt: str) -> int:
    """Bits of a pixel format's deepest component: 8, 10, 12, 16..."""
    return max(c.bits for c in av.VideoFormat(pix_fmt, 16, 16).components)


_MISLEADING_ERRNOS = frozenset({errno.EBUSY, errno.EAGAIN, errno.ENOSYS, errno.ERANGE, errno.EDOM})


PIPE_NAMES = frozenset({"-", "pipe:", "pipe:0", "pipe:1", "/dev/stdin", "/dev/stdout"})


def is_pipe(path: Path) -> bool:
    """``-``, ``pipe:N``, or a path that is a FIFO, socket or character device (/dev/stdin when piped)."""
    if str(path) in PIPE_NAMES:
        return True
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)


PICTURE_DEMUXERS = {"mjpeg": "jpeg_pipe", "jpeg2000": "j2k_pipe"}  # the others are named CODEC_pipe


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading or raise InputError with a one-line reason."""
    path = Path(path)
    if is_pipe(path):
        # A pipe cannot be rewound after the probe, cut into segments or read again for the final mux:
        # refused before any work, rather than failing after it.
        raise InputError(f"{path} is a pipe: it is read in one pass (`rtsr - -o OUT`, Upscaler.upscale_stream), "
                         "without segments or resume")
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a video: {path}")
    try:
        return _seekable_picture(av.open(str(path), "r"), path)
    except av.FFmpegError as err:
        if err.errno in (errno.EACCES, errno.EPERM):
            raise InputError(f"cannot read {path}: permission denied") from None
        # Demuxers report a damaged header with system errors that say nothing true about a file
        # (a bad y4m header: "Device or resource busy").
        reason = "its header is damaged" if err.errno in _MISLEADING_ERRNOS else \
            "it ends before its first frame: empty or cut short" if isinstance(err, av.error.EOFError) else err.strerror
        raise InputError(f"cannot read {path}: not a media file FFmpeg understands ({reason})") from None


def _seekable_picture(container: av.container.InputContainer, path: Path) -> av.container.InputContainer:
    """``container``, or for one picture that FFmpeg's image2 demuxer took (a .jpg by its name), the
    same file through the picture's own demuxer (jpeg_pipe...): image2 accepts a seek back to the
    start of a single file but reads nothing after it, which left a second pass with no frame."""
    if container.format.name != "image2" or not container.streams.video:
        return container
    codec = container.streams.video[0].codec_context.name
    demuxer = PICTURE_DEMUXERS.get(codec, f"{codec}_pipe")
    if demuxer not in av.formats_available:
        return container
    container.close()
    return av.open(str(path), "r", format=demuxer)


def main_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The video to upscale: the first video stream that is not cover art; None when there is none."""
    return next((stream for stream in container.streams.video
                 if not stream.disposition & av.stream.Disposition.attached_pic), None)


# Demuxers of bare elementary streams: no container timing. Their "average rate" is the demuxer's
# default (25), not the stream's; the stream's own timing (H.264/HEVC VUI, MPEG-2 headers) is the guess.
RAW_STREAM_FORMATS = frozenset({"h264", "hevc", "vvc", "mpegvideo", "m4v", "cavsvideo", "vc1", "obu", "av1",
                                "h261", "h263", "mjpeg", "dirac"})


def probe_video(container: av.container.InputContainer, path: Path, rate: Fraction | None = None,
                deinterlace: str = "auto", rewind: bool = True) -> VideoInfo:
    """Describe the main video stream of an open container, or raise InputError when there is none.

    Decodes the first frame for its display matrix, then rewinds the
    container, so decoding can start from the beginning (RewindFailed when
    it cannot: InputVideo.open then opens the file again). ``rate`` (frames
    per second) overrides the stream's own: for raw streams without timing.
    ``deinterlace`` (auto, on, off) decides ``info.deinterlace`` from the
    field order found (rtsr.io.deinterlace). ``rewind`` False (a pipe) decodes
    nothing: no display matrix, and the field order from the stream's flag only.
    """
    stream = main_video_stream(container)
    if stream is None:
        raise InputError(f"{path} has no video stream")
    ctx = stream.codec_context
    if not ctx.width or not ctx.height or ctx.format is None:
        if not rewind and "mp4" in container.format.name:
            raise InputError(f"{path}: an MP4 whose index is at its end cannot be read from a pipe; give the "
                             "file itself, or remux it with `ffmpeg -i IN -c copy -movflags +faststart OUT.mp4`")
        raise InputError(f"{path}: the video stream has no decodable picture size")
    fmt = ctx.format
    layout = format_layout(fmt)
    siting = chroma_siting(ctx.name, chroma_shift(fmt.name), layout)
    color = describe_color(ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc,
                           layout, ctx.height, siting)
    raw = container.format.name in RAW_STREAM_FORMATS
    own = (stream.guessed_rate or stream.average_rate) if raw else (stream.average_rate or stream.guessed_rate)
    rate = rate or own
    frames = stream.frames
    if not frames and rate and stream.duration and stream.time_base:
        frames = round(float(stream.duration * stream.time_base * rate))
    elif not frames and rate and container_seconds(container) and not raw:  # a raw stream's "duration" is a guess
        frames = round(container_seconds(container) * float(rate))
    sar = ctx.sample_aspect_ratio
    first, rewind_error = _first_frame(container, stream) if rewind else (None, None)
    order = field_order(ctx.field_order, first)
    hdr = read_hdr(first, ctx.color_trc, component_bits(fmt.name))
    info = VideoInfo(stream.index, ctx.width, ctx.height, fmt.name, layout, color, stream.time_base,
                     Fraction(rate) if rate else None, int(frames or 0),
                     Fraction(sar) if sar and sar != 1 else None, _display_matrix(first), order,
                     wants_deinterlacing(deinterlace, order), deinterlace == "fields", hdr,
                     has_alpha(fmt.name) or alpha_beside_packets(stream))
    if rewind_error is not None:
        raise RewindFailed(f"cannot rewind the input after probing it ({rewind_error})", info)
    return info


class RewindFailed(InputError):
    """The container could not seek back to its start after probing (raw streams, some demuxers)."""

    def __init__(self, message: str, info: VideoInfo | None = None) -> None:
        super().__init__(message)
        self.info = info


def container_seconds(container: av.container.InputContainer) -> float | None:
    """How long the container plays, in seconds (None when it does not say).

    Matroska's header gives the time of its end, not its length: a clip that
    starts at 10 s and plays for 2 s says 12 s (FFmpeg passes that on as the
    container's duration), so its start is taken off. Other containers give
    the length.
    """
    if not container.duration:
        return None
    seconds = container.duration / av.time_base
    if container.format.name.startswith("matroska") and container.start_time:
        seconds -= container.start_time / av.time_base
    return seconds if seconds > 0 else None


def chroma_shift(pix_fmt: str) -> tuple[int, int]:
    """(log2 horizontal, log2 vertical) chroma subsampling of a pixel format; (0, 0) without chroma."""
    sample = av.VideoFormat(pix_fmt, 64, 64)  # a size every subsampling divides
    chroma = next((c for c in sample.components if c.is_chroma), None)
    if chroma is None:
        return 0, 0
    return (64 // chroma.width).bit_length() - 1, (64 // chroma.height).bit_length() - 1


def _first_frame(container: av.container.InputContainer,
                 stream: av.video.stream.VideoStream) -> tuple[av.VideoFrame | None, str | None]:
    """The first frame (None when it cannot be decoded); and why the container could not be rewound
    after, or None when it was."""
    stream.thread_type = "AUTO"  # before the decoder opens: the run decodes with these threads
    try:
        frame = next(container.decode(stream), None)
    except av.FFmpegError:  # an unreadable start: the run itself will meet it and say so
        frame = None
    try:
        container.seek(0)  # also flushes the decoder
    except av.FFmpegError as err:
        return frame, err.strerror or str(err)
    return frame, None


def _display_matrix(frame: av.VideoFrame | None) -> tuple[int, ...] | None:
    """The display matrix (rotation, flips) of a decoded frame, or None.

    Phones store portrait video as landscape pictures plus this matrix; an
    output without it plays sideways. PyAV exposes it only on decoded frames.
    """
    matrix = side_data(frame).get("DISPLAYMATRIX")
    return tuple(np.frombuffer(matrix, np.int32).tolist()) if matrix else None


class InputVideo:
    """An input opened once for a run: the container and its probed main video stream.

    >>> with InputVideo.open(Path("in.mp4")) as video:   # doctest: +SKIP
    ...     video.info.width, video.container.streams[video.info.index]
    """

    def __init__(self, path: Path, container: av.container.InputContainer, info: VideoInfo) -> None:
        self.path, self.container, self.info = Path(path), container, info
        self.judged: object | None = None  # rtsr.io.degradation.judge_video's verdict, once made

    @classmethod
    def open(cls, path: Path, rate: Fraction | None = None, deinterlace: str = "auto") -> InputVideo:
        """Open and probe ``path``; raises InputError when it is not a video rtsr can read.

        ``rate`` (frames per second) overrides the stream's: raw elementary
        streams (.h264, .hevc, .m2v) may carry none. Inputs whose demuxer
        cannot seek back after the probe (raw streams) are opened a second
        time rather than rewound. ``deinterlace``: auto, on or off (rtsr.io.deinterlace).
        """
        container = open_input(path)
        try:
            return cls(path, container, probe_video(container, path, rate, deinterlace))
        except RewindFailed as failed:
            container.close()
            if failed.info is None or not Path(path).is_file():
                raise
            container = open_input(path)
            container.streams[failed.info.index].thread_type = "AUTO"
            return cls(path, container, failed.info)
        except BaseException:
            container.close()
            raise

    @classmethod
    def open_pipe(cls, path: Path, rate: Fraction | None = None, deinterlace: str = "auto") -> InputVideo:
        """Open a pipe (``-``: standard input, or a FIFO) for one pass, probed without rewinding.

        FFmpeg keeps the packets it read to find the streams and hands them
        out again, so nothing is lost; only rtsr.streaming reads such an input.
        """
        try:
            container = av.open("pipe:0" if str(path) in ("-", "pipe:", "pipe:0") else str(path), "r")
        except av.FFmpegError as err:
            raise InputError(f"cannot read {path}: not a media stream FFmpeg understands ({err.strerror})") from None
        return cls._probed_once(path, container, rate, deinterlace)

    @classmethod
    def open_sequence(cls, spec: Path, rate: Fraction | None = None, deinterlace: str = "auto") -> InputVideo:
        """Numbered pictures (``frames/%05d.png``) or a folder's pictures as one video at ``rate`` fps
        (rtsr.io.sequences), for one pass."""
        return cls._probed_once(spec, open_sequence(spec, rate), None, deinterlace)

    @classmethod
    def _probed_once(cls, path: Path, container: av.container.InputContainer, rate: Fraction | None,
                     deinterlace: str) -> InputVideo:
        """``container`` probed without rewinding (it is read once); closed when the probe fails."""
        try:
            return cls(path, container, probe_video(container, path, rate, deinterlace, rewind=False))
        except BaseException:
            container.close()
            raise

    @property
    def is_picture(self) -> bool:
        """One still picture (a .jpg, .png, .tif...), not a video: a picture demuxer and at most one frame."""
        name = self.container.format.name
        return (name == "image2" or name.endswith("_pipe")) and self.info.frames <= 1 and self.path.is_file()

    @property
    def stream(self) -> av.video.stream.VideoStream:
        return self.container.streams[self.info.index]

    def close(self) -> None:
        self.container.close()

    def __enter__(self) -> InputVideo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
