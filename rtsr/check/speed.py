"""How fast a run of this clip will go here: every stage timed on the clip's real frame size.

* decode: consecutive frames from the middle of the clip (rtsr.check.sampling);
* convert: the frame path around the network (planes in, colour and chroma
  work, planes out) on real frames, with a stand-in network that costs nothing;
* inference: each usable engine on the real frame size, as ``--engine auto``
  times its candidates (a slice of the frame when a whole one would take
  long), or the engine asked for;
* encode: a short timed encode of consecutive frames at the output size, with
  the run's encoder settings.

On 2 cores the run's stages share the cores, so the expected rate is the
stages back to back (measured runs came within 0.90-1.0 of it,
docs/performance.md); with more cores they overlap, and a run can approach
the limiting stage's own rate, which is reported beside it as the best case.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av

from rtsr.bench_stages import StandInEngine
from rtsr.engines.picking import settle_engine
from rtsr.io.encode import EncodePlan, EncodeSettings, add_video_stream, choose_pix_fmt, timed_encode, video_encoder
from rtsr.io.planes import frame_planes
from rtsr.io.probe import VideoInfo
from rtsr.plane_upscaler import PlaneUpscaler
from rtsr.report import StageClock
from rtsr.runner import Runner

ENCODE_SECONDS = 3.0  # frames are fed to the encoder until this much time has passed (at least MIN_ENCODE)
MIN_ENCODE = 4


@dataclass(frozen=True)
class StageCosts:
    """Seconds per frame of the stages that do not depend on the model's network."""

    decode: float
    convert: dict[str, float]  # per plane kind ("y", "rgb")
    encode: float
    encoded_frames: int  # how many frames the encode timing used


@dataclass(frozen=True)
class EngineSpeed:
    """One model on one engine: the network's rate, and the run's expected rate and duration."""

    model: str
    engine: str
    inference_fps: float
    expected_fps: float  # stages back to back
    best_fps: float  # the limiting stage alone: the most more cores could give
    limiting_stage: str
    clip_seconds: float | None  # the whole clip at expected_fps; None when its length is unknown

    @classmethod
    def of(cls, model: str, engine: str, inference_seconds: float, planes: str, costs: StageCosts,
           frames: int) -> EngineSpeed:
        stages = {"decode": costs.decode, "convert": costs.convert[planes], "inference": inference_seconds,
                  "encode": costs.encode}
        total = sum(stages.values())
        limiting = max(stages, key=stages.__getitem__)
        expected = 1.0 / total if total > 0 else float("inf")
        return cls(model, engine, round(1.0 / inference_seconds, 2), round(expected, 2),
                   round(1.0 / stages[limiting], 2), limiting, round(frames / expected, 1) if frames else None)


def inference_rates(runner: Runner, width: int, height: int) -> dict[str, float]:
    """Seconds per width×height frame of each engine ``runner`` could run (auto's candidates, or its engine).

    Without a GPU, ``--engine auto`` times its candidates here exactly as a run
    does (and records the verdict the run then reads); a named engine or a GPU
    engine is timed on a strip of the frame (Runner.estimate_frame_seconds).
    """
    engine = runner.engine
    if getattr(engine, "pick", None) is not None:  # auto on the CPU: a MeasuredCpuEngine
        verdict = engine.pick(runner.loaded.channels, height, width)
        if verdict.fps:
            return {name: 1 / fps for name, fps in verdict.fps.items()}
    settle_engine(engine, runner.loaded.channels, height, width)
    return {getattr(engine, "current", engine).name: runner.estimate_frame_seconds(width, height)}


def convert_seconds(info: VideoInfo, frames: list[av.VideoFrame], planes: str, scale: int) -> float:
    """Seconds per frame of the frame path around the network, on up to 3 real frames (one untimed first)."""
    out_size = info.layout.encodable_size(info.width * scale, info.height * scale)
    upscale = PlaneUpscaler(StandInEngine(scale, 0.0), planes, scale, info.layout, info.color, out_size,
                            StageClock())
    chosen = frames[:4] if len(frames) > 1 else frames * 2
    times = []
    for frame in chosen:
        started = time.perf_counter()
        upscale(frame_planes(frame, info.layout, info.width, info.height, info.color))
        times.append(time.perf_counter() - started)
    timed = times[1:] or times
    return sum(timed) / len(timed)


def encode_seconds(info: VideoInfo, frames: list[av.VideoFrame], scale: int, settings: EncodeSettings,
                   budget: float = ENCODE_SECONDS) -> tuple[float, int]:
    """Seconds per frame of the run's encoder at the output size, and the frames timed.

    The consecutive ``frames`` are resized to the output size by swscale's
    bicubic (not timed) and encoded as the run's chunks are: one encoder set-up
    (rtsr.io.encode), all cores, the encoder flushed at the end (timed).
    """
    codec = video_encoder(settings.codec)
    out_size = info.layout.encodable_size(info.width * scale, info.height * scale)
    pix_fmt = choose_pix_fmt(codec, info.layout, settings.pix_fmt)
    plan = EncodePlan(muxer="matroska", codec=codec.name, pix_fmt=pix_fmt, size=out_size,
                      time_base=Fraction(1, 1000), rate=info.rate, crf=settings.crf, preset=settings.preset,
                      color=info.color)
    step = round(1000 / float(info.rate)) if info.rate else 40

    def upscaled() -> Iterator[av.VideoFrame]:  # at least MIN_ENCODE frames, the run's frames repeated if fewer
        for index in range(max(MIN_ENCODE, len(frames))):
            big = frames[index % len(frames)].reformat(width=out_size[0], height=out_size[1], format=pix_fmt,
                                                       interpolation="BICUBIC")
            big.pts, big.time_base = index * step, Fraction(1, 1000)
            yield big

    with av.open(_NullSink(), "w", format="matroska") as out:
        seconds, fed = timed_encode(out, add_video_stream(out, plan), upscaled(), budget, MIN_ENCODE)
    return seconds / fed, fed


class _NullSink:
    """A write-only file object that keeps nothing: the timed encode's output is not needed."""

    def __init__(self) -> None:
        self.position = 0

    def write(self, data: bytes) -> int:
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = 0) -> int:  # Matroska rewrites its header at the end
        self.position = offset if whence == 0 else self.position + offset
        return self.position

    def flush(self) -> None:
        """Nothing buffered."""


def stage_costs(info: VideoInfo, decode_seconds: float | None, frames: list[av.VideoFrame], scale: int,
                plane_kinds: set[str], settings: EncodeSettings) -> StageCosts:
    """The model-independent stages' seconds per frame, measured on ``frames`` (consecutive, decoded)."""
    convert = {kind: convert_seconds(info, frames, kind, scale) for kind in sorted(plane_kinds)}
    encode, fed = encode_seconds(info, frames, scale, settings)
    return StageCosts(decode_seconds or 0.0, convert, encode, fed)

