"""rtsr: real-time video super-resolution (FSRCNN, SRCNN, SRResNet) on CPU and GPU.

    from rtsr import Upscaler
    up = Upscaler(model="fsrcnn", scale=3, engine="auto")
    big = up.upscale_image(rgb)                  # (H, W, 3) uint8 -> (3H, 3W, 3) uint8
    report = up.upscale_video("in.mp4", "out.mp4")
"""

__version__ = "0.1.0"

from rtsr.errors import EncodeError, EngineUnavailable, InputError, RtsrError, WeightsError  # noqa: E402
from rtsr.report import Report  # noqa: E402
from rtsr.upscaler import Upscaler  # noqa: E402

__all__ = [
    "EncodeError", "EngineUnavailable", "InputError", "Report", "RtsrError", "Upscaler",
    "WeightsError", "__version__",
]
