"""``rtsr compare``: one frame upscaled by nearest, bicubic and each model, side by side in a PNG.

Two rows of labelled panels of the clip's most detailed region (or of the
whole frame with ``whole``):

1. **×S**, what a run gives: the frame upscaled by nearest, bicubic and each
   model, shown 1:1 at the output resolution;
2. **self-test**, where a reference exists: the frame shrunk by S (and compressed
   again as the input is, as ``rtsr check`` does), brought back by
   bicubic and each model, next to the original, each with its PSNR on the
   panel (BT.601 luma); enlarged S× by nearest so the rows line up.

The most detailed region is the window with the largest sum of luma gradients.
Only that region (with a margin the networks need for their context) is
upscaled, so a comparison takes seconds even for SRResNet on a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from rtsr.atomic import write_atomically
from rtsr.errors import RtsrError
from rtsr.metrics import psnr, resize_bicubic, rgb_to_y

MARGIN = 32  # input pixels of context around the region (SRResNet's receptive field is about 37 LR pixels)
LABEL_HEIGHT = 24
GAP = 6
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Panel:
    """One labelled picture of the comparison."""

    row: str  # "upscaled" or "self-test"
    label: str
    psnr: float | None
    image: np.ndarray  # (h, w, 3) uint8 RGB, as shown


@dataclass(frozen=True)
class Box:
    left: int
    top: int
    width: int
    height: int

    def grown(self, margin: int, width: int, height: int, multiple: int = 1) -> Box:
        """This box plus ``margin`` on each side, inside width×height, its size a multiple of ``multiple``."""
        left, right = _grow(self.left, self.width, margin, width, multiple)
        top, bottom = _grow(self.top, self.height, margin, height, multiple)
        return Box(left, top, right - left, bottom - top)

    def cut(self, image: np.ndarray, scale: int = 1, origin: tuple[int, int] = (0, 0)) -> np.ndarray:
        """This box (in input pixels) out of ``image``, which is ``scale``× the input and starts at ``origin``."""
        left, top = (self.left - origin[0]) * scale, (self.top - origin[1]) * scale
        return image[top:top + self.height * scale, left:left + self.width * scale]


def _grow(start: int, length: int, margin: int, limit: int, multiple: int) -> tuple[int, int]:
    """[start - margin, start + length + margin) inside [0, limit), trimmed to a multiple of ``multiple``
    on the side that has room to spare (the box itself is trimmed only when it fills the frame)."""
    low, high = max(0, start - margin), min(limit, start + length + margin)
    excess = (high - low) % multiple
    if high - excess >= start + length:
        return low, high - excess
    if low + excess <= start:
        return low + excess, high
    return low, high - excess


def most_detailed(rgb: np.ndarray, width: int, height: int) -> Box:
    """The width×height window of (H, W, 3) uint8 RGB with the largest sum of luma gradient magnitudes."""
    frame_h, frame_w = rgb.shape[:2]
    width, height = min(width, frame_w), min(height, frame_h)
    y = rgb_to_y(rgb)
    detail = np.zeros_like(y)
    detail[:, 1:] += np.abs(np.diff(y, axis=1))
    detail[1:, :] += np.abs(np.diff(y, axis=0))
    sums = np.pad(detail, ((1, 0), (1, 0))).cumsum(0).cumsum(1)  # summed-area table
    windows = sums[height:, width:] - sums[:-height, width:] - sums[height:, :-width] + sums[:-height, :-width]
    top, left = np.unravel_index(int(np.argmax(windows)), windows.shape)
    return Box(int(left), int(top), width, height)


def nearest(rgb: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(rgb, scale, axis=0), scale, axis=1)


def build_panels(rgb: np.ndarray, scale: int, models: dict[str, Callable[[np.ndarray], np.ndarray]],
                 box: Box, degrade: Callable[[np.ndarray], np.ndarray] | None = None) -> list[Panel]:
    """The panels of both rows for ``box`` (input pixels) of the (H, W, 3) uint8 RGB frame.

    ``degrade`` compresses the self-test's shrunk region again as the input is (rtsr.check.codec_match).
    """
    frame_h, frame_w = rgb.shape[:2]
    region = box.grown(MARGIN, frame_w, frame_h)
    source = region.cut(rgb)
    origin = (region.left, region.top)
    upscalers: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "nearest": lambda x: nearest(x, scale),
        "bicubic": lambda x: resize_bicubic(x, x.shape[1] * scale, x.shape[0] * scale),
        **models,
    }
    panels = [Panel("upscaled", f"{name} x{scale}", None, box.cut(up(source), scale, origin))
              for name, up in upscalers.items()]
    test_region = box.grown(MARGIN, frame_w, frame_h, multiple=scale)
    if test_region.width < 8 * scale or test_region.height < 8 * scale:
        return panels  # too small to shrink: no self-test row
    reference = test_region.cut(rgb)
    low = resize_bicubic(reference, test_region.width // scale, test_region.height // scale)
    if degrade is not None:
        low = degrade(low)
    origin = (test_region.left, test_region.top)
    box = Box(box.left, box.top, min(box.width, test_region.left + test_region.width - box.left),
              min(box.height, test_region.top + test_region.height - box.top))  # a frame-filling box, trimmed
    reference_crop = box.cut(reference, 1, origin)
    reference_y = rgb_to_y(reference_crop)
    for name, up in list(upscalers.items())[1:]:  # nearest is not a contender
        crop = box.cut(up(low), 1, origin)
        panels.append(Panel("self-test", f"{name} from 1/{scale}", psnr(rgb_to_y(crop), reference_y),
                            nearest(crop, scale)))
    panels.append(Panel("self-test", "original", None, nearest(reference_crop, scale)))
    return panels


def _labelled(panel: Panel) -> np.ndarray:
    height, width = panel.image.shape[:2]
    tile = np.full((height + LABEL_HEIGHT, width, 3), 255, np.uint8)
    tile[LABEL_HEIGHT:] = panel.image
    text = panel.label + (f"  {panel.psnr:.2f} dB" if panel.psnr is not None else "")
    cv2.putText(tile, text, (4, LABEL_HEIGHT - 7), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return tile


def compose(panels: list[Panel], title: list[str]) -> np.ndarray:
    """Rows of labelled panels under the title's lines: (H, W, 3) uint8 RGB."""
    rows = [[_labelled(p) for p in panels if p.row == row] for row in ("upscaled", "self-test")]
    rows = [row for row in rows if row]
    width = max(sum(t.shape[1] for t in row) + GAP * (len(row) - 1) for row in rows)
    width = max(width, *(cv2.getTextSize(line, FONT, 0.5, 1)[0][0] + 8 for line in title))
    top = LABEL_HEIGHT * len(title)
    height = top + sum(max(t.shape[0] for t in row) for row in rows) + GAP * len(rows)
    canvas = np.full((height, width, 3), 255, np.uint8)
    for index, line in enumerate(title):
        cv2.putText(canvas, line, (4, LABEL_HEIGHT * (index + 1) - 7), FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    y = top + GAP
    for row in rows:
        x = 0
        for tile in row:
            canvas[y:y + tile.shape[0], x:x + tile.shape[1]] = tile
            x += tile.shape[1] + GAP
        y += max(t.shape[0] for t in row) + GAP
    return canvas


def write_png(image: np.ndarray, path: Path) -> None:
    """(H, W, 3) uint8 RGB to a PNG at ``path``, atomically."""
    def write(tmp: Path) -> None:
        ok, data = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        if not ok:
            raise RtsrError(f"cannot encode the comparison as PNG ({image.shape[1]}×{image.shape[0]})")
        tmp.write_bytes(data.tobytes())

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, write)
