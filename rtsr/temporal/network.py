"""RLSP-style recurrent super-resolution on the LR luma, its memory aligned by motion (issue 35).

One frame at a time, in display order. Everything the network carries from
one frame to the next is one LR tensor, its *memory* (1 + scale² + state
channels): the previous frame's luma, the previous HR output folded to LR by
a pixel unshuffle (its scale² phases), and a hidden state. Before each frame
the memory is warped onto it by the backward flow (bilinear, at LR: each
phase is a sub-lattice of the HR picture, so moving it by the LR flow moves
the HR picture), and the network sees this frame's luma beside it.

It returns the HR luma (bicubic of the LR luma plus a learnt residual) and
the new state. The bicubic is computed as a fixed 5×5 convolution at LR, one
kernel per output phase (``bicubic_phase_kernels``: exactly what
``F.interpolate(mode="bicubic")`` gives, borders included), so nothing but
the output itself is ever computed at HR; a residual on bicubic learns far
faster than one on nearest neighbour (docs/temporal.md). After a reset (the
first frame, a scene cut, a picture) the memory is this frame's luma, that
luma repeated, and a zero state, so the network also works alone on one
frame.

For the engines a step is one pure function of one tensor (``forward``):
packed input (1, in_channels, H, W) = [luma, memory] -> packed output
(1, 1 + state_channels / scale², H·scale, W·scale), channel 0 the HR luma and
the rest the new state pixel-shuffled to HR. Every engine (strips, ONNX,
OpenVINO, CUDA, TensorRT) runs it unchanged, and ``rtsr export`` gives the
recurrent state as an explicit input/output pair. That is why the state
channels are a multiple of scale²: 8 at ×2, 9 at ×3, 16 at ×4. Luma is in the
papers' domain (BT.601 studio-range Y / 255), as for FSRCNN.
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

    @property
    def memory_channels(self) -> int:
        """Channels of the memory carried between frames: luma, scale² output phases, state."""
        return 1 + self.scale * self.scale + self.state_channels


def bicubic_phase_kernels(scale: int) -> torch.Tensor:
    """(scale², 1, 5, 5) kernels: conv2d of the edge-padded (by 2) LR picture with them, pixel-shuffled, is
    F.interpolate(scale_factor=scale, mode="bicubic", align_corners=False). Read off impulse responses."""
    radius, size = 2, 13
    centre = size // 2
    taps = torch.zeros(scale, 2 * radius + 1)
    for t in range(-radius, radius + 1):
        impulse = torch.zeros(1, 1, 1, size)
        impulse[..., centre + t] = 1.0
        response = F.interpolate(impulse, scale_factor=(1, scale), mode="bicubic", align_corners=False)[0, 0, 0]
        for phase in range(scale):
            taps[phase, t + radius] = response[centre * scale + phase]
    return torch.einsum("ai,bj->abij", taps, taps).reshape(scale * scale, 1, 5, 5)


def state_channels_for(scale: int, at_least: int = 8) -> int:
    """Hidden-state channels: the smallest multiple of scale² that is at least ``at_least``."""
    return scale * scale * math.ceil(at_least / (scale * scale))


class RLSP(nn.Module):
    """``layers`` 3×3 convolutions of ``channels`` features with ReLUs, all at LR resolution.

    Multiply-adds per LR pixel at ×2 (defaults): 9·14·32 + 2·9·32·32 + 9·32·12
    ≈ 26 k; at ×4, 9·34·32 + 2·9·32·32 + 9·32·32 ≈ 37 k (FSRCNN(56,12,4): 12.5 k).
    Plain 3×3 convolutions of 32 channels run far closer to the CPU's peak
    than FSRCNN's 1-channel 5×5 and 12-channel layers: docs/temporal.md has
    the times.
    """

    def __init__(self, scale: int, channels: int = 32, layers: int = 4, state: int = 0) -> None:
        super().__init__()
        if layers < 2:
            raise ValueError("RLSP needs at least 2 layers")
        self.scale, self.channels, self.layers = scale, channels, layers
        self.state_channels = state or state_channels_for(scale)
        if self.state_channels % (scale * scale):
            raise ValueError(f"state channels must be a multiple of {scale * scale} at ×{scale}")
        self.in_channels = 1 + self.layout.memory_channels
        convs: list[nn.Module] = [nn.Conv2d(self.in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        for _ in range(layers - 2):
            convs += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True)]
        convs.append(nn.Conv2d(channels, scale * scale + self.state_channels, 3, padding=1))
        self.body = nn.Sequential(*convs)
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.body[-1].weight, std=0.001)
        self.register_buffer("bicubic", bicubic_phase_kernels(scale), persistent=False)

    @property
    def layout(self) -> RecurrentLayout:
        return RecurrentLayout(self.scale, self.state_channels)

    @property
    def out_channels(self) -> int:
        """Channels of the packed HR output: the luma and the state shuffled to HR."""
        return 1 + self.state_channels // (self.scale * self.scale)

    def receptive_radius(self) -> int:
        """LR pixels either side that influence an output pixel: one per 3×3 layer, 2 for the bicubic."""
        return max(self.layers, 2)

    def for_inference(self) -> nn.Module:
        return self

    def step(self, x: torch.Tensor, memory: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, 1, H, W) and the aligned memory (N, memory_channels, H, W) ->
        (HR luma (N, 1, H·s, W·s), the memory for the next frame)."""
        out = self(torch.cat([x, memory], dim=1))
        return out[:, :1], next_memory(x, out, self.scale)

    def forward(self, packed: torch.Tensor) -> torch.Tensor:
        """(N, in_channels, H, W) packed LR input -> (N, out_channels, H·s, W·s) packed HR output."""
        s2 = self.scale * self.scale
        out = self.body(packed)
        x = F.pad(packed[:, :1], (2, 2, 2, 2), mode="replicate")
        phases = out[:, :s2] + F.conv2d(x, self.bicubic)  # the bicubic skip, per phase, at LR
        return F.pixel_shuffle(torch.cat([phases, torch.relu(out[:, s2:])], dim=1), self.scale)


def reset_memory(x: torch.Tensor, layout: RecurrentLayout) -> torch.Tensor:
    """The memory of a first frame: its luma, the luma as every output phase (nearest neighbour), a zero state."""
    n, _, h, w = x.shape
    return torch.cat([x, x.expand(n, layout.scale * layout.scale, h, w), x.new_zeros(n, layout.state_channels, h, w)],
                     dim=1)


def next_memory(x: torch.Tensor, packed_out: torch.Tensor, scale: int) -> torch.Tensor:
    """What the next frame gets: this luma x (N, 1, H, W), and the packed output folded back to LR."""
    return torch.cat([x, F.pixel_unshuffle(packed_out, scale)], dim=1)


def flow_grid(flow: torch.Tensor) -> torch.Tensor:
    """Backward flow (N, 2, H, W) in pixels (dx, dy: where each pixel of this frame was in the previous one)
    -> the sampling grid grid_sample takes (N, H, W, 2), normalised with align_corners=False."""
    n, _, h, w = flow.shape
    ys = torch.arange(h, dtype=flow.dtype, device=flow.device).view(1, h, 1)
    xs = torch.arange(w, dtype=flow.dtype, device=flow.device).view(1, 1, w)
    gx = (xs + flow[:, 0] + 0.5) * (2.0 / w) - 1.0
    gy = (ys + flow[:, 1] + 0.5) * (2.0 / h) - 1.0
    return torch.stack([gx, gy], dim=-1)


def warp(image: torch.Tensor, flow: torch.Tensor | None) -> torch.Tensor:
    """``image`` (N, C, H, W) from the previous frame moved onto this one by ``flow`` (N, 2, H, W);
    as it is without a flow (no alignment)."""
    if flow is None:
        return image
    return F.grid_sample(image, flow_grid(flow), mode="bilinear", padding_mode="border", align_corners=False)
