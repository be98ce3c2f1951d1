"""``rtsr check CLIP``: will upscaling help this clip, how long will it take here, and what to run.

    describe the input (header only) ─▶ sample a dozen frames over the clip
      ─▶ the input's quantiser, read from 48 frames (rtsr.check.codec_match)
      ─▶ self-downscale gain test per model, the shrunk frames compressed again so (rtsr.check.quality)
      ─▶ decode a short run, time convert and encode on it, time each engine (rtsr.check.speed)
      ─▶ recommendation (rtsr.check.advice)

It samples and never decodes the whole file, so its time does not grow with
the clip's length (docs/check.md has the figures).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rtsr.check.advice import Recommendation, default_output, recommend, speed_sentence
from rtsr.check.codec_match import choose_match, x264_roundtrip
from rtsr.check.quality import GainTest, gain_test
from rtsr.check.sampling import decode_run, sample_frames
from rtsr.check.speed import EngineSpeed, StageCosts, inference_rates, stage_costs
from rtsr.engines.picking import machine_tag
from rtsr.errors import InputError
from rtsr.io.degradation import judge_video
from rtsr.io.describe import InputDescription, describe_input
from rtsr.io.encode import EncodeSettings
from rtsr.io.probe import InputVideo
from rtsr.text import counted
from rtsr.version import __version__

SCHEMA = "rtsr-check-1"
SAMPLE_FRAMES = 12
CPU_MODELS = ("fsrcnn", "srcnn")  # SRResNet takes seconds a frame on a CPU: only when asked for
GPU_MODELS = ("fsrcnn", "srcnn", "srresnet")


@dataclass
class CheckReport:
    """Everything ``rtsr check`` found; ``to_json()`` for scripts, ``lines()`` for people."""

    input: InputDescription
    scale: int
    sampled_seconds: list[float]
    spread_over_clip: bool  # False: the clip's length was unknown, the first frames were used
    interlaced_samples: int  # sampled frames flagged interlaced
    quality: GainTest | None
    stages: StageCosts
    speeds: list[EngineSpeed]
    recommendation: Recommendation
    machine: str
    elapsed_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"schema": SCHEMA, "rtsr": __version__, "input": asdict(self.input), "scale": self.scale,
                "samples": {"frames": len(self.sampled_seconds), "seconds": self.sampled_seconds,
                            "spread_over_clip": self.spread_over_clip, "interlaced": self.interlaced_samples},
                "quality": asdict(self.quality) if self.quality else None,
                "speed": {"machine": self.machine, "stages_ms": _stages_ms(self.stages),
                          "encoded_frames": self.stages.encoded_frames,
                          "engines": [asdict(s) for s in self.speeds]},
                "recommendation": asdict(self.recommendation), "notes": self.notes,
                "elapsed_seconds": round(self.elapsed_seconds, 2)}

    def lines(self) -> list[str]:
        rec, desc = self.recommendation, self.input
        out = [f"input: {desc.path}", *("  " + line for line in desc.lines())]
        if self.interlaced_samples:
            out.append(f"  {self.interlaced_samples} of {len(self.sampled_seconds)} sampled frames are "
                       "flagged interlaced: rtsr upscales them as progressive pictures (the comb is enlarged)")
        if self.quality is not None:
            q = self.quality
            tested = "the picture" if desc.picture else \
                f"{counted(q.frames, 'frame')} " \
                f"({'spread over the clip' if self.spread_over_clip else 'the first frames'})"
            out.append(f"quality ×{q.scale}, self-downscale test on {tested}: bicubic {q.bicubic_psnr.mean:.2f} dB")
            if q.codec_match:
                out.append(f"  the shrunk frames were compressed again as the input is: {q.codec_match}")
            for g in q.models:
                spread = f" (frames {g.psnr_gain.min:+.2f} to {g.psnr_gain.max:+.2f})" if q.frames > 1 else ""
                out.append(f"  {g.model:<9} {g.psnr_gain.mean:+.2f} dB over bicubic{spread}, "
                           f"SSIM {g.ssim_gain.mean:+.4f}"
                           + (f", on {counted(g.frames, 'frame')}" if g.frames < q.frames else ""))
        if desc.picture:
            return out + self._picture_lines()
        out.append(f"speed here, {self.input.width}×{self.input.height} → ×{self.scale} "
                   f"({self.machine}); per frame: decode {1000 * self.stages.decode:.1f} ms, frame work "
                   + ", ".join(f"{1000 * s:.1f} ms ({kind})" for kind, s in self.stages.convert.items())
                   + f", encode {1000 * self.stages.encode:.1f} ms")
        for s in self.speeds:
            out.append(f"  {s.model:<9} {s.engine:<14} network {s.inference_fps:7.2f} fps → run {s.expected_fps:6.2f}"
                       f" fps (limited by {s.limiting_stage}; up to {s.best_fps:.1f} with the stages overlapped)")
        out.append(f"verdict: {rec.verdict}")
        out.append(f"time: {speed_sentence(rec, self.input.frames)}")
        out += [f"note: {note}" for note in self.notes]
        out.append(f"run: {rec.command}")
        return out

    def _picture_lines(self) -> list[str]:
        """Speed, verdict and command for one still picture: time per picture, no rates or real time."""
        rec = self.recommendation
        size = f"{self.input.width}×{self.input.height} → ×{self.scale}"
        out = [f"time here for the picture, {size} ({self.machine}):"]
        out += [f"  {s.model:<9} {s.engine:<14} about {1000 / s.expected_fps:.0f} ms "
                f"(network {1000 / s.inference_fps:.1f} ms)" for s in self.speeds]
        out.append(f"verdict: {rec.verdict}")
        out += [f"note: {note}" for note in self.notes]
        out.append(f"run: {rec.command}")
        return out


def _stages_ms(costs: StageCosts) -> dict[str, object]:
    return {"decode": round(1000 * costs.decode, 2), "encode": round(1000 * costs.encode, 2),
            "convert": {kind: round(1000 * s, 2) for kind, s in costs.convert.items()}}


def default_models(engine_device: str) -> tuple[str, ...]:
    return GPU_MODELS if engine_device == "cuda" else CPU_MODELS


def run_check(path: Path, scale: int, models: tuple[str, ...] | None, make_upscaler, settings: EncodeSettings,
              extra_args: list[str], sample_count: int = SAMPLE_FRAMES) -> CheckReport:
    """Check ``path`` at ``scale``; ``make_upscaler(model)`` builds the Upscaler a run would use, which
    chooses the weights a run would pick for this input.

    ``models`` None: FSRCNN and SRCNN on a CPU, SRResNet too on a GPU.
    """
    started = time.perf_counter()
    with InputVideo.open(path) as video:
        description = describe_input(video)
        samples, first_frames = sample_frames(video, sample_count)
        if not samples:
            raise InputError(f"{path}: no frame could be decoded")
        spread = first_frames is None
        run = decode_run(video) if spread else first_frames  # a clip without a length: its first frames
        judged = judge_video(video)  # the weights a run would pick (rtsr.io.degradation)
    info = video.info
    first_model = (models or CPU_MODELS)[0]
    first = make_upscaler(first_model)
    chosen = {first_model: first.runner_judged(lambda: judged)}  # (runner, why its weights)
    device = chosen[first_model][0].engine.device.type
    models = models or default_models(device)
    chosen.update({m: make_upscaler(m).runner_judged(lambda: judged) for m in models[1:]})
    upscalers = {m: runner for m, (runner, _) in chosen.items()}
    notes = [f"weights: {', '.join(why for _, why in chosen.values())}"]
    if not spread and not description.picture and not description.duration_seconds:
        notes.append("the clip's length is unknown: its first frames were tested")
    for model, upscaler in upscalers.items():
        if upscaler.loaded.recurrent:
            notes.append(f"{model} was tested on single frames, as it runs on the first frame of a scene: what it "
                         "gains from the frames before is not in this test (docs/temporal.md has it measured)")
    match = choose_match(path, description.codec, judged)
    if match is not None and match.mode == "crf":
        notes.append(f"the input is {description.codec}, whose quantiser rtsr cannot read: the shrunk frames were "
                     f"compressed again at {match.describe()}, a rougher prediction than for H.264")
    if run.seconds_per_frame is None and not description.picture:
        notes.append("fewer than two consecutive frames could be decoded: decode time not measured")
    quality = gain_test([s.rgb() for s in samples], scale,
                        {m: (u.loaded.weights_sha256, u.upscale_rgb) for m, u in upscalers.items()},
                        degrade=(lambda low: x264_roundtrip(low, match)) if match is not None else None)
    if quality is not None and match is not None:
        quality.codec_match = match.describe()
    frames_for_timing = run.frames or [s.frame for s in samples]
    costs = stage_costs(info, run.seconds_per_frame, frames_for_timing, scale,
                        {u.loaded.planes for u in upscalers.values()},
                        dataclasses.replace(settings, codec=first.codec_for(
                            settings.codec, default_output(path, scale), info.hdr is not None)))
    speeds = [EngineSpeed.of(m, engine, seconds, u.loaded.planes, costs, info.frames)
              for m, u in upscalers.items()
              for engine, seconds in inference_rates(u, info.width, info.height).items()]
    rec = recommend(path, scale, quality, speeds, device, description.duration_seconds, extra_args,
                    picture=description.picture, fps=description.fps)
    interlaced = sum(1 for s in samples if s.frame.interlaced_frame)
    report = CheckReport(description, scale, [round(s.seconds, 3) for s in samples], spread, interlaced,
                         quality, costs, speeds, rec, machine_tag(), notes=notes)
    report.elapsed_seconds = time.perf_counter() - started
    return report
