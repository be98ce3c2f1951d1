"""Does ``rtsr check``'s self-downscale test predict the real gain? Measured on real footage.

    python -m tools.validate_check ../shared/videos/vtest.avi ../shared/videos/akiyo_cif.mp4 \\
        --scale 2 --crf clean 18 28 33 --frames 12

For each clip, its frames are the truth (HR). The "user's clip" is made from
them: every frame downscaled by the scale (antialiased bicubic, the papers'
protocol), then, unless ``clean``, encoded with libx264 at the CRF as one
video (P and B frames included) and decoded again.

* predicted: ``rtsr check``'s test on the user's clip (its frames shrunk once
  more, brought back, scored against the user's frames);
* actual: the user's frames upscaled by bicubic and by the model, scored
  against the HR truth.

Both on BT.601 luma, border = scale, the same frames. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from rtsr.check.codec_match import CodecMatch, measure_h264_qp, x264_roundtrip
from rtsr.check.quality import gain_test
from rtsr.io.roundtrip import read_clip, write_clip
from rtsr.metrics import psnr, resize_bicubic, rgb_to_y, shave, ssim
from rtsr.run_spec import UNJUDGED
from rtsr.runner import Runner
from rtsr.upscaler import Upscaler
from tools.lab.clips import read_frames


def actual_gain(hr: list[np.ndarray], user: list[np.ndarray], scale: int, upscale) -> tuple[float, float]:
    """Mean (dB, SSIM) gain of ``upscale`` over bicubic, user frames -> HR truth."""
    db, structure = [], []
    for truth, low in zip(hr, user):
        h, w = low.shape[0] * scale, low.shape[1] * scale
        reference = shave(rgb_to_y(truth[:h, :w]), scale)
        bicubic = shave(rgb_to_y(resize_bicubic(low, w, h)), scale)
        model = shave(rgb_to_y(upscale(low)), scale)
        db.append(psnr(model, reference) - psnr(bicubic, reference))
        structure.append(ssim(model, reference) - ssim(bicubic, reference))
    return float(np.mean(db)), float(np.mean(structure))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("clips", type=Path, nargs="+")
    parser.add_argument("--scale", type=int, default=2)
    parser.add_argument("--model", default="fsrcnn")
    parser.add_argument("--engine", default="cpu")
    parser.add_argument("--weights", type=Path, help="weights instead of the shipped ones (e.g. a train.py best.pt)")
    parser.add_argument("--crf", nargs="+", default=["clean", "18", "28", "33"])
    parser.add_argument("--frames", type=int, default=12)
    args = parser.parse_args(argv)
    # The weights a picture gets (clean under auto): the check's prediction is compared with them.
    upscaler = Upscaler(args.model, args.scale, args.engine, weights=args.weights).runner_judged(lambda: UNJUDGED)[0]
    print("| clip | user's clip | predicted, clean test | predicted, codec matched | actual |\n|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch_dir:
        for clip in args.clips:
            validate(clip, args, upscaler, scratch_dir)


def validate(clip: Path, args: argparse.Namespace, upscaler: Runner, scratch_dir: str) -> None:
    """One clip: its frames shrunk (and compressed at each CRF) as the user's clip, one table row each."""
    hr = read_frames(clip, args.frames)
    s = args.scale
    hr = [f[: f.shape[0] // s * s, : f.shape[1] // s * s] for f in hr]
    low = [resize_bicubic(f, f.shape[1] // s, f.shape[0] // s) for f in hr]
    for crf in args.crf:
        if crf != "clean":
            scratch = Path(scratch_dir) / f"{clip.stem}_crf{crf}.mkv"
            write_clip(low, scratch, "libx264", {"crf": str(int(crf)), "preset": "medium"})
        user = low if crf == "clean" else read_clip(scratch)
        hr_used = [f[: u.shape[0] * s, : u.shape[1] * s] for f, u in zip(hr, user)]
        models = {args.model: (upscaler.loaded.weights_sha256, upscaler.upscale_rgb)}
        predicted = gain_test(user, s, models).models[0]
        qp = None
        if crf != "clean":
            qp, _ = measure_h264_qp(scratch)
            match = CodecMatch("qp", qp, "measured")
            matched = gain_test(user, s, models, degrade=lambda low, match=match: x264_roundtrip(low, match)).models[0]
        else:
            matched = predicted
        db, structure = actual_gain(hr_used, user, s, upscaler.upscale_rgb)
        label = "clean" if crf == "clean" else f"x264 CRF {crf}"
        print(f"| {clip.name} ×{s} | {user[0].shape[1]}×{user[0].shape[0]}, {label} | "
              f"{predicted.psnr_gain.mean:+.2f} dB, SSIM {predicted.ssim_gain.mean:+.4f} | "
              f"{f'QP {qp:.1f}: ' if qp else ''}{matched.psnr_gain.mean:+.2f} dB, SSIM {matched.ssim_gain.mean:+.4f} | "
              f"{db:+.2f} dB, SSIM {structure:+.4f} |")


if __name__ == "__main__":
    main()
