"""Argument types and helpers the ``rtsr`` commands share (rtsr.cli, rtsr.live.command, rtsr.check.cli)."""

from __future__ import annotations

import argparse
from fractions import Fraction

from rtsr.upscaler import Upscaler

ENGINE_HELP = ("auto (the fastest here: tensorrt > cuda on a GPU, else the faster of cpu and openvino, "
               "measured), cpu (PyTorch), openvino, openvino-bf16, cuda or tensorrt (default auto)")


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


def upscaler_from(args: argparse.Namespace) -> Upscaler:
    """The upscaler the options of ``rtsr`` and ``rtsr live`` ask for (--model, --scale, --engine, ...)."""
    return Upscaler(args.model, args.scale, args.engine, args.weights, args.engine_dir, compile=not args.no_compile,
                    degradation=getattr(args, "degradation", "auto"))
