"""Colour maths in torch: YUV matrices and ranges, the model's value domain, chroma resampling.

The facts these compute with (plane layouts, colour tags, chroma siting) live
in rtsr.formats, which the torch-free I/O code shares. Everything here is plain
torch on whatever device the tensors live on, so the CPU engine and the GPU engines share one implementation.

Conventions
* A *code value* is the integer stored in a plane: 0..255 for 8-bit,
  0..1023 for 10-bit. Planes travel as integer tensors of shape (H, W).
* The *luma model domain* is the one the papers trained in: BT.601
  studio-range Y / 255, i.e. black 16/255 and white 235/255, whatever the
  video's bit depth or range. Full-range video is mapped into it and back.
* RGB is float in [0, 1], shape (3, H, W), non-linear (gamma-encoded) as
  stored in the video; only the matrix and the range are undone.
* Chroma siting (rtsr.formats): resampling chroma as if
  centred when it is left-sited moves colour sideways by (1 - 1/scale)/2
  input luma pixels: one output pixel at x3.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from rtsr.formats import MATRIX_COEFFICIENTS, SITING_OFFSET, ChromaSiting, ColorInfo, PlaneLayout

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

    ``y`` is (H, W); ``u`` and ``v`` are subsampled as the layout says and sited
    as ``color`` says. Chroma is bicubic-upsampled by its exact factor onto the
    luma grid (an odd luma size crops the last column/row), then converted with
    :func:`yuv_to_rgb`.
    """
    height, width = y.shape
    u_full, v_full = (resample_chroma(c, 1, layout.chroma_shift, color.chroma_siting, (0, 0), "center")
                      [:height, :width] for c in (u, v))
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


def _keys_cubic(t: float) -> float:
    """Keys' cubic convolution kernel with a = -0.75 (PyTorch's and OpenCV's bicubic)."""
    a, t = -0.75, abs(t)
    if t <= 1.0:
        return ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0
    if t < 2.0:
        return (((t - 5.0) * t + 8.0) * t - 4.0) * a
    return 0.0


@functools.lru_cache(maxsize=32)
def _phase_kernels(factor: int, offset: float, device: torch.device) -> tuple[torch.Tensor, int, int]:
    """(factor, 1, 1, taps) cubic weights of each output phase of :func:`upsample_columns`,
    and the first and last input column they reach, relative to column k of output k·factor."""
    positions = [phase / factor + offset for phase in range(factor)]
    first = min(math.floor(p) for p in positions) - 1
    last = max(math.floor(p) for p in positions) + 2
    kernel = torch.tensor([[_keys_cubic(p - tap) for tap in range(first, last + 1)] for p in positions])
    return kernel.view(factor, 1, 1, -1).to(device), first, last


def upsample_columns(plane: torch.Tensor, factor: int, offset: float) -> torch.Tensor:
    """Bicubic resampling of an (H, W) plane to (H, W·factor) columns, float32 out.

    Output column ``j`` samples the input at column ``j / factor + offset``
    (column ``k``'s centre is ``k``); samples beyond the edge repeat the edge
    column, as :func:`resize_plane` does. ``offset = (1/factor - 1)/2`` is the
    usual centre-aligned resize. Each of the ``factor`` phases is one small
    convolution; the phases are then interleaved.
    """
    height, width = plane.shape
    value = plane.to(torch.float32)[None, None]
    if factor == 1 and offset == 0.0:  # 4:4:4 chroma onto the luma grid: nothing to resample
        return value[0, 0]
    kernel, first, last = _phase_kernels(factor, offset, value.device)
    padded = F.pad(value, (-first, last, 0, 0), mode="replicate")  # input column k is padded column k - first
    phases = F.conv2d(padded, kernel)[0]  # (factor, H, W): phases[p, :, k] is output column k·factor + p
    return phases.permute(1, 2, 0).reshape(height, width * factor)


def resample_chroma(plane: torch.Tensor, scale: int, shift_in: tuple[int, int], siting_in: ChromaSiting,
                    shift_out: tuple[int, int], siting_out: ChromaSiting) -> torch.Tensor:
    """One chroma plane of a frame -> the chroma plane of that frame upscaled ``scale`` times.

    ``plane`` is (h, w) float or integer code values, subsampled by
    ``shift_in`` (log2 horizontal, vertical) and sited ``siting_in``; the result
    is float32, subsampled by ``shift_out`` and sited ``siting_out``, of size
    (h·scale·2^(shift_in[1] - shift_out[1]), w·scale·2^(shift_in[0] - shift_out[0])).
    With ``scale`` 1 and ``shift_out`` (0, 0) it puts chroma on the luma grid.
    Vertically every siting is centred, so rows use :func:`resize_plane`.
    """
    (sx_in, sy_in), (sx_out, sy_out) = shift_in, shift_out
    if sx_out > sx_in or sy_out > sy_in:
        raise ValueError("resample_chroma upsamples; subsample with subsample_chroma")
    # Output column j sits at output luma x = 2^sx_out·j + a_out, i.e. at input luma
    # (x + 0.5)/scale - 0.5, i.e. at input chroma column (that - a_in) / 2^sx_in.
    a_in = SITING_OFFSET[siting_in] if sx_in else 0.0
    a_out = SITING_OFFSET[siting_out] if sx_out else 0.0
    factor = scale << sx_in >> sx_out
    offset = ((a_out + 0.5) / scale - 0.5 - a_in) / (1 << sx_in)
    columns = upsample_columns(plane, factor, offset)  # columns first: fewer rows to filter
    return resize_plane(columns, plane.shape[0] * (scale << sy_in >> sy_out), columns.shape[1])


@functools.lru_cache(maxsize=4)
def _left_siting_kernel(device: torch.device) -> torch.Tensor:
    """1/4, 1/2, 1/4 across three columns: a chroma sample centred on its first luma column."""
    return torch.tensor([0.25, 0.5, 0.25], device=device).view(1, 1, 1, 3)


def subsample_chroma(plane: torch.Tensor, shift: tuple[int, int], siting: ChromaSiting) -> torch.Tensor:
    """A full-resolution (H, W) float chroma plane -> subsampled by ``shift`` and sited ``siting``.

    Rows are averaged in pairs (4:2:0 chroma sits between its rows). Columns
    are averaged in pairs for centred chroma, and filtered 1/4, 1/2, 1/4
    around each even column for left-sited chroma, edges repeated. The result
    is (ceil(H / 2^shift[1]), ceil(W / 2^shift[0])).
    """
    sx, sy = shift
    height, width = plane.shape
    value = plane.to(torch.float32)[None, None]
    value = F.adaptive_avg_pool2d(value, (-(-height >> sy), width))
    if sx and siting == "left":
        padded = F.pad(value, (1, 1, 0, 0), mode="replicate")
        value = F.conv2d(padded, _left_siting_kernel(value.device), stride=(1, 2))
    elif sx:
        value = F.adaptive_avg_pool2d(value, (value.shape[-2], -(-width >> sx)))
    return value[0, 0]

