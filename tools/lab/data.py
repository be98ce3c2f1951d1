"""The papers' data protocol and the training data pipeline, shared by train.py, train_gan.py and evaluate.py.

* LR images: antialiased bicubic downscaling of the HR image with PIL
  (``Image.resize(..., Image.BICUBIC)``, close to MATLAB's ``imresize``),
  after cropping the HR image to a multiple of the scale.
* Luma: BT.601 studio range, Y = 16 + 65.481 R + 128.553 G + 24.966 B
  with R, G, B in [0, 1]; the same formula rtsr.color uses.
* PSNR and SSIM on Y in [0, 255], ``scale`` pixels cropped at each border.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image

from rtsr.metrics import psnr, rgb_to_y, shave, ssim  # noqa: F401  (the tools' one copy lives in rtsr)

AUGMENT_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6)  # each image is also trained on at these sizes
Weighting = Literal["pixel", "image"]
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


# --------------------------------------------------------------------------- training data


def to_planes(image: Image.Image, planes: str) -> np.ndarray:
    """(C, H, W) float32 in the model domain: Y/255 (C=1) or RGB/255 (C=3)."""
    rgb = np.asarray(image)
    if planes == "y":
        return (rgb_to_y(rgb) / 255.0).astype(np.float32)[None]
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1).copy()


class PatchSampler:
    """Random aligned (LR, HR) patch pairs from in-memory, pre-augmented image pairs.

    ``weighting="pixel"`` makes every training pixel equally likely (the
    papers' all-sub-images protocol: big images give more patches);
    ``"image"`` gives every source image the same share of patches (its
    downscaled copies split that share by area), matching benchmarks and the
    validation score, which average PSNR per image.
    """

    def __init__(self, paths: list[Path], scale: int, patch: int, planes: str, seed: int,
                 weighting: Weighting = "pixel", context: int = 0,
                 extra_pairs: list[tuple[np.ndarray, np.ndarray]] = ()) -> None:
        """``extra_pairs``: (LR, HR) uint8 RGB pairs made elsewhere (tools/lab/pairs.py's compressed LR),
        each drawn as often as an image's pair of its size ("pixel") or as one image ("image")."""
        self.scale, self.patch, self.context = scale, patch, context
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        weights: list[float] = []
        for lr_rgb, hr_rgb in extra_pairs:
            if min(lr_rgb.shape[:2]) < patch + 2 * context:
                continue
            lr = to_planes(Image.fromarray(lr_rgb), planes)
            self.pairs.append((lr, to_planes(Image.fromarray(hr_rgb), planes)))
            weights.append(float(lr.shape[1] * lr.shape[2]) if weighting == "pixel" else 1.0)
        for path in paths:
            image = load_rgb(path)
            areas = []
            for factor in AUGMENT_FACTORS:
                size = (round(image.width * factor), round(image.height * factor))
                hr = crop_to_multiple(image.resize(size, Image.BICUBIC) if factor < 1 else image, scale)
                if min(hr.size) < (patch + 2 * context) * scale:
                    continue
                lr = to_planes(downscale(hr, scale), planes)
                self.pairs.append((lr, to_planes(hr, planes)))
                areas.append(float(lr.shape[1] * lr.shape[2]))
            share = 1.0 / sum(areas) if weighting == "image" and areas else 1.0
            weights += [area * share for area in areas]
        self.weights = np.array(weights) / sum(weights)
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(size, C, q, q) LR inputs, (size, C, q*s, q*s) HR targets and a
        (size, 1, q*s, q*s) 0/1 mask of the pixels that count in the loss,
        where q = patch + 2 * context.

        The loss covers a patch × patch LR area (× scale in HR). With
        ``context`` > 0 the input reaches ``context`` LR pixels further on every
        side where the image has them, so the counted pixels see real
        neighbours as in a whole frame; where the patch lies near the image's
        edge the input stops at that edge, so frame borders are learnt as
        often as they occur. With ``context`` = 0 every pixel counts and the
        patch's edge stands in for the frame's (the papers' sub-images).
        """
        lrs, hrs, masks = [], [], []
        s, p, c = self.scale, self.patch, self.context
        q = p + 2 * c
        for index in self.rng.choice(len(self.pairs), size=size, p=self.weights):
            lr, hr = self.pairs[index]
            height, width = lr.shape[1:]
            top = int(self.rng.integers(0, height - p + 1))
            left = int(self.rng.integers(0, width - p + 1))
            in_top, in_left = min(max(top - c, 0), height - q), min(max(left - c, 0), width - q)
            lr_patch = lr[:, in_top:in_top + q, in_left:in_left + q]
            hr_patch = hr[:, in_top * s:(in_top + q) * s, in_left * s:(in_left + q) * s]
            mask = np.zeros((1, q * s, q * s), np.float32)
            mask[:, (top - in_top) * s:(top - in_top + p) * s, (left - in_left) * s:(left - in_left + p) * s] = 1
            turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            lr_patch, hr_patch, mask = (np.rot90(x, turns, axes=(1, 2)) for x in (lr_patch, hr_patch, mask))
            if flip:
                lr_patch, hr_patch, mask = lr_patch[:, :, ::-1], hr_patch[:, :, ::-1], mask[:, :, ::-1]
            lrs.append(np.ascontiguousarray(lr_patch))
            hrs.append(np.ascontiguousarray(hr_patch))
            masks.append(np.ascontiguousarray(mask))
        return torch.from_numpy(np.stack(lrs)), torch.from_numpy(np.stack(hrs)), torch.from_numpy(np.stack(masks))


class BatchStream(torch.utils.data.IterableDataset):
    """Endless ``PatchSampler.batch(size)`` results; each worker process draws
    its own random stream, seeded by (seed, worker id)."""

    def __init__(self, sampler: PatchSampler, size: int, seed: int) -> None:
        super().__init__()
        self.sampler, self.size, self.seed = sampler, size, seed

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            self.sampler.rng = np.random.default_rng([self.seed, worker.id])
        while True:
            yield self.sampler.batch(self.size)


def batch_loader(sampler: PatchSampler, size: int, seed: int, workers: int,
                 device: torch.device) -> torch.utils.data.DataLoader:
    """Batches from ``sampler``, made in ``workers`` background processes (0: in
    this one, in order), in pinned memory when they go to a GPU."""
    return torch.utils.data.DataLoader(
        BatchStream(sampler, size, seed), batch_size=None, num_workers=workers,
        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
    )


def load_validation(paths: list[Path], scale: int, planes: str) -> list[tuple[torch.Tensor, np.ndarray]]:
    """(LR model-domain tensor (1, C, h, w), HR Y in [16, 235]) per held-out image."""
    items = []
    for path in paths:
        hr = crop_to_multiple(load_rgb(path), scale)
        lr = torch.from_numpy(to_planes(downscale(hr, scale), planes))[None]
        items.append((lr, rgb_to_y(np.asarray(hr))))
    return items


@torch.no_grad()
def validate(model: torch.nn.Module, items, scale: int, planes: str) -> float:
    """Mean Y PSNR (dB) over the held-out images, ``scale`` pixels shaved, in fp32
    on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for lr, hr_y in items:
        out = model(lr.to(device))[0].clamp(0, 1).float().cpu()
        if planes == "y":
            y = out[0].numpy().astype(np.float64) * 255.0
        else:
            rgb = (out.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            y = rgb_to_y(rgb)
        scores.append(psnr(shave(y, scale), shave(hr_y, scale)))
    model.train()
    return float(np.mean(scores))
