"""The input's own compression, measured, and applied again to the shrunk frames of the gain test.

Shrinking a frame for the self-downscale test also shrinks away the codec's
artefacts: measured on real footage, the clean test predicted +2.4 dB at ×2
for a clip encoded at CRF 33 whose real gain was +0.3 (docs/check.md). So
where the input is H.264, the test reads the quantiser the encoder used
(FFmpeg exports it per frame and per block: ``export_side_data=venc_params``)
and encodes each shrunk frame with libx264 at that quantiser before it is
upscaled. Other codecs do not export a comparable quantiser; for them the
bits per pixel (rtsr.io.degradation) give an equivalent x264 CRF instead, a
rougher guess that the report names as such.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rtsr.io.degradation import H264_EQUIVALENT, Degradation, measure_h264_qp
from rtsr.io.roundtrip import through_codec
from rtsr.text import counted

NEAR_LOSSLESS_QP = 10.0  # below this mean H.264 QP the shrunk frames are tested as they are


@dataclass(frozen=True)
class CodecMatch:
    """How the shrunk frames are compressed again: x264 ``qp`` (a quantiser) or ``crf`` (from bits per pixel)."""

    mode: str  # "qp" or "crf"
    value: float
    reason: str  # "h264 mean QP 31.2 over 48 frames", "h264-equivalent 0.021 bit/pixel"

    def describe(self) -> str:
        return f"x264 {self.mode.upper()} {self.value:.0f} ({self.reason})"


def crf_from_bits(judged: Degradation, codec: str) -> float | None:
    """An x264 CRF with about the input's H.264-equivalent bits per pixel (x264 on the held-out clips at full
    size: CRF 18 gave 0.08-0.10 bit/pixel, each 5.9 CRF halves it; docs/check.md)."""
    if judged.bits_per_pixel is None:
        return None
    equivalent = judged.bits_per_pixel / H264_EQUIVALENT.get(codec, 1.0)
    return min(45.0, max(18.0, 18.0 + 5.9 * math.log2(0.09 / max(equivalent, 1e-4))))


def choose_match(path: Path, codec: str, judged: Degradation) -> CodecMatch | None:
    """How to compress the shrunk frames again, or None to test them as they are.

    H.264: always at its measured quantiser (even CRF 18's artefacts took 0.3-1 dB off the real gain at
    ×2, docs/check.md); ``judged.quantiser`` is that measurement when it was taken already
    (rtsr.io.degradation). Other codecs: a CRF from the bits per pixel, for input judged compressed only.
    """
    measured = judged.quantiser or (measure_h264_qp(path) if codec == "h264" else None)
    if measured is not None:
        qp, count = measured
        if qp < NEAR_LOSSLESS_QP:
            return None
        return CodecMatch("qp", round(qp, 1), f"h264 mean QP {qp:.1f} over {counted(count, 'frame')}")
    if judged.level != "compressed":
        return None
    crf = crf_from_bits(judged, codec)
    if crf is None:
        return None
    return CodecMatch("crf", round(crf, 1), f"a guess from {judged.reason}")


def x264_roundtrip(rgb: np.ndarray, match: CodecMatch) -> np.ndarray:
    """(H, W, 3) uint8 RGB through libx264 4:2:0 as one frame at the match's quantiser, and back.

    The frame is encoded as x264 encodes a keyframe of a stream whose frames average that quantiser
    (its ``ipratio`` gives keyframes about 3 QP less): that matched the real gain best on the
    validation clips (docs/check.md), where a keyframe at the full quantiser under-predicted it by up to 0.9 dB.
    """
    height, width = rgb.shape[:2]
    options = {"qp": str(round(match.value))} if match.mode == "qp" else {"crf": f"{match.value:.1f}"}
    picture = through_codec([rgb], "libx264", options)[0]  # one frame: a keyframe
    if picture.shape[:2] != (height, width):  # an odd size: the last column/row as it was
        rgb = rgb.copy()
        rgb[: picture.shape[0], : picture.shape[1]] = picture
        return rgb
    return picture
