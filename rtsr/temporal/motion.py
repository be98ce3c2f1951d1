"""Motion between consecutive frames for the recurrent model: dense optical flow on the LR luma (no torch).

DIS (Kroeger et al. 2016) at OpenCV's ultrafast preset costs a few
milliseconds on a 640×360 luma plane with one core, against tens for the
network (docs/temporal.md), and runs on every input: files, pipes, pictures
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


def backward_flow(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Two (H, W) uint8 luma planes -> (H, W, 2) float32 flow in pixels: current[y, x] ≈
    previous[y + flow[y, x, 1], x + flow[y, x, 0]].

    Frames under 16 pixels on a side (twice DIS's 8×8 patch) get zero motion.
    """
    height, width = current.shape
    if height < 16 or width < 16:
        return np.zeros((height, width, 2), np.float32)
    return _dis().calc(current, previous, None)


def codec_flow(vectors: np.ndarray | None, height: int, width: int, past: int | None,
               future: int | None) -> tuple[np.ndarray, np.ndarray]:
    """A backward flow to the previous frame from the decoder's motion vectors (FFmpeg's MOTION_VECTORS
    side data, as ``SideData.to_ndarray()`` gives them: fields source, w, h, dst_x, dst_y, motion_x,
    motion_y, motion_scale).

    A vector says where a block's content sits in a reference frame (src = dst + motion / motion_scale),
    but FFmpeg only says whether that frame is in the past or the future, not which: the reference is
    taken to be the nearest anchor (I or P frame) that way, ``past`` and ``future`` frames off (None:
    none). Vectors are divided by that distance (motion taken as constant over it; a future one changes
    sign) and blocks referring both ways are averaged. Returns the (H, W, 2) float32 flow and an (H, W)
    bool map of the pixels some vector covers (intra and skipped blocks carry none).
    """
    total = np.zeros((height, width, 2), np.float32)
    count = np.zeros((height, width), np.float32)
    if vectors is not None:
        for v in vectors:
            distance = past if v["source"] < 0 else future
            if not distance:
                continue
            sign = 1.0 if v["source"] < 0 else -1.0
            motion = np.array([v["motion_x"], v["motion_y"]], np.float32) / (v["motion_scale"] * distance) * sign
            left, top = int(v["dst_x"]) - int(v["w"]) // 2, int(v["dst_y"]) - int(v["h"]) // 2
            rows = slice(max(0, top), min(height, top + int(v["h"])))
            cols = slice(max(0, left), min(width, left + int(v["w"])))
            total[rows, cols] += motion
            count[rows, cols] += 1
    covered = count > 0
    total[covered] /= count[covered][:, None]
    return total, covered
