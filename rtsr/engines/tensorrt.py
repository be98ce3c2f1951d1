"""The ``tensorrt`` engine: the model exported with ``torch.export`` under a dynamic (height, width)
profile, compiled by torch-tensorrt in fp16 and cached on disk (rtsr.engines.cache).

No machine of the project can run TensorRT (docs/architecture.md); the
export and the cache are tested on the CPU.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import torch
from torch import nn

from rtsr.checkpoints import LoadedModel
from rtsr.engines.cache import EngineCache, EngineKey, ShapeProfile, default_engine_dir
from rtsr.engines.cuda import CudaEngine
from rtsr.errors import EngineUnavailable
from rtsr.version import __version__

# The TensorRT profile: any strip from 16x16 to 3840 wide and 1152 high.
TENSORRT_PROFILE = ShapeProfile(min_hw=(16, 16), opt_hw=(720, 1280), max_hw=(1152, 3840))


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


def package_version(package: str) -> str:
    """The installed version of ``package``, or "none"."""
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
            profile=self.profile.tag(), precision="fp16",
            runtime=f"tensorrt {package_version('tensorrt')}, torch-tensorrt {package_version('torch-tensorrt')}",
            device=f"{props.name} sm_{props.major}{props.minor}", torch=torch.__version__, rtsr=__version__,
            suffix=".ep",
        )

    def _prepare(self, model: nn.Module) -> nn.Module:
        import torch_tensorrt  # noqa: PLC0415  (the optional extra; its presence was checked by choose_engine)

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

        description = f"TensorRT engine for {self.model_name} ×{self.scale} fp16, strips {profile.tag()}"
        return self.cache.load_or_build(self.key(), description, build, save, load)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        if not self.profile.min_hw[1] <= x.shape[-1] <= self.profile.max_hw[1]:
            raise EngineUnavailable(
                f"frame width {x.shape[-1]} is outside the TensorRT profile {self.profile.tag()}; "
                "use --engine cuda"
            )
        return super().run(x)
