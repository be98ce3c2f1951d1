"""One segment's work, wherever it runs: its packets decoded, upscaled and encoded into one chunk.

The same three stages as a whole-file run (rtsr.pipeline), fed from a
:class:`~rtsr.io.packets.PacketRun` instead of the input file, writing one
chunk that starts with a keyframe. Runs in a worker process (rtsr.segments.pool),
a Ray actor (rtsr.segments.ray_pool) or, for tests, in the caller's process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rtsr.io.chunks import ChunkWriter
from rtsr.io.encode import EncodePlan
from rtsr.io.packets import PacketRun
from rtsr.io.planes import PlaneRing
from rtsr.io.probe import VideoInfo
from rtsr.io.reader import FrameReader
from rtsr.pipeline import DecodeStage, EncodeStage, Pipeline, UpscaleStage, run_stages
from rtsr.report import Report, StageClock
from rtsr.segments.plan import Segment


class PlaneUpscalerSource(Protocol):
    """What builds the per-frame plane function: rtsr.runner.Runner has this method."""

    def plane_upscaler(self, info: VideoInfo, out_size: tuple[int, int],
                       clock: StageClock | None = None) -> PlaneRing: ...


@dataclass(frozen=True)
class SegmentTask:
    """Everything a worker needs besides the packets (small and picklable)."""

    segment: Segment
    info: VideoInfo  # the input's video stream, as the driver probed it
    plan: EncodePlan  # the output's encoder set-up, with this worker's thread count
    label: str = ""  # the input's name, for messages
    warmup: int = 0  # frames before the segment upscaled only to build a recurrent model's state


@dataclass
class SegmentResult:
    """What one segment produced; the chunk itself is in the file the worker was given."""

    index: int
    frames: int
    last_pts: int | None
    stage_seconds: dict[str, float] = field(default_factory=dict)  # this segment's own, summed per stage
    corrupt_packets: int = 0
    resized_frames: int = 0


class SegmentFile:
    """ChunkWriter's destination for one segment: a single file, never split."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.frames, self.last_pts = 0, None

    def partial_path(self) -> Path:
        return self.path

    def commit(self, frames: int, last_pts: int) -> None:
        self.frames, self.last_pts = frames, last_pts

    def discard_partial(self) -> None:
        if not self.frames:
            self.path.unlink(missing_ok=True)


def encode_segment(upscaler: PlaneUpscalerSource, task: SegmentTask, packets: PacketRun,
                   out: Path) -> SegmentResult:
    """Upscale ``task.segment``'s frames from ``packets`` into the chunk file ``out``.

    A segment whose frames all fail to decode writes no file (frames 0).
    Raises DecodeError/EncodeError as a whole-file run would.
    """
    clock = StageClock()
    info, segment = task.info, task.segment
    counts = Report(source=task.label, output=str(out), model="", scale=0, engine="")
    reader = FrameReader.from_packets(packets.decoder.open_decoder(), packets.av_packets(), info.time_base,
                                      first_pts=segment.start, end_pts=segment.end, step=info.frame_step,
                                      clock=clock, deinterlace=info.field_order if info.deinterlace else None,
                                      fields=info.field_rate, warmup=task.warmup)
    destination = SegmentFile(out)
    pipeline = Pipeline()
    writer = ChunkWriter(destination, task.plan, math.inf)
    upscale_planes = upscaler.plane_upscaler(info, task.plan.size, clock)
    try:
        run_stages(DecodeStage(pipeline, reader), UpscaleStage(info, upscale_planes, task.plan.pix_fmt, counts),
                   EncodeStage(pipeline, writer, clock), pipeline)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return SegmentResult(segment.index, destination.frames, destination.last_pts, dict(clock.seconds),
                         reader.corrupt_packets, counts.resized_frames)
