"""Will people be able to play the output? Said before any work, refused on request.

rtsr can encode frames no player opens: x264 writes a 15360×8640 frame
(×4 of 4K) without a word, and a 4:4:4 input becomes H.264 "High 4:4:4
Predictive". Neither fails; both make a file that TVs, phones and browsers
refuse, found out hours later.

* **Size.** The highest levels of H.264 (6.2), HEVC (6.2) and AV1 (6.3) all
  stop at 35,651,584 luma samples a picture (8192×4352; 8192×4320 is the 8K
  frame); hardware decoders stop there or below. A larger output gets the
  largest --scale that fits.
* **Chroma and depth in H.264.** Browsers and most hardware decode H.264 only
  at 8-bit 4:2:0 (High profile); 4:2:2, 4:4:4 and 10-bit (High 10, High 4:2:2,
  High 4:4:4) are for editing software. HEVC Main10 or 4:2:0 is suggested.

``--refuse-unplayable`` turns these warnings into an error, for scripts.
"""

from __future__ import annotations

import logging
import math

from rtsr.errors import EncodeError
from rtsr.io.probe import chroma_shift, component_bits

log = logging.getLogger("rtsr")

MAX_LEVEL_SAMPLES = 35_651_584  # MaxLumaPs of H.264/HEVC level 6.2 and AV1 level 6.3: 8192×4352
LEVELLED_CODECS = {"libx264": "H.264", "libx264rgb": "H.264", "h264_nvenc": "H.264", "libx265": "HEVC",
                   "hevc_nvenc": "HEVC", "libsvtav1": "AV1", "libaom-av1": "AV1", "av1_nvenc": "AV1"}
H264_CODECS = ("libx264", "libx264rgb", "h264_nvenc")


def playability_problems(codec: str, size: tuple[int, int], pix_fmt: str, scale: int) -> list[str]:
    """Why an output of ``size`` (width, height) in ``pix_fmt`` encoded by ``codec`` at ``scale`` will not
    play in common players, each with what to do instead; [] when it will."""
    problems = []
    family = LEVELLED_CODECS.get(codec)
    width, height = size
    if family is not None and width * height > MAX_LEVEL_SAMPLES:
        fits = math.floor(scale * math.sqrt(MAX_LEVEL_SAMPLES / (width * height)))
        instead = f"choose --scale {fits} ({width * fits // scale}×{height * fits // scale})" if fits >= 2 else \
            "upscale a smaller input, or crop it first"
        problems.append(f"the output would be {width}×{height}, beyond the highest {family} level (8192×4320 is "
                        f"the largest frame HEVC, H.264 and AV1 players are made for): {instead}")
    if codec in H264_CODECS:
        shift = chroma_shift(pix_fmt)  # (0, 0) also for RGB, which H.264 codes as 4:4:4
        if shift != (1, 1) or component_bits(pix_fmt) > 8:
            what = "10-bit" if shift == (1, 1) else {(0, 0): "4:4:4", (1, 0): "4:2:2"}.get(shift, "not 4:2:0")
            problems.append(f"H.264 in {pix_fmt} ({what}) plays in editing software, not in browsers, phones or TVs: "
                            "use --pix-fmt yuv420p, or --codec libx265 (HEVC Main10 for 10-bit)")
    return problems


def announce_playability(codec: str, size: tuple[int, int], pix_fmt: str, scale: int, refuse: bool) -> None:
    """Warn now about each playability problem, or raise EncodeError with them all when ``refuse``."""
    problems = playability_problems(codec, size, pix_fmt, scale)
    if problems and refuse:
        raise EncodeError("; ".join(problems) + " (--refuse-unplayable)")
    for problem in problems:
        log.warning("%s", problem)
