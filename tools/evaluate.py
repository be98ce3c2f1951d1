"""PSNR / SSIM on the Y channel, per dataset and scale, for rtsr's models and bicubic.

    python -m tools.evaluate --data ../shared/datasets/eval --datasets Set5 Set14 BSD100 \\
        --scales 2 3 4 --models bicubic fsrcnn srcnn

Protocol (tools/lab/data.py, as the papers): crop HR to a multiple of the
scale, antialiased bicubic downscale (PIL), upscale, BT.601 Y, shave
``scale`` pixels at each border, PSNR with peak 255. Models run through
``Upscaler.upscale_image`` on the CPU engine (``--engine``: another one, e.g.
openvino-bf16 to see what lower precision costs): the numbers describe what
users get. ``--weights fsrcnn_x3=FILE`` evaluates other weights than the
shipped ones. Prints a Markdown table (PSNR dB / SSIM).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from rtsr import Upscaler
from tools.lab.benchmark import bicubic, evaluate


def parse_weights(pairs: list[str]) -> dict[tuple[str, int], Path]:
    """'fsrcnn_x3=path' -> {('fsrcnn', 3): path}."""
    found = {}
    for pair in pairs:
        name, _, path = pair.partition("=")
        model, _, scale = name.rpartition("_x")
        if not path or not model or not scale.isdigit():
            raise SystemExit(f"--weights wants MODEL_xSCALE=FILE, got {pair!r}")
        found[(model, int(scale))] = Path(path)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding the dataset folders")
    parser.add_argument("--datasets", nargs="+", default=["Set5", "Set14", "BSD100"])
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--models", nargs="+", default=["bicubic", "fsrcnn", "srcnn"])
    parser.add_argument("--weights", nargs="*", default=[], help="MODEL_xSCALE=FILE overrides")
    parser.add_argument("--engine", default="cpu", help="engine the models run on (default cpu)")
    args = parser.parse_args(argv)
    overrides = parse_weights(args.weights)

    columns = [(d, s) for d in args.datasets for s in args.scales]
    print("| model | " + " | ".join(f"{d} ×{s}" for d, s in columns) + " |")
    print("|---|" + "---|" * len(columns))
    for model in args.models:
        cells = []
        started = time.perf_counter()
        for dataset, scale in columns:
            if model == "bicubic":
                upscale = bicubic
            else:
                upscaler = Upscaler(model, scale, args.engine, overrides.get((model, scale)))
                upscale = lambda lr, size, up=upscaler: up.upscale_image(lr)  # noqa: E731
            value_psnr, value_ssim = evaluate(upscale, args.data / dataset, scale)
            cells.append(f"{value_psnr:.2f} / {value_ssim:.4f}")
        print(f"| {model} | " + " | ".join(cells) + " |", flush=True)
        print(f"  ({model}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
