"""rtsr: real-time video super-resolution (FSRCNN, SRCNN, SRResNet) on CPU and GPU.

    from rtsr import Upscaler
    up = Upscaler(model="fsrcnn", scale=3, engine="auto")
    big = up.upscale_image(rgb)                  # (H, W, 3) uint8 -> (3H, 3W, 3) uint8
    report = up.upscale_video("in.mp4", "out.mp4")
"""

# OpenCV before PyAV: both wheels bundle their own libxcb, and when PyAV's copy
# loads first, OpenCV's Qt window hangs on creation (rtsr live).
import cv2  # noqa: F401  isort: skip

from rtsr.version import __version__
from rtsr.errors import DecodeError, EncodeError, EngineUnavailable, InputError, RtsrError, WeightsError
from rtsr.report import Report
from rtsr.upscaler import Upscaler

__all__ = [
    "DecodeError", "EncodeError", "EngineUnavailable", "InputError", "Report", "RtsrError", "Upscaler",
    "WeightsError", "__version__",
]
