"""SRGAN: adversarial fine-tuning of a trained SRResNet (Ledig et al. 2017). Resumable.

    python -m tools.train_gan --scale 4 --data T91 BSD200 --init runs/srresnet_x4/best.pt \\
        --device cuda --amp --workers 4 --budget-minutes 8 --out runs/srgan_x4

Content loss is MSE on images in [-1, 1] (the paper's HR range), i.e. the
paper's "SRGAN-MSE": its VGG feature loss needs ImageNet-trained VGG weights,
which cannot be downloaded here. Generator loss = content + 1e-3 × adversarial
(-log D(G(LR))); the discriminator (paper fig. 4) learns real HR patches from
generated ones with binary cross-entropy. Adam at --lr, then --lr / 10 for
the second half of the schedule (the paper: 1e-4 then 1e-5, 10^5 updates each).

Validation PSNR is printed for reference only: an adversarial model is judged
by eye, and its PSNR is expected to fall below SRResNet's. Outputs in --out:
``state.pt`` (resume with the same command plus --resume) and ``final.pt``, the
generator as an rtsr SRResNet checkpoint (``meta["adversarial"]`` is true),
rewritten every --save-every iterations and at the end.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rtsr.checkpoints import read_checkpoint, save_checkpoint
from rtsr.models import MODELS, SCALES
from tools.lab.data import PatchSampler, batch_loader, image_paths, load_validation, validate
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

# What a run learns from; a resumed run must keep these.
GAN_SETTINGS = ("scale", "data", "patch", "batch", "adversarial_weight", "seed", "val_count")


class Discriminator(nn.Module):
    """SRGAN's discriminator: eight 3x3 convolutions, 64 -> 512 channels, stride 2
    in every second one, BN after all but the first, LeakyReLU(0.2); then dense
    1024, LeakyReLU, dense 1.

    (N, 3, size, size) RGB in [0, 1] -> (N,) logits, > 0 for "real".
    """

    def __init__(self, size: int) -> None:
        super().__init__()
        if size % 16:
            raise ValueError(f"the discriminator halves its input 4 times; {size} is not a multiple of 16")
        plan = [(3, 64, 1), (64, 64, 2), (64, 128, 1), (128, 128, 2),
                (128, 256, 1), (256, 256, 2), (256, 512, 1), (512, 512, 2)]
        layers: list[nn.Module] = []
        for index, (c_in, c_out, stride) in enumerate(plan):
            layers.append(nn.Conv2d(c_in, c_out, 3, stride, 1))
            if index:
                layers.append(nn.BatchNorm2d(c_out))
            layers.append(nn.LeakyReLU(0.2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(512 * (size // 16) ** 2, 1024),
                                        nn.LeakyReLU(0.2), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x * 2 - 1)).squeeze(1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=int, choices=SCALES, default=4)
    p.add_argument("--data", type=Path, nargs="+", required=True, help="folders of HR training images")
    p.add_argument("--out", type=Path, required=True, help="run folder (state.pt, final.pt)")
    p.add_argument("--init", type=Path, help="trained SRResNet weights the generator starts from")
    p.add_argument("--iters", type=int, default=200000, help="total generator updates")
    p.add_argument("--budget-minutes", type=float, default=0,
                   help="end the schedule after this much training time, or at --iters if that comes first")
    p.add_argument("--max-minutes", type=float, default=0, help="save and stop after this long (0: no limit)")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--patch", type=int, default=24, help="LR patch size; patch × scale must be a multiple of 16")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--adversarial-weight", type=float, default=1e-3)
    p.add_argument("--val-count", type=int, default=12)
    p.add_argument("--val-every", type=int, default=1000)
    p.add_argument("--save-every", type=int, default=1000)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--amp", action="store_true", help="bf16 mixed precision on CUDA")
    p.add_argument("--workers", type=int, default=0, help="background processes cropping batches")
    p.add_argument("--resume", action="store_true", help="continue from OUT/state.pt")
    args = p.parse_args(argv)
    check_device_options(p, args)
    if not (args.init or args.resume):
        p.error("SRGAN fine-tunes a trained SRResNet: give --init weights (or --resume)")
    if args.patch * args.scale % 16:
        p.error(f"--patch {args.patch} × {args.scale} must be a multiple of 16 for the discriminator")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    commit, device = git_commit(), args.device
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    torch.backends.cudnn.benchmark = True
    args.out.mkdir(parents=True, exist_ok=True)
    train_paths, val_paths = split_paths(image_paths(args.data), args.val_count)
    generator = MODELS["srresnet"].build(args.scale)
    discriminator = Discriminator(args.patch * args.scale)
    state_path = args.out / "state.pt"
    iteration, elapsed, state = 0, 0.0, None
    if args.resume and state_path.is_file():
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        changes = changed_settings(state["settings"], run_settings(args, GAN_SETTINGS))
        if changes:
            raise SystemExit(f"--resume would change what {args.out} learns from: {'; '.join(changes)}")
        generator.load_state_dict(state["generator"])
        discriminator.load_state_dict(state["discriminator"])
        iteration, elapsed = state["iteration"], state["seconds"]
        print(f"resumed at iteration {iteration}", flush=True)
    else:
        generator.load_state_dict(read_checkpoint(args.init)["state_dict"])
    for net in (generator, discriminator):
        net.to(device).train()
        if device.type == "cuda":
            net.to(memory_format=torch.channels_last)
    fused = device.type == "cuda"
    g_opt = torch.optim.Adam(generator.parameters(), lr=args.lr, fused=fused)
    d_opt = torch.optim.Adam(discriminator.parameters(), lr=args.lr, fused=fused)
    if state is not None:
        g_opt.load_state_dict(state["g_optimizer"])
        d_opt.load_state_dict(state["d_optimizer"])

    sampler = PatchSampler(train_paths, args.scale, args.patch, "rgb", args.seed + iteration)
    batches = iter(batch_loader(sampler, args.batch, args.seed + iteration, args.workers, device))
    val_items = load_validation(val_paths, args.scale, "rgb")
    print(f"{len(sampler.pairs)} augmented training images; {device_name(device)}; "
          f"validation at start: {validate(generator, val_items, args.scale, 'rgb'):.3f} dB", flush=True)
    generator.train()

    def save(iteration: int, seconds: float) -> None:
        save_state(state_path, generator=generator.state_dict(), discriminator=discriminator.state_dict(),
                   g_optimizer=g_opt.state_dict(), d_optimizer=d_opt.state_dict(), iteration=iteration,
                   seconds=seconds, settings=run_settings(args, GAN_SETTINGS))
        save_checkpoint(args.out / "final.pt", generator, "srresnet", args.scale, iterations=iteration,
                        adversarial=True, content_loss="mse", adversarial_weight=args.adversarial_weight,
                        data=[str(d) for d in args.data], init=str(args.init), git_commit=commit,
                        train_seconds=round(seconds), device=device_name(device), amp=args.amp)

    def step(progress: float) -> str:
        for opt in (g_opt, d_opt):
            for group in opt.param_groups:
                group["lr"] = args.lr if progress < 0.5 else args.lr / 10
        lr_batch, hr_batch, _ = (t.to(device, non_blocking=True) for t in next(batches))
        real = torch.ones(len(hr_batch), device=device)
        with torch.autocast(device.type, torch.bfloat16, enabled=args.amp):
            fake = generator(lr_batch)
            d_loss = (F.binary_cross_entropy_with_logits(discriminator(hr_batch), real)
                      + F.binary_cross_entropy_with_logits(discriminator(fake.detach()), 1 - real))
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        discriminator.requires_grad_(False)  # the generator's step needs no gradients for D's weights
        with torch.autocast(device.type, torch.bfloat16, enabled=args.amp):
            adversarial = F.binary_cross_entropy_with_logits(discriminator(fake), real)
        content = F.mse_loss(fake.float() * 2 - 1, hr_batch * 2 - 1)  # the paper's [-1, 1] range
        g_loss = content + args.adversarial_weight * adversarial.float()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()
        discriminator.requires_grad_(True)
        return f"content {content.item():.5f} adversarial {adversarial.item():.3f} D {d_loss.item():.3f}"

    def validation(iteration: int, seconds: float) -> None:
        print(f"validation it {iteration}: {validate(generator, val_items, args.scale, 'rgb'):.3f} dB", flush=True)

    iteration = train_loop(args, iteration, elapsed, step, validation, save)
    print(f"done: iteration {iteration}, generator in {args.out / 'final.pt'}")


if __name__ == "__main__":
    main()
