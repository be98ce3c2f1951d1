"""Trained weights: self-describing checkpoints, safe loading, and the model descriptor ``load_model`` returns.

A checkpoint (``save_checkpoint``) stores the architecture, scale,
hyper-parameters, state dict and metadata (iterations, validation PSNR, data,
commit), so a file says what it is. Loading uses ``torch.load(weights_only=True)``:
tensors and plain values only, never arbitrary pickled code. A bare state dict
is accepted too; its architecture and scale are then checked from the shapes.
"""

from __future__ import annotations

import hashlib
import logging
import math
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rtsr.atomic import write_atomically
from rtsr.errors import WeightsError
from rtsr.models import SCALES, Architecture, check_scale, get_architecture
from rtsr.temporal.network import RecurrentLayout

log = logging.getLogger("rtsr")

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
    except pickle.UnpicklingError as err:
        # torch's message suggests weights_only=False, which would run the file's code: never repeat it.
        if "Unsupported global" in str(err):
            raise WeightsError(f"refusing {path}: it holds Python objects besides tensors, and rtsr loads "
                               "weights only in the safe way that never runs code from the file") from None
        raise WeightsError(f"cannot read weights {path}: not a torch weights file") from None
    except (RuntimeError, OSError, EOFError, ValueError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"cannot read weights {path}: not a complete torch weights file, truncated or "
                           f"damaged ({reason})") from None
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
    in [0, 1] to (N, channels, H·scale, W·scale), except a recurrent one
    (``recurrent`` not None), whose packed input and output are described in
    rtsr.temporal.network.
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
        """Channels of the inference network's input: 1 (luma), 3 (RGB), or a recurrent network's packed input."""
        return self.network.in_channels if self.architecture.recurrent else self.architecture.channels

    @property
    def recurrent(self) -> RecurrentLayout | None:
        """Scale and state of a recurrent network (rtsr.temporal), None for one that sees one frame alone."""
        return self.network.layout if self.architecture.recurrent else None

    @property
    def receptive_radius(self) -> int:
        """LR pixels either side of an output pixel that influence it (the overlap strips need)."""
        return self.network.receptive_radius()


def _build_with(architecture: Architecture, state: dict, scale: int, weights: Path) -> nn.Module:
    """The network at ``scale`` with ``state`` loaded, in eval mode; WeightsError when they do not fit."""
    try:
        model = architecture.build(scale, **architecture.hparams_from_state(state))
        model.load_state_dict(state)
    except (KeyError, RuntimeError, TypeError, IndexError, ValueError) as err:
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise WeightsError(f"{weights} does not fit {architecture.name}: {first_line}") from None
    return model.eval()


# A plain state dict whose weights do worse than bicubic by more than this (dB, on the test picture)
# at the asked scale is refused. Trained FSRCNN weights beat bicubic at their own scale and lose
# by 11 dB or more at the others; SRCNN's lose 0.1 to 6.5 dB at other scales (docs/training.md).
REFUSE_BELOW_BICUBIC_DB = 3.0


def _check_unstated_scale(architecture: Architecture, state: dict, scale: int, weights: Path) -> None:
    """A plain FSRCNN/SRCNN state dict does not say its scale: test it against bicubic at every scale.

    FSRCNN's tensors are the same at every scale, and weights trained for
    another one give a gridded, over-bright picture without any error. On a
    test picture, the weights' gain over bicubic is measured at each scale;
    they run only when the asked scale is not far below bicubic, and the
    log says what was assumed.
    """
    picture = _test_picture().repeat(1, architecture.channels, 1, 1)
    gains = {candidate: _gain_over_bicubic(_build_with(architecture, state, candidate, weights), picture, candidate)
             for candidate in SCALES}
    best = max(gains, key=gains.__getitem__)
    measured = ", ".join(f"×{s} {g:+.1f} dB" for s, g in gains.items())
    if gains[scale] < -REFUSE_BELOW_BICUBIC_DB:
        likely = (f"look like ×{best} weights (pass --scale {best})" if gains[best] >= -1.0
                  else "look untrained, or made for another model")
        raise WeightsError(f"{weights} is a plain state dict, which does not say its scale, and its weights "
                           f"{likely}: against bicubic on a test picture they gave {measured}; refusing to "
                           f"run them at ×{scale}")
    log.info("%s does not say its scale; assumed ×%d, which a test picture supports (against bicubic: %s)",
             weights, scale, measured)


def _test_picture() -> torch.Tensor:
    """A synthetic (1, 1, 96, 96) luma picture in the models' studio-range domain: gratings, a disk, edges, checks."""
    size = 96  # divisible by every scale
    y, x = torch.meshgrid(torch.arange(size, dtype=torch.float32), torch.arange(size, dtype=torch.float32),
                          indexing="ij")
    picture = 0.5 + 0.2 * torch.sin(x * 0.35 + y * 0.1) * torch.cos(y * 0.22)  # gratings
    picture += 0.25 * ((x - 30) ** 2 + (y - 60) ** 2 < 300).float()  # a disk
    picture -= 0.2 * ((x + 0.5 * y > 80) & (x < 70)).float()  # straight edges
    picture += 0.15 * (((x // 12 + y // 12) % 2 == 0) & (y < 30)).float()  # a checkerboard
    return ((16 + 219 * picture.clamp(0, 1)) / 255)[None, None]


def _gain_over_bicubic(network: nn.Module, hr: torch.Tensor, scale: int) -> float:
    """PSNR of ``network`` minus that of bicubic, ×``scale`` from ``hr`` downscaled (dB)."""
    lr = F.interpolate(hr, scale_factor=1 / scale, mode="bicubic", antialias=True, align_corners=False)
    with torch.inference_mode():
        upscaled = network(lr).clamp(0, 1)
    bicubic = F.interpolate(lr, scale_factor=scale, mode="bicubic", align_corners=False).clamp(0, 1)
    return _psnr(upscaled, hr, scale) - _psnr(bicubic, hr, scale)


def _psnr(a: torch.Tensor, b: torch.Tensor, shave: int) -> float:
    error = F.mse_loss(a[..., shave:-shave, shave:-shave], b[..., shave:-shave, shave:-shave]).item()
    return 10 * math.log10(1 / max(error, 1e-12))


def load_model(name: str, scale: int, weights: Path | None = None, degradation: str = "none") -> LoadedModel:
    """Build ``name`` at ``scale`` with trained weights, in eval mode on the CPU, and describe it.

    ``weights`` defaults to the shipped file for (name, scale), trained for
    input of ``degradation`` (rtsr.models.DEGRADATIONS). Raises WeightsError
    when no weights exist, or when the file is for another architecture or scale.
    """
    architecture = get_architecture(name)
    check_scale(scale)
    if weights is None:
        weights = architecture.weights_path(scale, degradation)
        if not weights.is_file():
            kind = "" if degradation == "none" else f" for {degradation} input"
            raise WeightsError(f"no trained weights{kind} for {name} ×{scale}; pass --weights FILE")
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
    model = _build_with(architecture, state, scale, weights)
    if stored_scale is None:
        _check_unstated_scale(architecture, state, scale, weights)
    return LoadedModel(model, architecture, scale, Path(weights), weights_digest(model), dict(payload.get("meta", {})))
