"""The papers' data protocol, shared by train.py and evaluate.py.

* LR images: antialiased bicubic downscaling of the HR image with PIL
  (``Image.resize(..., Image.BICUBIC)``, close to MATLAB's ``imresize``),
  after cropping the HR image to a multiple of the scale.
* Luma: BT.601 studio range, Y = 16 + 65.481 R + 128.553 G + 24.966 B
  with R, G, B in [0, 1]; the same formula rtsr.color uses.
* PSNR and SSIM on Y in [0, 255], ``scale`` pixels cropped at each border.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

IMAGE_SUFFIXES = {".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp"}  # webp: lossless packs that travel


def image_paths(folders: list[Path]) -> list[Path]:
    """Sorted image files directly inside each folder."""
    paths: list[Path] = []
    for folder in folders:
        if not folder.is_dir():
            raise SystemExit(f"not a folder: {folder}")
        paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise SystemExit(f"no images in {', '.join(map(str, folders))}")
    return paths


def load_rgb(path: Path) -> Image.Image:
    """An image as 8-bit RGB (grayscale images are replicated to three channels)."""
    with Image.open(path) as image:
        return image.convert("RGB")


def crop_to_multiple(image: Image.Image, scale: int) -> Image.Image:
    width, height = image.size
    return image.crop((0, 0, width - width % scale, height - height % scale))


def downscale(image: Image.Image, scale: int) -> Image.Image:
    """Antialiased bicubic downscaling by an integer factor (size must be a multiple)."""
    width, height = image.size
    return image.resize((width // scale, height // scale), Image.BICUBIC)


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 BT.601 studio-range Y in [16, 235]."""
    x = rgb.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def shave(y: np.ndarray, border: int) -> np.ndarray:
    return y[border:-border, border:-border] if border > 0 else y


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two Y planes in [0, 255] (peak 255)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _gaussian_window(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    g /= g.sum()
    return (g[:, None] * g[None, :])[None, None]


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: 11x11 Gaussian, sigma 1.5, K1=0.01, K2=0.03) of two Y planes in [0, 255]."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = torch.from_numpy(a.astype(np.float64))[None, None]
    y = torch.from_numpy(b.astype(np.float64))[None, None]
    w = _gaussian_window()
    mu_x, mu_y = F.conv2d(x, w), F.conv2d(y, w)
    sxx = F.conv2d(x * x, w) - mu_x**2
    syy = F.conv2d(y * y, w) - mu_y**2
    sxy = F.conv2d(x * y, w) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float((num / den).mean())
