"""HDR: which inputs are HDR, their static metadata, and how each encoder carries it.

An HDR10 stream says how to show it in two places besides its colour tags
(BT.2020, PQ): the *mastering display* (its primaries, white point and
luminance range) and the *content light level* (MaxCLL, MaxFALL, cd/m²).
FFmpeg hands both to rtsr as side data of the decoded frames, whether the
input carried them in the bitstream (HEVC SEI) or in the container
(Matroska, MP4). A TV without them guesses the tone mapping.

rtsr writes them back through the encoder's own parameters, the only way
PyAV offers (it cannot set a stream's side data):

* libx265: ``master-display``, ``max-cll`` (and ``hdr10``: the SEI in every key frame);
* libx264: ``mastering-display``, ``cll`` (SEI, for those who ask for H.264 High 10);
* libsvtav1: ``mastering-display``, ``content-light`` (AV1 metadata OBUs);
* anything else (FFV1, VP9, ProRes, NVENC): not carried, and the
  run warns once, naming what was dropped.

Dolby Vision RPUs and HDR10+ dynamic metadata are per-frame data tied to the
original pictures; they are never carried (one warning names them).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction

import av

from rtsr.io.side_data import side_data

PQ, HLG = 16, 18  # AVCOL_TRC_SMPTE2084, AVCOL_TRC_ARIB_STD_B67
HDR_TRANSFERS = {PQ: "PQ", HLG: "HLG"}
DYNAMIC_KINDS = {"DOVI_RPU_BUFFER": "Dolby Vision RPUs", "DOVI_METADATA": "Dolby Vision RPUs",
                 "DYNAMIC_HDR_PLUS": "HDR10+ dynamic metadata", "DYNAMIC_HDR_VIVID": "HDR Vivid dynamic metadata"}
PARAMETERS = {"libx265": "x265-params", "libx264": "x264-params", "libsvtav1": "svtav1-params"}
CARRIES_STATIC = tuple(PARAMETERS)  # the encoders rtsr passes the static metadata to, by these options
# Per encoder: its names for the mastering display and the light level, and whether it reads plain numbers.
_STATIC_KEYS = {"libx265": ("master-display", "max-cll", False), "libx264": ("mastering-display", "cll", False),
                "libsvtav1": ("mastering-display", "content-light", True)}


@dataclass(frozen=True)
class MasteringDisplay:
    """SMPTE ST 2086: chromaticities as CIE 1931 (x, y), luminance in cd/m²."""

    red: tuple[Fraction, Fraction]
    green: tuple[Fraction, Fraction]
    blue: tuple[Fraction, Fraction]
    white: tuple[Fraction, Fraction]
    min_luminance: Fraction
    max_luminance: Fraction

    def describe(self) -> str:
        return f"mastering display {float(self.min_luminance):g}-{float(self.max_luminance):g} cd/m²"


@dataclass(frozen=True)
class HdrInfo:
    """An HDR input: its transfer, and the metadata its first frame carried (None: it had none)."""

    transfer: str  # "PQ" or "HLG"
    mastering: MasteringDisplay | None = None
    light_level: tuple[int, int] | None = None  # (MaxCLL, MaxFALL) in cd/m²
    dynamic: tuple[str, ...] = ()  # per-frame metadata found, never carried: "Dolby Vision RPUs"...

    def describe(self) -> str:
        """"HDR (PQ) with mastering display 0.005-1000 cd/m², MaxCLL 1000 / MaxFALL 400"."""
        parts = [self.mastering.describe()] if self.mastering else []
        if self.light_level:
            parts.append(f"MaxCLL {self.light_level[0]} / MaxFALL {self.light_level[1]}")
        return f"HDR ({self.transfer})" + (f" with {', '.join(parts)}" if parts else "")

    @property
    def has_static(self) -> bool:
        return self.mastering is not None or self.light_level is not None


def read_hdr(frame: av.VideoFrame | None, transfer: int, bits: int) -> HdrInfo | None:
    """The HDR facts of a stream whose colour transfer is ``transfer`` (FFmpeg's enum) at ``bits`` bits per
    component, from its first decoded ``frame`` (None: not decoded, a pipe); None when it is not HDR
    (an SDR transfer, or PQ/HLG tagged on 8-bit video, which no HDR format is)."""
    if transfer not in HDR_TRANSFERS or bits < 10:
        return None
    data = side_data(frame)
    mastering = data.get("MASTERING_DISPLAY_METADATA")
    light = data.get("CONTENT_LIGHT_LEVEL")
    dynamic = tuple(dict.fromkeys(name for kind, name in DYNAMIC_KINDS.items() if kind in data))
    return HdrInfo(HDR_TRANSFERS[transfer], _mastering(mastering) if mastering else None,
                   struct.unpack_from("II", light) if light and len(light) >= 8 else None, dynamic)


def _mastering(payload: bytes) -> MasteringDisplay | None:
    """FFmpeg's AVMasteringDisplayMetadata: 10 AVRationals (r, g, b primaries; white point; min and max
    luminance) and two ints saying which halves are set; None when neither is."""
    if len(payload) < 88:
        return None
    values = struct.unpack_from("20i2i", payload)
    rationals = [Fraction(values[i], values[i + 1]) if values[i + 1] else Fraction(0) for i in range(0, 20, 2)]
    has_primaries, has_luminance = values[20], values[21]
    if not has_primaries and not has_luminance:
        return None
    pairs = [(rationals[i], rationals[i + 1]) for i in range(0, 8, 2)]
    return MasteringDisplay(pairs[0], pairs[1], pairs[2], pairs[3], rationals[8], rationals[9])


def _st2086(display: MasteringDisplay, plain: bool) -> str:
    """G(x,y)B(x,y)R(x,y)WP(x,y)L(max,min): as x265 and x264 spell it, chromaticities in units of 0.00002
    and luminance in 0.0001 cd/m²; ``plain``: in the numbers themselves, as SVT-AV1 reads it (it took
    x265's integers for garbage)."""
    def number(value: Fraction, unit: int, places: int) -> str:
        return f"{float(value):.{places}f}" if plain else str(round(value * unit))

    def xy(point: tuple[Fraction, Fraction]) -> str:
        return f"({number(point[0], 50000, 5)},{number(point[1], 50000, 5)})"

    return (f"G{xy(display.green)}B{xy(display.blue)}R{xy(display.red)}WP{xy(display.white)}"
            f"L({number(display.max_luminance, 10000, 4)},{number(display.min_luminance, 10000, 4)})")


def encoder_parameters(codec: str, hdr: HdrInfo | None) -> dict[str, str]:
    """The entries of ``codec``'s parameter option (PARAMETERS) carrying ``hdr``'s static metadata ({} when
    the encoder cannot, or there is none)."""
    if hdr is None or not hdr.has_static or codec not in CARRIES_STATIC:
        return {}
    mastering_key, light_key, plain = _STATIC_KEYS[codec]
    # x265: the SEIs with every key frame (and the headers), so that a cut or a seek still finds them
    params = {"hdr10": "1", "repeat-headers": "1"} if codec == "libx265" else {}
    if hdr.mastering:
        params[mastering_key] = _st2086(hdr.mastering, plain)
    if hdr.light_level:
        params[light_key] = f"{hdr.light_level[0]},{hdr.light_level[1]}"
    return params


def lost_metadata(codec: str, hdr: HdrInfo | None) -> list[str]:
    """What of ``hdr`` an output encoded by ``codec`` will not carry, for one warning ([] when nothing)."""
    if hdr is None:
        return []
    lost = list(hdr.dynamic)
    if hdr.has_static and codec not in CARRIES_STATIC:
        lost.insert(0, "mastering display and light level")
    return lost


def hdr_outcome(hdr: HdrInfo | None, codec: str, chosen_for_hdr: bool) -> tuple[str, str]:
    """(the summary's line, a warning or "") for an output of ``hdr`` input encoded by ``codec``;
    ``chosen_for_hdr``: --codec was auto and the encoder is HEVC because the input is HDR."""
    if hdr is None:
        return "", ""
    line = hdr.describe()
    if chosen_for_hdr:
        line += f"; encoded as HEVC Main10 ({codec}), which HDR players expect (--codec chooses another)"
    lost = lost_metadata(codec, hdr)
    carried = hdr.has_static and codec in CARRIES_STATIC
    if carried:
        line += "; the mastering display and light level are carried"
    if not lost:
        return line, ""
    line += f"; NOT carried: {', '.join(lost)}"
    why = f"{codec} is not given them by rtsr (libx265, libx264 and libsvtav1 are)" if hdr.has_static and not carried \
        else "they belong to the original pictures"
    return line, f"the output will not carry the input's {' and '.join(lost)}: {why}"
