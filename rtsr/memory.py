"""How much memory a run will take, said before it starts when that is close to what the machine has.

A 4K input at ×4 through FSRCNN peaked at 3.7 GB (issue 38): the network's
feature maps at full frame size dominate, not the frames. The estimate is

    libraries:    0.3 GB (torch, OpenCV, PyAV and a model: 0.28 GB measured)
    feature maps: the largest (input + output) of any one layer, measured
                  with forward hooks on a 16×16 probe and scaled to the frame
                  (activations grow with the pixel count; FSRCNN: 448 bytes
                  per input pixel; SRCNN and SRResNet 8192 at ×4)
    + frames:     4 upscaled frames in flight at 3 bytes per output pixel
                  (16-bit 4:2:0 planes)

per worker. Measured on 2026-12-04 (Intel Xeon, AVX-512/AMX, cpu engine,
``/usr/bin/time -f %M rtsr IN -o OUT --scale 2 --engine cpu``): 960×540 ×2
peaked at 0.41 GB (estimate 0.56), 1920×1080 ×2 at 0.66 GB (estimate 1.33):
an upper bound on the PyTorch engine, against the 3.7 GB reported for 4K ×4
(estimate 5.6). The warning comes when it reaches half the machine's memory.
"""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from rtsr.cores import CGROUP

log = logging.getLogger("rtsr")

PROBE = 16  # pixels a side of the probe frame
LIBRARIES = 300_000_000
FRAMES_IN_FLIGHT, BYTES_PER_OUTPUT_PIXEL = 4, 3
WARN_FRACTION = 0.5


def feature_bytes_per_pixel(network: nn.Module, channels: int) -> float:
    """Bytes of the largest layer's input plus output per input pixel, at float32 (batch 1)."""
    largest = 0

    def hook(module: nn.Module, inputs: tuple, output: object) -> None:
        nonlocal largest
        tensors = [t for t in (*inputs, output) if isinstance(t, torch.Tensor)]
        largest = max(largest, sum(t.numel() * 4 for t in tensors))

    leaves = [m for m in network.modules() if not list(m.children())]
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        with torch.no_grad():
            network(torch.zeros(1, channels, PROBE, PROBE))
    finally:
        for handle in handles:
            handle.remove()
    return largest / (PROBE * PROBE)


def machine_memory() -> int | None:
    """The machine's memory in bytes (MemTotal; a cgroup limit when one is lower), None when unknown."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None
    try:
        limit = int((CGROUP / "memory.max").read_text().strip())
    except (OSError, ValueError):  # no cgroup v2 limit ("max", or not mounted)
        limit = total
    return min(total, limit)


def run_bytes(per_pixel: float, width: int, height: int, scale: int) -> int:
    """The estimate for one worker upscaling width×height frames (see the module docstring)."""
    frames = FRAMES_IN_FLIGHT * BYTES_PER_OUTPUT_PIXEL * width * height * scale * scale
    return int(LIBRARIES + per_pixel * width * height + frames)


def warn_if_memory_short(network: nn.Module | None, channels: int, width: int, height: int, scale: int,
                         workers: int) -> int | None:
    """Warn when ``workers`` runs of ``network`` on width×height need half the machine's memory or more;
    returns the estimate in bytes (None when the network is recurrent or unknown: not estimated)."""
    if network is None:
        return None
    estimate = run_bytes(feature_bytes_per_pixel(network, channels), width, height, scale) * workers
    total = machine_memory()
    if total and estimate >= WARN_FRACTION * total:
        log.warning("this run needs about %.1f GB of memory%s, and the machine has %.1f GB: close other programs, "
                    "use fewer --jobs, or a smaller input", estimate / 1e9,
                    f" ({workers} workers)" if workers > 1 else "", total / 1e9)
    return estimate
