"""One input through a pool of segment workers: plan, schedule, resume, final mux.

The driver is the only process that reads the input and writes the output.
It cuts the video into segments (rtsr.segments.plan), sends each unfinished
segment's packets to a free worker, and records each finished chunk in the
work folder (rtsr.io.resume) as it arrives, in any order. When every segment
is done, the chunks and the input's audio, subtitles and cover art are muxed
into the output exactly as in a whole-file run. At most ``jobs`` segments'
packets are in memory at once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass
from typing import Protocol

from rtsr.errors import RtsrError
from rtsr.io.alpha import alpha_beside_packets
from rtsr.io.packets import PacketRun
from rtsr.io.probe import RAW_STREAM_FORMATS
from rtsr.io.resume import WorkFolder
from rtsr.pipeline import OutputJob, finish_output, keep_or_remove, open_work
from rtsr.report import ProgressFactory, Report, StageClock
from rtsr.segments.plan import SegmentPlan, SegmentReader, index_packets, plan_segments
from rtsr.segments.pool import Outcome
from rtsr.segments.worker import SegmentTask

log = logging.getLogger("rtsr")

# Target seconds of input video per segment (--segment-seconds); see docs/performance.md for the measurement.
DEFAULT_SEGMENT_SECONDS = 10.0
ATTEMPTS = 3  # a segment whose worker dies this many times stops the run
_POLL_SECONDS = 0.2


class SegmentPool(Protocol):
    """Local processes (rtsr.segments.pool.LocalPool) or Ray actors (rtsr.segments.ray_pool.RayPool)."""

    @property
    def free(self) -> int: ...

    @property
    def size(self) -> int: ...

    def submit(self, task: SegmentTask, packets: PacketRun, out: os.PathLike) -> None: ...

    def wait(self, timeout: float) -> list[Outcome]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class JobsChoice:
    """How many workers, each with how many threads, and why."""

    jobs: int
    torch_threads: int  # per worker, for the CPU engine
    encoder_threads: int  # per worker, for the video encoder (0: the encoder's own choice)
    reason: str


def choose_jobs(requested: int | None, engine_device: str, cores: int, segments: int,
                engine_name: str = "cpu") -> JobsChoice:
    """Workers for a run: ``requested`` (None: auto), never more than there are segments.

    Auto on the PyTorch cpu engine: one worker per core (up to 16), each with one
    inference and one encoder thread -- on 2 cores, vtest.avi ×3 ran 17.2–17.6
    fps with 2 such workers against 15.0–15.6 fps in one process (docs/performance.md).
    Auto on an OpenVINO engine (``engine_name`` openvino*): one worker per two
    cores, up to 8 -- on 2 cores two workers ran 0.90-1.03× one process
    (docs/performance.md; more cores not yet measured).
    Auto on a GPU: one worker per two cores, up to 8, each encoder with two
    threads, so that libx264 keeps up with the GPU (not yet measured: no GPU
    was at hand).
    """
    if requested is None:
        if engine_device == "cuda":
            jobs, reason = max(1, min(8, cores // 2)), f"auto: {cores} cores, GPU engine"
        elif engine_name.startswith("openvino"):
            jobs, reason = max(1, min(8, cores // 2)), f"auto: {cores} cores, {engine_name} engine"
        else:
            jobs, reason = max(1, min(16, cores)), f"auto: {cores} cores, CPU engine"
    else:
        jobs, reason = requested, "--jobs"
    if jobs > segments:
        reason += f"; the input has {segments} segment{'s' * (segments != 1)}"
        jobs = max(1, segments)
    share = max(1, cores // jobs)
    torch_threads = max(1, share // 2)
    return JobsChoice(jobs, torch_threads, share if jobs > 1 else 0, reason)


def plan_input(job: OutputJob, segment_seconds: float, warmup: int = 0) -> SegmentPlan:
    """The job's input cut into segments (reads the video packets once, no decoding).

    A raw elementary stream (.h264, .hevc, .m2v) has no timestamps to cut at
    and cannot seek back after the reading: it runs as one job, unread.
    """
    video = job.video
    if video.container.format.name in RAW_STREAM_FORMATS:
        return SegmentPlan((), segment_seconds, "a raw elementary stream has no timestamps to cut at")
    if alpha_beside_packets(video.stream):
        return SegmentPlan((), segment_seconds, "its alpha travels beside the packets, which workers do not get")
    return plan_segments(index_packets(video.container, video.stream), video.info.time_base, segment_seconds,
                         warmup)


def run_segments(job: OutputJob, plan: SegmentPlan, pool: SegmentPool, report: Report, clock: StageClock,
                 progress: ProgressFactory | None = None) -> Report:
    """Upscale every unfinished segment of ``plan`` on ``pool``, then write the output; fills ``report``.

    ``job.identity`` is extended with the plan, so a resumed run takes up the
    chunks of the same cut only. On any error or Ctrl-C, the finished
    segments stay in the work folder for the next run.
    """
    started = time.perf_counter()
    job = dataclasses.replace(job, identity={**job.identity, "segments": plan.signature()})
    work = open_work(job)
    done = work.done_segments
    report.resumed_frames = work.frames_done
    if done:
        log.info("resuming: %d of %d segments were upscaled by an earlier run (kept in %s)",
                 len(done), len(plan.segments), work.path)
    reader = SegmentReader(job.video.container, job.video.stream, plan.entries)
    todo = [segment for segment in plan.segments if segment.index not in done]
    attempts = dict.fromkeys((segment.index for segment in todo), 0)
    bar = progress(plan.frames, work.frames_done) if progress else None
    label = job.video.path.name
    running = 0
    report.jobs = pool.size
    try:
        try:
            while todo or running:
                while todo and pool.free:
                    segment = todo.pop(0)
                    attempts[segment.index] += 1
                    pool.submit(SegmentTask(segment, job.video.info, job.plan, label, plan.warmup),
                                reader.read(segment), work.segment_partial_path(segment.index))
                    running += 1
                for outcome in pool.wait(_POLL_SECONDS):
                    running -= 1
                    _settle(outcome, work, report, clock, todo, attempts)
                if bar is not None:
                    bar.update(work.frames_done)
        finally:
            pool.close()
            if bar is not None:
                bar.close()
        finish_output(job, work, report, clock)
    except BaseException:
        work.discard_partials()
        keep_or_remove(work)
        raise
    report.wall_seconds = time.perf_counter() - started
    report.stage_seconds = dict(clock.seconds)
    return report


def _settle(outcome: Outcome, work: WorkFolder, report: Report, clock: StageClock, todo: list,
            attempts: dict[int, int]) -> None:
    """Record a finished segment, retry a lost one, or raise a failed one's error."""
    segment = outcome.task.segment
    if outcome.kind == "lost":
        if attempts[segment.index] >= ATTEMPTS:
            why = outcome.error or "it vanished"
            raise RtsrError(f"segment {segment.index} killed its worker {ATTEMPTS} times; giving up (last: {why}; "
                            "try fewer --jobs)")
        work.segment_partial_path(segment.index).unlink(missing_ok=True)
        todo.insert(0, segment)
        return
    if outcome.kind == "failed":
        raise outcome.error
    result = outcome.result
    work.commit_segment(segment.index, result.frames, result.last_pts)
    if result.frames != segment.frames:
        log.warning("segment %d (%.3f s on) gave %d frames, not the %d its packets hold", segment.index,
                    float(segment.start * outcome.task.info.time_base), result.frames, segment.frames)
    report.frames += result.frames
    if result.last_pts is not None:
        seconds = float(result.last_pts * outcome.task.info.time_base)
        report.last_frame_seconds = max(report.last_frame_seconds, seconds)
    report.corrupt_packets += result.corrupt_packets
    report.resized_frames += result.resized_frames
    for stage, seconds in result.stage_seconds.items():
        clock.add(stage, seconds)
