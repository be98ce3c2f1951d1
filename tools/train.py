"""Train an rtsr model from folders of high-resolution images. Resumable.

    python -m tools.train --model fsrcnn --scale 3 \\
        --data ../shared/datasets/train/T91 ../shared/datasets/train/BSD200 \\
        --iters 250000 --out runs/fsrcnn_x3
    # interrupted? the same command with --resume continues where it stopped
    # (it refuses other data, patch, context, batch, loss or seed settings;
    # --iters and --lr may change, to lengthen the schedule).

Protocol (tools/lab/data.py): LR = antialiased bicubic downscale (PIL), Y
channel BT.601 for FSRCNN/SRCNN, RGB for SRResNet. Augmentation as in the
FSRCNN paper: the HR image is first downscaled by 1.0/0.9/0.8/0.7/0.6, then
random crops get random flips and 90° rotations. Every --val-count-th image
is held out for validation (never the eval/ benchmarks). Adam with a cosine
learning-rate schedule, MSE loss (PSNR is the yardstick). Another scale can
start from trained weights (``--init``, e.g. FSRCNN ×3 for ×2/×4) and train
every layer or, as in the FSRCNN paper's transfer, only the output layer
(``--tune last``).

Small batches of small patches (16 × 12×12 LR) by default: these networks
are tiny, and what limits them is the number of Adam updates, not the pixels
per update. On one core, FSRCNN ×3 with 16 × 12² patches (146 it/s) reached
28.9 dB validation PSNR in 5 minutes; with 32 × 24² patches (20 it/s, about
the same pixels per second) it took 30 minutes.

A small patch has a border everywhere: SRCNN ×4 on 8×8 LR patches upsamples
each patch on its own and zero-pads every convolution, so nearly every
pixel of its 32×32 output is computed from something a whole frame's
interior never shows. ``--context N`` feeds N more LR pixels of the real
image on each side (moved inside the image at its edges, so frame borders
are still learnt as often as they occur) and counts only the patch in the
loss; a step then costs ((patch + 2N) / patch)² as much.

On a GPU (``--device cuda``), ``--amp`` trains in bf16 mixed precision
(validation stays fp32), ``--workers N`` crops batches in N background
processes so the GPU does not wait for numpy, and ``--budget-minutes M``
fits the cosine into M minutes of training time (a lent GPU is counted in
minutes, not iterations):

    python -m tools.train --model srresnet --scale 4 --data T91 BSD200 \\
        --device cuda --amp --workers 4 --batch 64 --patch 24 --lr 2e-4 \\
        --iters 1000000 --budget-minutes 18 --out runs/srresnet_x4

Outputs in --out: ``state.pt`` (everything needed to resume, rewritten
atomically every --save-every iterations and on Ctrl-C / --max-minutes) and
``best.pt`` (a self-describing rtsr checkpoint of the best validation PSNR,
loadable with ``rtsr --weights``).
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path
from typing import get_args

import numpy as np
import torch

from rtsr.checkpoints import read_checkpoint, save_checkpoint, weights_digest
from rtsr.models import MODELS, SCALES
from rtsr.quantization import META_KEY, Int8FSRCNN, int8_meta
from tools.lab.data import (
    PatchSampler,
    Weighting,
    batch_loader,
    image_paths,
    load_validation,
    rgb_to_y,
    to_planes,
    validate,
)
from tools.lab.int8 import calibrate, equalise
from tools.lab.pairs import load_pairs
from tools.lab.runs import (
    changed_settings,
    check_device_options,
    device_name,
    git_commit,
    run_settings,
    save_state,
    split_paths,
    train_loop,
)


def masked_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean L1 or squared error over the pixels where ``mask`` (broadcast over channels) is 1."""
    error = (output - target).abs() if kind == "l1" else (output - target).square()
    return (error * mask).sum() / (mask.sum() * output.shape[1])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list(MODELS), required=True)
    p.add_argument("--scale", type=int, choices=SCALES, required=True)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of HR training images")
    p.add_argument("--pairs", type=Path, nargs="+", default=[],
                   help="caches of (LR, HR) pairs from tools/lab/pairs.py (compressed LR), trained on beside --data's "
                        "images; validation stays on --data's held-out images")
    p.add_argument("--out", type=Path, required=True, help="run folder (state.pt, best.pt)")
    p.add_argument("--iters", type=int, default=250000, help="total iterations of the schedule")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=12, help="LR patch size in pixels")
    p.add_argument("--context", type=int, default=0,
                   help="LR pixels of real image around each patch fed to the model but not counted in the loss")
    p.add_argument("--lr", type=float, default=1e-3, help="peak Adam learning rate")
    p.add_argument("--min-lr", type=float, default=1e-6, help="learning rate at the end of the cosine")
    p.add_argument("--loss", choices=("l1", "mse"), default="mse")
    p.add_argument("--weighting", choices=get_args(Weighting), default="pixel",
                   help="patches per training pixel (papers) or an equal share per image")
    p.add_argument("--val-count", type=int, default=12, help="images held out for validation")
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--save-every", type=int, default=500)
    p.add_argument("--log-every", type=int, default=100, help="progress line every N iterations")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, help="start from these weights (e.g. FSRCNN x3 for x2/x4)")
    p.add_argument("--tune", choices=("all", "last"), default="all",
                   help="train every layer, or only the output layer (FSRCNN's transfer to another scale)")
    p.add_argument("--int8", action="store_true",
                   help="quantization-aware training of FSRCNN --init weights for the openvino-int8 engine "
                        "(rtsr.quantization): the int8 network learns the output of the f32 weights it starts "
                        "from (distillation); best.pt then holds int8 weights, shipped beside --init's")
    p.add_argument("--calibration-patch", type=int, default=48,
                   help="--int8: LR patch size of the batches that calibrate the first activation steps")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    p.add_argument("--max-minutes", type=float, default=0, help="save and stop after this long (0: no limit)")
    p.add_argument("--budget-minutes", type=float, default=0,
                   help="end the cosine schedule after this much training time, or at --iters if that comes first")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true", help="bf16 mixed precision on CUDA (validation stays fp32)")
    p.add_argument("--workers", type=int, default=0,
                   help="background processes cropping batches (0: in the training loop)")
    args = p.parse_args(argv)
    check_device_options(p, args)
    if args.tune == "last" and not (args.init or args.resume):
        p.error("--tune last keeps every other layer as it is, so it needs --init weights")
    if args.int8 and (args.model != "fsrcnn" or not args.init):
        p.error("--int8 trains FSRCNN weights for int8 from the f32 weights given as --init")
    if args.context < 0:
        p.error("--context counts LR pixels around each patch, so it cannot be negative")
    return args


def output_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The last module, in registration order, that owns parameters: FSRCNN's
    deconvolution, SRCNN's 5x5 reconstruction, SRResNet's tail."""
    owners = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
    return owners[-1]


def trainable_parameters(model: torch.nn.Module, tune: str) -> list[torch.nn.Parameter]:
    """All parameters (``tune="all"``) or only the output layer's, freezing the rest."""
    keep = list(output_layer(model).parameters()) if tune == "last" else list(model.parameters())
    kept = {id(p) for p in keep}
    for param in model.parameters():
        param.requires_grad_(id(param) in kept)
    return keep


# What a run learns from. A resumed run must keep these; --iters, --lr and
# --min-lr may change (to lengthen or reshape the schedule), --max-minutes too.
RUN_SETTINGS = ("model", "scale", "data", "pairs", "patch", "context", "batch", "loss", "weighting", "tune", "seed",
                "val_count", "int8", "calibration_patch")


def learning_rate(args: argparse.Namespace, progress: float) -> float:
    """Cosine from --lr down to --min-lr over the schedule's ``progress`` (0..1)."""
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def pair_items(pairs: list[tuple[np.ndarray, np.ndarray]], planes: str) -> list[tuple[torch.Tensor, np.ndarray]]:
    """(LR, HR) uint8 RGB pairs as validation items: (LR model-domain tensor (1, C, h, w), HR Y in [16, 235])."""
    return [(torch.from_numpy(to_planes(lr, planes))[None], rgb_to_y(hr)) for lr, hr in pairs]


def describe_scores(clean: float, compressed: float | None) -> str:
    """The validation PSNRs as a log line: clean images, and the held-out compressed clips when there are any."""
    return f"{clean:.3f} dB" + ("" if compressed is None else f", compressed {compressed:.3f} dB")


def resume_or_init(args: argparse.Namespace, model: torch.nn.Module, state_path: Path) -> dict | None:
    """``model`` as --resume (the saved state, returned) or --init (matching tensors, None returned) say."""
    if args.resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        changes = changed_settings(state.get("settings", {}), run_settings(args, RUN_SETTINGS))
        if changes:
            raise SystemExit(f"--resume would change what {args.out} learns from: {'; '.join(changes)}. "
                             "Repeat the interrupted command's settings, or start a new --out.")
        model.load_state_dict(state["model"])
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at iteration {state['iteration']} (best validation {state['best_psnr']:.3f} dB)",
              flush=True)
        return state
    if args.init and not args.int8:  # int8: quantization_aware has loaded --init already
        init_state = read_checkpoint(args.init)["state_dict"]
        own = model.state_dict()
        usable = {k: v for k, v in init_state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
        print(f"initialised {len(usable)}/{len(own)} tensors from {args.init}", flush=True)
    return None


def quantization_aware(args: argparse.Namespace, network: torch.nn.Module, paths: list[Path],
                       extra: list) -> tuple[Int8FSRCNN, torch.nn.Module, str]:
    """--init's FSRCNN on the int8 grid, its channels equalised and activation steps calibrated on 64
    training batches of 16 LR patches of --calibration-patch pixels (tools/lab/int8.py; a sampler of its own,
    seeded, so that a resumed run builds the same network before loading its state); the f32 network as
    loaded, frozen (the teacher whose output the int8 one learns); and its digest (which the int8 weights
    are shipped beside)."""
    network.load_state_dict(read_checkpoint(args.init)["state_dict"])
    teacher = copy.deepcopy(network).eval().requires_grad_(False)
    base_sha256 = weights_digest(network)
    sampler = PatchSampler(paths, args.scale, args.calibration_patch, "y", args.seed, args.weighting, 0, extra)
    batches = [sampler.batch(16)[0] for _ in range(64)]
    equalise(network, batches)
    steps = calibrate(network, batches)
    print(f"int8: activation steps calibrated from {args.init}: {', '.join(f'{s:.4f}' for s in steps)}",
          flush=True)
    return Int8FSRCNN(network, steps), teacher, base_sha256


def compressed_pairs(args: argparse.Namespace, val_paths: list[Path]) -> tuple[list, list, list[str]]:
    """--pairs' caches: (training pairs, the validation images' pairs, their levels)."""
    extra, held, degradations = [], [], []
    for folder in args.pairs:
        pairs, held_pairs, made = load_pairs(folder, hold_out={p.name for p in val_paths})
        if made["scale"] != args.scale:
            raise SystemExit(f"{folder} holds ×{made['scale']} pairs, not ×{args.scale}")
        extra += pairs
        held += held_pairs
        degradations.append(made["level"])
    return extra, held, degradations


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    commit = git_commit()  # the code this run started from
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick the fastest kernels
    args.out.mkdir(parents=True, exist_ok=True)
    architecture = MODELS[args.model]
    planes = architecture.planes
    train_paths, val_paths = split_paths(image_paths(args.data), args.val_count)

    model = architecture.build(args.scale)
    extra, held, degradations = compressed_pairs(args, val_paths)
    teacher, base_sha256 = None, None
    if args.int8:
        model, teacher, base_sha256 = quantization_aware(args, model, train_paths, extra)
    state_path = args.out / "state.pt"
    state = resume_or_init(args, model, state_path)
    iteration, best, elapsed = (0, -math.inf, 0.0) if state is None else (
        state["iteration"], state["best_psnr"], state["seconds"])
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # NHWC: the layout tensor-core convolutions read
    optimizer = torch.optim.Adam(trainable_parameters(model, args.tune), lr=args.lr, fused=device.type == "cuda")
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])

    print(f"loading {len(train_paths)} training / {len(val_paths)} validation images ...", flush=True)
    sampler = PatchSampler(train_paths, args.scale, args.patch, planes, args.seed + iteration,
                           args.weighting, args.context, extra)
    batches = iter(batch_loader(sampler, args.batch, args.seed + iteration, args.workers, device))
    val_items = load_validation(val_paths, args.scale, planes)
    # With --pairs, the weights are for compressed input: the best are those best on the held-out images'
    # compressed clips (every other frame), and the clean validation is reported beside it.
    held_items = pair_items(held[::2], planes)
    if args.pairs and not held_items:
        raise SystemExit("none of the validation images has compressed pairs: make the pairs from --data's images")

    def scores() -> tuple[float, float | None]:
        clean = validate(model, val_items, args.scale, planes)
        return clean, (validate(model, held_items, args.scale, planes) if held_items else None)

    print(f"{len(sampler.pairs)} augmented training images, {len(held_items)} held-out compressed frames; "
          f"{sum(p.numel() for p in model.parameters())} parameters; {device_name(device)}"
          f"{' bf16' if args.amp else ''}; validation at start: {describe_scores(*scores())}", flush=True)

    model.train()
    if teacher is not None:
        teacher.to(device)

    def step(progress: float) -> str:
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(args, progress)
        lr_batch, hr_batch, mask = (t.to(device, non_blocking=True) for t in next(batches))
        if teacher is not None:  # --int8: learn what the f32 weights make of the patch
            with torch.no_grad():
                hr_batch = teacher(lr_batch)
        with torch.autocast(device.type, torch.bfloat16, enabled=args.amp):
            output = model(lr_batch)
        loss = masked_loss(output.float(), hr_batch, mask, args.loss)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return f"loss {loss.item():.5f} lr {learning_rate(args, progress):.2e}"

    def checkpoint(iteration: int, seconds: float) -> None:
        save_state(state_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                   iteration=iteration, best_psnr=best, torch_rng=torch.get_rng_state(),
                   settings=run_settings(args, RUN_SETTINGS), seconds=seconds)

    def validation(iteration: int, seconds: float) -> None:
        nonlocal best
        clean, compressed = scores()
        score = clean if compressed is None else compressed
        marker = ""
        if score > best:
            best, marker = score, " (best)"
            quantized = {} if base_sha256 is None else {META_KEY: int8_meta(model, base_sha256)}
            save_checkpoint(
                args.out / "best.pt", model.network if args.int8 else model, args.model, args.scale, **quantized,
                iterations=iteration, val_psnr=round(score, 4), val_psnr_clean=round(clean, 4),
                val_psnr_compressed=None if compressed is None else round(compressed, 4),
                data=[str(d) for d in args.data], val_images=[p.name for p in val_paths],
                loss=args.loss, batch=args.batch, patch=args.patch, context=args.context,
                weighting=args.weighting,
                degradation=sorted(set(degradations)) or ["none"],
                pairs=[str(d) for d in args.pairs],
                tune=args.tune, git_commit=commit,
                init=str(args.init) if args.init else None,
                train_seconds=round(seconds), device=device_name(device), amp=args.amp,
            )
        print(f"validation it {iteration}: {describe_scores(clean, compressed)}{marker}", flush=True)

    iteration = train_loop(args, iteration, elapsed, step, validation, checkpoint)
    print(f"done: iteration {iteration}, best validation {best:.3f} dB, best weights {args.out / 'best.pt'}")


if __name__ == "__main__":
    main()
