"""The models rtsr has, by the names users type, and where their shipped weights lie. Torch-free.

The command line lists and checks names and scales from here without
loading torch (``rtsr --help`` in a fraction of a second); rtsr.models
binds each name to its network (and a test keeps the two in step).
"""

from __future__ import annotations

from pathlib import Path

from rtsr.errors import WeightsError

SCALES = (2, 3, 4)
# What shipped weights were trained for: pristine LR (the papers), or LR through real codecs (issue 27)
DEGRADATIONS = ("none", "compressed")
WEIGHTS_DIR = Path(__file__).parent / "weights"
DESCRIPTIONS = {
    "fsrcnn": "FSRCNN(56,12,4), luma, fast (default)",
    "srcnn": "SRCNN 9-5-5, luma, slower",
    "srresnet": "SRResNet 16x64, RGB, quality mode",
    "rlsp": "recurrent (RLSP-style, 32×4), luma, uses the frames before; experimental",
}


def check_model(name: str) -> str:
    """``name`` when rtsr has such a model; WeightsError listing the known ones otherwise."""
    if name not in DESCRIPTIONS:
        raise WeightsError(f"unknown model {name!r}; choose from {', '.join(DESCRIPTIONS)}")
    return name


def check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise WeightsError(f"unsupported scale {scale}; choose from {', '.join(map(str, SCALES))}")
    return scale


def weights_file(name: str, scale: int, degradation: str = "none") -> Path:
    """The shipped weights file of model ``name`` at ``scale``, trained for input of ``degradation`` (one
    of DEGRADATIONS; it may not exist: not every model has weights for compressed input)."""
    return WEIGHTS_DIR / f"{name}_x{scale}{'' if degradation == 'none' else '_' + degradation}.pt"
