"""The ``cuda`` engine: PyTorch fp16 on an NVIDIA GPU, channels-last, cuDNN autotuning, torch.compile."""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from rtsr.engines.base import CudaTimer, run_in_strips
from rtsr.engines.compiled import CompiledNetwork

# On a GPU strips only bound memory: a 1080p LR frame runs in one piece.
GPU_STRIP_PIXELS = 1920 * 1088


class CudaEngine:
    """PyTorch on an NVIDIA GPU in fp16, channels_last, with cuDNN autotuning.

    With ``compile`` (the default) the network runs through torch.compile,
    once per frame size, falling back to eager PyTorch if that fails
    (rtsr.engines.compiled); ``compile_state`` says which ran.
    """

    name = "cuda"

    def __init__(self, model: nn.Module, device: torch.device | None = None, compile: bool = True,
                 label: str = "the network") -> None:
        self.device = device or torch.device("cuda")
        self.scale: int = model.scale
        self.halo: int = model.receptive_radius()
        torch.backends.cudnn.benchmark = True  # frames keep one size, so tuning pays off
        self.network = self._prepare(model)
        self.compiled = CompiledNetwork(self.network, label) if compile else None
        self.max_rows: int | None = None

    @property
    def compile_state(self) -> str:
        return self.compiled.state if self.compiled is not None else "eager (--no-compile)"

    def _prepare(self, model: nn.Module) -> nn.Module:
        network = model.for_inference().eval().requires_grad_(False)
        return network.to(self.device, torch.float16, memory_format=torch.channels_last)

    def timer(self) -> CudaTimer:
        return CudaTimer()

    def synchronize(self) -> None:
        torch.cuda.synchronize(self.device)

    def sharing_cores(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def _rows(self, width: int) -> int:
        rows = max(8, GPU_STRIP_PIXELS // max(1, width))
        return min(rows, self.max_rows) if self.max_rows else rows

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) float32 on the GPU -> (1, C, H*scale, W*scale) float32, computed in fp16."""
        with torch.inference_mode():
            half = x.to(torch.float16).contiguous(memory_format=torch.channels_last)
            network = self.compiled if self.compiled is not None else self.network
            out = run_in_strips(network, half, self.scale, self._rows(x.shape[-1]), self.halo)
            return out.float()
