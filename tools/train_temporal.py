"""Train the recurrent model (rtsr ``--model rlsp``) on sequences from tools/make_sequences.py.

    python -m tools.train_temporal --data runs/seq_x4_clean --scale 4 --budget-minutes 25 \\
        --out runs/rlsp_x4_clean
    python -m tools.train_temporal --data runs/seq_x4_clean --scale 4 --evaluate rtsr/weights/rlsp_x4.pt
    # interrupted, or more time? the same command with --resume continues where it stopped

Each step takes ``--batch`` random windows of ``--frames``, flips them, and
runs the network through the window frame by frame as rtsr runs it: the
first frame from a reset (rtsr.temporal.network.reset_memory), every later
one with its memory warped by the window's flow (``--align dis``), left where
it was (``--align none``), or, for the ablation, always reset (``--align
reset``: a single-frame network of the same cost). The loss is the
Charbonnier (smooth L1) distance to the truth's luma over every frame.
Validation runs the held-out clips' windows (val.npz, 20 frames each, whole
frames) the same way and reports the mean gain in Y PSNR over bicubic
(border = scale); ``best.pt`` keeps the best weights as an rtsr checkpoint.

Outputs in --out: ``state.pt`` (everything needed to resume), ``best.pt``
and ``log.jsonl`` (one line per validation). The learning rate is
``--lr`` and drops to a tenth for the last quarter of the schedule (by
``--iters`` or ``--budget-minutes``, whichever comes first).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rtsr.checkpoints import load_model, save_checkpoint
from rtsr.metrics import psnr, shave
from rtsr.models import DEGRADATIONS
from rtsr.temporal.network import RLSP
from tools.lab.runs import changed_settings, git_commit, save_state
from tools.lab.temporal import codes, run_window, to_model

ALIGNS = ("dis", "none", "reset")
ALIGN_WORDS = {"dis": "aligned by DIS", "none": "not aligned", "reset": "reset every frame (one frame alone)"}
SETTINGS = ("data", "scale", "channels", "layers", "align", "frames", "batch", "seed")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True, help="a folder made by tools/make_sequences.py")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--out", type=Path)
    p.add_argument("--align", choices=ALIGNS, default="dis")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--frames", type=int, default=10, help="frames of a window to run (at most the data's)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--iters", type=int, default=1_000_000)
    p.add_argument("--budget-minutes", type=float, default=0, help="stop after this much training time")
    p.add_argument("--validate-every", type=int, default=250)
    p.add_argument("--init", type=Path, help="start from these rlsp weights (an rtsr checkpoint)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    p.add_argument("--evaluate", type=Path, metavar="WEIGHTS",
                   help="only score these rlsp weights on the validation windows (aligned, unaligned, one frame "
                        "alone) beside the shipped FSRCNN weights, and exit (--out is then not needed)")
    args = p.parse_args(argv)
    if args.out is None and args.evaluate is None:
        p.error("--out is required to train")
    return args


def load_sequences(folder: Path, scale: int) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict]:
    """Training arrays (lr (N, T, P, P) uint8, hr (N, T, P·s, P·s) uint8, flow (N, T-1, P, P, 2) float16),
    the validation windows (val.npz) and sequences.json."""
    meta = json.loads((folder / "sequences.json").read_text())
    if meta["scale"] != scale:
        raise SystemExit(f"{folder} holds ×{meta['scale']} sequences, not ×{scale}")
    parts: dict[str, list[np.ndarray]] = {"lr": [], "hr": [], "flow": []}
    for shard in sorted(folder.glob("*.npz")):
        if shard.name == "val.npz":
            continue
        with np.load(shard) as data:
            for key in parts:
                parts[key].append(data[key])
    with np.load(folder / "val.npz") as data:
        val = dict(data)
    return {key: np.concatenate(value) for key, value in parts.items()}, val, meta



def batch(data: dict[str, np.ndarray], size: int, frames: int, rng: np.random.Generator) -> tuple[
        torch.Tensor, torch.Tensor, torch.Tensor]:
    """A random batch with random flips: lr (N, T, P, P), hr (N, T, Ps, Ps), flow (N, T-1, 2, P, P)."""
    index = rng.integers(0, len(data["lr"]), size)
    lr, hr = data["lr"][index, :frames], data["hr"][index, :frames]
    flow = data["flow"][index, :frames - 1].astype(np.float32).transpose(0, 1, 4, 2, 3)  # (N, T-1, 2, P, P)
    if rng.random() < 0.5:  # mirror left-right: x motion changes sign
        lr, hr, flow = lr[..., ::-1], hr[..., ::-1], flow[..., ::-1] * np.array([-1, 1], np.float32)[:, None, None]
    if rng.random() < 0.5:  # upside down: y motion changes sign
        lr, hr = lr[..., ::-1, :], hr[..., ::-1, :]
        flow = flow[..., ::-1, :] * np.array([1, -1], np.float32)[:, None, None]
    return to_model(np.ascontiguousarray(lr)), to_model(np.ascontiguousarray(hr)), torch.from_numpy(
        np.ascontiguousarray(flow))



@torch.inference_mode()
def validate(model: RLSP, val: dict[str, np.ndarray], align: str) -> float:
    """Mean gain in Y PSNR over bicubic on the held-out windows (dB, border = scale, outputs in codes)."""
    model.eval()
    gain = validate_outputs(val, model.scale, lambda lr, flow: run_window(model, lr, flow, align))
    model.train()
    return gain


def validate_outputs(val: dict[str, np.ndarray], scale: int, upscale) -> float:
    """As validate, for any ``upscale(lr (1, T, H, W), flow) -> T outputs (.., H·s, W·s)``."""
    gains = []
    for name in sorted(k[:-3] for k in val if k.endswith("_lr")):
        lr = to_model(val[f"{name}_lr"])[None]
        flow = torch.from_numpy(val[f"{name}_flow"].astype(np.float32)).permute(0, 3, 1, 2)[None]
        outputs = upscale(lr, flow)
        for t, out in enumerate(outputs):
            truth = shave(val[f"{name}_hr"][t], scale)
            bicubic = F.interpolate(lr[:, t:t + 1], scale_factor=scale, mode="bicubic", align_corners=False)
            gains.append(psnr(shave(codes(out), scale), truth) - psnr(shave(codes(bicubic), scale), truth))
    return float(np.mean(gains))


@torch.inference_mode()
def evaluate(weights: Path, val: dict[str, np.ndarray], scale: int) -> None:
    """Print the validation gains of rlsp ``weights`` (three ways) and of the shipped FSRCNN weights."""
    for level in DEGRADATIONS:
        fsrcnn = load_model("fsrcnn", scale, degradation=level).network
        gain = validate_outputs(val, scale, lambda lr, flow, net=fsrcnn: list(net(lr[0, :, None])))
        print(f"fsrcnn ×{scale} ({level} weights): {gain:+.3f} dB")
    model = load_model("rlsp", scale, weights).network
    for align in ALIGNS:
        print(f"{weights}, memory {ALIGN_WORDS[align]}: {validate(model, val, align):+.3f} dB")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data, val, meta = load_sequences(args.data, args.scale)
    if args.evaluate:
        evaluate(args.evaluate, val, args.scale)
        return
    frames = min(args.frames, data["lr"].shape[1])
    model = RLSP(args.scale, args.channels, args.layers)
    if args.init:
        model.load_state_dict(load_model("rlsp", args.scale, args.init).network.state_dict())
    optimiser = torch.optim.Adam(model.parameters(), lr=args.lr)
    args.out.mkdir(parents=True, exist_ok=True)
    state_path, settings = args.out / "state.pt", {k: str(v) if isinstance(v, Path) else v
                                                    for k, v in vars(args).items() if k in SETTINGS}
    iteration, seconds, best = 0, 0.0, -math.inf
    if args.resume and state_path.is_file():
        saved = torch.load(state_path, weights_only=False)
        changes = changed_settings(saved["settings"], settings)
        if changes:
            raise SystemExit(f"--resume would change what {args.out} learns: {'; '.join(changes)}")
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        iteration, seconds, best = saved["iteration"], saved["seconds"], saved["best"]
        rng = np.random.default_rng([args.seed, iteration])
        print(f"resumed at iteration {iteration} after {seconds / 60:.1f} min (best {best:+.3f} dB)", flush=True)
    print(f"{len(data['lr'])} windows of {frames} frames, {data['lr'].shape[2]}² LR; "
          f"{sum(p.numel() for p in model.parameters())} parameters; align {args.align}", flush=True)

    def progress() -> float:
        done = iteration / args.iters
        if args.budget_minutes:
            done = max(done, seconds / (args.budget_minutes * 60))
        return done

    def keep(score: float) -> None:
        nonlocal best
        if score > best:
            best = score
            save_checkpoint(args.out / "best.pt", model, "rlsp", args.scale, iterations=iteration,
                            minutes=round(seconds / 60, 1), val_gain_db=round(score, 3), align=args.align,
                            data=str(args.data), frames=frames,
                            degradation=["none" if meta["level"] == "clean" else meta["level"]],
                            commit=git_commit(), command=" ".join(sys.argv))
        with open(args.out / "log.jsonl", "a") as log:
            log.write(json.dumps({"iteration": iteration, "minutes": round(seconds / 60, 2),
                                  "val_gain_db": round(score, 4)}) + "\n")
        print(f"iteration {iteration}, {seconds / 60:.1f} min: validation {score:+.3f} dB over bicubic "
              f"(best {best:+.3f})", flush=True)

    model.train()
    try:
        while progress() < 1:
            started = time.perf_counter()
            for group in optimiser.param_groups:
                group["lr"] = args.lr * (0.1 if progress() > 0.75 else 1.0)
            lr, hr, flow = batch(data, args.batch, frames, rng)
            outputs = run_window(model, lr, flow, args.align)
            loss = sum(torch.sqrt((out[:, 0] - hr[:, t]) ** 2 + 1e-6).mean() for t, out in enumerate(outputs))
            optimiser.zero_grad(set_to_none=True)
            (loss / frames).backward()
            optimiser.step()
            iteration += 1
            seconds += time.perf_counter() - started
            if iteration % args.validate_every == 0:
                keep(validate(model, val, args.align))
                save_state(state_path, model=model.state_dict(), optimiser=optimiser.state_dict(),
                           iteration=iteration, seconds=seconds, best=best, settings=settings)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    if iteration % args.validate_every:
        keep(validate(model, val, args.align))
    save_state(state_path, model=model.state_dict(), optimiser=optimiser.state_dict(), iteration=iteration,
               seconds=seconds, best=best, settings=settings)
    print(f"done: {iteration} iterations in {seconds / 60:.1f} min; best validation {best:+.3f} dB "
          f"-> {args.out / 'best.pt'}", flush=True)


if __name__ == "__main__":
    main()
