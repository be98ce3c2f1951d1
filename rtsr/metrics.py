"""The field's yardsticks: BT.601 luma, PSNR and SSIM, and the papers' bicubic resizing.

Shared by ``rtsr check``/``rtsr compare`` and the training tools
(tools/lab/data.py re-exports them), so a figure in docs/quality.md, one in
training.md and one ``rtsr check`` prints are computed the same way.

* Luma: BT.601 studio range, Y = 16 + 65.481 R + 128.553 G + 24.966 B with
  R, G, B in [0, 1] (the formula rtsr.color uses).
* PSNR and SSIM on Y in [0, 255] (peak 255), ``border`` pixels shaved at each
  side, as the papers do (border = scale).
* Resizing: antialiased bicubic, a = -0.5, as PIL's ``Image.BICUBIC`` (the
  papers' LR protocol; torch's ``antialias=True``). PIL rounds between its
  two passes, so results differ from PIL's by a code value or a few.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
import torch.nn.functional as F


def rgb_to_y(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) float64 BT.601 studio-range Y in [16, 235]."""
    x = rgb.astype(np.float64) / 255.0
    return 16.0 + 65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]


def shave(y: np.ndarray, border: int) -> np.ndarray:
    """``y`` without ``border`` pixels at each side."""
    return y[border:-border, border:-border] if border > 0 else y


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two Y planes in [0, 255] (peak 255); inf when they are equal."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


@functools.lru_cache(maxsize=1)
def _gaussian(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    coords = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(coords**2) / (2 * sigma**2))
    return g / g.sum()


def _blur(x: torch.Tensor) -> torch.Tensor:
    """The 11×11 Gaussian window as two 1-D passes ('valid' borders): the same sums, 5× fewer products."""
    g = _gaussian()
    return F.conv2d(F.conv2d(x, g.view(1, 1, 1, -1)), g.view(1, 1, -1, 1))


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM (Wang et al. 2004: 11×11 Gaussian, sigma 1.5, K1=0.01, K2=0.03) of two Y planes in [0, 255]."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    x = torch.from_numpy(np.asarray(a, dtype=np.float64))[None, None]
    y = torch.from_numpy(np.asarray(b, dtype=np.float64))[None, None]
    mu_x, mu_y = _blur(x), _blur(y)
    sxx = _blur(x * x) - mu_x**2
    syy = _blur(y * y) - mu_y**2
    sxy = _blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * sxy + c2)
    den = (mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2)
    return float((num / den).mean())


def resize_bicubic(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB resized to (height, width, 3) uint8 by antialiased bicubic, as PIL does.

    Downscaling this way makes the papers' LR images; upscaling this way is
    the bicubic baseline every gain is measured against.
    """
    x = torch.tensor(rgb, dtype=torch.float32).permute(2, 0, 1)[None]  # a copy: rgb may be read-only
    out = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False, antialias=True)
    return out[0].permute(1, 2, 0).round_().clamp_(0, 255).to(torch.uint8).numpy()
