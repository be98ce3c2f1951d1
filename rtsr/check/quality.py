"""The self-downscale test: what each model adds over bicubic on the clip's own frames.

Each sampled frame (the reference) is cropped to a multiple of the scale,
downscaled by the scale with antialiased bicubic (the papers' protocol),
then brought back to the reference's size by bicubic and by each model
(``Upscaler.upscale_image``, the engine and weights a run would use). PSNR
and SSIM against the reference, on BT.601 luma with ``scale`` pixels shaved
at each border (rtsr.metrics), give each model's gain over bicubic. The
gain a model shows one scale down is a good predictor of what it adds at
the clip's own size, because pictures look alike across scales (docs/check.md
says where that fails: video upscaled before, heavy grain).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from rtsr.metrics import psnr, resize_bicubic, rgb_to_y, shave, ssim

SMALL_GAIN_DB = 0.2  # below this, say plainly that super-resolution adds little here
CLEAR_GAIN_DB = 0.5  # from this (and CLEAR_SSIM), the gain is visible
# dB alone misleads on soft pictures: when bicubic already reproduces the shrunk frame at 41 dB, a model
# that reaches 45 dB removes errors of about one code value, which nobody sees. SSIM, which saturates
# near 1, tells: blurred test clips gained under 0.004 however many dB they gained; detailed ones and
# real footage 0.017-0.045 (docs/check.md).
SMALL_SSIM, CLEAR_SSIM = 0.005, 0.015
MODEL_BUDGET_SECONDS = 12.0  # a slow model stops taking frames after this (at least MIN_FRAMES)
MIN_FRAMES = 3
Degrade = Callable[[np.ndarray], np.ndarray]  # (h, w, 3) uint8 RGB -> the same, degraded


@dataclass(frozen=True)
class Spread:
    """Mean, smallest and largest of per-frame values (dB or SSIM)."""

    mean: float
    min: float
    max: float
    std: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        std = statistics.pstdev(values) if len(values) > 1 else 0.0
        return cls(round(statistics.fmean(values), 4), round(min(values), 4), round(max(values), 4), round(std, 4))


@dataclass
class ModelGain:
    """One model's scores on the sampled frames, and its gains over bicubic on the same frames."""

    model: str
    weights: str  # the weights file's digest, first 12 hex digits
    frames: int
    psnr: Spread
    ssim: Spread
    psnr_gain: Spread
    ssim_gain: Spread
    seconds: float  # how long its part of the test took


@dataclass
class GainTest:
    """The test's outcome: the bicubic baseline and each model's gain."""

    scale: int
    frames: int
    bicubic_psnr: Spread
    bicubic_ssim: Spread
    models: list[ModelGain] = field(default_factory=list)
    codec_match: str | None = None  # how the shrunk frames were compressed again (rtsr.check.codec_match)

    def best(self) -> ModelGain | None:
        """The model with the largest PSNR gain (None when no model was tested)."""
        return max(self.models, key=lambda m: m.psnr_gain.mean, default=None)


@dataclass(frozen=True)
class TestFrame:
    """A reference frame, its downscaled copy, and bicubic's scores on it."""

    reference_y: np.ndarray  # (H, W) float64 luma of the reference, border shaved
    low: np.ndarray  # (H/scale, W/scale, 3) uint8 RGB
    bicubic_psnr: float
    bicubic_ssim: float


def prepare_frame(rgb: np.ndarray, scale: int, degrade: Degrade | None = None) -> TestFrame | None:
    """A test frame from (H, W, 3) uint8 RGB; None when the frame is too small to shrink by ``scale``.

    ``degrade`` (e.g. the input's codec again, rtsr.check.codec_match) is applied to the shrunk frame.
    """
    height, width = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
    if height < 8 * scale or width < 8 * scale:
        return None
    reference = rgb[:height, :width]
    low = resize_bicubic(reference, width // scale, height // scale)
    if degrade is not None:
        low = degrade(low)
    reference_y = shave(rgb_to_y(reference), scale)
    bicubic_y = shave(rgb_to_y(resize_bicubic(low, width, height)), scale)
    return TestFrame(reference_y, low, psnr(bicubic_y, reference_y), ssim(bicubic_y, reference_y))


def score(upscaled: np.ndarray, frame: TestFrame, scale: int) -> tuple[float, float]:
    """(PSNR, SSIM) of an upscaled (H, W, 3) uint8 RGB picture against the frame's reference."""
    y = shave(rgb_to_y(upscaled), scale)
    return psnr(y, frame.reference_y), ssim(y, frame.reference_y)


def gain_test(frames: Sequence[np.ndarray], scale: int,
              upscalers: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]],
              budget_seconds: float = MODEL_BUDGET_SECONDS, degrade: Degrade | None = None) -> GainTest | None:
    """Run the test on (H, W, 3) uint8 RGB ``frames``; ``upscalers``: model -> (weights digest, upscale_image).

    A model whose frames take longer than ``budget_seconds`` in all stops
    after MIN_FRAMES frames (or when the budget runs out after them), and
    reports how many it used. None when no frame is big enough to shrink.
    """
    prepared = [t for t in (prepare_frame(rgb, scale, degrade) for rgb in frames) if t is not None]
    prepared = [t for t in prepared if np.isfinite(t.bicubic_psnr)]  # a flat frame says nothing
    if not prepared:
        return None
    test = GainTest(scale, len(prepared), Spread.of([t.bicubic_psnr for t in prepared]),
                    Spread.of([t.bicubic_ssim for t in prepared]))
    for model, (digest, upscale) in upscalers.items():
        started = time.perf_counter()
        scores: list[tuple[float, float, TestFrame]] = []
        for frame in prepared:
            if len(scores) >= MIN_FRAMES and time.perf_counter() - started > budget_seconds:
                break
            p, s = score(upscale(frame.low), frame, scale)
            scores.append((p, s, frame))
        test.models.append(ModelGain(
            model=model, weights=digest[:12], frames=len(scores),
            psnr=Spread.of([p for p, _, _ in scores]), ssim=Spread.of([s for _, s, _ in scores]),
            psnr_gain=Spread.of([p - f.bicubic_psnr for p, _, f in scores]),
            ssim_gain=Spread.of([s - f.bicubic_ssim for _, s, f in scores]),
            seconds=round(time.perf_counter() - started, 2)))
    return test


def gain_level(gain: ModelGain) -> str:
    """"small", "modest" or "clear", by both PSNR and SSIM gain (see SMALL_SSIM)."""
    db, ssim_gain = gain.psnr_gain.mean, gain.ssim_gain.mean
    if db < SMALL_GAIN_DB or ssim_gain < SMALL_SSIM:
        return "small"
    return "clear" if db >= CLEAR_GAIN_DB and ssim_gain >= CLEAR_SSIM else "modest"


def describe_gain(gain: ModelGain, scale: int, bicubic_psnr: float) -> str:
    """What the gain means, in words: "a clear gain", "a modest gain", or plainly that it is small."""
    db, ssim_gain = gain.psnr_gain.mean, gain.ssim_gain.mean
    figures = f"{db:+.2f} dB, SSIM {ssim_gain:+.4f} over bicubic ({gain.model} ×{scale})"
    level = gain_level(gain)
    if level == "small":
        soft = (f"; bicubic alone already reaches {bicubic_psnr:.1f} dB: the errors left are too small to see"
                if db >= SMALL_GAIN_DB else "; bicubic does better here" if db < 0 else "")
        return f"the picture is too soft, noisy or compressed for super-resolution to add much: {figures}{soft}"
    return f"a {level} gain: {figures}"
