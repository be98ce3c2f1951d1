"""The ``rtsr check`` and ``rtsr compare`` command lines, torch-free (their work: rtsr.check.commands; errors
become messages in rtsr.cli, as for a run)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtsr.catalog import DESCRIPTIONS
from rtsr.cli_args import add_scale_and_engine_options

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
                        help=f"models to try: {', '.join(DESCRIPTIONS)} (default: fsrcnn srcnn; srresnet too on a GPU)")


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
    from rtsr.check.commands import run_check_command  # noqa: PLC0415  (torch loads after the arguments parse)

    return run_check_command(args)


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
    from rtsr.check.commands import run_compare_command  # noqa: PLC0415  (torch loads after the arguments parse)

    return run_compare_command(args)
