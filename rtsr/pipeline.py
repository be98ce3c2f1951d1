"""File to file: decode, upscale and encode on three threads joined by bounded queues, then mux.

    DecodeStage ──frames──▶ UpscaleStage ──frames──▶ EncodeStage
    (thread: FrameReader)   (main thread: planes    (thread: ChunkWriter, chunks
              queue(8)       through the engine)  queue(8)  in the work folder)

Every output frame carries its input frame's pts in the input's time base, so
frame count, duration and variable frame rate survive. The encoder writes the
video into chunks in a work folder beside the destination (rtsr.io.resume), so
an interrupted run keeps its work and the next one resumes. When every frame
is done, the chunks' packets and the input's audio, subtitle and cover-art
packets are muxed, interleaved by time, into a hidden temporary file that is
renamed into place (rtsr.atomic): the destination never holds a partial file.

The queues bound memory (at most 2 × QUEUE_FRAMES frames queued, plus the
upscale stage's frames in flight on a GPU: rtsr.frame_ring) and a stop flag,
checked every _POLL_SECONDS, ends every stage promptly on Ctrl-C or on an
error in any of them. Frames still in flight when a run stops are dropped;
a resumed run upscales them again.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from rtsr.atomic import remove_stale_temporaries, write_atomically
from rtsr.errors import DecodeError, EncodeError, RtsrError
from rtsr.io.alpha import alpha_kept, keep_alpha, upscale_alpha
from rtsr.io.chunks import ChunkWriter
from rtsr.io.encode import (
    EncodePlan,
    EncodeSettings,
    check_encoder_settings,
    check_size,
    choose_pix_fmt,
    video_encoder,
)
from rtsr.io.output import check_paths
from rtsr.io.planes import PlaneRing, alpha_plane, finish_frame, frame_planes
from rtsr.io.playable import announce_playability
from rtsr.io.priority import lower_this_thread
from rtsr.io.probe import InputVideo, VideoInfo
from rtsr.io.reader import FrameReader, WarmUpFrame
from rtsr.io.remux import assemble, plan_copies
from rtsr.io.resume import WorkFolder, job_identity
from rtsr.report import Progress, ProgressFactory, Report, StageClock
from rtsr.version import __version__

log = logging.getLogger("rtsr")

QUEUE_FRAMES = 8
_POLL_SECONDS = 0.1
END = object()  # end-of-stream marker in the queues


class Pipeline:
    """The queues, the shared stop flag and the errors of one run's stages."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.to_upscale: queue.Queue = queue.Queue(QUEUE_FRAMES)
        self.to_encode: queue.Queue = queue.Queue(QUEUE_FRAMES)

    def put(self, q: queue.Queue, item: object) -> bool:
        """Block until there is room or the run stops; False when it stopped."""
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL_SECONDS)
                return True
            except queue.Full:
                continue
        return False

    def get(self, q: queue.Queue) -> object:
        """Next item; once the run stops, what is still queued and then END.

        Draining lets the encoder keep, on Ctrl-C, every frame already upscaled.
        """
        while True:
            stopped = self.stop.is_set()
            try:
                return q.get_nowait() if stopped else q.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if stopped:
                    return END

    def start(self, target: Callable[[], None], name: str,
              ffmpeg_failure: Callable[[av.FFmpegError], RtsrError]) -> threading.Thread:
        """Run ``target`` on a thread; an FFmpeg error in it becomes ``ffmpeg_failure(err)``, naming the stage."""
        def guarded() -> None:
            try:
                target()
            except av.FFmpegError as err:
                failure = ffmpeg_failure(err)
                failure.__cause__ = err
                self.errors.append(failure)
                self.stop.set()
            except BaseException as err:  # noqa: BLE001  (handed to the main thread, which re-raises it)
                self.errors.append(err)
                self.stop.set()

        worker = threading.Thread(target=guarded, name=name, daemon=True)
        worker.start()
        return worker


class DecodeStage:
    """Decodes the frames still to do (a :class:`FrameReader`) into the upscale queue, on its own thread."""

    def __init__(self, pipeline: Pipeline, reader: FrameReader) -> None:
        self.pipeline, self.reader = pipeline, reader

    def run(self) -> None:
        for frame in self.reader.frames():
            if not self.pipeline.put(self.pipeline.to_upscale, frame):
                return
        self.pipeline.put(self.pipeline.to_upscale, END)

    def close(self) -> None:
        """Nothing to release: the caller owns the input container."""


class UpscaleStage:
    """Decoded frames -> upscaled frames in the output's pixel format (runs on the main thread).

    Frames go through the engine with several in flight on a GPU
    (rtsr.frame_ring): ``push`` returns the upscaled frames finished by now,
    in order, and ``flush`` the rest at the end of the input.
    """

    def __init__(self, info: VideoInfo, upscale_planes: PlaneRing, pix_fmt: str, report: Report) -> None:
        self.info, self.upscale_planes, self.pix_fmt, self.report = info, upscale_planes, pix_fmt, report
        self.alpha = info.alpha and alpha_kept(info.layout, pix_fmt)  # upscaled beside the planes (rtsr.io.alpha)

    def push(self, frame: av.VideoFrame | WarmUpFrame) -> list[av.VideoFrame]:
        """Start upscaling ``frame``; the upscaled frames finished by now, oldest first.

        A WarmUpFrame (rtsr.io.reader) goes through the network, so that a
        recurrent model's state is built up, and is not returned.
        """
        info = self.info
        warmup = isinstance(frame, WarmUpFrame)
        source = frame.frame if warmup else frame
        if not warmup and (source.width, source.height) != info.size:
            self._note_resized(source)  # counted once: a warm-up frame is counted by the segment before
        planes = frame_planes(source, info.layout, info.width, info.height, info.color)
        alpha = alpha_plane(source, info.layout, info.width, info.height) if self.alpha and not warmup else None
        done = self.upscale_planes.submit(planes, (lambda out: None) if warmup else
                                          (lambda out: self._finish(out, source, alpha)))
        return [out for out in done if out is not None]

    def flush(self) -> list[av.VideoFrame]:
        """Finish every frame still in flight; their upscaled frames, oldest first."""
        return [out for out in self.upscale_planes.drain() if out is not None]

    def _finish(self, planes: list[np.ndarray], source: av.VideoFrame, alpha: np.ndarray | None) -> av.VideoFrame:
        info = self.info
        if alpha is not None:
            height, width = planes[0].shape
            alpha = upscale_alpha(alpha, (width, height), info.layout.bits)
        out = finish_frame(planes, source, info.layout, info.color, self.pix_fmt, alpha)
        out.time_base = info.output_time_base
        self.report.frames += 1
        if source.pts is not None:
            self.report.last_frame_seconds = max(self.report.last_frame_seconds,
                                                 float(source.pts * info.output_time_base))
        return out

    def _note_resized(self, frame: av.VideoFrame) -> None:
        """Count a frame whose size is not the stream's first size; warn at the first one."""
        info = self.info
        if not self.report.resized_frames:
            at = float(frame.pts * info.output_time_base) if frame.pts is not None else float("nan")
            log.warning("the input changes resolution at %.3f s (%d×%d, was %d×%d): such frames are resized "
                        "to %d×%d before upscaling", at, frame.width, frame.height, info.width, info.height,
                        info.width, info.height)
        self.report.resized_frames += 1

    def close(self) -> None:
        """Nothing to release: the engine belongs to the caller."""


class EncodeStage:
    """Encodes upscaled frames from the encode queue into the work folder's chunks, on its own thread."""

    def __init__(self, pipeline: Pipeline, writer: ChunkWriter, clock: StageClock) -> None:
        self.pipeline, self.writer, self.clock = pipeline, writer, clock

    def run(self) -> None:
        lower_this_thread()  # the upscale stage comes first (rtsr.io.priority)
        while True:
            item = self.pipeline.get(self.pipeline.to_encode)
            if item is END:
                break
            started = time.perf_counter()
            self.writer.write(item)
            self.clock.add("encode", time.perf_counter() - started)
        started = time.perf_counter()
        self.writer.finish()
        self.clock.add("encode", time.perf_counter() - started)

    def close(self) -> None:
        """Abandon a chunk still open (after an error or Ctrl-C); committed chunks stay."""
        self.writer.close()


def run_stages(decode: DecodeStage, upscale: UpscaleStage, encode: EncodeStage, pipeline: Pipeline,
               bar: Progress | None = None, done_before: int = 0) -> None:
    """Run the three stages until the input ends, one fails, or Ctrl-C; re-raises the first error."""
    decoder = pipeline.start(decode.run, "rtsr-decode", lambda err: DecodeError(f"reading the input failed: {err}"))
    encoder = pipeline.start(encode.run, "rtsr-encode", lambda err: EncodeError(f"encoding failed: {err}"))
    try:
        while True:
            item = pipeline.get(pipeline.to_upscale)
            if isinstance(item, av.Packet):  # a copied stream's, in a one-pass run (rtsr.streaming)
                if not pipeline.put(pipeline.to_encode, item):
                    break
                continue
            done = upscale.flush() if item is END else upscale.push(item)
            if not all(pipeline.put(pipeline.to_encode, out) for out in done):
                break
            if bar is not None and done:
                bar.update(done_before + upscale.report.frames)
            if item is END:
                break
        pipeline.put(pipeline.to_encode, END)
        encoder.join()
    finally:
        if bar is not None:
            bar.close()
        pipeline.stop.set()
        decoder.join()
        encoder.join()
        for stage in (encode, upscale, decode):
            stage.close()
    if pipeline.errors:
        raise pipeline.errors[0]


@dataclass(frozen=True)
class OutputJob:
    """What was decided before any frame is upscaled: the encoder, the copied streams, the resume identity."""

    video: InputVideo
    dst: Path
    muxer: str
    plan: EncodePlan
    copies: list[int]  # input streams copied beside the upscaled video
    identity: dict[str, object]  # what a resumed run must share (rtsr.io.resume.job_identity)


def prepare_job(video: InputVideo, dst: Path, scale: int, settings: EncodeSettings,
                identity: dict[str, object] | None, overwrite: bool, report: Report) -> OutputJob:
    """Check the output, choose the encoder set-up and the streams to copy; fills ``report``'s sizes."""
    src, info = video.path, video.info
    if dst.is_symlink():  # write through the link: its target is replaced atomically, the link stays
        target = Path(os.path.realpath(dst))
        log.info("%s is a link: writing its target, %s", dst, target)
        dst = target
    muxer = check_paths(src, dst, overwrite)
    codec = video_encoder(settings.codec)
    check_encoder_settings(codec.name, settings.crf, settings.preset)
    pix_fmt = choose_pix_fmt(codec, info.layout, settings.pix_fmt)
    if info.alpha:
        pix_fmt, report.alpha = keep_alpha(codec.name, muxer, info.layout, pix_fmt, settings.pix_fmt)
    out_size = info.layout.encodable_size(info.width * scale, info.height * scale)
    if out_size != (info.width * scale, info.height * scale):
        log.warning("output is %d×%d, not %d×%d: %s needs even dimensions, so the last column/row is cropped",
                    *out_size, info.width * scale, info.height * scale, info.layout.pix_fmt)
    check_size(codec.name, out_size)
    announce_playability(codec.name, out_size, pix_fmt, scale, settings.refuse_unplayable)
    report.input_size, report.output_size, report.pix_fmt = info.size, out_size, pix_fmt
    copies = plan_copies(video.container, info.index, muxer, report)
    plan = EncodePlan(muxer=muxer, codec=codec.name, pix_fmt=pix_fmt, size=out_size,
                      time_base=info.output_time_base, rate=info.output_rate, crf=settings.crf,
                      preset=settings.preset, color=info.color,
                      sample_aspect_ratio=info.sample_aspect_ratio, hdr=info.hdr)
    return OutputJob(video, dst, muxer, plan, copies,
                     job_identity(src, **(identity or {}), codec=codec.name, crf=settings.crf,
                                  preset=settings.preset, pix_fmt=pix_fmt, output_size=out_size, rtsr=__version__))


def open_work(job: OutputJob) -> WorkFolder:
    """The job's work folder, taken up (a resumed run's chunks listed); stale temporaries removed."""
    work = WorkFolder(job.dst, job.identity)
    work.open()
    remove_stale_temporaries(job.dst)
    return work


def keep_or_remove(work: WorkFolder) -> None:
    """After a failure or Ctrl-C: keep the finished chunks for the next run, or remove an empty folder."""
    if work.chunks:
        log.warning("kept %d upscaled frames in %s: run the same command again to resume",
                    work.frames_done, work.path)
        work.close()
    else:
        work.remove()


def run_whole(job: OutputJob, upscale_planes: PlaneRing, report: Report, clock: StageClock,
              progress: ProgressFactory | None = None, checkpoint_seconds: float = 60.0,
              warmup: int = 0) -> Report:
    """Upscale the job's whole input on this process's three stages, then write the output; fills ``report``.

    The encoded video goes into chunks in a work folder beside the output,
    one closed every ``checkpoint_seconds`` (rtsr.io.resume); at the end they
    are muxed into it with the input's other streams. A run of the same job
    that was cut short is resumed after its last complete chunk. Raises
    DecodeError when the input stops being readable part-way, EncodeError
    when encoding fails; KeyboardInterrupt propagates. The output never holds
    a partial file. ``warmup``: a resumed run first upscales, and drops, that many frames before where it
    resumes, so that a recurrent model's state is built up as in an uninterrupted run (rtsr.io.reader).
    """
    started = time.perf_counter()
    video, info = job.video, job.video.info
    work = open_work(job)
    report.resumed_frames = work.frames_done
    if work.chunks:
        log.info("resuming: %d frames were upscaled by an earlier run (kept in %s)", work.frames_done, work.path)
    try:
        pipeline = Pipeline()
        reader = FrameReader(video.container, video.stream, step=info.frame_step, after_pts=work.last_pts,
                             clock=clock, deinterlace=info.field_order if info.deinterlace else None,
                             fields=info.field_rate, warmup=warmup)
        writer = ChunkWriter(work, job.plan, checkpoint_seconds)
        try:
            run_stages(DecodeStage(pipeline, reader), UpscaleStage(info, upscale_planes, job.plan.pix_fmt, report),
                       EncodeStage(pipeline, writer, clock), pipeline,
                       progress(info.output_frames, work.frames_done) if progress else None,
                       work.frames_done)
        finally:
            report.corrupt_packets += reader.corrupt_packets
        finish_output(job, work, report, clock)
    except BaseException:
        keep_or_remove(work)
        raise
    report.wall_seconds = time.perf_counter() - started
    report.stage_seconds = dict(clock.seconds)
    return report


def note_missing_frames(info: VideoInfo, report: Report) -> None:
    """Warn, and say in the summary, when far fewer frames were decoded than the input promises.

    A truncated file or a stretch of garbage in a stream loses frames
    without any decoder error. ``info.frames`` comes from the container's
    header or its duration (an estimate for variable frame rates), so a
    shortfall counts above 1 % or 2 frames.
    """
    decoded, promised = report.frames + report.resumed_frames, info.output_frames
    missing = promised - decoded
    if promised and missing > max(2, promised // 100):
        report.missing_frames = missing
        log.warning("the input promises about %d frames but %d could be decoded (up to %.2f s): about %d are "
                    "missing, so the input is damaged or truncated", promised, decoded,
                    report.last_frame_seconds, missing)


def finish_output(job: OutputJob, work: WorkFolder, report: Report, clock: StageClock) -> None:
    """Mux the finished chunks and the planned input streams into the job's output, atomically; then
    remove the work folder. The mux's time counts as encoding."""
    started = time.perf_counter()
    note_missing_frames(job.video.info, report)
    info = job.video.info
    try:
        write_atomically(job.dst, lambda tmp: assemble(job.video.path, info.index, work.files(), job.copies, tmp,
                                                      job.muxer, info.output_time_base, info.display_matrix, report))
    except av.FFmpegError as err:
        raise EncodeError(f"writing {job.dst.name} from the upscaled chunks failed: {err}") from err
    clock.add("encode", time.perf_counter() - started)
    work.remove()
