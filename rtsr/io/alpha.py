"""Transparency: which inputs carry an alpha plane, which outputs can keep it, and the plane itself.

rtsr upscales the alpha plane bicubically beside the colour planes (the
networks were trained on colour, and an alpha edge upscaled by bicubic stays
a clean ramp), and keeps it where the output can hold it:

* VP9 in WebM or Matroska (libvpx-vp9, yuva420p: the alpha travels as a
  second VP9 stream in Matroska's BlockAdditional, with the ALPHA_MODE tag);
* ProRes 4444 (prores_ks, yuva444p10le) in MOV or Matroska;
* FFV1 in Matroska (yuva at the input's depth);
* PNG, TIFF and WebP picture sequences (RGBA).

Any other output drops it with one warning before any work, and never keeps
the input's ALPHA_MODE tag: a tag the picture does not have makes players
wait for an alpha plane that never comes.

VP9's alpha is not in the VP9 bitstream FFmpeg's own decoder reads: it comes
beside each packet (Matroska's BlockAdditional), and only the libvpx decoder
reads it. Such input is decoded with libvpx-vp9 and upscaled in one job:
segment workers get the packets' payload only.
"""

from __future__ import annotations

import logging

import av
import cv2
import numpy as np

from rtsr.formats import PlaneLayout

log = logging.getLogger("rtsr")

# The working layouts' formats with an alpha plane (the same chroma and depth).
ALPHA_OF = {"yuv420p": "yuva420p", "yuv422p": "yuva422p", "yuv444p": "yuva444p", "yuvj420p": "yuva420p",
            "yuvj422p": "yuva422p", "yuvj444p": "yuva444p", "yuv420p10le": "yuva420p10le",
            "yuv422p10le": "yuva422p10le", "yuv444p10le": "yuva444p10le", "yuv422p12le": "yuva422p12le",
            "yuv444p12le": "yuva444p12le"}  # 12-bit 4:2:0 has none: its alpha is dropped, with the warning
# Encoders that keep alpha, the containers that hold it from them, and their formats with alpha, best first.
KEEPS_ALPHA: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "libvpx-vp9": (("webm", "matroska"), ("yuva420p",)),
    "prores_ks": (("mov", "matroska"), ("yuva444p10le",)),
    "ffv1": (("matroska",), tuple(ALPHA_OF.values())),
    "png": (("image2",), ("rgba64be", "rgba")),
    "tiff": (("image2",), ("rgba64le", "rgba")),
    "libwebp": (("image2", "webp"), ("yuva420p",)),
}
VP9_ALPHA_DECODER = "libvpx-vp9"


def has_alpha(pix_fmt: str | None) -> bool:
    """Whether frames in ``pix_fmt`` carry an alpha component."""
    return pix_fmt is not None and any(c.is_alpha for c in av.VideoFormat(pix_fmt, 16, 16).components)


def alpha_beside_packets(stream: av.video.stream.VideoStream) -> bool:
    """A VP9 stream whose alpha comes beside its packets (Matroska's ALPHA_MODE tag says so)."""
    return stream.codec_context.name == "vp9" and any(
        key.lower() == "alpha_mode" and str(value) == "1" for key, value in stream.metadata.items())


def alpha_decoder(stream: av.video.stream.VideoStream) -> av.CodecContext | None:
    """The libvpx decoder for a VP9 stream with alpha beside its packets (None: the stream's own decoder
    serves, or this FFmpeg has no libvpx)."""
    if not alpha_beside_packets(stream) or VP9_ALPHA_DECODER not in av.codecs_available:
        return None
    decoder = av.CodecContext.create(VP9_ALPHA_DECODER, "r")
    ctx = stream.codec_context
    if ctx.extradata:
        decoder.extradata = ctx.extradata
    decoder.width, decoder.height = ctx.width, ctx.height
    return decoder


def output_alpha_format(codec: str, muxer: str, layout: PlaneLayout) -> str | None:
    """The pixel format with alpha that ``codec`` in ``muxer`` writes for ``layout`` input, None when that
    output cannot keep alpha. FFV1 keeps the input's chroma and depth."""
    containers, formats = KEEPS_ALPHA.get(codec, ((), ()))
    if muxer not in containers or layout.pix_fmt not in ALPHA_OF:
        return None
    wanted = ALPHA_OF.get(layout.pix_fmt)
    if wanted in formats:
        return wanted
    if codec in ("png", "tiff"):
        return formats[0] if layout.bits > 8 else formats[1]
    return formats[0]


def upscale_alpha(alpha: np.ndarray, size: tuple[int, int], bits: int) -> np.ndarray:
    """(h, w) alpha -> (height, width) for ``size`` (width, height), bicubic, clipped to ``bits``' codes."""
    width, height = size
    scale_w, scale_h = -(-width // alpha.shape[1]), -(-height // alpha.shape[0])
    big = cv2.resize(alpha.astype(np.float32), (alpha.shape[1] * scale_w, alpha.shape[0] * scale_h),
                     interpolation=cv2.INTER_CUBIC)[:height, :width]
    return np.clip(np.rint(big), 0, (1 << bits) - 1).astype(alpha.dtype)


def alpha_kept(layout: PlaneLayout, pix_fmt: str) -> bool:
    """Whether frames processed in ``layout`` and encoded in ``pix_fmt`` keep their alpha: the one rule,
    for the choice before the run (keep_alpha) and for each frame (rtsr.pipeline.UpscaleStage)."""
    return has_alpha(pix_fmt) and layout.pix_fmt in ALPHA_OF


def keep_alpha(codec: str, muxer: str, layout: PlaneLayout, pix_fmt: str, requested: str | None) -> tuple[str, str]:
    """For input with alpha: (the pixel format to encode, the summary's alpha line). The format with alpha
    where ``codec`` in ``muxer`` keeps it, unless ``requested`` (--pix-fmt) said otherwise; a warning now
    when the alpha is dropped."""
    chosen = requested or output_alpha_format(codec, muxer, layout) or pix_fmt
    if alpha_kept(layout, chosen):
        return chosen, f"kept ({chosen}; the alpha plane upscaled bicubically)"
    why = f"rtsr keeps no alpha beside {layout.pix_fmt}" if layout.pix_fmt not in ALPHA_OF else \
        f"--pix-fmt {requested} has none" if requested else f"{codec} in {muxer} cannot hold it"
    log.warning("the input's transparency (alpha) is dropped: %s (VP9 in .webm or .mkv, ProRes 4444 "
                "(--codec prores_ks) in .mov, FFV1 in .mkv and PNG/TIFF sequences keep it)", why)
    return pix_fmt, f"NOT kept: {why}"
