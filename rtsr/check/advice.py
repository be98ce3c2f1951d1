"""From the measurements to a recommendation: model, engine, jobs and the command line to run.

The model: the one with the largest gain over bicubic, unless a faster one
comes within TIE_DB of it (a tenth of a dB is not worth hours). The engine:
the fastest measured for that model. ``--jobs``: what ``--jobs auto`` would
take for that engine on this machine (rtsr.segments.driver.choose_jobs).
When even the best gain is small (rtsr.check.quality.gain_level), the recommendation still names the
fastest model but says plainly that a plain resize gives nearly the same.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from rtsr.check.quality import GainTest, describe_gain, gain_level
from rtsr.check.speed import EngineSpeed
from rtsr.cores import available_cores
from rtsr.io.output import OUTPUT_FORMATS
from rtsr.report import clock_time, realtime_fps
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS, choose_jobs
from rtsr.text import counted

TIE_DB = 0.1


@dataclass(frozen=True)
class Recommendation:
    """What ``rtsr check`` tells the user to run, and why."""

    model: str
    scale: int
    engine: str
    jobs: int
    output: str
    command: str
    worth_it: bool | None  # None when the clip is too small to test
    verdict: str  # the gain in words
    expected_fps: float
    realtime_ratio: float
    clip_seconds: float | None
    limiting_stage: str


def default_output(path: Path, scale: int, picture: bool = False) -> Path:
    """Beside the input: clip_x3.mp4 (a container rtsr cannot write becomes .mkv); a picture: photo_x3.png
    (PNG, lossless: a JPEG written again would lose detail the network just added)."""
    suffix = ".png" if picture else path.suffix if path.suffix.lower() in OUTPUT_FORMATS else ".mkv"
    return path.with_name(f"{path.stem}_x{scale}{suffix}")


def _fastest(speeds: list[EngineSpeed], model: str) -> EngineSpeed:
    return max((s for s in speeds if s.model == model), key=lambda s: s.expected_fps)


def choose_model(test: GainTest | None, speeds: list[EngineSpeed]) -> str:
    """The model to run: best gain, or a faster one within TIE_DB of it; the fastest when untested."""
    models = list(dict.fromkeys(s.model for s in speeds))
    if test is None or not test.models:
        return max(models, key=lambda m: _fastest(speeds, m).expected_fps)
    best = test.best()
    close = [g.model for g in test.models if g.psnr_gain.mean >= best.psnr_gain.mean - TIE_DB and g.model in models]
    if gain_level(best) == "small":  # nothing gains much: the cheapest does the least harm to the schedule
        close = [g.model for g in test.models if g.model in models]
    return max(close, key=lambda m: _fastest(speeds, m).expected_fps)


def recommend(path: Path, scale: int, test: GainTest | None, speeds: list[EngineSpeed], device: str,
              duration: float | None, extra_args: list[str], picture: bool = False,
              fps: float | None = None) -> Recommendation:
    """The recommendation for ``path`` at ``scale`` (``extra_args``: encoder flags the user gave, kept;
    ``picture``: one still picture, written as a PNG, without jobs or encoder flags; ``fps``: the input's
    frame rate, which real time means for it)."""
    model = choose_model(test, speeds)
    speed = _fastest(speeds, model)
    segments = max(1, math.ceil(duration / DEFAULT_SEGMENT_SECONDS)) if duration else 1
    jobs = 1 if picture else choose_jobs(None, device, available_cores(), segments, speed.engine).jobs
    output = default_output(path, scale, picture)
    command = shlex.join(["rtsr", str(path), "-o", str(output), "--scale", str(scale), "--model", model,
                          "--engine", speed.engine, *([] if picture else ["--jobs", str(jobs), *extra_args])])
    gain = next((g for g in test.models if g.model == model), None) if test else None
    if gain is None:
        worth_it, verdict = None, "the frames are too small to test the gain"
    else:
        best = test.best()
        worth_it = gain_level(best) != "small"
        verdict = describe_gain(best, scale, test.bicubic_psnr.mean)
        if not worth_it:
            verdict += (f"; a plain resize (ffmpeg -vf scale=iw*{scale}:ih*{scale}:flags=bicubic) gives nearly "
                        "the same picture")
        elif best.model != model:
            verdict += f"; {model} comes within {TIE_DB} dB of it ({gain.psnr_gain.mean:+.2f} dB) and runs faster"
    return Recommendation(model, scale, speed.engine, jobs, str(output), command, worth_it, verdict,
                          speed.expected_fps, round(speed.expected_fps / realtime_fps(fps), 3), speed.clip_seconds,
                          speed.limiting_stage)


def speed_sentence(rec: Recommendation, frames: int) -> str:
    """"about 0:12:31 for 18000 frames here (24.0 fps, 1.00× real time; limited by encode)"."""
    total = f"about {clock_time(rec.clip_seconds)} for {counted(frames, 'frame')} here" if rec.clip_seconds else "here"
    return (f"{total} ({rec.expected_fps:.1f} fps, {rec.realtime_ratio:.2f}× real time; "
            f"limited by {rec.limiting_stage})")
