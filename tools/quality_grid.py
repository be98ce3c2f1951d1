"""The quality grid of docs/quality.md: rtsr's gain over bicubic on real footage, clean and compressed, through the CLI.

    python -m tools.quality_grid ../shared/videos/vtest.avi ../shared/videos/akiyo_cif.mp4 \\
        --scales 2 3 4 --levels clean 18 23 28 33 --frames 30

For each clip (held out: never trained on), its frames are the truth (HR).
The user's clip is made from them: ``--frames`` consecutive frames from the
middle, shrunk by the scale with the papers' bicubic (rtsr.metrics), then
stored losslessly (``clean``: FFV1) or encoded with libx264 at the CRF
(yuv420p, preset medium, P and B frames) -- what people have (``x265:CRF``
and ``mpeg4`` try other codecs). That clip goes
through the command line as users run it (``rtsr CLIP -o up.mkv
--scale S --codec ffv1``, FFV1 out so no output encoder blurs the result), once
with no flags (rtsr picks the weights) and once per ``--compare`` setting
(default ``--degradation none``: the clean weights, what rtsr ran before it
picked). Scored on BT.601 luma, border = scale, against the truth:

* gain: PSNR of the output minus PSNR of bicubic from the same user frames (dB), and the same for SSIM;
* temporal error: mean |Δt output − Δt truth| on luma over consecutive frames (code values), which grows
  when the output flickers.

Prints a Markdown table; ``--json FILE`` keeps every figure.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from rtsr.metrics import psnr, resize_bicubic, rgb_to_y, shave, ssim
from tools.lab.clips import bicubic_luma, read_frames, read_luma, write_user_clip


def run_cli(clip: Path, out: Path, scale: int, flags: list[str]) -> tuple[list[np.ndarray], str]:
    """``rtsr clip -o out.mkv --scale S --codec ffv1 FLAGS`` (lossless out: no output encoder blurs the result):
    the output's Y planes and the summary's weights line."""
    command = [sys.executable, "-m", "rtsr", str(clip), "-o", str(out), "--scale", str(scale), "--codec", "ffv1",
               *flags]
    run = subprocess.run(command, capture_output=True, text=True)
    if run.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{run.stderr}")
    weights = re.search(r"^weights: (.*)$", run.stderr, re.M)
    engine = re.search(r"^\d+ frames .*?, (\S+)[ ,]", run.stderr, re.M)
    return read_luma(out), f"{weights.group(1) if weights else '?'}; engine {engine.group(1) if engine else '?'}"


def temporal_error(output: list[np.ndarray], truth: list[np.ndarray]) -> float:
    """Mean |Δt output − Δt truth| over consecutive luma frames (code values, border shaved)."""
    errors = [np.abs((b - a) - (tb - ta)).mean()
              for a, b, ta, tb in zip(output, output[1:], truth, truth[1:])]
    return float(np.mean(errors))



def score(outputs: list[np.ndarray], user: list[np.ndarray], truth: list[np.ndarray], scale: int) -> dict:
    """The gain over bicubic (dB, SSIM) and the temporal error of the output Y planes, border shaved;
    bicubic enlarges the same user Y planes the model got, the truth is the original frames' BT.601 luma."""
    truth_y = [shave(rgb_to_y(t), scale) for t in truth]
    out_y = [shave(o.astype(np.float64), scale) for o in outputs]
    bicubic_y = [shave(bicubic_luma(u, scale).astype(np.float64), scale) for u in user]
    return {
        "gain_db": float(np.mean([psnr(o, t) - psnr(b, t) for o, b, t in zip(out_y, bicubic_y, truth_y)])),
        "gain_ssim": float(np.mean([ssim(o, t) - ssim(b, t) for o, b, t in zip(out_y, bicubic_y, truth_y)])),
        "temporal": temporal_error(out_y, truth_y),
        "temporal_bicubic": temporal_error(bicubic_y, truth_y),
    }


def grid(clip: Path, scales: list[int], levels: list[str], frames: int, compare: list[list[str]],
         scratch: Path) -> list[dict]:
    """One row per (scale, level): the no-flag run and each ``compare`` run, scored."""
    rows = []
    original = read_frames(clip, frames)
    for scale in scales:
        step = 2 * scale  # even LR sizes (4:2:0)
        truth = [f[: f.shape[0] // step * step, : f.shape[1] // step * step] for f in original]
        low = [resize_bicubic(f, f.shape[1] // scale, f.shape[0] // scale) for f in truth]
        for level in levels:
            name = f"{clip.stem}_x{scale}_{level.replace(':', '')}"
            user_clip = scratch / f"{name}.mkv"
            write_user_clip(low, user_clip, level)
            user = read_luma(user_clip)
            row = {"clip": clip.name, "scale": scale, "level": level, "runs": {}}
            for flags in [[], *compare]:
                out = scratch / f"{name}_{'_'.join(flags).replace('-', '') or 'auto'}.mkv"
                outputs, weights = run_cli(user_clip, out, scale, flags)
                row["runs"][" ".join(flags) or "no flags"] = {"weights": weights,
                                                              **score(outputs, user, truth, scale)}
            rows.append(row)
            print(markdown_row(row), flush=True)
    return rows


def markdown_row(row: dict) -> str:
    runs = list(row["runs"].items())
    cells = [f"{r['gain_db']:+.2f} dB / {r['gain_ssim']:+.4f} / {r['temporal']:.2f}" for _, r in runs]
    picked = runs[0][1]["weights"].split(" for ", 1)[-1].split(" (", 1)[0]
    level = row["level"] if not row["level"].isdigit() else f"CRF {row['level']}"
    return f"| {row['clip']} | ×{row['scale']} | {level} | {picked} | " + " | ".join(cells) + \
        f" | {runs[0][1]['temporal_bicubic']:.2f} |"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    parser.add_argument("--levels", nargs="+", default=["clean", "18", "23", "28", "33"],
                        help="clean (lossless FFV1), an x264 CRF, x265:CRF, or mpeg4 (at FFmpeg's default rate)")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--compare", nargs="*", default=["--degradation none"],
                        help="other flag sets to run beside no flags, each one string")
    parser.add_argument("--json", type=Path, help="write every figure here")
    args = parser.parse_args(argv)
    compare = [text.split() for text in args.compare]
    heads = ["no flags", *[" ".join(c) for c in compare]]
    print("gain over bicubic in dB / in SSIM / temporal error (BT.601 luma, border = scale)\n")
    print("| clip | scale | user's clip | picked | " + " | ".join(heads) + " | bicubic temporal |")
    print("|---|---|---|---|" + "---|" * len(heads) + "---|")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for clip in args.clips:
            rows += grid(clip, args.scales, args.levels, args.frames, compare, Path(scratch))
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
