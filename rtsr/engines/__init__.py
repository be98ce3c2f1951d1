"""Inference engines: where and how the network runs, and how one is chosen.

One module per engine (cpu, openvino, cuda, tensorrt), what they share
(base), the registry that names and builds them (registry), ``auto``'s
measured choice among CPU engines (picking), where bf16 may stand in for
f32 (precision), the on-disk cache of built
engines (cache), torch.compile for the cuda engine (compiled) and the ONNX
export (onnx_export). The OpenVINO and torch-tensorrt libraries are imported
only when an engine that needs them is built or checked, so ``import
rtsr.engines`` loads neither.
"""

from rtsr.engines.base import CudaTimer, HostTimer, run_in_strips
from rtsr.engines.picking import make_engine
from rtsr.engines.registry import (
    CPU_CANDIDATES,
    ENGINE_NAMES,
    EngineChoice,
    build_engine,
    choose_engine,
    unavailable_reason,
)

__all__ = [
    "CPU_CANDIDATES", "ENGINE_NAMES", "CudaTimer", "EngineChoice", "HostTimer", "build_engine", "choose_engine",
    "make_engine", "run_in_strips", "unavailable_reason",
]
