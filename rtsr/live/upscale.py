"""Live frames on the file pipeline's path: YUV planes through PlaneUpscaler, colour as the file path sees it."""

from __future__ import annotations

from fractions import Fraction

import av

from rtsr.formats import AVCOL_RANGE_MPEG, ColorInfo, chroma_siting, describe_color, working_layout
from rtsr.io.planes import upscale_frame
from rtsr.io.probe import VideoInfo, chroma_shift
from rtsr.upscaler import Upscaler

_RGB_MATRIX = {"bt601": "ITU601", "bt709": "ITU709"}  # swscale's names for the matrices RGB is converted with
_RGB_TAGS = {"bt601": 6, "bt709": 1}  # ...and the AVColorSpace tags that say so (SMPTE 170M, BT.709)


class LiveUpscaler:
    """``frame -> upscaled frame`` for ``rtsr live``, set up per frame format and size as frames arrive.

    YUV frames (streams, files, lavfi) keep their planes, matrix and range:
    luma models see only the luma, exactly as in file mode. RGB frames
    (cameras) are converted once to 4:2:0 with a stated matrix (BT.601 below
    720 lines, BT.709 from 720 up, as players assume for untagged video) and
    tagged with it. Output frames carry the colour tags, so the window and
    the recorder read them right.
    """

    def __init__(self, upscaler: Upscaler) -> None:
        self.upscaler = upscaler
        self._setups: dict[tuple, tuple[VideoInfo, object, str | None]] = {}

    def __call__(self, frame: av.VideoFrame) -> av.VideoFrame:
        key = (frame.width, frame.height, frame.format.name, frame.colorspace, frame.color_range)
        if key not in self._setups:
            self._setups[key] = self._set_up(frame)
        info, planes, rgb_matrix = self._setups[key]
        if rgb_matrix is not None:
            frame = frame.reformat(format=info.layout.pix_fmt, dst_colorspace=rgb_matrix,
                                   dst_color_range=AVCOL_RANGE_MPEG)
        return upscale_frame(frame, planes, info.layout, info.size, info.color, info.layout.pix_fmt)

    def _set_up(self, frame: av.VideoFrame) -> tuple[VideoInfo, object, str | None]:
        fmt = frame.format
        layout = working_layout(fmt.name, max(c.bits for c in fmt.components))
        rgb_matrix = None
        if fmt.is_rgb:
            matrix = "bt709" if frame.height >= 720 else "bt601"
            rgb_matrix = _RGB_MATRIX[matrix]
            tag = _RGB_TAGS[matrix]
            color = ColorInfo(matrix, False, primaries=tag, transfer=tag, colorspace=tag,
                              color_range=AVCOL_RANGE_MPEG, chroma_siting="center")
        else:
            siting = chroma_siting("rawvideo", chroma_shift(fmt.name), layout)
            color = describe_color(frame.colorspace, frame.color_range, frame.color_primaries, frame.color_trc,
                                   layout, frame.height, siting)
        scale = self.upscaler.scale
        info = VideoInfo(index=0, width=frame.width, height=frame.height, pix_fmt=fmt.name, layout=layout,
                         color=color, time_base=frame.time_base or Fraction(1, 1000), rate=None, frames=0,
                         sample_aspect_ratio=None, display_matrix=None)
        out_size = layout.encodable_size(frame.width * scale, frame.height * scale)
        return info, self.upscaler.plane_upscaler(info, out_size), rgb_matrix
