"""One input to one output: on this process's pipeline, or cut into segments for parallel workers.

    upscale_input ─┬─ one job, or an input that cannot be cut ─▶ pipeline.run_whole
                   └─ several jobs, or --ray ─▶ segments.plan ─▶ LocalPool | RayPool ─▶ segments.driver

Both paths share the output set-up (pipeline.prepare_job), the work folder
and the final mux, so what the output keeps does not depend on the path.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from rtsr.cores import available_cores
from rtsr.io.degradation import judge_video
from rtsr.io.deinterlace import INTERLACED
from rtsr.io.encode import EncodeSettings
from rtsr.io.probe import InputVideo
from rtsr.pipeline import prepare_job, run_whole
from rtsr.report import ProgressFactory, Report, StageClock
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS, choose_jobs, plan_input, run_segments
from rtsr.segments.pool import LocalPool, WorkerSpec

if TYPE_CHECKING:
    from rtsr.runner import Runner

log = logging.getLogger("rtsr")


@dataclass(frozen=True)
class RunOptions:
    """How a run is carried out; the output's content depends only on ``settings`` (and the model).

    ``jobs``: segment workers, None for auto (rtsr.segments.driver.choose_jobs);
    ``ray``: None for local workers, "" for Ray's default cluster (RAY_ADDRESS or
    a local one), else a cluster address; ``checkpoint_seconds``: how often a
    one-job run saves its work.
    """

    settings: EncodeSettings
    jobs: int | None = None
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS
    ray: str | None = None
    overwrite: bool = False
    progress: ProgressFactory | None = None  # where the run reports its frames (None: nowhere)
    checkpoint_seconds: float = 60.0
    ray_timeout: float = 10.0  # seconds a Ray cluster at an address may take to answer


def _describe_engine(runner: Runner, report: Report) -> None:
    """Put the engine that runs, and how auto picked it, into the report."""
    report.engine = runner.engine_description()
    verdict = runner.engine_verdict()
    if verdict is not None:  # once, however often the engine was settled (driver, then a whole run)
        report.engine_notes = [note for note in report.engine_notes if note != verdict] + [verdict]


def _settle_for_workers(runner: Runner, video: InputVideo, threads: int, report: Report) -> str:
    """The engine local workers run: ``auto`` on the CPU is measured here, once, with a worker's threads.

    The workers then build the winner by name, instead of each timing the
    candidates beside the others (which would disturb every measurement).
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        runner.prepare_engine(video.info.width, video.info.height, video.info.layout.bits)
    finally:
        torch.set_num_threads(before)
    _describe_engine(runner, report)
    return runner.engine.name


def upscale_input(runner: Runner, video: InputVideo, dst: Path, options: RunOptions, report: Report,
                  clock: StageClock) -> Report:
    """Upscale the opened ``video`` into ``dst`` with ``runner`` (rtsr.runner: the spec chosen for this input,
    loaded); fills and returns ``report``."""
    job = prepare_job(video, dst, runner.scale, options.settings, runner.identity, options.overwrite, report)
    info = video.info
    if info.deinterlace:
        order = {"tff": "top field first", "bff": "bottom field first"}.get(info.field_order, "field order per frame")
        per = "field, at twice" if info.field_rate else "frame, at"
        report.deinterlaced = f"bwdif, {order}; one frame per {per} the input's frame rate"
    elif info.field_order in INTERLACED:
        log.warning("the input is interlaced (%s) and --deinterlace is off: the fields' comb is upscaled into the "
                    "picture", info.field_order)
        report.deinterlaced = f"NOT deinterlaced: the input is interlaced ({info.field_order}), --deinterlace off"
    judged = judge_video(video)  # as the weights were picked (kept on the opened input)
    if judged.heavy:  # the summary then points to `rtsr check`
        report.heavy_compression = judged.reason

    def whole() -> Report:
        try:
            with runner.engine.sharing_cores():
                planes = runner.plane_upscaler(video.info, job.plan.size, clock)  # settles the engine
                _describe_engine(runner, report)
                return run_whole(job, planes, report, clock, options.progress, options.checkpoint_seconds,
                                 runner.warmup_frames)
        finally:
            state = getattr(runner.engine, "compile_state", None)  # the cuda engine's (rtsr.engines.compiled)
            if state is not None:
                report.engine_notes.append(state)

    if (options.jobs == 1 and options.ray is None) or info.field_rate:
        if info.field_rate and (options.jobs != 1 or options.ray is not None):
            report.jobs_reason = "one job: segments are cut in frames, and a field-rate output has two per frame"
        return whole()
    plan = plan_input(job, options.segment_seconds, runner.warmup_frames)
    if plan.unsplittable:
        log.warning("running one job: the input cannot be cut into segments (%s)", plan.unsplittable)
        report.jobs_reason = f"the input cannot be cut into segments: {plan.unsplittable}"
        return whole()
    log_level = logging.getLogger("rtsr").getEffectiveLevel()
    if options.ray is not None:
        from rtsr.segments.ray_pool import RayPool  # noqa: PLC0415  (Ray is an optional extra)

        pool = RayPool(options.ray, WorkerSpec(runner.spec, log_level=log_level), options.jobs,
                       len(plan.segments), options.ray_timeout)
        report.jobs_reason = pool.reason
        job = dataclasses.replace(job, plan=dataclasses.replace(job.plan, threads=pool.encoder_threads))
    else:
        device, cores = runner.engine.device.type, available_cores()
        choice = choose_jobs(options.jobs, device, cores, len(plan.segments), runner.engine.name)
        if choice.jobs > 1 and device == "cpu":  # auto's CPU engine, measured with a worker's threads
            engine = _settle_for_workers(runner, video, choice.torch_threads, report)
            choice = choose_jobs(options.jobs, device, cores, len(plan.segments), engine)
        report.jobs_reason = choice.reason
        if choice.jobs == 1:
            return whole()
        job = dataclasses.replace(job, plan=dataclasses.replace(job.plan, threads=choice.encoder_threads))
        _settle_for_workers(runner, video, choice.torch_threads, report)
        pool = LocalPool(choice.jobs, WorkerSpec(runner.worker_spec(), choice.torch_threads, log_level))
    log.info("%d segments of about %g s on %d workers (%s)", len(plan.segments), plan.target_seconds,
             pool.size, report.jobs_reason)
    return run_segments(job, plan, pool, report, clock, options.progress)
