"""The one encoder set-up: an :class:`EncodePlan` turned into a configured video stream.

The file pipeline's chunks, the live recorder, the sample clip and the tests'
clips all add their video stream with :func:`add_video_stream`, so size,
pixel format, time base, encoder options, colour tags and pixel shape are set
the same way everywhere.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

import av

from rtsr.errors import EncodeError
from rtsr.formats import ColorInfo, PlaneLayout
from rtsr.io.hdr import PARAMETERS, HdrInfo, encoder_parameters

log = logging.getLogger("rtsr")

NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
# x264 preset names -> NVENC's p1 (fastest) .. p7 (slowest).
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p3",
                  "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}


@dataclass(frozen=True)
class EncodeSettings:
    """What a user chooses about the video encoder; ``None`` leaves the choice to rtsr/the encoder."""

    codec: str = "libx264"  # resolved: never "auto" here
    crf: float | None = 18  # whole numbers for encoders that take only those (check_encoder_settings)
    preset: str | None = "medium"
    pix_fmt: str | None = None  # default: the processed layout (10-bit stays 10-bit)
    refuse_unplayable: bool = False  # an output common players cannot open: an error, not a warning (io.playable)


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
    crf: float | None = None
    preset: str | None = None
    options: Mapping[str, str] = field(default_factory=dict)  # more encoder options, by FFmpeg name
    color: ColorInfo | None = None
    sample_aspect_ratio: Fraction | None = None
    threads: int = 0
    hdr: HdrInfo | None = None  # the input's HDR metadata, written where the encoder can (rtsr.io.hdr)


# x264's preset names mapped onto encoders that number their speed levels (lower: slower, better).
_SVT_AV1_PRESETS = {"ultrafast": "11", "superfast": "11", "veryfast": "10", "faster": "9", "fast": "8",
                    "medium": "6", "slow": "4", "slower": "3", "veryslow": "2"}
_CPU_USED = {"ultrafast": "8", "superfast": "7", "veryfast": "6", "faster": "5", "fast": "4", "medium": "3",
             "slow": "2", "slower": "1", "veryslow": "0"}  # libvpx and libaom's cpu-used
X264_LIKE = ("libx264", "libx264rgb", "libx265")


def encoder_options(codec: str, crf: float | None, preset: str | None) -> dict[str, str]:
    """The encoder's own option names for a quality level and a speed preset (x264's names).

    Encoders without either (mjpeg, ffv1, prores_ks, mpeg4...) get neither:
    their own defaults apply.
    """
    options: dict[str, str] = {}
    if codec in NVENC_CODECS:
        if crf is not None:
            options.update(rc="vbr", cq=f"{crf:g}")
        if preset is not None:
            options["preset"] = _NVENC_PRESETS.get(preset, preset)
    elif codec in X264_LIKE:
        options.update({"crf": f"{crf:g}"} if crf is not None else {})
        options.update({"preset": preset} if preset is not None else {})
        if codec == "libx265":
            options["x265-params"] = "log-level=warning"  # its 20-line banner is not rtsr's to print
    elif codec == "libsvtav1":
        options.update({"crf": f"{crf:g}"} if crf is not None else {})
        options.update({"preset": _SVT_AV1_PRESETS.get(preset, preset)} if preset is not None else {})
    elif codec in ("libvpx-vp9", "libvpx", "libaom-av1"):
        if crf is not None:
            options.update(crf=f"{crf:g}", b="0")  # b=0: constant quality, not a bitrate cap
        if preset is not None:
            options["cpu-used"] = _CPU_USED.get(preset, preset)
        if codec != "libaom-av1":
            options["deadline"] = "realtime" if preset in ("ultrafast", "superfast") else "good"
    elif codec == "mjpeg":
        options["strict"] = "unofficial"  # limited-range YUV, as rtsr's planes are: FFmpeg calls it unofficial
    return options


X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
# Per encoder: the --crf range, whether it takes fractions, and the --preset values it takes beyond x264's names.
_CRF_RANGES: dict[str, tuple[float, float, bool]] = {
    "libx264": (0, 51, True), "libx264rgb": (0, 51, True), "libx265": (0, 51, True),
    "libsvtav1": (0, 63, False), "libvpx-vp9": (0, 63, False), "libvpx": (4, 63, False),
    "libaom-av1": (0, 63, False), **{codec: (0, 51, True) for codec in NVENC_CODECS},
}
_OWN_PRESETS: dict[str, tuple[str, ...]] = {
    "libx264": ("placebo",), "libx264rgb": ("placebo",), "libx265": ("placebo",),
    "libsvtav1": tuple(str(n) for n in range(14)),
    "libvpx-vp9": tuple(str(n) for n in range(-8, 9)), "libvpx": tuple(str(n) for n in range(-16, 17)),
    "libaom-av1": tuple(str(n) for n in range(9)),
    **{codec: tuple(f"p{n}" for n in range(1, 8)) for codec in NVENC_CODECS},
}


def check_encoder_settings(codec: str, crf: float | None, preset: str | None) -> None:
    """EncodeError, before any work, for a ``crf`` or ``preset`` that ``codec`` would refuse or clamp silently.

    x264 clamps --crf 99 to 51 without a word, and a preset name FFmpeg does
    not know ends in a dump of every encoder option; here the message names
    the valid values. Encoders with neither setting (ffv1, mjpeg, prores...)
    accept anything: their own defaults apply (encoder_options).
    """
    if crf is not None and codec in _CRF_RANGES:
        low, high, fractional = _CRF_RANGES[codec]
        if not low <= crf <= high:
            raise EncodeError(f"--crf {crf:g} is out of {codec}'s range {low:g}-{high:g} (lower is better quality)")
        if not fractional and crf != int(crf):
            raise EncodeError(f"{codec} takes a whole --crf ({low:g}-{high:g}), not {crf:g}")
    if preset is not None and codec in _OWN_PRESETS and preset not in X264_PRESETS \
            and preset not in _OWN_PRESETS[codec]:
        own = _OWN_PRESETS[codec]
        extra = f", or its own {own[0]}..{own[-1]}" if len(own) > 1 else f", {own[0]}"
        raise EncodeError(f"unknown --preset {preset!r} for {codec}: use {', '.join(X264_PRESETS)}{extra}")


# The largest width or height these encoders accept (measured by opening them, PyAV 18.1: 16384 opens,
# 16400 is refused). Checked before any work instead of failing with "returned 22".
MAX_SIDE = {"libx264": 16384, "libx264rgb": 16384, "libsvtav1": 16384}


def check_size(codec: str, size: tuple[int, int]) -> None:
    """EncodeError, before any work, when ``codec`` cannot encode frames of ``size`` (width, height)."""
    limit = MAX_SIDE.get(codec)
    if limit is not None and max(size) > limit:
        raise EncodeError(f"the output would be {size[0]}×{size[1]}, and {codec} encodes at most {limit} pixels a "
                          "side: choose a smaller --scale, or another --codec (libx265)")


def default_codec(muxer: str) -> str:
    """The CPU encoder for ``muxer`` when --codec is auto: H.264, except in WebM, which holds VP8/VP9/AV1 only."""
    return "libvpx-vp9" if muxer == "webm" else "libx264"


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


def resolve_codec(requested: str, gpu_present: bool, muxer: str = "mp4", hdr: bool = False) -> str:
    """``auto`` -> h264_nvenc when the GPU has an encoder, else the container's CPU encoder (default_codec).

    ``hdr`` (PQ or HLG at 10 bits or more): HEVC Main10 instead, hevc_nvenc or libx265. H.264 High 10
    carries the tags, but TVs, phones and browsers mostly cannot decode it; HEVC Main10 is what HDR10
    and HLG players expect. WebM keeps VP9 (profile 2 holds 10-bit HDR)."""
    if requested != "auto":
        return requested
    hevc = hdr and muxer != "webm"
    fallback = "libx265" if hevc else default_codec(muxer)
    if gpu_present and muxer != "webm":
        nvenc = "hevc_nvenc" if hevc else "h264_nvenc"
        if nvenc_usable(nvenc):
            return nvenc
        log.info("this GPU has no NVENC encoder (H100/H200 have none): encoding with %s on the CPU", fallback)
    return fallback


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


# MPEG-TS has no codec table for FFmpeg to query (PyAV lists 8 codecs); what its muxer writes, by name.
MPEGTS_CODECS = frozenset({"h264", "libx264", "h264_nvenc", "libopenh264", "hevc", "libx265", "hevc_nvenc",
                           "mpeg2video", "mpeg1video", "mpeg4", "av1", "libsvtav1", "libaom-av1", "vc1", "aac",
                           "libfdk_aac", "mp2", "mp3", "libmp3lame", "ac3", "eac3", "dts", "opus", "libopus",
                           "truehd", "dvb_subtitle", "dvbsub", "dvb_teletext", "hdmv_pgs_subtitle"})


def muxer_holds(output: av.container.OutputContainer, codec: str) -> bool:
    """Whether ``output``'s muxer can hold ``codec`` (an encoder's or a copied stream's codec name)."""
    if output.format.name == "mpegts":
        return codec in MPEGTS_CODECS
    return codec in output.supported_codecs


def timed_encode(output: av.container.OutputContainer, stream: av.video.stream.VideoStream,
                 frames: Iterable[av.VideoFrame], budget: float = math.inf, min_frames: int = 1) -> tuple[float, int]:
    """Encode ``frames`` into ``stream`` and flush it; (seconds spent in the encoder, frames fed).

    Only the encoder's calls are timed, not the making of the frames. Frames
    stop being taken once ``budget`` seconds of encoding have passed and at
    least ``min_frames`` were fed. Each frame's picture type is cleared, so
    the encoder chooses it, as in a run (a decoded frame says I, P or B).
    """
    seconds, fed = 0.0, 0
    for frame in frames:
        if fed >= min_frames and seconds > budget:
            break
        frame.pict_type = av.video.frame.PictureType.NONE
        started = time.perf_counter()
        output.mux(stream.encode(frame))
        seconds += time.perf_counter() - started
        fed += 1
    started = time.perf_counter()
    output.mux(stream.encode(None))
    return seconds + time.perf_counter() - started, fed


def add_video_stream(output: av.container.OutputContainer, plan: EncodePlan) -> av.video.stream.VideoStream:
    """Add the planned video stream to ``output`` (not yet started); EncodeError when the container can't hold it."""
    if not muxer_holds(output, plan.codec):
        raise EncodeError(f"a {plan.muxer} file cannot hold {plan.codec} video; choose another --codec or extension")
    options = {**encoder_options(plan.codec, plan.crf, plan.preset), **plan.options}
    hdr = encoder_parameters(plan.codec, plan.hdr)
    if hdr:
        key = PARAMETERS[plan.codec]
        options[key] = ":".join(filter(None, [options.get(key), *(f"{k}={v}" for k, v in hdr.items())]))
    if plan.codec == "libsvtav1":
        os.environ.setdefault("SVT_LOG", "2")  # SVT-AV1 prints its banner unless told: warnings and errors only
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
