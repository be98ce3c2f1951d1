"""One video's recurrence at run time: the past the recurrent model carries, aligned and reset.

A :class:`Recurrence` belongs to one stream of frames in display order (a
file run, a segment, a live session) and lives on the engine's device. For
each frame it

1. measures the motion from the previous frame on the LR luma
   (rtsr.temporal.motion: DIS on the CPU);
2. warps the memory (previous luma, previous output's phases, hidden state)
   onto this frame (rtsr.temporal.network.warp);
3. resets, as at the first frame, where the past cannot be trusted: the frame
   size changed, or the warped previous luma differs from this frame's by
   more than ``CUT_DIFFERENCE`` on average (a scene cut, a flash, a damaged
   or dropped stretch), so nothing of the old scene ghosts into the new one;
4. runs the engine on the packed input and keeps what it returns.

Pictures and check's sample frames use :func:`single_frame`: the same
network from a reset, with no past.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from rtsr.temporal.motion import backward_flow
from rtsr.temporal.network import RecurrentLayout, next_memory, reset_memory, warp

Run = Callable[[torch.Tensor], torch.Tensor]  # an engine's run: packed LR input -> packed HR output

# Mean |warped previous luma - luma| (model domain, 1.0 = 255 codes) above which the past is dropped.
# On real footage at ×4 it stayed at or below 0.015 (vtest, akiyo, stefan, harbour; 30 frames each), and the
# cut from vtest to akiyo gave 0.23 (docs/temporal.md).
CUT_DIFFERENCE = 0.06
# Frames a segment or a resumed run upscales before its first one, so that its state is close to the one an
# uninterrupted run has there (rtsr.io.reader's warm-up): --jobs 2 against --jobs 1 in docs/temporal.md.
WARMUP_FRAMES = 16


def luma_codes(x: torch.Tensor) -> np.ndarray:
    """(1, 1, H, W) model-domain luma -> (H, W) uint8 studio-range codes on the host (DIS's input)."""
    return (x[0, 0] * 255.0).round_().clamp_(0, 255).to(torch.uint8).cpu().numpy()


def single_frame(run: Run, x: torch.Tensor, layout: RecurrentLayout) -> torch.Tensor:
    """(1, 1, H, W) luma -> (1, 1, H·s, W·s) from a reset: the recurrent network on one picture."""
    return run(torch.cat([x, reset_memory(x, layout)], dim=1))[:, :1]


class Recurrence:
    """The past of one stream of frames; ``step`` upscales the next frame's luma with it."""

    def __init__(self, layout: RecurrentLayout, cut_difference: float = CUT_DIFFERENCE) -> None:
        self.layout, self.cut_difference = layout, cut_difference
        self.memory: torch.Tensor | None = None
        self.previous_codes: np.ndarray | None = None
        self.frames = self.resets = 0
        self.last_difference: float | None = None  # the aligned difference of the last frame (tests, docs)

    def _aligned_memory(self, x: torch.Tensor, codes: np.ndarray) -> torch.Tensor:
        """The memory moved onto this frame, or a fresh one after a cut or a change of size."""
        if self.memory is None or self.memory.shape[-2:] != x.shape[-2:]:
            self.last_difference = None
        else:
            flow = torch.from_numpy(backward_flow(codes, self.previous_codes)).permute(2, 0, 1)[None]
            memory = warp(self.memory, flow.to(x.device))
            self.last_difference = float((memory[:, :1] - x).abs().mean())
            if self.last_difference <= self.cut_difference:
                return memory
        self.resets += 1
        return reset_memory(x, self.layout)

    def step(self, run: Run, x: torch.Tensor) -> torch.Tensor:
        """(1, 1, H, W) luma of the next frame -> its (1, 1, H·s, W·s) HR luma."""
        codes = luma_codes(x)
        out = run(torch.cat([x, self._aligned_memory(x, codes)], dim=1))
        self.memory, self.previous_codes = next_memory(x, out, self.layout.scale), codes
        self.frames += 1
        return out[:, :1]
