"""Trained weights: self-describing checkpoints, safe loading, and the model descriptor ``load_model`` returns.

A checkpoint (``save_checkpoint``) stores the architecture, scale,
hyper-parameters, state dict and metadata (iterations, validation PSNR, data,
commit), so a file says what it is. Loading uses ``torch.load(weights_only=True)``:
tensors and plain values only, never arbitrary pickled code. A bare state dict
is accepted too; its architecture and scale are then checked from the shapes.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from rtsr.atomic import write_atomically
from rtsr.errors import WeightsError
from rtsr.models import Architecture, check_scale, get_architecture

CHECKPOINT_FORMAT = "rtsr-checkpoint-1"

def save_checkpoint(path: Path, model: nn.Module, name: str, scale: int, **meta: object) -> None:
    """Write a self-describing checkpoint: architecture, scale, hyper-parameters, state, metadata.

    ``meta`` holds plain values (numbers, strings, lists) such as iterations,
    validation PSNR, data and git commit; it is stored as-is.
    """
    architecture = get_architecture(name)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "model": name,
        "architecture": architecture.name,
        "scale": scale,
        "hparams": architecture.hparams_from_state(state),
        "state_dict": state,
        "meta": meta,
    }
    write_atomically(Path(path), lambda tmp: torch.save(payload, tmp))


def read_checkpoint(path: Path) -> dict:
    """Load a checkpoint file safely (tensors and plain values only)."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"cannot read weights {path}: {reason}") from None
    if not isinstance(payload, dict):
        raise WeightsError(f"{path} is not a weights file (got {type(payload).__name__})")
    if payload.get("format") == CHECKPOINT_FORMAT:
        return payload
    # A bare state dict: no metadata, the architecture and scale are checked from the shapes.
    if all(isinstance(v, torch.Tensor) for v in payload.values()):
        return {"format": None, "state_dict": payload, "meta": {}}
    raise WeightsError(f"{path} is not an rtsr checkpoint or a state dict")


def weights_digest(model: nn.Module) -> str:
    """SHA-256 over the state dict's names, dtypes, shapes and bytes: what identifies trained weights."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)}".encode())
        # reshape: 0-dim tensors (BatchNorm's num_batches_tracked) cannot be viewed as bytes
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes() if data.numel() else b"")
    return digest.hexdigest()


@dataclass(frozen=True)
class LoadedModel:
    """A network with trained weights and what describes it (spandrel's ModelDescriptor, for rtsr).

    ``network`` is in eval mode, fp32, on the CPU; it maps (N, channels, H, W)
    in [0, 1] to (N, channels, H·scale, W·scale).
    """

    network: nn.Module
    architecture: Architecture
    scale: int
    weights: Path  # the file the weights came from
    weights_sha256: str  # weights_digest(network): identifies them in resume state and engine caches
    meta: dict  # the checkpoint's metadata (iterations, validation PSNR, commit...); {} for a bare state dict

    @property
    def name(self) -> str:
        return self.architecture.name

    @property
    def planes(self) -> Literal["y", "rgb"]:
        return self.architecture.planes

    @property
    def channels(self) -> int:
        return self.architecture.channels

    @property
    def receptive_radius(self) -> int:
        """LR pixels either side of an output pixel that influence it (the overlap strips need)."""
        return self.network.receptive_radius()


def load_model(name: str, scale: int, weights: Path | None = None) -> LoadedModel:
    """Build ``name`` at ``scale`` with trained weights, in eval mode on the CPU, and describe it.

    ``weights`` defaults to the shipped file for (name, scale). Raises
    WeightsError when no weights exist, or when the file is for another
    architecture or scale.
    """
    architecture = get_architecture(name)
    check_scale(scale)
    if weights is None:
        weights = architecture.weights_path(scale)
        if not weights.is_file():
            raise WeightsError(f"no trained weights for {name} ×{scale}; pass --weights FILE")
    payload = read_checkpoint(weights)
    state = payload["state_dict"]
    stored_arch = payload.get("architecture")
    if stored_arch is not None and stored_arch != architecture.name:
        raise WeightsError(f"{weights} holds {stored_arch} weights, not {architecture.name}")
    if stored_arch is None and not architecture.matches(state):
        raise WeightsError(f"{weights} does not hold {architecture.name} weights")
    stored_scale = payload.get("scale") or architecture.scale_from_state(state)
    if stored_scale is not None and stored_scale != scale:
        raise WeightsError(f"{weights} is for ×{stored_scale}, not ×{scale}")
    try:
        model = architecture.build(scale, **architecture.hparams_from_state(state))
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError) as err:
        first_line = str(err).strip().splitlines()[0]
        raise WeightsError(f"{weights} does not fit {architecture.name}: {first_line}") from None
    model.eval()
    return LoadedModel(model, architecture, scale, Path(weights), weights_digest(model), dict(payload.get("meta", {})))
