"""Plain format facts: plane layouts, colour tags and chroma siting. No torch, no PyAV.

The I/O code (rtsr.io) reads these off streams and writes them back as tags;
the torch colour maths (rtsr.color) computes with them.

* A *plane layout* is a planar YUV pixel format rtsr processes natively:
  its bit depth and chroma subsampling.
* ``ColorInfo`` says how code values map to colour (matrix, range) and
  carries the stream's tags (primaries, transfer, matrix, range) through.
* *Chroma siting* says where a horizontally subsampled chroma sample sits:
  on its first luma column ("left": MPEG-2, MPEG-4, H.264, HEVC, AV1) or
  between its two ("center": JPEG, MPEG-1, H.261/H.263). Vertically both
  put 4:2:0 chroma between its two luma rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# (Kr, Kb) luma coefficients per matrix; Kg = 1 - Kr - Kb. rtsr.color computes with them in torch,
# rtsr.io.planes in numpy (RGB input).
MATRIX_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}

# FFmpeg's AVColorSpace values -> the matrix rtsr.color computes with (keys of MATRIX_COEFFICIENTS).
AVCOL_SPC_TO_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
# ...and the tag written for a matrix that was assumed (BT.601 as SMPTE 170M, as FFmpeg writes it).
MATRIX_TO_AVCOL_SPC = {"bt601": 6, "bt709": 1, "bt2020": 9}
# swscale's names for the matrices, for converting RGB frames into YUV with the matrix the tags state.
MATRIX_TO_SWSCALE = {"bt601": "ITU601", "bt709": "ITU709", "bt2020": "BT2020"}
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG = 1, 2

ChromaSiting = Literal["left", "center"]
# Horizontal position of a subsampled chroma sample, in luma pixels from its first luma column.
SITING_OFFSET: dict[ChromaSiting, float] = {"left": 0.0, "center": 0.5}
# Codecs that site chroma JPEG-style; every other codec's default is left.
CENTER_SITED_CODECS = frozenset({"mjpeg", "jpegls", "jpeg2000", "mpeg1video", "h261", "h263", "h263p"})
# What rtsr writes: its encoders (H.264, HEVC, AV1...) do not tag chroma
# location, and decoders and players read untagged 4:2:x as left-sited.
OUTPUT_CHROMA_SITING: ChromaSiting = "left"


@dataclass(frozen=True)
class PlaneLayout:
    """A planar YUV pixel format rtsr processes natively.

    ``chroma_shift`` is (log2 horizontal, log2 vertical) subsampling:
    (1, 1) for 4:2:0, (1, 0) for 4:2:2, (0, 0) for 4:4:4.
    """

    pix_fmt: str
    bits: int
    chroma_shift: tuple[int, int]
    full_range_alias: bool = False  # the deprecated yuvj* formats imply full range

    @property
    def max_code(self) -> int:
        return (1 << self.bits) - 1

    def chroma_size(self, width: int, height: int) -> tuple[int, int]:
        """(width, height) of a chroma plane for a luma plane of width x height."""
        sx, sy = self.chroma_shift
        return -(-width >> sx), -(-height >> sy)

    def encodable_size(self, width: int, height: int) -> tuple[int, int]:
        """Largest size <= (width, height) that the subsampling allows (even for 4:2:0)."""
        sx, sy = self.chroma_shift
        return width >> sx << sx, height >> sy << sy


LAYOUTS: dict[str, PlaneLayout] = {
    layout.pix_fmt: layout
    for layout in (
        PlaneLayout("yuv420p", 8, (1, 1)),
        PlaneLayout("yuv422p", 8, (1, 0)),
        PlaneLayout("yuv444p", 8, (0, 0)),
        PlaneLayout("yuvj420p", 8, (1, 1), True),
        PlaneLayout("yuvj422p", 8, (1, 0), True),
        PlaneLayout("yuvj444p", 8, (0, 0), True),
        PlaneLayout("yuv420p10le", 10, (1, 1)),
        PlaneLayout("yuv422p10le", 10, (1, 0)),
        PlaneLayout("yuv444p10le", 10, (0, 0)),
        PlaneLayout("yuv420p12le", 12, (1, 1)),
        PlaneLayout("yuv422p12le", 12, (1, 0)),
        PlaneLayout("yuv444p12le", 12, (0, 0)),
    )
}


def working_layout(pix_fmt: str, component_bits: int) -> PlaneLayout:
    """The layout frames of ``pix_fmt`` are processed in.

    Supported planar YUV formats are kept as they are; anything else (RGB,
    NV12, palettes...) is converted once after decoding to 4:2:0 at 8 or,
    when the source has more than 8 bits per component, 10 bits.
    """
    if pix_fmt in LAYOUTS:
        return LAYOUTS[pix_fmt]
    if pix_fmt.startswith("yuva") and "yuv" + pix_fmt[4:] in LAYOUTS:  # its alpha goes beside (rtsr.io.alpha)
        return LAYOUTS["yuv" + pix_fmt[4:]]
    return LAYOUTS["yuv420p10le" if component_bits > 8 else "yuv420p"]


@dataclass(frozen=True)
class ColorInfo:
    """How code values map to colour: matrix and range, plus tags passed through untouched.

    ``primaries``, ``transfer`` and ``colorspace`` are FFmpeg's enum values as
    read from the input, copied to the output so players see the same colour.
    """

    matrix: str  # key of MATRIX_COEFFICIENTS
    full_range: bool
    primaries: int = 2  # AVCOL_PRI_UNSPECIFIED
    transfer: int = 2  # AVCOL_TRC_UNSPECIFIED
    colorspace: int = AVCOL_SPC_UNSPECIFIED  # the matrix tag written (describe_color resolves it)
    color_range: int = 0  # AVCOL_RANGE_UNSPECIFIED; the range tag written
    chroma_siting: ChromaSiting = "left"


def describe_color(colorspace: int, color_range: int, primaries: int, transfer: int,
                   layout: PlaneLayout, height: int, chroma_siting: ChromaSiting = "left") -> ColorInfo:
    """Resolve a stream's tags into the matrix and range used for conversion, and the tags to write.

    Untagged video (and RGB, which is converted to YUV for processing)
    follows the players' convention: BT.709 from 720 lines up, BT.601 below;
    limited range unless the format is a yuvj* alias. The matrix and range
    assumed are then *written* as tags: an untagged 480-line picture upscaled
    to 1440 lines would otherwise be read as BT.709 by players, and its
    colours would shift. Primaries and transfer are passed through as they are.
    """
    matrix = AVCOL_SPC_TO_MATRIX.get(colorspace, "bt709" if height >= 720 else "bt601")
    full_range = color_range == AVCOL_RANGE_JPEG or (color_range == 0 and layout.full_range_alias)
    written_space = colorspace if colorspace in AVCOL_SPC_TO_MATRIX else MATRIX_TO_AVCOL_SPC[matrix]
    written_range = AVCOL_RANGE_JPEG if full_range else AVCOL_RANGE_MPEG
    return ColorInfo(matrix, full_range, primaries, transfer, written_space, written_range, chroma_siting)


def chroma_siting(codec_name: str, decoded_chroma_shift: tuple[int, int], layout: PlaneLayout) -> ChromaSiting:
    """Where the chroma of a stream's frames sits once they are in ``layout``.

    PyAV cannot read a stream's chroma-location tag, so this follows the
    codec's default: JPEG-family codecs and the yuvj* formats (which only
    they produce) centre chroma, the MPEG family puts it left. Frames whose
    chroma FFmpeg resamples into ``layout`` (RGB, 4:1:1, 4:4:4 into 4:2:0)
    come out of its scaler centred.
    """
    if decoded_chroma_shift[0] != layout.chroma_shift[0]:
        return "center"
    if codec_name in CENTER_SITED_CODECS or layout.full_range_alias:
        return "center"
    return "left"
