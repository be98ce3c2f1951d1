"""Preparing FSRCNN weights for int8 training (tools.train --int8): equalised channels, calibrated steps.

Int8 convolutions take one step for all channels of their input
(rtsr.quantization), but FSRCNN's channels differ in range: a channel that
spans a tenth of the widest uses a tenth of the 256 levels. Before training,
``equalise`` rescales them (cross-layer equalisation, Nagel et al. 2019,
"Data-Free Quantization"): PReLU is positively homogeneous, so dividing a
channel's producing weights and bias by k and multiplying the weights that
read it by k leaves the f32 network's output unchanged while moving that
channel's range. ``calibrate`` then gives every convolution's input a first
step, which training refines.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from rtsr.models import FSRCNN
from rtsr.quantization import SIGNED


def _inputs(network: FSRCNN, batches: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """The input of every convolution after the first, the sub-pixel one last, concatenated over ``batches``:
    a list of (N, C, h, w) tensors."""
    inputs: list[list[torch.Tensor]] = []
    with torch.no_grad():
        for batch in batches:
            x, seen = batch, []
            for module in network.body:
                if isinstance(module, nn.Conv2d) and x is not batch:
                    seen.append(x)
                x = module(x)
            seen.append(x)
            for index, value in enumerate(seen):
                if len(inputs) <= index:
                    inputs.append([])
                inputs[index].append(value)
    return [torch.cat(values) for values in inputs]


def _quantile(values: torch.Tensor, q: float) -> float:
    """The ``q`` quantile of |values| (on at most a million of them, drawn with a fixed seed)."""
    flat = values.abs().flatten()
    flat = flat[torch.randperm(flat.numel(), generator=torch.Generator().manual_seed(0))[:1_000_000]]
    return max(float(torch.quantile(flat, q)), 1e-6)


def calibrate(network: FSRCNN, batches: Sequence[torch.Tensor], quantile: float = 0.99999) -> list[float]:
    """First activation steps for rtsr.quantization.Int8FSRCNN: the ``quantile`` of |input| of every
    convolution after the first, over ``batches`` of LR luma (N, 1, h, w), mapped onto 127. (Clipping
    costs more than coarse steps here: FSRCNN ×3 after equalise, 28.96 / 29.37 / 29.38 / 29.35 dB at
    quantiles 0.999 / 0.9999 / 0.99999 / 1.)"""
    return [_quantile(x, quantile) / SIGNED[1] for x in _inputs(network, batches)]


@torch.no_grad()
def equalise(network: FSRCNN, batches: Sequence[torch.Tensor], power: float = 0.7,
             quantile: float = 0.99999) -> None:
    """Rescale, in place, the channels between every pair of convolutions so that their ranges move
    towards the widest one's: channel c (range r_c, widest r) is multiplied by (r / r_c) ** power
    (1: all equal; less leaves the reading weights' quantization less coarse). The f32 output does not
    change (up to rounding), nor does any other junction's activation, so one pass over the inputs serves
    every junction. Measured on FSRCNN ×3 (docs/training.md), the held-out validation images in
    int8 before training: 29.246 dB without, 29.336 at power 0.5, 29.380 at 0.7 (steps at the 0.99999
    quantile), 29.302 at 0.85, 29.168 at 1; f32 29.489."""
    convs = [m for m in network.body if isinstance(m, nn.Conv2d)]
    for index, x in enumerate(_inputs(network, batches)):  # x: what convs[index] gives its reader
        ranges = torch.tensor([_quantile(x[:, c], quantile) for c in range(x.shape[1])])
        gain = (ranges.max() / ranges) ** power  # per channel, >= 1
        producer = convs[index]
        producer.weight.mul_(gain.view(-1, 1, 1, 1))
        producer.bias.mul_(gain)
        if index + 1 < len(convs):
            convs[index + 1].weight.div_(gain.view(1, -1, 1, 1))  # (out, in, k, k)
        else:  # the expanding convolution's output: the deconvolution reads it, weight (in, out, k, k)
            network.deconv.weight.div_(gain.view(-1, 1, 1, 1))
