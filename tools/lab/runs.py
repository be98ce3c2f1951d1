"""Run bookkeeping shared by tools.train and tools.train_gan: settings, schedule, resumable state, devices,
and the training loop itself."""

from __future__ import annotations

import argparse
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import torch

from rtsr.atomic import write_atomically


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


def split_paths(paths: list[Path], val_count: int) -> tuple[list[Path], list[Path]]:
    """Hold out ``val_count`` images spread evenly over the list (deterministic)."""
    step = max(1, len(paths) // max(1, val_count))
    val = paths[step // 2::step][:val_count]
    return [p for p in paths if p not in val], val


def run_settings(args: argparse.Namespace, names: tuple[str, ...]) -> dict[str, object]:
    """The settings ``names`` of ``args`` as plain values (paths as strings), for state.pt."""
    values = vars(args)
    return {name: [str(d) for d in values[name]] if name in ("data", "pairs") else values[name] for name in names}


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


def save_state(path: Path, **state: object) -> None:
    """Write a run's resumable state (model, optimiser, iteration, settings) atomically."""
    write_atomically(path, lambda tmp: torch.save(state, tmp))


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def train_loop(args: argparse.Namespace, iteration: int, elapsed: float, step: Callable[[float], str],
               validate: Callable[[int, float], None], save: Callable[[int, float], None]) -> int:
    """The loop tools.train and tools.train_gan share, from ``iteration`` after ``elapsed`` seconds of
    earlier sessions; returns the last iteration.

    ``step(progress)`` takes one optimiser step at that point (0..1) of the schedule (schedule_progress) and
    returns its losses in words for the log; ``validate(iteration, seconds)`` runs every --val-every steps and
    at the schedule's end; ``save(iteration, seconds)`` every --save-every steps and last of all (after
    --max-minutes or Ctrl-C too), ``seconds`` being the training time of every session so far.
    """
    session_start = time.perf_counter()

    def seconds() -> float:
        return elapsed + time.perf_counter() - session_start

    window_start, window_iters = time.perf_counter(), 0
    progress = schedule_progress(args, iteration, seconds())
    try:
        while progress < 1:
            losses = step(progress)
            iteration += 1
            window_iters += 1
            progress = schedule_progress(args, iteration, seconds())
            if iteration % args.log_every == 0:
                now = time.perf_counter()
                rate = window_iters / (now - window_start)
                eta = (args.iters - iteration) / rate
                if args.budget_minutes:
                    eta = min(eta, args.budget_minutes * 60 - seconds())
                print(f"it {iteration}/{args.iters} {losses} {rate:.2f} it/s ETA {max(eta, 0) / 60:.1f} min",
                      flush=True)
                window_start, window_iters = now, 0
            if iteration % args.val_every == 0 or progress >= 1:
                validate(iteration, seconds())
            if iteration % args.save_every == 0:
                save(iteration, seconds())
            if args.max_minutes and time.perf_counter() - session_start > args.max_minutes * 60:
                print("time budget reached; state saved, continue with --resume", flush=True)
                break
    except KeyboardInterrupt:
        print("interrupted; state saved, continue with --resume", flush=True)
    save(iteration, seconds())
    return iteration
