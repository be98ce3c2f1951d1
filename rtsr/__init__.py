"""rtsr: real-time video super-resolution (FSRCNN, SRCNN, SRResNet) on CPU and GPU.

    from rtsr import Upscaler
    up = Upscaler(model="fsrcnn", scale=3, engine="auto")
    big = up.upscale_image(rgb)                  # (H, W, 3) uint8 -> (3H, 3W, 3) uint8
    report = up.upscale_video("in.mp4", "out.mp4")
"""

# OpenCV before PyAV: both wheels bundle their own libxcb, and when PyAV's copy
# loads first, OpenCV's Qt window hangs on creation (rtsr live).
import cv2  # noqa: F401  isort: skip

from rtsr.errors import DecodeError, EncodeError, EngineUnavailable, InputError, RtsrError, WeightsError
from rtsr.report import Report
from rtsr.version import __version__


def __getattr__(name: str) -> object:
    """``rtsr.Upscaler`` on first use: it brings in PyAV and the video stack,
    which ``import rtsr.models`` (the training tools, a GPU box without PyAV)
    does not need."""
    if name == "Upscaler":
        from rtsr.upscaler import Upscaler  # noqa: PLC0415  (on first use, as said above)

        return Upscaler
    raise AttributeError(f"module 'rtsr' has no attribute {name!r}")


__all__ = [
    "DecodeError", "EncodeError", "EngineUnavailable", "InputError", "Report", "RtsrError", "Upscaler",
    "WeightsError", "__version__",
]
