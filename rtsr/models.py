"""The networks rtsr runs and the one registry that names them (weights: rtsr.checkpoints).

Three architectures from the project's source papers:

* FSRCNN (Dong et al. 2016) works on the low-resolution luma directly and ends
  in a 9x9 transposed convolution with stride ``scale``.
* SRCNN 9-5-5 (Dong et al. 2014) works on the bicubic-upscaled luma; the
  bicubic step is part of the module so every model maps LR to HR.
* SRResNet (Ledig et al. 2017) works on RGB with 16 residual blocks and
  pixel-shuffle upsampling; SRGAN is the same network trained adversarially.

All modules take ``(N, C, H, W)`` float tensors in [0, 1] (C=1 luma for the
Y models, C=3 RGB for SRResNet) and return ``(N, C, H*scale, W*scale)``.
Luma is in the papers' domain: BT.601 studio-range Y divided by 255.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from rtsr.catalog import DEGRADATIONS, DESCRIPTIONS, SCALES, WEIGHTS_DIR, check_model, check_scale, weights_file
from rtsr.temporal.network import RLSP, state_channels_for

# --------------------------------------------------------------------------- FSRCNN


def _deconv_geometry(scale: int, kernel: int = 9) -> tuple[int, int]:
    """Padding and output padding that make the transposed conv give exactly H*scale.

    PyTorch: out = (H - 1)*scale - 2*padding + kernel + output_padding. We want
    out = H*scale with the kernel centre landing near the LR pixel centre.
    """
    padding = (kernel - scale + 1) // 2 if scale > 2 else (kernel - 1) // 2
    output_padding = scale + 2 * padding - kernel
    if not 0 <= output_padding < scale:
        raise ValueError(f"no exact deconvolution geometry for scale {scale}")
    return padding, output_padding


def _subpixel_index(scale: int, kernel: int, padding: int) -> tuple[torch.Tensor, int, int]:
    """Map a stride-``scale`` transposed conv onto a conv on the LR grid + pixel shuffle.

    For output pixel o = q*scale + phase the transposed conv sums
    x[q - j] * w[j*scale + phase + padding] over the j where that tap exists.
    A plain convolution with kernel size K and left padding P computes
    sum_t x[q + t - P] * k[t], so k_phase[t] = w[(P - t)*scale + phase + padding].

    Returns (index, K, P): ``index[phase, t]`` is the 1-D tap of the 9-tap
    kernel or -1 where that phase has no tap (zero weight).
    """
    j_lo = min(math.ceil((-phase - padding) / scale) for phase in range(scale))
    j_hi = max((kernel - 1 - phase - padding) // scale for phase in range(scale))
    size, pad = j_hi - j_lo + 1, j_hi
    index = torch.full((scale, size), -1, dtype=torch.long)
    for phase in range(scale):
        for t in range(size):
            tap = (pad - t) * scale + phase + padding
            if 0 <= tap < kernel:
                index[phase, t] = tap
    return index, size, pad


class FSRCNN(nn.Module):
    """FSRCNN(d, s, m): feature extraction, shrinking, mapping, expanding, deconvolution.

    The last layer is stored as the paper's 9x9 transposed convolution
    (``self.deconv``). By default the forward pass evaluates it exactly as a
    KxK convolution on the LR grid followed by a pixel shuffle, which is 3x
    faster on CPU and trains faster; ``subpixel=False`` uses ConvTranspose2d.
    """

    def __init__(self, scale: int, d: int = 56, s: int = 12, m: int = 4) -> None:
        super().__init__()
        self.scale, self.d, self.s, self.m = scale, d, s, m
        self.subpixel = True
        layers: list[nn.Module] = [nn.Conv2d(1, d, 5, padding=2), nn.PReLU(d)]
        layers += [nn.Conv2d(d, s, 1), nn.PReLU(s)]
        for _ in range(m):
            layers += [nn.Conv2d(s, s, 3, padding=1), nn.PReLU(s)]
        layers += [nn.Conv2d(s, d, 1), nn.PReLU(d)]
        self.body = nn.Sequential(*layers)
        padding, output_padding = _deconv_geometry(scale)
        self.deconv = nn.ConvTranspose2d(
            d, 1, 9, stride=scale, padding=padding, output_padding=output_padding
        )
        index, size, pad = _subpixel_index(scale, 9, padding)
        if size - 1 - pad != pad:
            raise ValueError(f"scale {scale}: the sub-pixel kernel is not centred")
        self.subpixel_pad = pad  # same on every side for scales 2, 3 and 4
        self.register_buffer("subpixel_index", index, persistent=False)
        self._init_weights()

    def _init_weights(self) -> None:
        # He init for the PReLU layers, small Gaussian for the deconvolution (as in the paper).
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, a=0.25, nonlinearity="leaky_relu")
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.deconv.weight, std=0.001)
        nn.init.zeros_(self.deconv.bias)

    def subpixel_weight(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The deconvolution as conv weights: ((scale**2, d, K, K), (scale**2,)).

        Output channel ``py*scale + px`` holds phase (py, px), the order
        ``F.pixel_shuffle`` expects. Differentiable, so training can use it.
        """
        index = self.subpixel_index  # (scale, K)
        r, size = index.shape
        w = self.deconv.weight[:, 0]  # (d, 9, 9)
        valid = index >= 0
        rows = index.clamp(min=0)
        # kernel[py, px, c, ty, tx] = w[c, rows[py, ty], rows[px, tx]]
        k = w[:, rows[:, None, :, None], rows[None, :, None, :]]  # (d, r, r, K, K)
        mask = valid[:, None, :, None] & valid[None, :, None, :]
        k = (k * mask).permute(1, 2, 0, 3, 4).reshape(r * r, self.d, size, size)
        return k, self.deconv.bias.expand(r * r)

    def receptive_radius(self) -> int:
        """LR pixels either side that influence an output pixel (5x5, m 3x3s, KxK)."""
        return 2 + self.m + self.subpixel_pad

    def for_inference(self) -> nn.Module:
        """A frozen copy with the sub-pixel convolution precomputed: body, conv, pixel shuffle."""
        weight, bias = (t.detach().clone() for t in self.subpixel_weight())
        conv = nn.Conv2d(self.d, self.scale**2, weight.shape[-1], padding=self.subpixel_pad)
        conv.weight.data, conv.bias.data = weight, bias
        return nn.Sequential(*self.body, conv, nn.PixelShuffle(self.scale)).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) LR luma -> (N, 1, H*scale, W*scale)."""
        features = self.body(x)
        if not self.subpixel:
            return self.deconv(features)
        weight, bias = self.subpixel_weight()
        return F.pixel_shuffle(F.conv2d(features, weight, bias, padding=self.subpixel_pad), self.scale)


# --------------------------------------------------------------------------- SRCNN


class SRCNN(nn.Module):
    """SRCNN 9-5-5 with 64/32 filters on the bicubic-upscaled luma.

    Zero padding keeps the size, so the module maps (N,1,H,W) LR luma to
    (N,1,H*scale,W*scale) including its own bicubic pre-upscaling.
    """

    def __init__(self, scale: int, n1: int = 64, n2: int = 32) -> None:
        super().__init__()
        self.scale, self.n1, self.n2 = scale, n1, n2
        self.body = nn.Sequential(
            nn.Conv2d(1, n1, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(n1, n2, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.Conv2d(n2, 1, 5, padding=2),
        )
        for module in self.body:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.body[-1].weight, std=0.001)

    def receptive_radius(self) -> int:
        """LR pixels either side that influence an output pixel: 8 HR pixels plus the cubic's 2."""
        return math.ceil(8 / self.scale) + 2

    def for_inference(self) -> nn.Module:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 1, H, W) LR luma -> (N, 1, H*scale, W*scale); learns a residual on bicubic."""
        upscaled = F.interpolate(x, scale_factor=self.scale, mode="bicubic", align_corners=False)
        # A global residual: the output is bicubic + learned detail, which trains
        # far faster than the paper's direct mapping and is the same 9-5-5 network.
        return upscaled + self.body(upscaled)


# --------------------------------------------------------------------------- SRResNet


class ResidualBlock(nn.Module):
    """conv3x3-BN-PReLU-conv3x3-BN with an identity skip (SRGAN paper, fig. 4)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.PReLU(channels),
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _upsample_stages(scale: int) -> list[int]:
    """Pixel-shuffle factors: x4 is two x2 stages, x2 and x3 one stage."""
    return [2, 2] if scale == 4 else [scale]


class SRResNet(nn.Module):
    """SRResNet: 9x9 head, ``blocks`` residual blocks, pixel-shuffle upsampling, 9x9 tail.

    RGB in [0, 1] in and out: (N, 3, H, W) -> (N, 3, H*scale, W*scale).
    """

    def __init__(self, scale: int, channels: int = 64, blocks: int = 16) -> None:
        super().__init__()
        self.scale, self.channels, self.blocks = scale, channels, blocks
        self.head = nn.Sequential(nn.Conv2d(3, channels, 9, padding=4), nn.PReLU(channels))
        self.body = nn.Sequential(*(ResidualBlock(channels) for _ in range(blocks)))
        self.body_tail = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels)
        )
        upsample: list[nn.Module] = []
        for factor in _upsample_stages(scale):
            upsample += [
                nn.Conv2d(channels, channels * factor * factor, 3, padding=1),
                nn.PixelShuffle(factor),
                nn.PReLU(channels),
            ]
        self.upsample = nn.Sequential(*upsample)
        self.tail = nn.Conv2d(channels, 3, 9, padding=4)

    def receptive_radius(self) -> int:
        """LR pixels either side: 9x9 head, 2 convs per block, body tail, upsampling, 9x9 tail."""
        return 4 + 2 * self.blocks + 1 + len(_upsample_stages(self.scale)) + math.ceil(4 / self.scale)

    def for_inference(self) -> nn.Module:
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB -> (N, 3, H*scale, W*scale)."""
        features = self.head(x)
        features = features + self.body_tail(self.body(features))
        return self.tail(self.upsample(features))


# --------------------------------------------------------------------------- registry


def _conv_weights(state: dict[str, torch.Tensor], prefix: str) -> list[torch.Tensor]:
    """The 4-D (convolution) weights under ``prefix``, in layer order."""
    return [v for k, v in state.items() if k.startswith(prefix) and k.endswith(".weight") and v.dim() == 4]


def _fsrcnn_hparams(state: dict[str, torch.Tensor]) -> dict[str, int]:
    # body: feature conv, shrink conv, m mapping convs, expand conv (each + PReLU).
    convs = _conv_weights(state, "body.")
    return {"d": convs[0].shape[0], "s": convs[1].shape[0], "m": len(convs) - 3}


def _srcnn_hparams(state: dict[str, torch.Tensor]) -> dict[str, int]:
    return {"n1": state["body.0.weight"].shape[0], "n2": state["body.2.weight"].shape[0]}


def _srresnet_hparams(state: dict[str, torch.Tensor]) -> dict[str, int]:
    blocks = len({k.split(".")[1] for k in state if k.startswith("body.") and ".body." in k})
    return {"channels": state["head.0.weight"].shape[0], "blocks": blocks}


def _rlsp_hparams(state: dict[str, torch.Tensor]) -> dict[str, int]:
    convs = _conv_weights(state, "body.")
    return {"channels": convs[0].shape[0], "layers": len(convs),
            "state": convs[-1].shape[0] - (_rlsp_scale(state) or 1) ** 2}


def _rlsp_scale(state: dict[str, torch.Tensor]) -> int | None:
    """The scale whose scale² outputs plus its default state channels make the last layer's outputs."""
    outputs = _conv_weights(state, "body.")[-1].shape[0]
    return next((s for s in SCALES if outputs == s * s + state_channels_for(s)), None)


def _srresnet_scale(state: dict[str, torch.Tensor]) -> int | None:
    """Scale implied by the upsampling convs: one x2/x3 stage or two x2 stages."""
    convs = _conv_weights(state, "upsample.")
    channels = state["head.0.weight"].shape[0]
    if len(convs) == 2:
        return 4
    if len(convs) == 1:
        return round(math.sqrt(convs[0].shape[0] / channels))
    return None


@dataclass(frozen=True)
class Architecture:
    """One network family and its user-facing name: how to build it, read its weights, find its shipped files."""

    name: str
    module: type[nn.Module]
    planes: Literal["y", "rgb"]  # what the network sees: BT.601 luma or RGB
    description: str
    hparams_from_state: Callable[[dict[str, torch.Tensor]], dict[str, int]]
    top_level: frozenset[str]  # first components of the state-dict keys
    scale_from_state: Callable[[dict[str, torch.Tensor]], int | None] = lambda state: None
    recurrent: bool = False  # one frame at a time with a state carried between frames (rtsr.temporal)

    @property
    def channels(self) -> int:
        """Channels in and out of the network: 1 (luma) or 3 (RGB)."""
        return 1 if self.planes == "y" else 3

    def build(self, scale: int, **hparams: int) -> nn.Module:
        return self.module(scale, **hparams)

    def matches(self, state: dict[str, torch.Tensor]) -> bool:
        """True when the state dict has exactly this family's top-level modules."""
        return {k.split(".")[0] for k in state} == self.top_level

    def weights_path(self, scale: int, degradation: str = "none") -> Path:
        """The shipped weights file for ``scale``, trained for input of ``degradation`` (one of
        DEGRADATIONS; it may not exist: not every model has weights for compressed input)."""
        return weights_file(self.name, scale, degradation)


# The one registry: every model rtsr can run, by the name users type.
MODELS: dict[str, Architecture] = {
    "fsrcnn": Architecture("fsrcnn", FSRCNN, "y", DESCRIPTIONS["fsrcnn"], _fsrcnn_hparams,
                           frozenset({"body", "deconv"})),
    "srcnn": Architecture("srcnn", SRCNN, "y", DESCRIPTIONS["srcnn"], _srcnn_hparams, frozenset({"body"})),
    "srresnet": Architecture(
        "srresnet", SRResNet, "rgb", DESCRIPTIONS["srresnet"], _srresnet_hparams,
        frozenset({"head", "body", "body_tail", "upsample", "tail"}), _srresnet_scale,
    ),
    "rlsp": Architecture(
        "rlsp", RLSP, "y", DESCRIPTIONS["rlsp"], _rlsp_hparams, frozenset({"body"}), _rlsp_scale, recurrent=True,
    ),
}


def get_architecture(name: str) -> Architecture:
    """Look up a model name; unknown names raise WeightsError listing the known ones (rtsr.catalog)."""
    return MODELS[check_model(name)]


__all__ = ["DEGRADATIONS", "FSRCNN", "MODELS", "RLSP", "SCALES", "SRCNN", "WEIGHTS_DIR", "Architecture", "SRResNet",
           "check_scale", "get_architecture"]
