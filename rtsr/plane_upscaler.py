"""Upscale one picture's planes with an engine: the YUV-native frame path and the RGB image path.

Y models (FSRCNN, SRCNN, the recurrent RLSP) see only the luma plane; chroma planes are resized
bicubically by exactly ``scale``, from the input's chroma siting to the one
rtsr writes. RGB models (SRResNet) see RGB converted with the stream's own
matrix and range, and their output is converted back and chroma-subsampled
at the siting rtsr writes. Planes are integer code values,
(H, W) numpy arrays of uint8 (8-bit) or uint16 (10/12-bit).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Literal, Protocol, TypeVar

import numpy as np
import torch

from rtsr.color import (
    luma_to_model,
    model_to_luma,
    planes_to_rgb,
    resample_chroma,
    resize_plane,
    rgb_to_yuv,
    subsample_chroma,
    to_codes,
    yuv_to_rgb,
)
from rtsr.formats import OUTPUT_CHROMA_SITING, ColorInfo, PlaneLayout
from rtsr.frame_ring import FrameRing, Timer, default_depth
from rtsr.report import StageClock
from rtsr.temporal.network import RecurrentLayout
from rtsr.temporal.state import Recurrence, single_frame

T = TypeVar("T")


def _copies(planes: list[np.ndarray]) -> list[np.ndarray]:
    return [plane.copy() for plane in planes]


class Engine(Protocol):
    """What frames need of an engine (see rtsr.engines)."""

    name: str
    device: torch.device

    def run(self, x: torch.Tensor) -> torch.Tensor: ...

    def timer(self) -> Timer: ...

    def synchronize(self) -> None: ...

    def sharing_cores(self) -> AbstractContextManager[None]: ...


class PlaneUpscaler:
    """Maps the planes of a W×H frame to the planes of its out_w×out_h upscaled version.

    ``out_size`` may be smaller than (W·scale, H·scale) by the pixel or two a
    subsampled format needs to be even; the picture is cropped at the right
    and bottom, never resampled, so chroma stays aligned with luma.

    All of a frame's work after the upload -- colour work, the network,
    rounding to output codes -- runs on the engine's device. Frames go
    through a :class:`~rtsr.frame_ring.FrameRing` of ``depth`` slots
    (default: rtsr.frame_ring.default_depth): ``submit``/``drain`` keep up to
    ``depth`` frames in flight on a GPU; calling the object runs one frame
    to completion.

    ``recurrent``: the network is recurrent (rtsr.temporal): frames must come
    in display order, one stream per PlaneUpscaler, and each carries the
    past of the ones before (rtsr.temporal.state.Recurrence).
    """

    def __init__(self, engine: Engine, planes: Literal["y", "rgb"], scale: int,
                 layout: PlaneLayout, color: ColorInfo, out_size: tuple[int, int],
                 clock: StageClock | None = None, depth: int | None = None,
                 recurrent: RecurrentLayout | None = None) -> None:
        self.engine, self.planes, self.scale = engine, planes, scale
        self.recurrence = Recurrence(recurrent) if recurrent else None
        self.layout, self.color = layout, color
        self.out_w, self.out_h = out_size
        self.clock = clock or StageClock()
        # Output codes: uint8, or int16 holding up to 12 bits (viewed as uint16 on the host).
        self.dtype = torch.uint8 if layout.bits == 8 else torch.int16
        self.ring: FrameRing = FrameRing(engine.device, self._compute,
                                         depth or default_depth(engine.device), self.clock)

    def submit(self, planes: list[np.ndarray], finish: Callable[[list[np.ndarray]], T]) -> list[T]:
        """Start one frame (three (H, W) code-value arrays in ``layout``); results of frames done by now.

        ``finish`` gets the output's three planes as views of reused buffers
        and must copy what it keeps (see FrameRing.submit).
        """
        return self.ring.submit(planes, finish)

    def drain(self) -> list:
        """Finish every frame in flight; their ``finish`` results, oldest first."""
        return self.ring.drain()

    def __call__(self, planes: list[np.ndarray]) -> list[np.ndarray]:
        """Three (H, W)-shaped code-value arrays in ``layout`` -> the output's three planes (fresh arrays).

        The synchronous path (live, benchmarks); not to be mixed with
        frames submitted and not yet drained.
        """
        if self.ring.in_flight:
            raise RuntimeError("PlaneUpscaler called with frames in flight: drain() them first")
        done = self.ring.submit(planes, _copies) or self.ring.drain()
        return done[0]

    @torch.inference_mode()
    def _compute(self, planes: list[torch.Tensor]) -> tuple[list[torch.Tensor], Timer]:
        """The device work of one frame: its device planes -> the output's, and the network's timer."""
        y, u, v = planes
        timer = self.engine.timer()
        if self.planes == "y":
            return self._upscale_luma_model(y, u, v, timer), timer
        return self._upscale_rgb_model(y, u, v, timer), timer

    def _infer(self, x: torch.Tensor, timer: Timer) -> torch.Tensor:
        """The network on x; a recurrent one with its past (motion and warping counted as inference)."""
        timer.start()
        out = self.recurrence.step(self.engine.run, x) if self.recurrence else self.engine.run(x)
        timer.stop()
        return out

    def _upscale_luma_model(self, y: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                            timer: Timer) -> list[torch.Tensor]:
        bits, full = self.layout.bits, self.color.full_range
        hr = self._infer(luma_to_model(y, bits, full), timer)
        y_out = model_to_luma(hr, bits, full, self.dtype)[: self.out_h, : self.out_w]
        cw, ch = self.layout.chroma_size(self.out_w, self.out_h)
        shift, siting = self.layout.chroma_shift, self.color.chroma_siting
        chroma = [
            to_codes(resample_chroma(c, self.scale, shift, siting, shift, OUTPUT_CHROMA_SITING)[:ch, :cw],
                     bits, self.dtype)
            for c in (u, v)
        ]
        return [y_out, *chroma]

    def _upscale_rgb_model(self, y: torch.Tensor, u: torch.Tensor, v: torch.Tensor,
                           timer: Timer) -> list[torch.Tensor]:
        bits, full, matrix = self.layout.bits, self.color.full_range, self.color.matrix
        rgb = planes_to_rgb(y, u, v, self.layout, self.color)
        hr = self._infer(rgb[None], timer)[0, :, : self.out_h, : self.out_w].clamp_(0.0, 1.0)
        y_hr, u_hr, v_hr = rgb_to_yuv(hr, matrix, bits, full)
        shift = self.layout.chroma_shift
        return [
            to_codes(y_hr, bits, self.dtype),
            to_codes(subsample_chroma(u_hr, shift, OUTPUT_CHROMA_SITING), bits, self.dtype),
            to_codes(subsample_chroma(v_hr, shift, OUTPUT_CHROMA_SITING), bits, self.dtype),
        ]


@torch.inference_mode()
def upscale_rgb_image(engine: Engine, planes: Literal["y", "rgb"], scale: int,
                      rgb: np.ndarray, recurrent: RecurrentLayout | None = None) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H·scale, W·scale, 3) uint8 RGB.

    Y models get BT.601 studio-range luma, as in the papers' evaluation;
    chroma is upscaled bicubically. Computed in float throughout, rounded once.
    A recurrent network (``recurrent``) runs as on the first frame of a video.
    """
    device = engine.device
    x = torch.tensor(rgb, device=device).permute(2, 0, 1).float() / 255.0  # a copy: callers may pass read-only arrays
    if planes == "rgb":
        out = engine.run(x[None])[0]
    else:
        y, cb, cr = rgb_to_yuv(x, "bt601", 8, False)
        luma = y[None, None] / 255.0
        y_hr = (single_frame(engine.run, luma, recurrent) if recurrent else engine.run(luma))[0, 0] * 255.0
        h, w = y_hr.shape
        out = yuv_to_rgb(y_hr, resize_plane(cb, h, w), resize_plane(cr, h, w), "bt601", 8, False)
    engine.synchronize()
    out = (out.clamp(0.0, 1.0) * 255.0).round_().to(torch.uint8)
    return out.permute(1, 2, 0).contiguous().cpu().numpy()
