"""Argument types and helpers the ``rtsr`` commands share (rtsr.cli, rtsr.live.command, rtsr.check.cli).

Torch-free: ``rtsr --help`` and argument errors answer without loading it.
"""

from __future__ import annotations

import argparse
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from rtsr.catalog import DESCRIPTIONS
from rtsr.io.degradation import CHOICES as DEGRADATION_CHOICES

if TYPE_CHECKING:
    from rtsr.upscaler import Upscaler

ENGINE_HELP = ("auto (the fastest here: tensorrt > cuda on a GPU, else the faster of cpu and openvino, "
               "measured), cpu (PyTorch), openvino, openvino-bf16, openvino-int8 (int8 weights, shipped for "
               "fsrcnn), cuda or tensorrt (default auto)")


def jobs_value(text: str) -> int | None:
    """--jobs: a positive number, or auto (None)."""
    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"--jobs takes a positive number or auto, not {text!r}")
    return int(text)


def rate_value(text: str) -> Fraction:
    """--fps: a positive number or fraction (29.97 is taken as 30000/1001)."""
    try:
        rate = Fraction(text)
    except (ValueError, ZeroDivisionError):
        rate = Fraction(0)
    ntsc = next((Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120)
                 if abs(float(rate) - n * 1000 / 1001) < 0.0015), None)
    rate = ntsc or rate
    if rate <= 0 or rate > 1000:
        raise argparse.ArgumentTypeError(f"takes frames per second (24, 29.97, 30000/1001), not {text!r}")
    return rate


def crf_value(text: str) -> float:
    """--crf: a number (the encoder's range is checked once the encoder is known)."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes a number, not {text!r}") from None


def positive_seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0 or seconds == float("inf"):
        raise argparse.ArgumentTypeError(f"takes a positive number of seconds, not {text!r}")
    return seconds


def add_scale_and_engine_options(parser: argparse.ArgumentParser, scale: int) -> None:
    """--scale (default ``scale``), --engine and --engine-dir: declared once for every command that runs a model
    (rtsr, rtsr live, rtsr check and compare)."""
    parser.add_argument("--scale", type=int, default=scale, help=f"upscaling factor: 2, 3 or 4 (default {scale})")
    parser.add_argument("--engine", default="auto", help=ENGINE_HELP)
    parser.add_argument("--engine-dir", type=Path,
                        help="cache of built engines and CPU verdicts (default: $RTSR_ENGINE_DIR, "
                             "a checkout's engines/, or ~/.cache/rtsr/engines)")


def add_model_options(parser: argparse.ArgumentParser, scale: int) -> None:
    """What runs (rtsr.run_spec.UpscaleOptions), declared once for ``rtsr`` and ``rtsr live``: --model,
    --scale (default ``scale``: 3 for files, 2 for live, which must keep the source's pace), --engine,
    --engine-dir, --weights, --degradation, --no-compile."""
    parser.add_argument("--model", default="fsrcnn",
                        help="network: " + ", ".join(f"{name} ({what})" for name, what in DESCRIPTIONS.items()))
    add_scale_and_engine_options(parser, scale)
    parser.add_argument("--weights", type=Path, help="weights file instead of the shipped ones")
    parser.add_argument("--degradation", choices=DEGRADATION_CHOICES, default="auto",
                        help="shipped weights for clean input (none) or for compressed input (compressed); auto "
                             "(default) judges the input by its codec and quantiser or bits per pixel (a camera "
                             "is clean), and the summary says which it picked and why")
    parser.add_argument("--no-compile", action="store_true",
                        help="cuda engine: run the network eagerly, without torch.compile (which compiles "
                             "once per frame size and caches the result)")


def upscaler_from(args: argparse.Namespace) -> Upscaler:
    """The upscaler the options of add_model_options ask for."""
    from rtsr.upscaler import Upscaler  # noqa: PLC0415  (torch loads once a command runs, not for --help)

    return Upscaler(args.model, args.scale, args.engine, args.weights, args.engine_dir, compile=not args.no_compile,
                    degradation=args.degradation)
