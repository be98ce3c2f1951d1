"""What the live window shows: the upscaled picture (or a split with bicubic) and an overlay of figures."""

from __future__ import annotations

import av
import cv2
import numpy as np


def to_bgr(frame: av.VideoFrame) -> np.ndarray:
    """(H, W, 3) uint8 BGR of a frame, converted with its own matrix and range tags."""
    if frame.format.name == "bgr24":
        return frame.to_ndarray()
    tagged = frame.colorspace if frame.colorspace not in (0, 2) else None  # 2: untagged, swscale's default
    return frame.reformat(format="bgr24", src_colorspace=tagged,
                          src_color_range=frame.color_range or None).to_ndarray()


def compose_view(upscaled: np.ndarray, source: np.ndarray, compare: bool) -> np.ndarray:
    """The picture to show (BGR in, BGR out): the upscaled frame, or bicubic | model split down the middle."""
    view = upscaled
    if compare:
        height, width = upscaled.shape[:2]
        bicubic = cv2.resize(source, (width, height), interpolation=cv2.INTER_CUBIC)
        view = upscaled.copy()
        view[:, : width // 2] = bicubic[:, : width // 2]
        cv2.line(view, (width // 2, 0), (width // 2, height - 1), (255, 255, 255), 1)
        for text, x in (("bicubic", 8), ("model", width // 2 + 8)):
            cv2.putText(view, text, (x, height - 12), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2)
    return np.ascontiguousarray(view)


def draw_overlay(bgr: np.ndarray, lines: list[str]) -> None:
    """White text on a dark band in the top-left corner (in place)."""
    height = 22 * len(lines) + 8
    width = min(bgr.shape[1], 12 + 9 * max(len(line) for line in lines))
    band = bgr[:height, :width]
    band[:] = (band * 0.35).astype(np.uint8)
    for row, line in enumerate(lines):
        cv2.putText(bgr, line, (6, 20 + 22 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1,
                    cv2.LINE_AA)
