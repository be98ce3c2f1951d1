"""Decoded frames <-> integer planes, and one upscaled frame from one decoded frame.

Planes are (H, W) numpy arrays of code values: uint8 for 8-bit layouts,
uint16 (holding at most 12 bits) for 10/12-bit ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

import av
import numpy as np

from rtsr.formats import AVCOL_RANGE_JPEG, AVCOL_RANGE_MPEG, MATRIX_TO_SWSCALE, ColorInfo, PlaneLayout

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
    tagged with), not swscale's default.
    """
    convert: dict[str, object] = {}
    if color is not None and frame.format.is_rgb:
        convert = {"dst_colorspace": MATRIX_TO_SWSCALE[color.matrix],
                   "dst_color_range": AVCOL_RANGE_JPEG if color.full_range else AVCOL_RANGE_MPEG}
    if (frame.width, frame.height) != (width, height):
        frame = frame.reformat(width=width, height=height, format=layout.pix_fmt, interpolation="BICUBIC",
                               **convert)
    elif frame.format.name != layout.pix_fmt:
        frame = frame.reformat(format=layout.pix_fmt, **convert)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    cw, ch = layout.chroma_size(width, height)
    sizes = [(width, height), (cw, ch), (cw, ch)]
    return [_plane_view(p, w, h, dtype) for p, (w, h) in zip(frame.planes, sizes)]


def planes_frame(planes: list[np.ndarray], layout: PlaneLayout) -> av.VideoFrame:
    """A new VideoFrame in ``layout`` holding the given Y, U, V planes."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.pix_fmt)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    for plane, data in zip(frame.planes, planes):
        _plane_view(plane, data.shape[1], data.shape[0], dtype)[:] = data
    return frame


def tag_color(frame: av.VideoFrame, color: ColorInfo) -> None:
    """Mark a frame with its colour tags: matrix and range (what swscale reads), primaries and transfer."""
    frame.color_range, frame.colorspace = color.color_range, color.colorspace
    frame.color_primaries, frame.color_trc = color.primaries, color.transfer


def finish_frame(planes: list[np.ndarray], source: av.VideoFrame, layout: PlaneLayout, color: ColorInfo,
                 pix_fmt: str) -> av.VideoFrame:
    """Upscaled planes in ``layout`` -> a new frame in ``pix_fmt`` with ``source``'s pts, time base and duration.

    The planes are copied into the frame, so their buffers may be reused afterwards.
    """
    out = planes_frame(planes, layout)
    tag_color(out, color)
    if layout.pix_fmt != pix_fmt:
        out = out.reformat(format=pix_fmt)
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
