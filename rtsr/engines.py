"""Inference engines: where and how the network runs, and how one is chosen.

An engine wraps a loaded model and maps a (1, C, H, W) float32 tensor in the
model's domain, on ``engine.device``, to (1, C, H*scale, W*scale) float32. It
runs the frame in horizontal strips overlapping by the model's receptive
radius, so the result equals one whole-frame pass while the working set stays
bounded: on the CPU that keeps activations in cache (about 2x faster here), on
a GPU it bounds memory for 4K frames.

* ``cpu``: PyTorch fp32, channels-last, cache-sized strips.
* ``cuda``: PyTorch fp16 on an NVIDIA GPU, channels-last, cuDNN autotuning.
* ``tensorrt``: the model exported with ``torch.export`` under a dynamic
  (height, width) profile, compiled by torch-tensorrt in fp16 and cached on
  disk (rtsr.engine_cache).

``auto`` prefers tensorrt > cuda > cpu and records why each faster engine was
skipped.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.metadata
import importlib.util
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from rtsr.checkpoints import LoadedModel
from rtsr.compiled import CompiledNetwork
from rtsr.cores import available_cores
from rtsr.engine_cache import EngineCache, EngineKey, ShapeProfile, default_engine_dir
from rtsr.errors import EngineUnavailable
from rtsr.version import __version__

log = logging.getLogger("rtsr")

ENGINE_NAMES = ("auto", "cpu", "cuda", "tensorrt")
_PREFERENCE = ("tensorrt", "cuda", "cpu")

# LR pixels per strip. 640x48 rows measured best for FSRCNN on a 2-core
# AVX-512 machine (24 fps vs 12 fps for one whole-frame pass); see README.
CPU_STRIP_PIXELS = 640 * 48
# On a GPU strips only bound memory: a 1080p LR frame runs in one piece.
GPU_STRIP_PIXELS = 1920 * 1088
# The TensorRT profile: any strip from 16x16 to 3840 wide and 1152 high.
TENSORRT_PROFILE = ShapeProfile(min_hw=(16, 16), opt_hw=(720, 1280), max_hw=(1152, 3840))


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
        if name == "tensorrt" and importlib.util.find_spec("torch_tensorrt") is None:
            return "torch-tensorrt is not installed (pip install 'rtsr[tensorrt]')"
        return None
    raise EngineUnavailable(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")


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


def run_in_strips(network: nn.Module, x: torch.Tensor, scale: int, rows: int,
                  halo: int) -> torch.Tensor:
    """Apply ``network`` to horizontal strips of ``rows`` LR rows with ``halo`` rows of context.

    Exact whenever ``halo`` covers the receptive radius: each output row sees
    the same inputs as in a whole-frame pass. x: (N, C, H, W) -> (N, C, H*s, W*s).
    """
    height = x.shape[-2]
    if height <= rows + halo:
        return network(x)
    count = -(-height // rows)
    rows = -(-height // count)  # equal strips: no sliver at the bottom (TensorRT has a minimum)
    pieces = []
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        out = network(x[..., lo:hi, :])
        pieces.append(out[..., (top - lo) * scale:(bottom - lo) * scale, :])
    return torch.cat(pieces, dim=-2)


class HostTimer:
    """Wall-clock time of work that is finished when the call returns (the CPU engine)."""

    def __init__(self) -> None:
        self._started = self._ended = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self._ended = time.perf_counter()

    def seconds(self) -> float:
        return self._ended - self._started


class CudaTimer:
    """GPU time between two CUDA events on the current stream; read after a synchronisation."""

    def __init__(self) -> None:
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record()

    def stop(self) -> None:
        self._end.record()

    def seconds(self) -> float:
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1000.0


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed activation buffers instead of returning them to the kernel.

    Each strip allocates ~10 MB activations. glibc serves such sizes with fresh
    mmap()s whose pages the kernel must zero on first touch, and that alone
    made FSRCNN ×2 run at 7.4 instead of 17.1 fps here (640×360, 2 cores).
    Fixing the mmap threshold at its 32 MiB maximum and never trimming the heap
    keeps those buffers mapped. Returns False where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(mallopt(m_trim_threshold, 1 << 30))


class CpuEngine:
    """PyTorch on the CPU: fp32, channels_last, strips sized for the cache."""

    name = "cpu"
    device = torch.device("cpu")

    def __init__(self, model: nn.Module, strip_pixels: int = CPU_STRIP_PIXELS) -> None:
        keep_freed_memory()
        # No more inference threads than cores this process may use (a container's quota included):
        # OpenMP threads beyond them spin-wait on descheduled peers (rtsr.cores).
        torch.set_num_threads(max(1, min(torch.get_num_threads(), available_cores())))
        self.scale: int = model.scale
        self.halo: int = model.receptive_radius()
        self.strip_pixels = strip_pixels
        self.network = model.for_inference().eval().requires_grad_(False)
        self.network = self.network.to(memory_format=torch.channels_last)

    def timer(self) -> HostTimer:
        return HostTimer()

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
        # At least 4 halos tall, so the overlap never costs more than half the work (SRResNet).
        rows = max(8, 4 * self.halo, self.strip_pixels // max(1, x.shape[-1]))
        with torch.inference_mode():
            return run_in_strips(self.network, x.contiguous(memory_format=torch.channels_last),
                                 self.scale, rows, self.halo)


class CudaEngine:
    """PyTorch on an NVIDIA GPU in fp16, channels_last, with cuDNN autotuning.

    With ``compile`` (the default) the network runs through torch.compile,
    once per frame size, falling back to eager PyTorch if that fails
    (rtsr.compiled); ``compile_state`` says which ran.
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


def export_network(network: nn.Module, channels: int, profile: ShapeProfile,
                   device: torch.device, dtype: torch.dtype) -> torch.export.ExportedProgram:
    """``torch.export`` the inference network with dynamic height and width within ``profile``.

    This is the graph torch-tensorrt compiles; it is tested on the CPU against eager output.
    """
    (min_h, min_w), (opt_h, opt_w), (max_h, max_w) = profile.min_hw, profile.opt_hw, profile.max_hw
    height = torch.export.Dim("height", min=min_h, max=max_h)
    width = torch.export.Dim("width", min=min_w, max=max_w)
    example = torch.rand(1, channels, opt_h, opt_w, device=device, dtype=dtype)
    return torch.export.export(network, (example,), dynamic_shapes=({2: height, 3: width},))


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "none"


class TensorRTEngine(CudaEngine):
    """torch-tensorrt (dynamo) in fp16, one cached engine per model × scale × profile × GPU."""

    name = "tensorrt"

    def __init__(self, loaded: LoadedModel, engine_dir: Path | None = None,
                 profile: ShapeProfile = TENSORRT_PROFILE) -> None:
        self.channels, self.model_name, self.profile = loaded.channels, loaded.name, profile
        self.weights_sha256 = loaded.weights_sha256
        self.cache = EngineCache(engine_dir or default_engine_dir())
        super().__init__(loaded.network)
        self.max_rows = profile.max_hw[0] - 2 * self.halo

    def key(self) -> EngineKey:
        props = torch.cuda.get_device_properties(self.device)
        return EngineKey(
            model=self.model_name, scale=self.scale, weights_sha256=self.weights_sha256,
            profile=self.profile.tag(), precision="fp16", tensorrt=_version("tensorrt"),
            torch_tensorrt=_version("torch-tensorrt"), torch=torch.__version__,
            gpu=f"{props.name} sm_{props.major}{props.minor}", rtsr=__version__,
        )

    def _prepare(self, model: nn.Module) -> nn.Module:
        import torch_tensorrt  # the optional extra; its presence was checked by choose_engine

        network = super()._prepare(model)
        profile = self.profile
        (min_h, min_w), (opt_h, opt_w), (max_h, max_w) = profile.min_hw, profile.opt_hw, profile.max_hw
        shape = torch_tensorrt.Input(min_shape=(1, self.channels, min_h, min_w),
                                     opt_shape=(1, self.channels, opt_h, opt_w),
                                     max_shape=(1, self.channels, max_h, max_w), dtype=torch.float16)
        example = torch.rand(1, self.channels, opt_h, opt_w, device=self.device, dtype=torch.float16)

        def build():
            exported = export_network(network, self.channels, profile, self.device, torch.float16)
            return torch_tensorrt.dynamo.compile(exported, inputs=[shape],
                                                 enabled_precisions={torch.float16}, min_block_size=1)

        def save(compiled, path: Path) -> None:
            torch_tensorrt.save(compiled, str(path), output_format="exported_program",
                                arg_inputs=[example], retrace=True)

        def load(path: Path):
            return torch.export.load(str(path)).module()

        description = f"{self.model_name} ×{self.scale} fp16, strips {profile.tag()}"
        return self.cache.load_or_build(self.key(), description, build, save, load)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        if not self.profile.min_hw[1] <= x.shape[-1] <= self.profile.max_hw[1]:
            raise EngineUnavailable(
                f"frame width {x.shape[-1]} is outside the TensorRT profile {self.profile.tag()}; "
                "use --engine cuda"
            )
        return super().run(x)


def make_engine(choice: EngineChoice, loaded: LoadedModel, engine_dir: Path | None = None,
                compile: bool = True) -> CpuEngine | CudaEngine:
    """Instantiate the chosen engine around a loaded model (rtsr.checkpoints.load_model).

    ``compile`` applies to the cuda engine (rtsr.compiled).
    """
    if choice.name == "cpu":
        return CpuEngine(loaded.network)
    if choice.name == "cuda":
        return CudaEngine(loaded.network, compile=compile, label=f"{loaded.name} ×{loaded.scale}")
    return TensorRTEngine(loaded, engine_dir)
