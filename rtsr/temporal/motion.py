"""Motion between consecutive frames for the recurrent model: dense optical flow on the LR luma (no torch).

DIS (Kroeger et al. 2016) at OpenCV's ultrafast preset costs a few
milliseconds on a 640×360 luma plane with one core, against tens for the
network (docs/quality.md), and runs on every input: files, pipes, pictures
and live sources alike. The flow is *backward*: for each pixel of the
current frame, where it was in the previous one, which is what warping the
past onto the present needs. The same function makes the flows of the
training pairs (tools/make_sequences.py), so the network is trained on the
motion it will get.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np

_local = threading.local()  # one DIS object per thread: OpenCV's objects are not thread-safe


def _dis() -> cv2.DISOpticalFlow:
    if not hasattr(_local, "dis"):
        _local.dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST)
    return _local.dis


def to_8bit(luma: np.ndarray, bits: int) -> np.ndarray:
    """An (H, W) luma plane of ``bits``-bit codes as uint8 (DIS takes 8-bit pictures)."""
    if bits == 8 and luma.dtype == np.uint8:
        return np.ascontiguousarray(luma)
    return np.ascontiguousarray((luma >> (bits - 8)).astype(np.uint8))


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Two (H, W) uint8 luma planes -> (H, W, 2) float32 flow in pixels: current[y, x] ≈
    previous[y + flow[y, x, 1], x + flow[y, x, 0]].

    Frames smaller than DIS's patch (8×8) get zero motion.
    """
    height, width = current.shape
    if height < 16 or width < 16:
        return np.zeros((height, width, 2), np.float32)
    return _dis().calc(current, previous, None)
