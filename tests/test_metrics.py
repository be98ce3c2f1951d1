"""rtsr.metrics: the papers' yardsticks, shared with the training tools."""

from __future__ import annotations

import numpy as np
from PIL import Image

from rtsr.metrics import psnr, resize_bicubic, rgb_to_y, ssim


def test_bicubic_matches_pil_within_its_rounding() -> None:
    rng = np.random.default_rng(0)
    rgb = np.asarray(Image.fromarray(rng.integers(0, 256, (45, 60, 3), dtype=np.uint8)).resize((180, 135),
                                                                                            Image.BICUBIC))
    for width, height in ((60, 45), (360, 270)):  # down (the LR protocol) and up (the baseline)
        ours = resize_bicubic(rgb, width, height)
        pil = np.asarray(Image.fromarray(rgb).resize((width, height), Image.BICUBIC))
        assert ours.shape == pil.shape and psnr(ours, pil) > 45


def test_psnr_and_ssim_of_known_pictures() -> None:
    y = rgb_to_y(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert psnr(y, y) == float("inf") and abs(ssim(y, y) - 1.0) < 1e-9
    assert abs(psnr(y, y + 1.0) - 48.13) < 0.01  # 20·log10(255)
    assert ssim(y, np.roll(y, 1, 0)) < 0.5
