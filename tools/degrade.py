"""Training pairs for compressed input (tools/lab/pairs.py says how they are made).

    python -m tools.degrade --data ../shared/datasets/train/T91 ../shared/datasets/train/BSD200 \\
        --scale 4 --level heavy --clips-per-image 2 --out runs/pairs_x4_heavy
    python -m tools.train --model fsrcnn --scale 4 --pairs runs/pairs_x4_heavy --out runs/fsrcnn_x4_heavy ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tools.lab import pairs
from tools.lab.data import image_paths
from tools.lab.pairs import LEVELS, MIN_LR_SIZE, build_cache


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__ + pairs.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of HR training images")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--level", choices=LEVELS, required=True)
    p.add_argument("--clips-per-image", type=int, default=2)
    p.add_argument("--frames", type=int, default=8, help="frames per clip")
    p.add_argument("--lr-size", type=int, default=64, help="LR side of a clip's frames (even, at least 64: "
                   "libx265 corrupted memory on smaller frames, smaller than its 64-pixel coding unit)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    if args.lr_size % 2 or args.lr_size < MIN_LR_SIZE:
        p.error(f"--lr-size must be even (4:2:0) and at least {MIN_LR_SIZE}")
    info = build_cache(image_paths(args.data), args.out, args.scale, args.level, args.clips_per_image,
                       args.frames, args.lr_size, args.seed)
    print(f"{info.pairs} pairs from {info.clips} clips in {info.build_seconds} s, {info.bytes / 1e6:.1f} MB "
          f"in {args.out}; codecs {info.codecs}")


if __name__ == "__main__":
    main()
