"""Write a sample clip to try rtsr on: testsrc2 with a 440 Hz tone, H.264 + AAC.

    python -m tools.make_sample sample.mp4 --size 640x360 --seconds 5
"""

import argparse
from pathlib import Path

from rtsr.bench import parse_size
from rtsr.sample import make_sample_clip

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("output", type=Path)
parser.add_argument("--size", default="640x360", help="WIDTHxHEIGHT (default 640x360)")
parser.add_argument("--seconds", type=float, default=5.0)
parser.add_argument("--rate", type=int, default=24)
args = parser.parse_args()
make_sample_clip(args.output, parse_size(args.size), round(args.seconds * args.rate), args.rate)
print(f"wrote {args.output}")
