"""Stage-alone rates for ``rtsr bench --e2e``: is the pipeline, or the hardware, the limit?

Each stage of the file pipeline is timed on its own, on the same clip and
with the same settings as the end-to-end run, with nothing else running:

* **decode**: the input's frames through FrameReader (demux + decode);
* **engine**: each decoded frame to its upscaled frame -- planes out, the
  network, planes back, including host↔device copies on a GPU -- through the
  pipeline's own upscale stage (with its frames in flight on a GPU,
  rtsr.frame_ring); the decode before each frame is not timed;
* **encode**: the upscaled frames (decoded back from the run's output, not
  timed) through an encoder set up exactly as the run's.

The pipeline overlaps the three, so at best it runs at the slowest stage's
rate: ``efficiency = end-to-end fps / slowest stage's fps``. Run back to
back, with no overlap at all, they would give ``1 / Σ (1 / rate)``.

A stand-in engine (:class:`StandInEngine`) sleeps a fixed time per frame
without holding the GIL: with it, the efficiency shows whether the stages
really overlap, whatever the machine.

On a GPU, :func:`measure_nvdec` compares decoding on the CPU with NVDEC
(FFmpeg's CUDA hardware decoding through PyAV), both up to the planes the
upscale stage takes, since NVDEC's frames come back as NV12 and need
converting. rtsr decodes on the CPU until such a comparison shows NVDEC
faster.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import torch
import torch.nn.functional as F
from av.codec.hwaccel import HWAccel, hwdevices_available

from rtsr.engines.base import HostTimer
from rtsr.io.encode import EncodePlan, add_video_stream, timed_encode
from rtsr.io.planes import frame_planes
from rtsr.io.probe import InputVideo, VideoInfo
from rtsr.io.reader import FrameReader
from rtsr.pipeline import UpscaleStage
from rtsr.report import Report
from rtsr.runner import Runner


@dataclass(frozen=True)
class StageRates:
    """Frames per second of each stage alone."""

    decode: float
    engine: float
    encode: float

    @property
    def slowest(self) -> str:
        return min(("decode", "engine", "encode"), key=lambda stage: getattr(self, stage))

    @property
    def slowest_fps(self) -> float:
        return getattr(self, self.slowest)

    @property
    def back_to_back_fps(self) -> float:
        """The rate of the three stages run one after the other for every frame (no overlap)."""
        return 1.0 / sum(1.0 / max(rate, 1e-9) for rate in (self.decode, self.engine, self.encode))


class StandInEngine:
    """An engine that waits ``milliseconds`` per frame (GIL released) and returns a nearest-neighbour upscale."""

    name = "stand-in"
    device = torch.device("cpu")

    def __init__(self, scale: int, milliseconds: float) -> None:
        self.scale, self.seconds = scale, milliseconds / 1000

    def run(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(self.seconds)  # releases the GIL, as a GPU engine waiting on its device does
        return F.interpolate(x, scale_factor=self.scale, mode="nearest")

    def timer(self) -> HostTimer:
        return HostTimer()

    def synchronize(self) -> None:
        """Nothing queued."""

    def sharing_cores(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()


@dataclass(frozen=True)
class DecoderComparison:
    """Decode-to-planes rates on the CPU and with NVDEC (None, with the reason, where NVDEC cannot run)."""

    software_fps: float
    nvdec_fps: float | None
    nvdec_note: str  # "used" (the decoder reported hardware decoding) or why there is no figure


def _decode_to_planes_fps(source: Path, info: VideoInfo, hwaccel: HWAccel | None) -> tuple[float, bool]:
    """Frames per second of demux + decode + conversion to the run's planes; and whether hardware decoded."""
    with av.open(str(source), hwaccel=hwaccel) as container:
        stream = container.streams[info.index]
        started, frames = time.perf_counter(), 0
        for frame in FrameReader(container, stream, step=info.frame_step).frames():
            frame_planes(frame, info.layout, info.width, info.height, info.color)
            frames += 1
        seconds = time.perf_counter() - started
        return (frames / seconds if seconds else 0.0), bool(stream.codec_context.is_hwaccel)


def measure_nvdec(source: Path) -> DecoderComparison:
    """Decoding ``source`` on the CPU against NVDEC, each up to the upscale stage's planes."""
    with InputVideo.open(source) as video:
        info = video.info
    software, _ = _decode_to_planes_fps(source, info, None)
    if "cuda" not in hwdevices_available():
        return DecoderComparison(software, None, "this PyAV's FFmpeg has no CUDA hardware decoding")
    try:
        nvdec, used = _decode_to_planes_fps(source, info, HWAccel("cuda", allow_software_fallback=False))
    except av.FFmpegError as err:
        return DecoderComparison(software, None, f"NVDEC could not decode it: {err}")
    if not used:
        return DecoderComparison(software, None, "the decoder did not use NVDEC")
    return DecoderComparison(software, nvdec, "used")


def measure_stage_rates(runner: Runner, source: Path, upscaled: Path, codec: str, crf: float | None,
                        preset: str | None, scratch: Path) -> StageRates:
    """Each stage alone on ``source`` (and ``upscaled``, the end-to-end run's output), in frames per second."""
    with InputVideo.open(source) as video:
        reader = FrameReader(video.container, video.stream, step=video.info.frame_step)
        started = time.perf_counter()
        decoded = sum(1 for _ in reader.frames())
        decode_fps = decoded / (time.perf_counter() - started)
    return StageRates(decode_fps, _engine_fps(runner, source, upscaled),
                      _encode_fps(upscaled, codec, crf, preset, scratch))


def _engine_fps(runner: Runner, source: Path, upscaled: Path) -> float:
    with av.open(str(upscaled)) as output:
        out_stream = output.streams.video[0]
        out_size, pix_fmt = (out_stream.width, out_stream.height), out_stream.codec_context.pix_fmt
    with InputVideo.open(source) as video:
        info = video.info
        stage = UpscaleStage(info, runner.plane_upscaler(info, out_size), pix_fmt,
                             Report(source=str(source), output="", model="", scale=0, engine=""))
        seconds, frames = 0.0, 0
        for frame in FrameReader(video.container, video.stream, step=info.frame_step).frames():
            started = time.perf_counter()
            frames += len(stage.push(frame))
            seconds += time.perf_counter() - started
        started = time.perf_counter()
        frames += len(stage.flush())
        seconds += time.perf_counter() - started
    return frames / seconds if seconds else 0.0


def _encode_fps(upscaled: Path, codec: str, crf: float | None, preset: str | None, scratch: Path) -> float:
    with av.open(str(upscaled)) as source:
        stream = source.streams.video[0]
        ctx = stream.codec_context
        plan = EncodePlan(muxer="mp4", codec=codec, pix_fmt=ctx.pix_fmt, size=(ctx.width, ctx.height),
                          time_base=stream.time_base, rate=Fraction(stream.average_rate) if stream.average_rate
                          else None, crf=crf, preset=preset)
        with av.open(str(scratch), "w", format="mp4") as out:
            seconds, frames = timed_encode(out, add_video_stream(out, plan), source.decode(stream))
    return frames / seconds if seconds else 0.0
