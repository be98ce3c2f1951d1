"""The ``rtsr check`` and ``rtsr compare`` commands (errors become messages in rtsr.cli, as for a run)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rtsr.check.checking import run_check
from rtsr.check.codec_match import choose_match, x264_roundtrip
from rtsr.check.compare import Box, build_panels, compose, most_detailed, write_png
from rtsr.check.sampling import frame_at
from rtsr.cli_args import add_scale_and_engine_options
from rtsr.engines import choose_engine
from rtsr.errors import InputError
from rtsr.io.degradation import judge_video
from rtsr.io.encode import EncodeSettings
from rtsr.io.probe import InputVideo
from rtsr.models import MODELS, check_scale, get_architecture
from rtsr.upscaler import Upscaler

CHECK_EPILOG = """\
examples:
  rtsr check film.mkv                     will ×3 help, how long will it take here, what to run
  rtsr check film.mkv --scale 2 --models fsrcnn srcnn srresnet --json

It samples a dozen frames over the clip and never decodes the whole file.
quality: each frame is shrunk by the scale, compressed again as the input is
  (H.264: at its own quantiser), and brought back by bicubic and by each
  model; the models' PSNR/SSIM gain over bicubic (BT.601 luma) predicts what
  they add at the real size (docs/check.md: how, and where it does not).
speed: decode, the frame work, each engine and the encoder are timed on the
  clip's own frame size; the expected rate is the stages back to back."""

COMPARE_EPILOG = """\
examples:
  rtsr compare film.mkv -o compare.png                 the middle frame, ×3
  rtsr compare film.mkv --at 62.5 --scale 2 --models fsrcnn srresnet -o c.png
  rtsr compare photo.png --scale 4 --whole -o photo_compare.png

top row: what a run gives (nearest, bicubic, each model) at the output
resolution; bottom row: the self-test (the frame shrunk by the scale and
brought back) with each panel's PSNR against the original."""


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="a video file (or, for compare, a picture)")
    add_scale_and_engine_options(parser, scale=3)
    parser.add_argument("--models", nargs="+", metavar="MODEL",
                        help=f"models to try: {', '.join(MODELS)} (default: fsrcnn srcnn; srresnet too on a GPU)")


def _settings(args: argparse.Namespace) -> None:
    """Check the cheap things first, so a typo never waits for a model or a decode."""
    check_scale(args.scale)
    for model in args.models or ():
        get_architecture(model)
    choose_engine(args.engine)
    if not args.input.exists():
        raise InputError(f"input not found: {args.input}")


def _upscaler_factory(args: argparse.Namespace):
    """Upscalers as a run builds them, but eager on a GPU: torch.compile takes a minute per frame shape,
    which would be most of the check (the eager engine is the slower, so the estimate errs low)."""
    return lambda model: Upscaler(model, args.scale, args.engine, engine_dir=args.engine_dir, compile=False)


def check_command(argv: list[str], parser_class: type[argparse.ArgumentParser]) -> int:
    """``rtsr check CLIP``: the answer before the long job (rtsr.check.checking)."""
    parser = parser_class(prog="rtsr check", description="Will upscaling help this clip, how long will it take "
                          "here, and what to run: in well under a minute.", epilog=CHECK_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    parser.add_argument("--codec", default="auto", help="the encoder the run will use (default auto)")
    parser.add_argument("--crf", type=float, default=18, help="as for the run (default 18)")
    parser.add_argument("--preset", default="medium", help="as for the run (default medium)")
    parser.add_argument("--json", action="store_true", help="everything as JSON on stdout")
    args = parser.parse_args(argv)
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


def compare_command(argv: list[str], parser_class: type[argparse.ArgumentParser]) -> int:
    """``rtsr compare CLIP -o compare.png`` (rtsr.check.compare)."""
    parser = parser_class(prog="rtsr compare", description="One frame upscaled by nearest, bicubic and each "
                          "model, side by side as a labelled PNG.", epilog=COMPARE_EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(parser)
    parser.add_argument("-o", "--output", type=Path, required=True, help="the PNG to write")
    parser.add_argument("--at", type=float, metavar="SECONDS", help="the frame at this time (default: the middle)")
    parser.add_argument("--crop", default="384x256", metavar="WxH",
                        help="size of the region shown, in output pixels (default 384x256)")
    parser.add_argument("--whole", action="store_true", help="show the whole frame instead of the most "
                        "detailed region (large: each panel is the full output size)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    _settings(args)
    crop_w, crop_h = _size(args.crop)
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


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 16 or int(height) < 16:
        raise InputError(f"--crop takes WIDTHxHEIGHT of at least 16x16 output pixels, not {text!r}")
    return int(width), int(height)
