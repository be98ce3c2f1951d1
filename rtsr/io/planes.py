"""Decoded frames <-> integer planes, and one upscaled frame from one decoded frame.

Planes are (H, W) numpy arrays of code values: uint8 for 8-bit layouts,
uint16 (holding at most 12 bits) for 10/12-bit ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import av
import numpy as np

from rtsr.formats import (
    AVCOL_RANGE_JPEG,
    AVCOL_RANGE_MPEG,
    MATRIX_COEFFICIENTS,
    MATRIX_TO_SWSCALE,
    ColorInfo,
    PlaneLayout,
)
from rtsr.io.alpha import ALPHA_OF

PlaneFunction = Callable[[list[np.ndarray]], list[np.ndarray]]
T = TypeVar("T")


class PlaneRing(Protocol):
    """Planes through an engine with several frames in flight (rtsr.plane_upscaler.PlaneUpscaler).

    ``submit`` starts a frame and returns the ``finish`` results of frames
    done by now, oldest first; ``drain`` waits for the rest. ``finish`` gets
    the output planes as views of reused buffers and must copy them.
    """

    def submit(self, planes: list[np.ndarray], finish: Callable[[list[np.ndarray]], T]) -> list[T]: ...

    def drain(self) -> list: ...


def _plane_view(plane: av.video.plane.VideoPlane, width: int, height: int,
                dtype: type[np.generic]) -> np.ndarray:
    """A (height, width) numpy view of one plane, line padding excluded (no copy)."""
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype)[: height * plane.line_size // itemsize]
    return rows.reshape(height, plane.line_size // itemsize)[:, :width]


def frame_planes(frame: av.VideoFrame, layout: PlaneLayout, width: int, height: int,
                 color: ColorInfo | None = None) -> list[np.ndarray]:
    """The Y, U, V planes of a decoded frame in ``layout`` at width×height, converting if needed.

    The size differs only where the stream changes resolution part-way; such
    frames are resized (bicubic) to the size the run was set up for, so the
    output keeps one size and shows the whole picture. RGB frames are
    converted with ``color``'s matrix and range (the ones the output is
    tagged with), exactly (:func:`rgb_planes`), not by swscale.
    """
    if color is not None and frame.format.is_rgb:
        if (frame.width, frame.height) != (width, height):
            frame = frame.reformat(width=width, height=height, interpolation="BICUBIC")
        return rgb_planes(frame, layout, color)
    if (frame.width, frame.height) != (width, height):
        frame = frame.reformat(width=width, height=height, format=layout.pix_fmt, interpolation="BICUBIC")
    elif frame.format.name != layout.pix_fmt:
        frame = frame.reformat(format=layout.pix_fmt)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    cw, ch = layout.chroma_size(width, height)
    sizes = [(width, height), (cw, ch), (cw, ch)]
    return [_plane_view(p, w, h, dtype) for p, (w, h) in zip(frame.planes, sizes)]


def rgb_planes(frame: av.VideoFrame, layout: PlaneLayout, color: ColorInfo) -> list[np.ndarray]:
    """An RGB frame's Y, U, V planes in ``layout``, with ``color``'s matrix and range, computed exactly.

    swscale's RGB to full-range YUV rounds chroma down: grey 100 came out with
    chroma 127 in places, a 2-code tint in R and B once converted back. Here
    the matrix is applied in float, chroma is averaged over each subsampled
    block (centre-sited, as rtsr.formats takes RGB sources), and each value
    is rounded once.
    """
    bits = layout.bits
    deep = bits > 8 or frame.format.name.startswith(("rgb48", "bgr48", "gbrp1", "rgba64", "bgra64"))
    rgb = frame.to_ndarray(format="rgb48le" if deep else "rgb24").astype(np.float64) / (65535.0 if deep else 255.0)
    kr, kb = MATRIX_COEFFICIENTS[color.matrix]
    luma = kr * rgb[..., 0] + (1.0 - kr - kb) * rgb[..., 1] + kb * rgb[..., 2]
    pb = (rgb[..., 2] - luma) / (2.0 * (1.0 - kb))
    pr = (rgb[..., 0] - luma) / (2.0 * (1.0 - kr))
    step = float(1 << (bits - 8))
    top = float((1 << bits) - 1)
    y_off, y_span, c_span = (0.0, top, top) if color.full_range else (16.0 * step, 219.0 * step, 224.0 * step)
    dtype = np.uint8 if bits == 8 else np.uint16
    sx, sy = layout.chroma_shift

    def codes(value: np.ndarray) -> np.ndarray:
        return np.clip(np.rint(value), 0, top).astype(dtype)

    def subsampled(plane: np.ndarray) -> np.ndarray:
        height, width = plane.shape
        padded = np.pad(plane, ((0, -height % (1 << sy)), (0, -width % (1 << sx))), mode="edge")
        return padded.reshape(padded.shape[0] >> sy, 1 << sy, padded.shape[1] >> sx, 1 << sx).mean(axis=(1, 3))

    mid = 128.0 * step
    return [codes(y_off + y_span * luma), codes(mid + c_span * subsampled(pb)), codes(mid + c_span * subsampled(pr))]


def alpha_plane(frame: av.VideoFrame, layout: PlaneLayout, width: int, height: int) -> np.ndarray:
    """The frame's alpha as a (height, width) plane at ``layout``'s depth, a copy, resized bicubically when
    the frame has another size (a resolution change); ``layout`` has a format with alpha (ALPHA_OF)."""
    converted = frame.reformat(width=width, height=height, format=ALPHA_OF[layout.pix_fmt])
    return _plane_view(converted.planes[3], width, height, np.uint8 if layout.bits == 8 else np.uint16).copy()


def planes_frame(planes: list[np.ndarray], layout: PlaneLayout, pix_fmt: str | None = None) -> av.VideoFrame:
    """A new VideoFrame in ``layout`` holding the given Y, U, V planes; with a fourth (alpha) plane, in
    ``pix_fmt``, ``layout``'s format with alpha (rtsr.io.alpha.ALPHA_OF)."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, pix_fmt or layout.pix_fmt)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    for plane, data in zip(frame.planes, planes):
        _plane_view(plane, data.shape[1], data.shape[0], dtype)[:] = data
    return frame


def tag_color(frame: av.VideoFrame, color: ColorInfo) -> None:
    """Mark a frame with its colour tags: matrix and range (what swscale reads), primaries and transfer."""
    frame.color_range, frame.colorspace = color.color_range, color.colorspace
    frame.color_primaries, frame.color_trc = color.primaries, color.transfer


def finish_frame(planes: list[np.ndarray], source: av.VideoFrame, layout: PlaneLayout, color: ColorInfo,
                 pix_fmt: str, alpha: np.ndarray | None = None) -> av.VideoFrame:
    """Upscaled planes in ``layout`` -> a new frame in ``pix_fmt`` with ``source``'s pts, time base and duration.

    ``alpha``: the upscaled alpha plane at the luma's size and depth, for a ``pix_fmt`` with alpha
    (rtsr.io.alpha). The planes are copied into the frame, so their buffers may be reused afterwards.
    """
    out = planes_frame(planes, layout) if alpha is None else \
        planes_frame([*planes, alpha], layout, ALPHA_OF[layout.pix_fmt])
    tag_color(out, color)
    if out.format.name != pix_fmt:
        # swscale is told the matrix and ranges: left to itself it took full-range grey 100 for 97-98 in RGB.
        space, code_range = MATRIX_TO_SWSCALE[color.matrix], AVCOL_RANGE_JPEG if color.full_range else AVCOL_RANGE_MPEG
        out = out.reformat(format=pix_fmt, src_colorspace=space, dst_colorspace=space, src_color_range=code_range,
                           dst_color_range=AVCOL_RANGE_JPEG if av.VideoFormat(pix_fmt).is_rgb else code_range)
        tag_color(out, color)
    out.pts, out.time_base, out.duration = source.pts, source.time_base, source.duration
    return out


def upscale_frame(frame: av.VideoFrame, upscale_planes: PlaneFunction, layout: PlaneLayout,
                  size: tuple[int, int], color: ColorInfo, pix_fmt: str) -> av.VideoFrame:
    """One decoded frame -> its upscaled frame in ``pix_fmt``, with the same pts, time base and duration.

    ``size`` is the (width, height) the run was set up for (a frame of another
    size is resized to it first); ``upscale_planes`` maps its planes in
    ``layout`` to the output's planes in the same layout.
    """
    width, height = size
    return finish_frame(upscale_planes(frame_planes(frame, layout, width, height, color)), frame, layout, color,
                        pix_fmt)
