"""The ``cpu`` engine: PyTorch fp32 on the CPU, channels-last, cache-sized strips."""

from __future__ import annotations

import torch
from torch import nn

from rtsr.engines.base import HostTimer, inference_threads, keep_freed_memory, run_in_strips, torch_threads_halved

# LR pixels per strip. 640x48 rows measured best for FSRCNN on a 2-core
# AVX-512 machine (24 fps vs 12 fps for one whole-frame pass); see README.
CPU_STRIP_PIXELS = 640 * 48


class CpuEngine:
    """PyTorch on the CPU: fp32, channels_last, strips sized for the cache."""

    name = "cpu"
    device = torch.device("cpu")

    def __init__(self, model: nn.Module, strip_pixels: int = CPU_STRIP_PIXELS) -> None:
        keep_freed_memory()
        # No more inference threads than cores this process may use (a container's quota included).
        torch.set_num_threads(inference_threads())
        self.scale: int = model.scale
        self.halo: int = model.receptive_radius()
        self.strip_pixels = strip_pixels
        self.network = model.for_inference().eval().requires_grad_(False)
        self.network = self.network.to(memory_format=torch.channels_last)

    def timer(self) -> HostTimer:
        return HostTimer()

    def synchronize(self) -> None:
        """Nothing to wait for: CPU work is finished when run() returns."""

    def sharing_cores(self):
        """Use half the cores (at least one) while a decoder and encoder run beside us.

        On this 2-core machine FSRCNN ×3 end to end went from 18.5 to 23.8 fps
        (akiyo CIF) with one inference thread instead of two: oversubscribed
        OpenMP threads and x264's threads otherwise preempt each other.
        """
        return torch_threads_halved()

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) float32 -> (1, C, H*scale, W*scale) float32."""
        # At least 4 halos tall, so the overlap never costs more than half the work (SRResNet).
        rows = max(8, 4 * self.halo, self.strip_pixels // max(1, x.shape[-1]))
        with torch.inference_mode():
            return run_in_strips(self.network, x.contiguous(memory_format=torch.channels_last),
                                 self.scale, rows, self.halo)
