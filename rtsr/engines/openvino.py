"""The ``openvino`` engine: the network as ONNX, compiled by OpenVINO for this CPU.

Why: on the development machine (AVX-512, 2 cores) OpenVINO runs the same
FSRCNN weights 1.5-1.8× faster than the PyTorch ``cpu`` engine, with
bit-identical output in f32 (docs/performance.md). Which CPU runtime wins
depends on the machine, so ``--engine auto`` measures before it picks
(rtsr.engines.picking).

* The ONNX graph (rtsr.engines.onnx_export, 1-2 s to export) is cached in
  the engine cache under the usual key (weights digest, torch and rtsr
  versions); compiling it takes about 0.1 s, so it is compiled at each start,
  once per thread count, with dynamic height and width (static shapes ran no
  faster here).
* Threads: torch's inference thread count (a segment worker's share, halved
  while a file run's decoder and encoder share the cores), one compiled
  network per count.
* ``precision`` "f32" (the default) or "bf16" (engine ``openvino-bf16``):
  OpenVINO's own default on CPUs with AMX or AVX-512 BF16 is bf16, so the
  precision is always set explicitly. "int8" (engine ``openvino-int8``) runs
  other weights: those trained for int8 from the loaded ones
  (rtsr.quantization.int8_weights), as a QDQ graph OpenVINO turns into int8
  convolutions (the rest in f32); weights without them cannot run in int8.
* Whole frames up to STRIP_PIXELS LR pixels; bigger ones in strips, as the
  other engines.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path

import numpy as np
import torch

from rtsr.checkpoints import LoadedModel
from rtsr.cores import available_cores
from rtsr.engines.base import HostTimer, inference_threads, run_in_strips, torch_threads_halved
from rtsr.engines.cache import EngineCache, EngineKey, default_engine_dir
from rtsr.engines.onnx_export import OPSET, export_onnx
from rtsr.engines.tensorrt import package_version
from rtsr.errors import EngineUnavailable
from rtsr.quantization import int8_weights
from rtsr.version import __version__

# LR pixels per piece: a whole 640x360 frame ran fastest on the 2-core Xeon of docs/performance.md
# (16.7 fps against 14.3 in 180-row strips and 12.5 in 48-row strips, FSRCNN ×3, 2 threads);
# bigger frames go in strips of this size.
STRIP_PIXELS = 640 * 360
PRECISIONS = ("f32", "bf16", "int8")  # int8: a QDQ graph, the rest in f32 (INFERENCE_PRECISION_HINT f32)
# What OpenVINO raises when a model cannot be read or compiled: its RuntimeError (and
# openvino.exceptions.* are RuntimeErrors), or a missing library behind the import.
OPENVINO_ERRORS = (RuntimeError, OSError, ImportError, ValueError)


def openvino_unavailable() -> str | None:
    """Why OpenVINO cannot run here, or None."""
    try:
        import openvino  # noqa: F401, PLC0415
    except OPENVINO_ERRORS as err:
        return f"OpenVINO cannot be imported ({type(err).__name__}: {err})"
    return None


def onnx_key(loaded: LoadedModel, int8: bool = False) -> EngineKey:
    """The cache key of ``loaded``'s ONNX graph: what would make a cached graph wrong if it changed."""
    return EngineKey(model=loaded.name, scale=loaded.scale, weights_sha256=loaded.weights_sha256,
                     profile="dynamic", precision="int8" if int8 else "f32",
                     runtime=f"onnx opset {OPSET}, onnx {package_version('onnx')}",
                     device="any", torch=torch.__version__, rtsr=__version__, suffix=".onnx")


def cached_onnx(loaded: LoadedModel, engine_dir: Path | None = None, int8: bool = False) -> bytes:
    """``loaded``'s ONNX graph (``int8``: its QDQ graph) from the engine cache, exported the first time."""
    cache = EngineCache(engine_dir or default_engine_dir())
    what = f"{'int8 ' if int8 else ''}ONNX graph of {loaded.name} ×{loaded.scale}"
    return cache.load_or_build(onnx_key(loaded, int8), what, lambda: export_onnx(loaded, int8=int8),
                               lambda graph, path: path.write_bytes(graph), lambda path: path.read_bytes())


def int8_weights_for(loaded: LoadedModel) -> LoadedModel:
    """The int8 weights trained from ``loaded`` (or ``loaded`` itself when it holds some); EngineUnavailable
    when there are none."""
    int8 = int8_weights(loaded)
    if int8 is None:
        raise EngineUnavailable(f"no int8 weights for {loaded.name} ×{loaded.scale} ({loaded.weights.name}): "
                                "int8 runs weights trained for it (shipped for fsrcnn; python -m tools.train --int8)")
    return int8


class OpenVinoEngine:
    """OpenVINO on the CPU: the cached ONNX graph compiled once per thread count, in ``precision``."""

    device = torch.device("cpu")

    def __init__(self, loaded: LoadedModel, engine_dir: Path | None = None, precision: str = "f32",
                 strip_pixels: int = STRIP_PIXELS) -> None:
        reason = openvino_unavailable()
        if reason is not None:
            raise EngineUnavailable(reason)
        import openvino  # noqa: PLC0415

        if precision not in PRECISIONS:
            raise EngineUnavailable(f"OpenVINO precision {precision!r}; choose from {', '.join(PRECISIONS)}")
        self.name = "openvino" if precision == "f32" else f"openvino-{precision}"
        self.precision = precision
        self.scale, self.halo = loaded.scale, loaded.receptive_radius
        self.strip_pixels = strip_pixels
        int8 = precision == "int8"
        if int8:
            loaded = int8_weights_for(loaded)
        self.core = openvino.Core()
        try:
            self.graph = self.core.read_model(cached_onnx(loaded, engine_dir, int8))
        except OPENVINO_ERRORS as err:
            raise EngineUnavailable(f"OpenVINO could not read the network ({type(err).__name__}: {err})") from None
        self.cores = available_cores()
        self._requests: dict[int, object] = {}
        self._request(self.threads)  # compile now: a failure shows before any frame

    @property
    def threads(self) -> int:
        """Inference threads now: torch's setting, which every CPU engine follows, within the cores."""
        return inference_threads(self.cores)

    def _request(self, threads: int):
        """An infer request on the graph compiled for ``threads`` threads (compiled on first use)."""
        if threads not in self._requests:
            hint = "f32" if self.precision == "int8" else self.precision  # int8: the graph says where
            config = {"INFERENCE_PRECISION_HINT": hint, "INFERENCE_NUM_THREADS": threads,
                      "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": 1}
            try:
                compiled = self.core.compile_model(self.graph, "CPU", config)
            except OPENVINO_ERRORS as err:
                raise EngineUnavailable(f"OpenVINO could not compile the network for this CPU "
                                        f"({type(err).__name__}: {err})") from None
            self._requests[threads] = compiled.create_infer_request()
        return self._requests[threads]

    def timer(self) -> HostTimer:
        return HostTimer()

    def synchronize(self) -> None:
        """Nothing to wait for: inference is finished when run() returns."""

    def sharing_cores(self) -> AbstractContextManager[None]:
        """Half the threads (at least one) while a decoder and encoder run beside us, as the cpu engine does."""
        return torch_threads_halved()

    def _infer(self, x: torch.Tensor) -> torch.Tensor:
        request = self._request(self.threads)
        result = request.infer({0: np.ascontiguousarray(x.numpy())})  # a fresh output array per call
        return torch.from_numpy(result[0])

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) float32 -> (1, C, H*scale, W*scale) float32."""
        rows = max(8, 4 * self.halo, self.strip_pixels // max(1, x.shape[-1]))
        with torch.inference_mode():
            return run_in_strips(self._infer, x, self.scale, rows, self.halo)
