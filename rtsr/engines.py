"""Inference engines: where and how the network runs, and how one is chosen.

An engine wraps a loaded model and maps a (1, C, H, W) float32 tensor in the
model's domain to (1, C, H*scale, W*scale). It runs the frame in horizontal
strips with an overlap of the model's receptive radius, so the result is the
same as one whole-frame pass while the working set stays small: on the CPU
that keeps activations in cache (about 2x faster here), on a GPU it bounds
memory for 4K frames.

Choosing: ``auto`` prefers tensorrt > cuda > cpu and records why each faster
engine was skipped.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from rtsr.errors import EngineUnavailable

ENGINE_NAMES = ("auto", "cpu", "cuda", "tensorrt")
_PREFERENCE = ("tensorrt", "cuda", "cpu")

# LR pixels per strip. 640x48 rows measured best for FSRCNN on a 2-core
# AVX-512 machine (23 fps vs 12 fps for one whole-frame pass); see README.
CPU_STRIP_PIXELS = 640 * 48


@dataclass(frozen=True)
class EngineChoice:
    """The engine that will run and, for ``auto``, why faster ones were passed over."""

    name: str
    skipped: dict[str, str] = field(default_factory=dict)  # engine -> reason

    def describe(self) -> str:
        if not self.skipped:
            return self.name
        reasons = "; ".join(f"{name} skipped: {why}" for name, why in self.skipped.items())
        return f"{self.name} ({reasons})"


def unavailable_reason(name: str) -> str | None:
    """Why engine ``name`` cannot run here, or None when it can."""
    if name == "cpu":
        return None
    if name in ("cuda", "tensorrt"):
        if torch.version.cuda is None:
            return "this torch build has no CUDA support"
        if not torch.cuda.is_available():
            return "no CUDA GPU is visible"
        if name == "cuda":
            return _GPU_ENGINE_MISSING
        if importlib.util.find_spec("torch_tensorrt") is None:
            return "torch-tensorrt is not installed (pip install 'rtsr[tensorrt]')"
        return _GPU_ENGINE_MISSING
    raise EngineUnavailable(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")


# The GPU engines are a separate piece of work; until they land, say so plainly.
_GPU_ENGINE_MISSING = "this rtsr version has no GPU engine yet"


def choose_engine(requested: str) -> EngineChoice:
    """Resolve ``requested`` (auto/cpu/cuda/tensorrt) to an engine that can run here.

    Raises EngineUnavailable("engine X is not available here: <why>") for an
    explicit request that cannot be met.
    """
    if requested != "auto":
        reason = unavailable_reason(requested)
        if reason is not None:
            raise EngineUnavailable(f"engine {requested} is not available here: {reason}")
        return EngineChoice(requested)
    skipped: dict[str, str] = {}
    for name in _PREFERENCE:
        reason = unavailable_reason(name)
        if reason is None:
            return EngineChoice(name, skipped)
        skipped[name] = reason
    raise EngineUnavailable("no engine can run here")  # pragma: no cover - cpu always can


class CpuEngine:
    """PyTorch on the CPU: fp32, channels_last, strips sized for the cache."""

    name = "cpu"
    device = torch.device("cpu")

    def __init__(self, model: nn.Module, strip_pixels: int = CPU_STRIP_PIXELS) -> None:
        self.scale: int = model.scale
        self.halo: int = model.receptive_radius()
        self.strip_pixels = strip_pixels
        self.network = model.for_inference().eval().requires_grad_(False)
        self.network = self.network.to(memory_format=torch.channels_last)

    def synchronize(self) -> None:
        """Nothing to wait for: CPU work is finished when run() returns."""

    @contextmanager
    def sharing_cores(self) -> Iterator[None]:
        """Use half the cores (at least one) while a decoder and encoder run beside us.

        On this 2-core machine FSRCNN ×3 end to end went from 18.5 to 23.8 fps
        (akiyo CIF) with one inference thread instead of two: oversubscribed
        OpenMP threads and x264's threads otherwise preempt each other.
        """
        before = torch.get_num_threads()
        torch.set_num_threads(max(1, before // 2))
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) float32 -> (1, C, H*scale, W*scale) float32."""
        rows = max(8, self.strip_pixels // max(1, x.shape[-1]))
        with torch.inference_mode():
            return run_in_strips(self.network, x.contiguous(memory_format=torch.channels_last),
                                 self.scale, rows, self.halo)


def run_in_strips(network: nn.Module, x: torch.Tensor, scale: int, rows: int,
                  halo: int) -> torch.Tensor:
    """Apply ``network`` to horizontal strips of ``rows`` LR rows with ``halo`` rows of context.

    Exact whenever ``halo`` covers the receptive radius: each output row sees
    the same inputs as in a whole-frame pass. x: (N, C, H, W) -> (N, C, H*s, W*s).
    """
    height = x.shape[-2]
    if height <= rows + halo:
        return network(x)
    pieces = []
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        out = network(x[..., lo:hi, :])
        pieces.append(out[..., (top - lo) * scale:(bottom - lo) * scale, :])
    return torch.cat(pieces, dim=-2)


def make_engine(choice: EngineChoice, model: nn.Module) -> CpuEngine:
    """Instantiate the chosen engine around ``model`` (from rtsr.models.load_model)."""
    if choice.name == "cpu":
        return CpuEngine(model)
    raise EngineUnavailable(f"engine {choice.name} is not available here: {_GPU_ENGINE_MISSING}")
