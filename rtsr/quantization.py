"""Int8 FSRCNN: every convolution's input and weights on an 8-bit grid, trained for it (issue 37).

Post-training int8 cost FSRCNN 1.55 dB on Set5 (0.36 dB with the first and
last layers left in f32, for far less speed), so rtsr's int8 weights are
trained with the quantization in the loop (``python -m tools.train --int8``,
docs/training.md) and shipped beside the f32 ones they started from
(``fsrcnn_x3_int8.pt`` beside ``fsrcnn_x3.pt``). Such a file is an ordinary
FSRCNN checkpoint whose metadata (``meta["int8"]``) adds what the grid needs
(first steps and equalised channels: tools/lab/int8.py):

* the input of the first convolution: unsigned, step 1/255 (fixed): the
  network reads luma codes / 255, so 8-bit video is represented exactly;
  deeper input (10-bit) is rounded to 8-bit codes here, which is why ``auto``
  leaves int8 out for it;
* every later convolution's input: signed, -128..127 times a step learned in
  training (PReLU outputs are signed), zero point 0;
* weights: signed, per output channel, step = max |w| / 127 (from the
  weights themselves, so not stored).

Int8FSRCNN computes that grid in PyTorch with straight-through rounding (for
training, and as the reference); ``exportable()`` is the same network with
torch's fake-quantize operators, which ONNX export writes as
QuantizeLinear/DequantizeLinear pairs, which OpenVINO runs as int8
convolutions (engine ``openvino-int8``). Quality and speed against f32:
docs/performance.md.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from rtsr.checkpoints import LoadedModel, load_model
from rtsr.models import FSRCNN

META_KEY = "int8"
INPUT_STEP = 1 / 255  # the first convolution's input: luma codes / 255, exact for 8-bit video
SIGNED = (-128, 127)
UNSIGNED = (0, 255)
WEIGHT_LEVELS = 127  # symmetric per-channel weights in -127..127


def fake_quantize(x: torch.Tensor, step: torch.Tensor | float, low: int, high: int) -> torch.Tensor:
    """``x`` rounded to the grid step·{low..high}; the rounding passes gradients straight through, and the
    gradient reaches ``step`` too (learned step size, as LSQ)."""
    q = torch.clamp(x / step, low, high)
    return (q + (torch.round(q) - q).detach()) * step


def weight_steps(weight: torch.Tensor) -> torch.Tensor:
    """Per-output-channel steps (C_out,) putting the largest |w| of each channel on ±127 (no gradient)."""
    return (weight.detach().abs().flatten(1).amax(dim=1) / WEIGHT_LEVELS).clamp(min=1e-12)


def quantized_weight(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` (C_out, C_in, k, k) on its per-channel int8 grid, straight-through."""
    steps = weight_steps(weight).view(-1, 1, 1, 1)
    return fake_quantize(weight, steps, -WEIGHT_LEVELS, WEIGHT_LEVELS)


def _convolutions(network: FSRCNN) -> list[nn.Conv2d]:
    return [m for m in network.body if isinstance(m, nn.Conv2d)]


class Int8FSRCNN(nn.Module):
    """An FSRCNN with its convolutions on the int8 grid described above: (N, 1, H, W) luma in [0, 1] ->
    (N, 1, H·scale, W·scale). ``steps``: the input step of every convolution after the first, the last
    (sub-pixel) one included, in order (``len(body convs)`` values). Trainable: the network's parameters
    and the steps (kept as logarithms, so they stay positive)."""

    def __init__(self, network: FSRCNN, steps: Sequence[float]) -> None:
        super().__init__()
        expected = len(_convolutions(network))  # the first conv's step is fixed; the sub-pixel conv adds one
        if len(steps) != expected:
            raise ValueError(f"{expected} activation steps needed, got {len(steps)}")
        self.network = network
        self.log_steps = nn.Parameter(torch.tensor([float(s) for s in steps]).log())

    @property
    def scale(self) -> int:
        return self.network.scale

    def receptive_radius(self) -> int:
        return self.network.receptive_radius()

    def steps(self) -> list[float]:
        """The learned activation steps, as stored in the checkpoint's metadata."""
        return [float(s) for s in self.log_steps.detach().exp()]

    def _input_grid(self, index: int) -> tuple[torch.Tensor | float, int, int]:
        """(step, low, high) of convolution ``index``'s input (the step a tensor, for its gradient)."""
        if index == 0:
            return INPUT_STEP, *UNSIGNED
        return self.log_steps[index - 1].exp(), *SIGNED

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        index = 0
        for module in self.network.body:
            if isinstance(module, nn.Conv2d):
                x = fake_quantize(x, *self._input_grid(index))
                x = F.conv2d(x, quantized_weight(module.weight), module.bias, padding=module.padding)
                index += 1
            else:
                x = module(x)
        weight, bias = self.network.subpixel_weight()
        x = fake_quantize(x, *self._input_grid(index))
        x = F.conv2d(x, quantized_weight(weight), bias, padding=self.network.subpixel_pad)
        return F.pixel_shuffle(x, self.scale)

    def exportable(self) -> nn.Module:
        """A frozen copy of the inference network (FSRCNN.for_inference: the deconvolution as a sub-pixel
        convolution) with torch's fake-quantize operators around every convolution, which ONNX export writes
        as QuantizeLinear/DequantizeLinear pairs (OpenVINO then runs int8 convolutions)."""
        inference = copy.deepcopy(self.network.for_inference())  # its own modules: freezing leaves ours
        layers: list[nn.Module] = []
        index = 0
        with torch.no_grad():  # the steps as plain numbers
            for module in inference:
                if isinstance(module, nn.Conv2d):
                    step, low, high = self._input_grid(index)
                    layers += [_QuantizeInput(float(step), low, high), _QuantizedConv(module)]
                    index += 1
                else:
                    layers.append(module)
        return nn.Sequential(*layers).eval().requires_grad_(False)


class _QuantizeInput(nn.Module):
    def __init__(self, step: float, low: int, high: int) -> None:
        super().__init__()
        self.step, self.low, self.high = step, low, high

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.fake_quantize_per_tensor_affine(x, self.step, 0, self.low, self.high)


class _QuantizedConv(nn.Module):
    def __init__(self, conv: nn.Conv2d) -> None:
        super().__init__()
        self.conv = conv
        self.register_buffer("steps", weight_steps(conv.weight).float())
        self.register_buffer("zeros", torch.zeros(conv.out_channels, dtype=torch.int32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ONNX allows -128..127; |w| / step <= 127 by construction, so the grid is the same as in training
        weight = torch.fake_quantize_per_channel_affine(self.conv.weight, self.steps, self.zeros, 0, *SIGNED)
        return F.conv2d(x, weight, self.conv.bias, padding=self.conv.padding)


def companion_path(weights: Path) -> Path:
    """Where the int8 weights trained from ``weights`` are shipped: ``fsrcnn_x3.pt`` -> ``fsrcnn_x3_int8.pt``."""
    return weights.with_name(f"{weights.stem}_int8{weights.suffix}")


def int8_meta(network: Int8FSRCNN, base_sha256: str) -> dict[str, object]:
    """What a checkpoint's ``meta["int8"]`` holds: the steps, and the f32 weights the run started from."""
    return {"activation_steps": network.steps(), "input_step": INPUT_STEP, "base_sha256": base_sha256,
            "weights": "per output channel, symmetric, max |w| / 127"}


def int8_network(network: nn.Module, meta: dict) -> Int8FSRCNN | None:
    """The Int8FSRCNN a checkpoint describes (its network and ``meta``), or None when it is not int8 weights."""
    described = meta.get(META_KEY)
    if not isinstance(network, FSRCNN) or not isinstance(described, dict):
        return None
    return Int8FSRCNN(network, described["activation_steps"]).eval()


def int8_weights(loaded: LoadedModel) -> LoadedModel | None:
    """The int8 weights for ``loaded``: itself when it holds int8 weights (a user's ``--weights``), else the
    shipped companion trained from exactly these weights (companion_path), else None."""
    if META_KEY in loaded.meta:
        return loaded
    path = companion_path(loaded.weights)
    if not path.is_file():
        return None
    companion = load_model(loaded.name, loaded.scale, path)
    if companion.meta.get(META_KEY, {}).get("base_sha256") != loaded.weights_sha256:
        return None  # trained from other weights than these
    return companion
