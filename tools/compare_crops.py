"""Side-by-side crops for judging models by eye: bicubic | model 1 | model 2 ... | original.

    python -m tools.compare_crops ../shared/datasets/eval/Set14/baboon.png --scale 4 \\
        --box 100 100 120 120 --models srresnet=rtsr/weights/srresnet_x4.pt srgan=runs/srgan_x4/final.pt \\
        --zoom 2 --out docs/baboon_x4.png

The LR input is made as in the papers' protocol (tools/lab/data.py); each model
runs through ``Upscaler.upscale_image``, as the CLI does. ``--box`` is
LEFT TOP WIDTH HEIGHT in HR pixels; crops are enlarged ``--zoom`` times with
nearest neighbour so pixels stay visible. Each panel is captioned.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from rtsr.checkpoints import read_checkpoint
from rtsr.models import MODELS
from rtsr.upscaler import Upscaler
from tools.lab.data import crop_to_multiple, downscale, load_rgb

CAPTION_HEIGHT = 14  # pixels of the strip under each panel


def panel(rgb: np.ndarray, box: tuple[int, int, int, int], zoom: int, caption: str) -> Image.Image:
    """The ``box`` (left, top, width, height) of an (H, W, 3) uint8 image, zoomed, with a caption below."""
    left, top, width, height = box
    crop = Image.fromarray(rgb[top:top + height, left:left + width])
    crop = crop.resize((width * zoom, height * zoom), Image.NEAREST)
    out = Image.new("RGB", (crop.width, crop.height + CAPTION_HEIGHT), "white")
    out.paste(crop, (0, 0))
    ImageDraw.Draw(out).text((2, crop.height + 1), caption, fill="black")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("image", type=Path, help="an HR image")
    p.add_argument("--scale", type=int, default=4)
    p.add_argument("--box", type=int, nargs=4, required=True, metavar=("LEFT", "TOP", "WIDTH", "HEIGHT"))
    p.add_argument("--models", nargs="+", required=True, metavar="NAME=WEIGHTS",
                   help="caption=weights file (an rtsr checkpoint, which names its architecture)")
    p.add_argument("--zoom", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if any("=" not in item for item in args.models):
        p.error("--models takes CAPTION=WEIGHTS pairs")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    hr = crop_to_multiple(load_rgb(args.image), args.scale)
    lr = np.asarray(downscale(hr, args.scale))
    hr = np.asarray(hr)
    left, top, width, height = args.box
    if left + width > hr.shape[1] or top + height > hr.shape[0]:
        raise SystemExit(f"--box reaches outside the {hr.shape[1]}x{hr.shape[0]} image")
    bicubic = np.asarray(Image.fromarray(lr).resize((hr.shape[1], hr.shape[0]), Image.BICUBIC))
    panels = [panel(bicubic, args.box, args.zoom, "bicubic")]
    for item in args.models:
        caption, weights = item.split("=", 1)
        architecture = read_checkpoint(Path(weights)).get("architecture")
        if architecture not in MODELS:
            raise SystemExit(f"{weights} does not name an rtsr architecture")
        upscaler = Upscaler(architecture, args.scale, "cpu", weights=Path(weights))
        panels.append(panel(upscaler.upscale_image(lr), args.box, args.zoom, caption))
    panels.append(panel(hr, args.box, args.zoom, "original"))
    strip = Image.new("RGB", (sum(p.width for p in panels) + 4 * (len(panels) - 1), panels[0].height), "white")
    x = 0
    for image in panels:
        strip.paste(image, (x, 0))
        x += image.width + 4
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out)
    print(f"wrote {args.out} ({strip.width}x{strip.height})")


if __name__ == "__main__":
    main()
