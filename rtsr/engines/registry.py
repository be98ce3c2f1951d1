"""The one registry of engines: which can run here, how ``auto`` chooses, and how each is built.

* ``cpu``: PyTorch fp32 (rtsr.engines.cpu).
* ``openvino``: OpenVINO f32 on the CPU; ``openvino-bf16`` the same in bf16;
  ``openvino-int8`` the int8 weights trained from the loaded ones (rtsr.engines.openvino).
* ``cuda``: PyTorch fp16 on an NVIDIA GPU (rtsr.engines.cuda).
* ``tensorrt``: torch-tensorrt fp16, cached on disk (rtsr.engines.tensorrt).

``auto`` takes tensorrt > cuda when a GPU can run them, and records why each
was skipped; without one it times the CPU candidates on the run's own frame
shape and keeps the fastest (rtsr.engines.picking; bf16 only for weights that
pass rtsr.engines.precision's quality gate, int8 likewise). An engine asked for by
name that cannot run here is an error, except OpenVINO: without it (or when
it cannot compile the network) rtsr runs the PyTorch cpu engine and says why.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

from rtsr.checkpoints import LoadedModel
from rtsr.engines.openvino import openvino_unavailable
from rtsr.errors import EngineUnavailable

log = logging.getLogger("rtsr")

OPENVINO_ENGINES = {"openvino": "f32", "openvino-bf16": "bf16", "openvino-int8": "int8"}  # name -> precision
ENGINE_NAMES = ("auto", "cpu", *OPENVINO_ENGINES, "cuda", "tensorrt")
GPU_PREFERENCE = ("tensorrt", "cuda")
# What ``auto`` times on a machine without a usable GPU. openvino-bf16 and -int8 change the pictures, so
# they join only for weights whose measured loss passes the gate (rtsr.engines.precision).
CPU_CANDIDATES = ("cpu", "openvino")
# Engines that fall back to the PyTorch cpu engine, saying why, instead of failing.
FALLS_BACK_TO_CPU = ("openvino", "openvino-bf16")  # not int8: those are other weights, asked for by name


@dataclass(frozen=True)
class EngineChoice:
    """The engine that will run and why others were passed over.

    ``candidates``: for ``auto`` on a machine without a usable GPU, the CPU
    engines to time on the run's frame shape before one is kept.
    """

    name: str
    skipped: dict[str, str] = field(default_factory=dict)  # engine -> reason
    candidates: tuple[str, ...] = ()

    def describe(self) -> str:
        if not self.skipped:
            return self.name
        by_reason: dict[str, list[str]] = {}
        for name, why in self.skipped.items():  # "tensorrt and cuda skipped: ...", the reason said once
            by_reason.setdefault(why, []).append(name)
        reasons = "; ".join(f"{' and '.join(names)} skipped: {why}" for why, names in by_reason.items())
        return f"{self.name} ({reasons})"


def unavailable_reason(name: str) -> str | None:
    """Why engine ``name`` cannot run here, or None when it can."""
    if name == "cpu":
        return None
    if name in OPENVINO_ENGINES:
        return openvino_unavailable()
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
    """Resolve ``requested`` (one of ENGINE_NAMES) to an engine that can run here.

    Raises EngineUnavailable("engine X is not available here: <why>") for an
    explicit GPU engine that cannot run.
    """
    if requested != "auto":
        reason = unavailable_reason(requested)
        if reason is None:
            return EngineChoice(requested)
        if requested in FALLS_BACK_TO_CPU:
            log.warning("engine %s cannot run here (%s); running the PyTorch cpu engine", requested, reason)
            return EngineChoice("cpu", {requested: reason})
        raise EngineUnavailable(f"engine {requested} is not available here: {reason}")
    skipped: dict[str, str] = {}
    for name in GPU_PREFERENCE:
        reason = unavailable_reason(name)
        if reason is None:
            return EngineChoice(name, skipped)
        skipped[name] = reason
    candidates = []
    for name in CPU_CANDIDATES:
        reason = unavailable_reason(name)
        if reason is None:
            candidates.append(name)
        else:
            skipped[name] = reason
    if len(candidates) == 1:
        return EngineChoice(candidates[0], skipped)
    return EngineChoice("cpu", skipped, tuple(candidates))


def build_engine(name: str, loaded: LoadedModel, engine_dir: Path | None = None, compile: bool = True):
    """The engine ``name`` around a loaded model (rtsr.checkpoints.load_model); EngineUnavailable if it fails.

    ``compile`` applies to the cuda engine (rtsr.engines.compiled).
    """
    if name == "cpu":
        from rtsr.engines.cpu import CpuEngine  # noqa: PLC0415

        return CpuEngine(loaded.network)
    if name in OPENVINO_ENGINES:
        from rtsr.engines.openvino import OpenVinoEngine  # noqa: PLC0415

        return OpenVinoEngine(loaded, engine_dir, precision=OPENVINO_ENGINES[name])
    if name == "cuda":
        from rtsr.engines.cuda import CudaEngine  # noqa: PLC0415

        return CudaEngine(loaded.network, compile=compile, label=f"{loaded.name} ×{loaded.scale}")
    if name == "tensorrt":
        from rtsr.engines.tensorrt import TensorRTEngine  # noqa: PLC0415

        return TensorRTEngine(loaded, engine_dir)
    raise EngineUnavailable(f"unknown engine {name!r}; choose from {', '.join(ENGINE_NAMES)}")
