"""The papers' benchmark protocol on a folder of HR images: PSNR / SSIM of the Y channel (tools.evaluate).

Crop HR to a multiple of the scale, antialiased bicubic downscale (PIL, tools/lab/data.py), upscale, BT.601
Y, shave ``scale`` pixels at each border, PSNR with peak 255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from tools.lab.data import crop_to_multiple, downscale, image_paths, load_rgb, psnr, rgb_to_y, shave, ssim


def evaluate(upscale, folder: Path, scale: int) -> tuple[float, float]:
    """Mean (PSNR, SSIM) of ``upscale(lr_rgb) -> hr_rgb`` over the images in ``folder``."""
    scores = []
    for path in image_paths([folder]):
        hr = crop_to_multiple(load_rgb(path), scale)
        lr = downscale(hr, scale)
        sr = upscale(np.asarray(lr), hr.size)
        y_sr, y_hr = shave(rgb_to_y(sr), scale), shave(rgb_to_y(np.asarray(hr)), scale)
        scores.append((psnr(y_sr, y_hr), ssim(y_sr, y_hr)))
    return tuple(np.mean(scores, axis=0))


def bicubic(lr: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(lr).resize(size, Image.BICUBIC))
