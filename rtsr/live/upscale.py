"""Live frames on the file pipeline's path: YUV planes through PlaneUpscaler, colour as the file path sees it."""

from __future__ import annotations

from fractions import Fraction
from typing import TYPE_CHECKING

import av

from rtsr.formats import chroma_siting, describe_color
from rtsr.io.planes import PlaneFunction, upscale_frame
from rtsr.io.probe import VideoInfo, chroma_shift, format_layout

if TYPE_CHECKING:
    from rtsr.runner import Runner


class LiveUpscaler:
    """``frame -> upscaled frame`` for ``rtsr live``, set up per frame format, size and tags as frames arrive.

    YUV frames (streams, files, lavfi) keep their planes, matrix and range:
    luma models see only the luma, exactly as in file mode. RGB frames
    (cameras) are converted once to 4:2:0 with the matrix players assume for
    their size. Output frames carry the colour tags (the assumed ones where
    the source had none), so the window and the recorder read them right.
    """

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self._setups: dict[tuple, tuple[VideoInfo, PlaneFunction]] = {}

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        key = (frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range)
        if key not in self._setups:
            self._setups[key] = self._set_up(frame)
        info, planes = self._setups[key]
        return upscale_frame(frame, planes, info.layout, info.size, info.color, info.layout.pix_fmt)

    def _set_up(self, frame: av.VideoFrame) -> tuple[VideoInfo, PlaneFunction]:
        """Describe frames like this one as the probe describes a file's stream, and build their upscaler."""
        fmt = frame.format
        layout = format_layout(fmt)
        siting = chroma_siting("rawvideo", chroma_shift(fmt.name), layout)
        color = describe_color(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc,
                               layout, frame.height, siting)
        info = VideoInfo(index=0, width=frame.width, height=frame.height, pix_fmt=fmt.name, layout=layout,
                         color=color, time_base=frame.time_base or Fraction(1, 1000), rate=None, frames=0,
                         sample_aspect_ratio=None, display_matrix=None)
        scale = self.runner.scale
        out_size = layout.encodable_size(frame.width * scale, frame.height * scale)
        return info, self.runner.plane_upscaler(info, out_size)
