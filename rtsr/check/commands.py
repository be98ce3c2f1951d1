"""The work of ``rtsr check`` and ``rtsr compare`` on their parsed arguments (the command lines: rtsr.check.cli)."""

from __future__ import annotations

import argparse
import json
import sys

from rtsr.catalog import check_model, check_scale
from rtsr.check.checking import run_check
from rtsr.check.codec_match import choose_match, x264_roundtrip
from rtsr.check.compare import Box, build_panels, compose, most_detailed, write_png
from rtsr.check.sampling import frame_at
from rtsr.engines import choose_engine
from rtsr.errors import InputError
from rtsr.io.degradation import judge_video
from rtsr.io.encode import EncodeSettings
from rtsr.io.probe import InputVideo
from rtsr.upscaler import Upscaler


def _settings(args: argparse.Namespace) -> None:
    """Check the cheap things first, so a typo never waits for a model or a decode."""
    check_scale(args.scale)
    for model in args.models or ():
        check_model(model)
    choose_engine(args.engine)
    if not args.input.exists():
        raise InputError(f"input not found: {args.input}")


def _upscaler_factory(args: argparse.Namespace):
    """Upscalers as a run builds them, but eager on a GPU: torch.compile takes a minute per frame shape,
    which would be most of the check (the eager engine is the slower, so the estimate errs low)."""
    return lambda model: Upscaler(model, args.scale, args.engine, engine_dir=args.engine_dir, compile=False)


def run_check_command(args: argparse.Namespace) -> int:
    """``rtsr check``'s work, on parsed arguments (rtsr.check.cli)."""
    _settings(args)
    extra = [*(["--codec", args.codec] if args.codec != "auto" else []),
             *(["--crf", f"{args.crf:g}"] if args.crf != 18 else []),
             *(["--preset", args.preset] if args.preset != "medium" else [])]
    settings = EncodeSettings(codec=args.codec, crf=args.crf, preset=args.preset)
    models = tuple(dict.fromkeys(args.models)) if args.models else None
    report = run_check(args.input, args.scale, models, _upscaler_factory(args), settings, extra)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print("\n".join(report.lines()))
    return 0




def run_compare_command(args: argparse.Namespace) -> int:
    """``rtsr compare``'s work, on parsed arguments (rtsr.check.cli)."""
    _settings(args)
    crop_w, crop_h = crop_size(args.crop)
    if args.output.suffix.lower() != ".png":
        raise InputError(f"rtsr compare writes a PNG: name the output .png, not {args.output.name}")
    if args.output.exists() and not args.overwrite:
        raise InputError(f"output exists: {args.output} (pass --overwrite to replace it)")
    with InputVideo.open(args.input) as video:
        sample = frame_at(video, args.at)
        codec, picture = video.stream.codec_context.name, video.is_picture
        judged = judge_video(video)  # the weights a run would pick for this input, and its compression
    what = "the picture" if picture else f"the frame at {sample.seconds:.2f} s"
    match = choose_match(args.input, codec, judged)
    rgb = sample.rgb()
    frame_h, frame_w = rgb.shape[:2]
    box = Box(0, 0, frame_w, frame_h) if args.whole else \
        most_detailed(rgb, max(1, crop_w // args.scale), max(1, crop_h // args.scale))
    models = args.models or ["fsrcnn", "srcnn"]
    make = _upscaler_factory(args)
    chosen = {m: make(m).runner_judged(lambda: judged) for m in dict.fromkeys(models)}
    upscalers = {m: runner.upscale_rgb for m, (runner, _) in chosen.items()}
    panels = build_panels(rgb, args.scale, upscalers, box,
                          (lambda low: x264_roundtrip(low, match)) if match is not None else None)
    where = "whole frame" if args.whole else f"region {box.width}×{box.height} at ({box.left}, {box.top})"
    heading = f"{args.input.name}{'' if picture else f' at {sample.seconds:.2f} s'}, {frame_w}x{frame_h} " \
              f"x{args.scale}: {where}"
    title = [heading.replace("×", "x")]  # OpenCV's font has no ×
    if match is not None:
        title.append(f"self-test re-encoded as the input: {match.describe()}")
    image = compose(panels, title)
    write_png(image, args.output)
    for panel in panels:
        score = f" {panel.psnr:.2f} dB" if panel.psnr is not None else ""
        print(f"rtsr: {panel.row}: {panel.label}{score}", file=sys.stderr)
    print(f"rtsr: weights: {', '.join(why for _, why in chosen.values())}", file=sys.stderr)
    print(f"rtsr: wrote {args.output} ({image.shape[1]}×{image.shape[0]}, {len(panels)} panels; {where} "
          f"of {what})", file=sys.stderr)
    return 0


def crop_size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise InputError(f"--crop takes WIDTHxHEIGHT of at least 16x16 output pixels, not {text!r}")
    return int(width), int(height)
