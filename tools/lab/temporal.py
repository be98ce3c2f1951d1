"""The recurrent model as the temporal tools run it: windows of LR luma through RLSP, state aligned or not."""

from __future__ import annotations

import numpy as np
import torch

from rtsr.temporal.network import RLSP
from rtsr.temporal.state import reset_memory, warp


def to_model(codes: np.ndarray) -> torch.Tensor:
    """uint8 luma codes -> float32 in the papers' domain (code / 255)."""
    return torch.from_numpy(codes.astype(np.float32) / 255.0)


def run_window(model: RLSP, lr: torch.Tensor, flow: torch.Tensor, align: str) -> list[torch.Tensor]:
    """lr (N, T, H, W), flow (N, T-1, 2, H, W) -> the T HR outputs (N, 1, H·s, W·s), as rtsr runs them."""
    outputs = []
    memory = None
    for t in range(lr.shape[1]):
        x = lr[:, t:t + 1]
        if t == 0 or align == "reset":
            memory = reset_memory(x, model.layout)
        else:
            memory = warp(memory, flow[:, t - 1] if align == "dis" else None)
        hr, memory = model.step(x, memory)
        outputs.append(hr)
    return outputs


def codes(y: torch.Tensor) -> np.ndarray:
    """A model-domain (.., H, W) luma as (H, W) rounded codes, as rtsr writes them."""
    return (y.reshape(y.shape[-2:]).clamp(0, 1) * 255).round().numpy()
