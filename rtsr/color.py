"""Colour: plane layouts, YUV matrices and ranges, and the model's value domain.

Everything here is plain torch on whatever device the tensors live on, so the
CPU engine and the GPU engines share one implementation.

Conventions
* A *code value* is the integer stored in a plane: 0..255 for 8-bit,
  0..1023 for 10-bit. Planes travel as integer tensors of shape (H, W).
* The *luma model domain* is the one the papers trained in: BT.601
  studio-range Y / 255, i.e. black 16/255 and white 235/255, whatever the
  video's bit depth or range. Full-range video is mapped into it and back.
* RGB is float in [0, 1], shape (3, H, W), non-linear (gamma-encoded) as
  stored in the video; only the matrix and the range are undone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

# (Kr, Kb) luma coefficients per matrix; Kg = 1 - Kr - Kb.
MATRIX_COEFFICIENTS: dict[str, tuple[float, float]] = {
    "bt601": (0.299, 0.114),
    "bt709": (0.2126, 0.0722),
    "bt2020": (0.2627, 0.0593),
}

# FFmpeg's AVColorSpace values for the matrices above, and the ones read from streams.
_AVCOL_SPC_TO_MATRIX = {1: "bt709", 5: "bt601", 6: "bt601", 9: "bt2020", 10: "bt2020"}
AVCOL_SPC_UNSPECIFIED = 2
AVCOL_RANGE_MPEG, AVCOL_RANGE_JPEG = 1, 2


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
    colorspace: int = AVCOL_SPC_UNSPECIFIED
    color_range: int = 0  # AVCOL_RANGE_UNSPECIFIED


def describe_color(colorspace: int, color_range: int, primaries: int, transfer: int,
                   layout: PlaneLayout, height: int) -> ColorInfo:
    """Resolve a stream's tags into the matrix and range used for conversion.

    Untagged video follows the players' convention: BT.709 from 720 lines up,
    BT.601 below; limited range unless the format is a yuvj* alias.
    """
    matrix = _AVCOL_SPC_TO_MATRIX.get(colorspace, "bt709" if height >= 720 else "bt601")
    full_range = color_range == AVCOL_RANGE_JPEG or (color_range == 0 and layout.full_range_alias)
    return ColorInfo(matrix, full_range, primaries, transfer, colorspace, color_range)


# --------------------------------------------------------------------------- luma


def _luma_scale(bits: int) -> float:
    """Code values per model unit for limited range: 255 at 8 bits, 1020 at 10 bits."""
    return 255.0 * (1 << (bits - 8))


def luma_to_model(y: torch.Tensor, bits: int, full_range: bool) -> torch.Tensor:
    """(H, W) integer luma -> (1, 1, H, W) float32 in the luma model domain (≈[0.063, 0.92])."""
    value = y.to(torch.float32)
    if full_range:
        value = (16.0 + value * (219.0 / ((1 << bits) - 1))) / 255.0
    else:
        value = value / _luma_scale(bits)
    return value[None, None]


def model_to_luma(x: torch.Tensor, bits: int, full_range: bool, dtype: torch.dtype) -> torch.Tensor:
    """Inverse of :func:`luma_to_model`: (1, 1, H, W) float -> (H, W) rounded, clipped codes."""
    value = x[0, 0].to(torch.float32)
    if full_range:
        value = (value * 255.0 - 16.0) * (((1 << bits) - 1) / 219.0)
    else:
        value = value * _luma_scale(bits)
    return value.round_().clamp_(0, (1 << bits) - 1).to(dtype)


# --------------------------------------------------------------------------- YUV <-> RGB


def _ranges(bits: int, full_range: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma span, chroma centre, chroma span) in code values."""
    step = float(1 << (bits - 8))
    if full_range:
        top = float((1 << bits) - 1)
        return 0.0, top, 128.0 * step, top
    return 16.0 * step, 219.0 * step, 128.0 * step, 224.0 * step


def yuv_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, matrix: str,
               bits: int, full_range: bool) -> torch.Tensor:
    """Full-resolution Y, U, V code values (each (H, W), any dtype) -> (3, H, W) RGB in [0, 1]."""
    kr, kb = MATRIX_COEFFICIENTS[matrix]
    kg = 1.0 - kr - kb
    y_off, y_span, c_mid, c_span = _ranges(bits, full_range)
    luma = (y.to(torch.float32) - y_off) / y_span
    pb = (u.to(torch.float32) - c_mid) / c_span
    pr = (v.to(torch.float32) - c_mid) / c_span
    r = luma + 2.0 * (1.0 - kr) * pr
    b = luma + 2.0 * (1.0 - kb) * pb
    g = (luma - kr * r - kb * b) / kg
    return torch.stack((r, g, b)).clamp_(0.0, 1.0)


def planes_to_rgb(y: torch.Tensor, u: torch.Tensor, v: torch.Tensor, layout: PlaneLayout,
                  color: ColorInfo) -> torch.Tensor:
    """A frame's planes in ``layout`` -> (3, H, W) RGB in [0, 1] with the stream's own matrix and range.

    ``y`` is (H, W); ``u`` and ``v`` are subsampled as the layout says. Chroma
    is bicubic-upsampled by its exact factor (an odd luma size crops the last
    column/row), then converted with :func:`yuv_to_rgb`.
    """
    height, width = y.shape
    sx, sy = layout.chroma_shift
    u_full, v_full = (resize_plane(c, c.shape[0] << sy, c.shape[1] << sx)[:height, :width] for c in (u, v))
    return yuv_to_rgb(y, u_full, v_full, color.matrix, layout.bits, color.full_range)


def rgb_to_yuv(rgb: torch.Tensor, matrix: str, bits: int,
               full_range: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(3, H, W) RGB in [0, 1] -> float Y, U, V code values, each (H, W), not yet rounded."""
    kr, kb = MATRIX_COEFFICIENTS[matrix]
    r, g, b = rgb.to(torch.float32).unbind(0)
    luma = kr * r + (1.0 - kr - kb) * g + kb * b
    pb = (b - luma) / (2.0 * (1.0 - kb))
    pr = (r - luma) / (2.0 * (1.0 - kr))
    y_off, y_span, c_mid, c_span = _ranges(bits, full_range)
    return y_off + y_span * luma, c_mid + c_span * pb, c_mid + c_span * pr


def to_codes(plane: torch.Tensor, bits: int, dtype: torch.dtype) -> torch.Tensor:
    """Round float code values and clip them to the plane's bit depth."""
    return plane.round().clamp_(0, (1 << bits) - 1).to(dtype)


# --------------------------------------------------------------------------- resizing


def resize_plane(plane: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bicubic resize of one (H, W) plane to (height, width), float32 out, centre-aligned.

    Used to upscale chroma planes (cubic convolution, a = -0.75, as OpenCV's
    INTER_CUBIC); it does not antialias, so it is not for downscaling.
    """
    value = plane.to(torch.float32)[None, None]
    if value.shape[-2:] == (height, width):
        return value[0, 0]
    return F.interpolate(value, size=(height, width), mode="bicubic", align_corners=False)[0, 0]


def downsample_plane(plane: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Area-average an (H, W) float plane down to (height, width): chroma subsampling."""
    if plane.shape == (height, width):
        return plane
    return F.adaptive_avg_pool2d(plane[None, None], (height, width))[0, 0]

