"""Held-out clips for validation: frames from a clip's middle, the "user's clip" at a codec level, its luma.

The validation tools (tools.quality_grid, tools.validate_check, tools.temporal_ablation) write the LR a
user would have through rtsr.io.roundtrip, the codec round-trip ``rtsr check`` uses too.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from rtsr.io.roundtrip import write_clip
from rtsr.metrics import resize_bicubic


def read_frames(path: Path, count: int) -> list[np.ndarray]:
    """``count`` consecutive RGB frames from the middle of the clip (consecutive: the codec needs motion)."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    middle = max(0, len(frames) // 2 - count // 2)
    return frames[middle:middle + count]


def user_codec(level: str) -> tuple[str, dict[str, str]]:
    """The encoder and options of a ``--levels`` entry: clean (FFV1), N (x264 CRF N), x265:N (x265 CRF N),
    mpeg4 (MPEG-4 part 2 at FFmpeg's default bit rate)."""
    if level == "clean":
        return "ffv1", {}
    if level == "mpeg4":
        return "mpeg4", {}
    if level.startswith("x265:"):
        return "libx265", {"crf": level[5:], "preset": "medium", "x265-params": "log-level=error"}
    return "libx264", {"crf": level, "preset": "medium"}


def write_user_clip(frames: list[np.ndarray], path: Path, level: str, rate: int = 25) -> None:
    """The LR frames as the user's clip, encoded as ``level`` says (user_codec)."""
    write_clip(frames, path, *user_codec(level), rate)


def read_luma(path: Path) -> list[np.ndarray]:
    """The Y plane of every frame of an 8-bit 4:2:0 clip, as decoded (the codes rtsr's models see)."""
    with av.open(str(path)) as container:
        return [f.to_ndarray()[: f.height] for f in container.decode(video=0)]


def bicubic_luma(y: np.ndarray, scale: int) -> np.ndarray:
    """A Y plane enlarged by the papers' bicubic (rtsr.metrics.resize_bicubic)."""
    rgb = np.repeat(y[..., None], 3, axis=2)
    return resize_bicubic(rgb, y.shape[1] * scale, y.shape[0] * scale)[..., 0]
