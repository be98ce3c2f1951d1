"""RLSP-style recurrent super-resolution on the LR luma, its state aligned by motion (issue 35).

One frame at a time, in display order. The network sees, at LR resolution:

* ``x``: the frame's luma (1 channel, the papers' domain: BT.601 studio-range Y / 255);
* the previous frame's luma, warped onto this frame (1 channel);
* the hidden state it left, warped onto this frame (``state_channels``);
* its previous HR output, warped at HR and folded to LR by a pixel unshuffle (``scale**2``).

It returns this frame's HR luma (bicubic of ``x`` plus a learnt residual) and
a new hidden state. After a reset (the first frame, a scene cut, a picture)
the "previous" luma is ``x`` itself, the state zero and the previous output
``x`` repeated ``scale**2`` times (nearest neighbour), so the network also
works alone on one frame.

For the engines the step is one pure function of one tensor (``forward``):
packed input (1, in_channels, H, W) -> packed output (1, 1 + state_channels /
scale**2, H*scale, W*scale), channel 0 the HR luma and the rest the new state
pixel-shuffled to HR. Every engine (strips, ONNX, OpenVINO, CUDA, TensorRT)
runs it unchanged, and ``rtsr export`` gives the recurrent state as an
explicit input/output pair. The state channels are a multiple of scale**2 for
that reason: 8 at ×2, 9 at ×3, 16 at ×4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class RecurrentLayout:
    """What the run-time side needs of a recurrent network: its scale and hidden-state channels."""

    scale: int
    state_channels: int


def state_channels_for(scale: int, at_least: int = 8) -> int:
    """Hidden-state channels: the smallest multiple of scale**2 that is at least ``at_least``."""
    return scale * scale * math.ceil(at_least / (scale * scale))


class RLSP(nn.Module):
    """``layers`` 3×3 convolutions of ``channels`` features with ReLUs, at LR resolution.

    Multiply-adds per LR pixel (×3, defaults): 9·(2 + 9 + 9)·32 + 3·9·32·32 +
    9·32·(9 + 9) ≈ 38.5 k, 3.1× FSRCNN(56,12,4)'s 12.5 k; yet its plain 3×3
    convolutions run about as fast as FSRCNN's 1-channel 5×5 and 12-channel
    layers on the CPU engines (docs/quality.md has the measured times).
    """

    def __init__(self, scale: int, channels: int = 32, layers: int = 5, state: int = 0) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError("RLSP needs at least 2 layers")
        self.scale, self.channels, self.layers = scale, channels, layers
        self.state_channels = state or state_channels_for(scale)
        if self.state_channels % (scale * scale):
            raise ValueError(f"state channels must be a multiple of {scale * scale} at ×{scale}")
        self.in_channels = 2 + self.state_channels + scale * scale
        convs: list[nn.Module] = [nn.Conv2d(self.in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        convs.append(nn.Conv2d(channels, scale * scale + self.state_channels, 3, padding=1))
        self.body = nn.Sequential(*convs)
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        last = self.body[-1]
        nn.init.normal_(last.weight, std=0.001)

    @property
    def out_channels(self) -> int:
        """Channels of the packed HR output: the luma and the state shuffled to HR."""
        return 1 + self.state_channels // (self.scale * self.scale)

    @property
    def layout(self) -> RecurrentLayout:
        return RecurrentLayout(self.scale, self.state_channels)

    def receptive_radius(self) -> int:
        """LR pixels either side that influence an output pixel: one per 3×3 layer, 2 for the bicubic."""
        return self.layers + 2

    def for_inference(self) -> nn.Module:
        return self

    def step(self, x: torch.Tensor, previous_x: torch.Tensor, state: torch.Tensor,
             previous_hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame from aligned inputs: x, previous_x (N, 1, H, W), state (N, state_channels, H, W),
        previous_hr (N, 1, H·s, W·s) -> (HR luma (N, 1, H·s, W·s), new state (N, state_channels, H, W))."""
        return unpack(self(pack(x, previous_x, state, previous_hr, self.scale)), self.scale)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) packed LR input -> (N, out_channels, H·s, W·s) packed HR output."""
        s2 = self.scale * self.scale
        out = self.body(packed)
        x = packed[:, :1]
        bicubic = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        hr = bicubic + F.pixel_shuffle(out[:, :s2], self.scale)
        state = F.pixel_shuffle(torch.relu(out[:, s2:]), self.scale)
        return torch.cat([hr, state], dim=1)


def pack(x: torch.Tensor, previous_x: torch.Tensor, state: torch.Tensor, previous_hr: torch.Tensor,
         scale: int) -> torch.Tensor:
    """The network's packed input (N, 2 + state + scale², H, W) from this frame and its aligned past."""
    return torch.cat([x, previous_x, state, F.pixel_unshuffle(previous_hr, scale)], dim=1)


def unpack(packed_out: torch.Tensor, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The packed HR output -> (HR luma (N, 1, H·s, W·s), state (N, state_channels, H, W))."""
    return packed_out[:, :1], F.pixel_unshuffle(packed_out[:, 1:], scale)


def reset_inputs(x: torch.Tensor, state_channels: int, scale: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What the network gets as its past after a reset: (previous_x, state, previous_hr) for x (N, 1, H, W)."""
    n, _, h, w = x.shape
    state = x.new_zeros(n, state_channels, h, w)
    previous_hr = F.interpolate(x, scale_factor=scale, mode="nearest")
    return x, state, previous_hr


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """Backward flow (N, 2, H, W) in pixels (dx, dy: where each pixel of this frame was in the previous one)
    -> the sampling grid grid_sample takes (N, H, W, 2), normalised with align_corners=False."""
    n, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gx = (xs + flow[:, 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1] + 0.5) * (2.0 / h) - 1.0
    return torch.stack([gx, gy], dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """``image`` (N, C, H, W) from the previous frame, moved onto this frame by ``flow`` (N, 2, H, W)."""
    return F.grid_sample(image, flow_grid(flow), mode="bilinear", padding_mode="border", align_corners=False)


def upscale_flow(flow: torch.Tensor, scale: int) -> torch.Tensor:
    """An LR flow (N, 2, H, W) as an HR flow (N, 2, H·s, W·s): resized bilinearly, lengths times s."""
    return F.interpolate(flow, scale_factor=scale, mode="bilinear", align_corners=False) * scale


def aligned_past(scale: int, previous_x: torch.Tensor, state: torch.Tensor, previous_hr: torch.Tensor,
                 flow: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The past moved onto this frame: previous luma and state warped at LR (one pass), previous output at HR.
    ``flow`` None: the past as it is (no alignment)."""
    if flow is None:
        return previous_x, state, previous_hr
    low = warp(torch.cat([previous_x, state], dim=1), flow)
    return low[:, :1], low[:, 1:], warp(previous_hr, upscale_flow(flow, scale))
