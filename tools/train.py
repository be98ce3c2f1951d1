"""Train an rtsr model from folders of high-resolution images. Resumable.

    python tools/train.py --model fsrcnn --scale 3 \\
        --data ../shared/datasets/train/T91 ../shared/datasets/train/BSD200 \\
        --iters 250000 --out runs/fsrcnn_x3
    # interrupted? the same command with --resume continues where it stopped
    # (it refuses other data, patch, context, batch, loss or seed settings;
    # --iters and --lr may change, to lengthen the schedule).

Protocol (tools/sr_data.py): LR = antialiased bicubic downscale (PIL), Y
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

    python tools/train.py --model srresnet --scale 4 --data T91 BSD200 \\
        --device cuda --amp --workers 4 --batch 64 --patch 24 --lr 2e-4 \\
        --iters 1000000 --budget-minutes 18 --out runs/srresnet_x4

Outputs in --out: ``state.pt`` (everything needed to resume, rewritten
atomically every --save-every iterations and on Ctrl-C / --max-minutes) and
``best.pt`` (a self-describing rtsr checkpoint of the best validation PSNR,
loadable with ``rtsr --weights``).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal, get_args

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sr_data import crop_to_multiple, downscale, image_paths, load_rgb, psnr, rgb_to_y, shave  # noqa: E402

from rtsr.models import MODELS, SCALES, read_checkpoint, save_checkpoint  # noqa: E402

AUGMENT_FACTORS = (1.0, 0.9, 0.8, 0.7, 0.6)
Weighting = Literal["pixel", "image"]


def git_commit() -> str:
    """Short hash of HEAD, with ``-dirty`` when tracked files differ from it."""
    try:
        # --exclude '*': a hash even when tags exist; --dirty: say if tracked files were edited.
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7", "--exclude=*"],
                             capture_output=True, text=True,
                             cwd=Path(__file__).resolve().parents[1], check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def to_planes(image: Image.Image, planes: str) -> np.ndarray:
    """(C, H, W) float32 in the model domain: Y/255 (C=1) or RGB/255 (C=3)."""
    rgb = np.asarray(image)
    if planes == "y":
        return (rgb_to_y(rgb) / 255.0).astype(np.float32)[None]
    return (rgb.astype(np.float32) / 255.0).transpose(2, 0, 1).copy()


class PatchSampler:
    """Random aligned (LR, HR) patch pairs from in-memory, pre-augmented image pairs.

    ``weighting="pixel"`` makes every training pixel equally likely (the
    papers' all-sub-images protocol: big images give more patches);
    ``"image"`` gives every source image the same share of patches (its
    downscaled copies split that share by area), matching benchmarks and the
    validation score, which average PSNR per image.
    """

    def __init__(self, paths: list[Path], scale: int, patch: int, planes: str, seed: int,
                 weighting: Weighting = "pixel", context: int = 0) -> None:
        self.scale, self.patch, self.context = scale, patch, context
        self.pairs: list[tuple[np.ndarray, np.ndarray]] = []
        weights: list[float] = []
        for path in paths:
            image = load_rgb(path)
            areas = []
            for factor in AUGMENT_FACTORS:
                size = (round(image.width * factor), round(image.height * factor))
                hr = crop_to_multiple(image.resize(size, Image.BICUBIC) if factor < 1 else image, scale)
                if min(hr.size) < (patch + 2 * context) * scale:
                    continue
                lr = to_planes(downscale(hr, scale), planes)
                self.pairs.append((lr, to_planes(hr, planes)))
                areas.append(float(lr.shape[1] * lr.shape[2]))
            share = 1.0 / sum(areas) if weighting == "image" and areas else 1.0
            weights += [area * share for area in areas]
        self.weights = np.array(weights) / sum(weights)
        self.rng = np.random.default_rng(seed)

    def batch(self, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(size, C, q, q) LR inputs, (size, C, q*s, q*s) HR targets and a
        (size, 1, q*s, q*s) 0/1 mask of the pixels that count in the loss,
        where q = patch + 2 * context.

        The loss covers a patch × patch LR area (× scale in HR). With
        ``context`` > 0 the input reaches ``context`` LR pixels further on every
        side where the image has them, so the counted pixels see real
        neighbours as in a whole frame; where the patch lies near the image's
        edge the input stops at that edge, so frame borders are learnt as
        often as they occur. With ``context`` = 0 every pixel counts and the
        patch's edge stands in for the frame's (the papers' sub-images).
        """
        lrs, hrs, masks = [], [], []
        s, p, c = self.scale, self.patch, self.context
        q = p + 2 * c
        for index in self.rng.choice(len(self.pairs), size=size, p=self.weights):
            lr, hr = self.pairs[index]
            height, width = lr.shape[1:]
            top = int(self.rng.integers(0, height - p + 1))
            left = int(self.rng.integers(0, width - p + 1))
            in_top, in_left = min(max(top - c, 0), height - q), min(max(left - c, 0), width - q)
            lr_patch = lr[:, in_top:in_top + q, in_left:in_left + q]
            hr_patch = hr[:, in_top * s:(in_top + q) * s, in_left * s:(in_left + q) * s]
            mask = np.zeros((1, q * s, q * s), np.float32)
            mask[:, (top - in_top) * s:(top - in_top + p) * s, (left - in_left) * s:(left - in_left + p) * s] = 1
            turns, flip = int(self.rng.integers(4)), bool(self.rng.integers(2))
            lr_patch, hr_patch, mask = (np.rot90(x, turns, axes=(1, 2)) for x in (lr_patch, hr_patch, mask))
            if flip:
                lr_patch, hr_patch, mask = lr_patch[:, :, ::-1], hr_patch[:, :, ::-1], mask[:, :, ::-1]
            lrs.append(np.ascontiguousarray(lr_patch))
            hrs.append(np.ascontiguousarray(hr_patch))
            masks.append(np.ascontiguousarray(mask))
        return torch.from_numpy(np.stack(lrs)), torch.from_numpy(np.stack(hrs)), torch.from_numpy(np.stack(masks))


class BatchStream(torch.utils.data.IterableDataset):
    """Endless ``PatchSampler.batch(size)`` results; each worker process draws
    its own random stream, seeded by (seed, worker id)."""

    def __init__(self, sampler: PatchSampler, size: int, seed: int) -> None:
        super().__init__()
        self.sampler, self.size, self.seed = sampler, size, seed

    def __iter__(self):
        worker = torch.utils.data.get_worker_info()
        if worker is not None:
            self.sampler.rng = np.random.default_rng([self.seed, worker.id])
        while True:
            yield self.sampler.batch(self.size)


def batch_loader(sampler: PatchSampler, size: int, seed: int, workers: int,
                 device: torch.device) -> torch.utils.data.DataLoader:
    """Batches from ``sampler``, made in ``workers`` background processes (0: in
    this one, in order), in pinned memory when they go to a GPU."""
    return torch.utils.data.DataLoader(
        BatchStream(sampler, size, seed), batch_size=None, num_workers=workers,
        pin_memory=device.type == "cuda", prefetch_factor=4 if workers else None,
    )


def masked_loss(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, kind: str) -> torch.Tensor:
    """Mean L1 or squared error over the pixels where ``mask`` (broadcast over channels) is 1."""
    error = (output - target).abs() if kind == "l1" else (output - target).square()
    return (error * mask).sum() / (mask.sum() * output.shape[1])


def load_validation(paths: list[Path], scale: int, planes: str) -> list[tuple[torch.Tensor, np.ndarray]]:
    """(LR model-domain tensor (1, C, h, w), HR Y in [16, 235]) per held-out image."""
    items = []
    for path in paths:
        hr = crop_to_multiple(load_rgb(path), scale)
        lr = torch.from_numpy(to_planes(downscale(hr, scale), planes))[None]
        items.append((lr, rgb_to_y(np.asarray(hr))))
    return items


@torch.no_grad()
def validate(model: torch.nn.Module, items, scale: int, planes: str) -> float:
    """Mean Y PSNR (dB) over the held-out images, ``scale`` pixels shaved, in fp32
    on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    scores = []
    for lr, hr_y in items:
        out = model(lr.to(device))[0].clamp(0, 1).float().cpu()
        if planes == "y":
            y = out[0].numpy().astype(np.float64) * 255.0
        else:
            rgb = (out.permute(1, 2, 0).numpy() * 255.0).round().astype(np.uint8)
            y = rgb_to_y(rgb)
        scores.append(psnr(shave(y, scale), shave(hr_y, scale)))
    model.train()
    return float(np.mean(scores))


def check_device_options(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Turn --device into a torch.device and refuse what cannot run (exit 2 with the reason)."""
    try:
        args.device = torch.device(args.device)
    except RuntimeError:
        p.error(f"--device {args.device!r} is not a torch device (cpu, cuda, cuda:N)")
    if args.device.type == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: this torch sees no CUDA GPU")
    if args.amp and args.device.type != "cuda":
        p.error("--amp is bf16 mixed precision for CUDA; on the CPU train in fp32")
    if args.workers < 0 or args.budget_minutes < 0:
        p.error("--workers and --budget-minutes cannot be negative")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=list(MODELS), required=True)
    p.add_argument("--scale", type=int, choices=SCALES, required=True)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of HR training images")
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
    if args.context < 0:
        p.error("--context counts LR pixels around each patch, so it cannot be negative")
    return args


def split_paths(paths: list[Path], val_count: int) -> tuple[list[Path], list[Path]]:
    """Hold out ``val_count`` images spread evenly over the list (deterministic)."""
    step = max(1, len(paths) // max(1, val_count))
    val = paths[step // 2::step][:val_count]
    return [p for p in paths if p not in val], val


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
RUN_SETTINGS = ("model", "scale", "data", "patch", "context", "batch", "loss", "weighting", "tune", "seed",
                "val_count")


def run_settings(args: argparse.Namespace, names: tuple[str, ...] = RUN_SETTINGS) -> dict[str, object]:
    """The settings ``names`` of ``args`` as plain values (paths as strings), for state.pt."""
    values = vars(args)
    return {name: [str(d) for d in values[name]] if name == "data" else values[name] for name in names}


def changed_settings(saved: dict[str, object], current: dict[str, object]) -> list[str]:
    """Human-readable differences between an interrupted run's settings and this command's."""
    return [f"--{name.replace('_', '-')} was {saved[name]!r}, now {current[name]!r}"
            for name in current if name in saved and saved[name] != current[name]]


def schedule_progress(args: argparse.Namespace, iteration: int, seconds: float) -> float:
    """How far along its schedule a run is, 0..1: by iterations, or by training
    time under --budget-minutes, whichever is further."""
    progress = iteration / max(1, args.iters)
    if args.budget_minutes:
        progress = max(progress, seconds / (args.budget_minutes * 60))
    return min(1.0, progress)


def learning_rate(args: argparse.Namespace, progress: float) -> float:
    """Cosine from --lr down to --min-lr over the schedule's ``progress`` (0..1)."""
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * progress))


def save_state(path: Path, **state: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    commit = git_commit()  # the code this run started from
    device = args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True  # fixed batch shapes: let cuDNN pick the fastest kernels
    args.out.mkdir(parents=True, exist_ok=True)
    entry = MODELS[args.model]
    planes = entry.architecture.planes
    train_paths, val_paths = split_paths(image_paths(args.data), args.val_count)

    model = entry.architecture.build(args.scale)
    iteration, best, elapsed = 0, -math.inf, 0.0
    state_path = args.out / "state.pt"
    state = None
    if args.resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        changes = changed_settings(state.get("settings", {}), run_settings(args))
        if changes:
            raise SystemExit(f"--resume would change what {args.out} learns from: {'; '.join(changes)}. "
                             "Repeat the interrupted command's settings, or start a new --out.")
        model.load_state_dict(state["model"])
        iteration, best, elapsed = state["iteration"], state["best_psnr"], state["seconds"]
        torch.set_rng_state(state["torch_rng"])
        print(f"resumed at iteration {iteration} (best validation {best:.3f} dB)", flush=True)
    elif args.init:
        init_state = read_checkpoint(args.init)["state_dict"]
        own = model.state_dict()
        usable = {k: v for k, v in init_state.items() if k in own and own[k].shape == v.shape}
        model.load_state_dict(usable, strict=False)
        print(f"initialised {len(usable)}/{len(own)} tensors from {args.init}", flush=True)
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)  # NHWC: the layout tensor-core convolutions read
    optimizer = torch.optim.Adam(trainable_parameters(model, args.tune), lr=args.lr, fused=device.type == "cuda")
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])

    print(f"loading {len(train_paths)} training / {len(val_paths)} validation images ...", flush=True)
    sampler = PatchSampler(train_paths, args.scale, args.patch, planes, args.seed + iteration,
                           args.weighting, args.context)
    batches = iter(batch_loader(sampler, args.batch, args.seed + iteration, args.workers, device))
    val_items = load_validation(val_paths, args.scale, planes)
    print(f"{len(sampler.pairs)} augmented training images; {sum(p.numel() for p in model.parameters())} "
          f"parameters; {device_name(device)}{' bf16' if args.amp else ''}; "
          f"validation at start: {validate(model, val_items, args.scale, planes):.3f} dB", flush=True)

    model.train()
    session_start = time.perf_counter()
    window_start, window_iters = time.perf_counter(), 0

    def train_seconds() -> float:
        return elapsed + time.perf_counter() - session_start

    def checkpoint() -> None:
        save_state(state_path, model=model.state_dict(), optimizer=optimizer.state_dict(),
                   iteration=iteration, best_psnr=best, torch_rng=torch.get_rng_state(),
                   settings=run_settings(args), seconds=train_seconds())

    progress = schedule_progress(args, iteration, train_seconds())
    try:
        while progress < 1:
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(args, progress)
            lr_batch, hr_batch, mask = (t.to(device, non_blocking=True) for t in next(batches))
            with torch.autocast(device.type, torch.bfloat16, enabled=args.amp):
                output = model(lr_batch)
            loss = masked_loss(output.float(), hr_batch, mask, args.loss)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            iteration += 1
            window_iters += 1
            progress = schedule_progress(args, iteration, train_seconds())
            if iteration % args.log_every == 0:
                now = time.perf_counter()
                rate = window_iters / (now - window_start)
                eta = (args.iters - iteration) / rate
                if args.budget_minutes:
                    eta = min(eta, args.budget_minutes * 60 - train_seconds())
                print(f"it {iteration}/{args.iters} loss {loss.item():.5f} lr {learning_rate(args, progress):.2e} "
                      f"{rate:.2f} it/s ETA {max(eta, 0) / 60:.1f} min", flush=True)
                window_start, window_iters = now, 0
            if iteration % args.val_every == 0 or progress >= 1:
                score = validate(model, val_items, args.scale, planes)
                marker = ""
                if score > best:
                    best, marker = score, " (best)"
                    save_checkpoint(
                        args.out / "best.pt", model, args.model, args.scale,
                        iterations=iteration, val_psnr=round(score, 4),
                        data=[str(d) for d in args.data], val_images=[p.name for p in val_paths],
                        loss=args.loss, batch=args.batch, patch=args.patch, context=args.context,
                        weighting=args.weighting,
                        tune=args.tune, git_commit=commit,
                        init=str(args.init) if args.init else None,
                        train_seconds=round(train_seconds()), device=device_name(device), amp=args.amp,
                    )
                print(f"validation it {iteration}: {score:.3f} dB{marker}", flush=True)
            if iteration % args.save_every == 0:
                checkpoint()
            if args.max_minutes and time.perf_counter() - session_start > args.max_minutes * 60:
                print("time budget reached; state saved, continue with --resume", flush=True)
                break
    except KeyboardInterrupt:
        print("interrupted; state saved, continue with --resume", flush=True)
    checkpoint()
    print(f"done: iteration {iteration}, best validation {best:.3f} dB, best weights {args.out / 'best.pt'}")


if __name__ == "__main__":
    main()
