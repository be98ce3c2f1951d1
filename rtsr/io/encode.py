"""The one encoder set-up: an :class:`EncodePlan` turned into a configured video stream.

The file pipeline's chunks, the live recorder, the sample clip and the tests'
clips all add their video stream with :func:`add_video_stream`, so size,
pixel format, time base, encoder options, colour tags and pixel shape are set
the same way everywhere.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import av

from rtsr.errors import EncodeError
from rtsr.formats import ColorInfo, PlaneLayout

log = logging.getLogger("rtsr")

NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
# x264 preset names -> NVENC's p1 (fastest) .. p7 (slowest).
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p3",
                  "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}


@dataclass(frozen=True)
class EncodeSettings:
    """What a user chooses about the video encoder; ``None`` leaves the choice to rtsr/the encoder."""

    codec: str = "libx264"  # resolved: never "auto" here
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None  # default: the processed layout (10-bit stays 10-bit)


@dataclass(frozen=True)
class EncodePlan:
    """Everything one video encoder is set up with.

    ``muxer`` is FFmpeg's container name (mp4, matroska...), ``size`` the
    (width, height) encoded, ``time_base`` the pts unit of the frames fed in.
    ``color`` tags the stream (None: untagged); ``threads`` 0 means all cores.
    """

    muxer: str
    codec: str
    pix_fmt: str
    size: tuple[int, int]
    time_base: Fraction
    rate: Fraction | None = None
    crf: int | None = None
    preset: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)  # more encoder options, by FFmpeg name
    color: ColorInfo | None = None
    sample_aspect_ratio: Fraction | None = None
    threads: int = 0


def encoder_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The encoder's own option names for a quality level and a speed preset."""
    options: dict[str, str] = {}
    if codec in NVENC_CODECS:
        if crf is not None:
            options.update(rc="vbr", cq=str(crf))
        if preset is not None:
            options["preset"] = _NVENC_PRESETS.get(preset, preset)
        return options
    if crf is not None:
        options["crf"] = str(crf)
    if preset is not None:
        options["preset"] = preset
    return options


def video_encoder(name: str) -> av.codec.Codec:
    """The encoder called ``name``, or EncodeError when there is no such video encoder."""
    try:
        codec = av.codec.Codec(name, "w")
    except av.codec.codec.UnknownCodecError:
        raise EncodeError(f"unknown encoder {name!r}") from None
    if codec.type != "video":
        raise EncodeError(f"{name} is not a video encoder")
    return codec


def nvenc_usable(codec: str = "h264_nvenc") -> bool:
    """Whether this PyAV build has ``codec`` and a GPU encoder accepts a session."""
    if codec not in av.codecs_available:
        return False
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = 256, 144, "yuv420p"
    context.time_base = Fraction(1, 24)
    try:
        context.open()
    except av.FFmpegError:
        return False
    return True


def resolve_codec(requested: str, gpu_present: bool) -> str:
    """``auto`` -> h264_nvenc when the GPU has an encoder, else libx264 (with a note on a GPU machine)."""
    if requested != "auto":
        return requested
    if gpu_present:
        if nvenc_usable():
            return "h264_nvenc"
        log.info("this GPU has no NVENC encoder (H100/H200 have none): encoding with libx264 on the CPU")
    return "libx264"


def choose_pix_fmt(codec: av.codec.Codec, layout: PlaneLayout, requested: str | None) -> str:
    """The encoder pixel format: the requested one, else the processed layout's, else 4:2:0."""
    supported = [f.name for f in (codec.video_formats or ())]
    if requested is not None:
        if supported and requested not in supported:
            raise EncodeError(
                f"{codec.name} cannot encode {requested}; it takes " + ", ".join(supported)
            )
        return requested
    if not supported or layout.pix_fmt in supported:
        return layout.pix_fmt
    for fallback in (("yuv420p10le", "yuv420p") if layout.bits > 8 else ("yuv420p",)):
        if fallback in supported:
            log.warning("%s cannot encode %s; writing %s", codec.name, layout.pix_fmt, fallback)
            return fallback
    return supported[0]


def add_video_stream(output: av.container.OutputContainer, plan: EncodePlan) -> av.video.stream.VideoStream:
    """Add the planned video stream to ``output`` (not yet started); EncodeError when the container can't hold it."""
    if plan.codec not in output.supported_codecs:
        raise EncodeError(f"a {plan.muxer} file cannot hold {plan.codec} video; choose another --codec or extension")
    options = {**encoder_options(plan.codec, plan.crf, plan.preset), **plan.options}
    video = output.add_stream(plan.codec, rate=plan.rate, options=options)
    video.width, video.height = plan.size
    video.pix_fmt = plan.pix_fmt
    ctx = video.codec_context
    ctx.time_base = plan.time_base
    video.time_base = plan.time_base
    ctx.thread_count = plan.threads
    if plan.color is not None:
        color = plan.color
        ctx.color_primaries, ctx.color_trc = color.primaries, color.transfer
        ctx.colorspace, ctx.color_range = color.colorspace, color.color_range
    if plan.sample_aspect_ratio:
        ctx.sample_aspect_ratio = plan.sample_aspect_ratio
    return video
