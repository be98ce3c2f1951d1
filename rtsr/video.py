"""File to file: probe, decode, upscale, encode into resumable chunks, then mux the output.

    decode thread ──frames──▶ main thread ──frames──▶ encode thread
    (demux, decode) queue(8)  (convert, inference)  queue(8)  (encode into chunk files)

Every output frame carries its input frame's pts in the input's time base, so
frame count, duration and variable frame rate survive. The encoder writes the
video into chunks in a work folder beside the destination (rtsr.resume), so an
interrupted run keeps its work and the next one resumes. When every frame is
done, the chunks' packets and the input's audio, subtitle and cover-art
packets are muxed, interleaved by time, into a hidden temporary file beside
the destination, which is renamed into place once closed: the destination
never holds a partial file.
"""

from __future__ import annotations

import collections
import glob
import heapq
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from rtsr.color import ColorInfo, PlaneLayout, chroma_siting, describe_color, working_layout
from rtsr.errors import DecodeError, EncodeError, InputError, RtsrError
from rtsr.remux import assemble, muxer_options, plan_copies
from rtsr.report import ProgressBar, Report, StageClock
from rtsr.resume import WorkFolder, job_identity
from rtsr.version import __version__

log = logging.getLogger("rtsr")

# Output extension -> FFmpeg muxer name.
OUTPUT_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
}  # not AVI: it cannot start a resumable chunk part-way at its own time (AVI input is fine)
QUEUE_FRAMES = 8
_POLL_SECONDS = 0.1
_END = object()  # end-of-stream marker in the queues


# --------------------------------------------------------------------------- probing


@dataclass(frozen=True)
class VideoInfo:
    """What the pipeline needs to know about an input's video stream."""

    index: int  # the stream's index in its container
    width: int
    height: int
    pix_fmt: str  # as decoded
    layout: PlaneLayout  # as processed
    color: ColorInfo
    time_base: Fraction
    rate: Fraction | None  # average frame rate, None when unknown
    frames: int  # from the container, or estimated from the duration; 0 if unknown
    sample_aspect_ratio: Fraction | None  # pixel shape of anamorphic video; None when square/unknown
    display_matrix: tuple[int, ...] | None  # 9 ints, FFmpeg's layout: rotation/flip for display


def open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for reading or raise InputError with a one-line reason."""
    if not path.exists():
        raise InputError(f"input not found: {path}")
    if path.is_dir():
        raise InputError(f"input is a directory, not a video: {path}")
    try:
        return av.open(str(path), "r")
    except av.FFmpegError as err:
        raise InputError(f"cannot read {path}: not a media file FFmpeg understands ({err.strerror})") from None


def main_video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The video to upscale: the first video stream that is not cover art; None when there is none."""
    return next((stream for stream in container.streams.video
                 if not stream.disposition & av.stream.Disposition.attached_pic), None)


def probe_video(container: av.container.InputContainer, path: Path) -> VideoInfo:
    """Describe the main video stream, or raise InputError when there is none."""
    stream = main_video_stream(container)
    if stream is None:
        raise InputError(f"{path} has no video stream")
    ctx = stream.codec_context
    if not ctx.width or not ctx.height or ctx.format is None:
        raise InputError(f"{path}: the video stream has no decodable picture size")
    fmt = ctx.format
    layout = working_layout(fmt.name, max(c.bits for c in fmt.components))
    siting = chroma_siting(ctx.name, _chroma_shift(fmt.name), layout)
    color = describe_color(ctx.colorspace, ctx.color_range, ctx.color_primaries, ctx.color_trc,
                           layout, ctx.height, siting)
    rate = stream.average_rate or stream.guessed_rate
    frames = stream.frames
    if not frames and rate and stream.duration and stream.time_base:
        frames = round(float(stream.duration * stream.time_base * rate))
    elif not frames and rate and container.duration:
        frames = round(container.duration / av.time_base * float(rate))
    sar = ctx.sample_aspect_ratio
    return VideoInfo(stream.index, ctx.width, ctx.height, fmt.name, layout, color, stream.time_base,
                     Fraction(rate) if rate else None, int(frames or 0),
                     Fraction(sar) if sar and sar != 1 else None, first_frame_display_matrix(path))


def _chroma_shift(pix_fmt: str) -> tuple[int, int]:
    """(log2 horizontal, log2 vertical) chroma subsampling of a pixel format; (0, 0) without chroma."""
    sample = av.VideoFormat(pix_fmt, 64, 64)  # a size every subsampling divides
    chroma = next((c for c in sample.components if c.is_chroma), None)
    if chroma is None:
        return 0, 0
    return (64 // chroma.width).bit_length() - 1, (64 // chroma.height).bit_length() - 1


def first_frame_display_matrix(path: Path) -> tuple[int, ...] | None:
    """The display matrix (rotation, flips) of the main video's first frame, or None.

    Phones store portrait video as landscape pictures plus this matrix; an
    output without it plays sideways. PyAV exposes it only on decoded frames,
    so this opens ``path`` once more and decodes one frame.
    """
    try:
        with av.open(str(path), "r") as container:
            frame = next(container.decode(main_video_stream(container)), None)
            matrices = [bytes(side_data) for side_data in (frame.side_data if frame else ())
                        if side_data.type == av.sidedata.sidedata.Type.DISPLAYMATRIX]
    except av.FFmpegError:  # an unreadable start: the run itself will meet it and say so
        return None
    return tuple(np.frombuffer(matrices[0], np.int32).tolist()) if matrices else None


# --------------------------------------------------------------------------- output checks


@dataclass(frozen=True)
class EncodeSettings:
    """Video encoder settings; ``None`` leaves the choice to rtsr/the encoder."""

    codec: str = "libx264"  # resolved: never "auto" here
    crf: int | None = 18
    preset: str | None = "medium"
    pix_fmt: str | None = None  # default: the processed layout (10-bit stays 10-bit)


NVENC_CODECS = ("h264_nvenc", "hevc_nvenc", "av1_nvenc")
# x264 preset names -> NVENC's p1 (fastest) .. p7 (slowest).
_NVENC_PRESETS = {"ultrafast": "p1", "superfast": "p1", "veryfast": "p2", "faster": "p3", "fast": "p3",
                  "medium": "p4", "slow": "p5", "slower": "p6", "veryslow": "p7"}


def nvenc_usable(codec: str = "h264_nvenc") -> bool:
    """Whether this PyAV build has ``codec`` and a GPU encoder accepts a session."""
    if codec not in av.codecs_available:
        return False
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = 256, 144, "yuv420p"
    context.time_base = Fraction(1, 24)
    try:
        context.open()
    except av.FFmpegError:
        return False
    return True


def resolve_codec(requested: str, gpu_present: bool) -> str:
    """``auto`` -> h264_nvenc when the GPU has an encoder, else libx264 (with a note on a GPU machine)."""
    if requested != "auto":
        return requested
    if gpu_present:
        if nvenc_usable():
            return "h264_nvenc"
        log.info("this GPU has no NVENC encoder (H100/H200 have none): encoding with libx264 on the CPU")
    return "libx264"


def encoder_options(codec: str, crf: int | None, preset: str | None) -> dict[str, str]:
    """The encoder's own option names for a quality level and a speed preset."""
    options: dict[str, str] = {}
    if codec in NVENC_CODECS:
        if crf is not None:
            options.update(rc="vbr", cq=str(crf))
        if preset is not None:
            options["preset"] = _NVENC_PRESETS.get(preset, preset)
        return options
    if crf is not None:
        options["crf"] = str(crf)
    if preset is not None:
        options["preset"] = preset
    return options


def check_output(dst: Path, overwrite: bool) -> str:
    """Validate an output path (extension, existing file, directory); returns the muxer name."""
    muxer = OUTPUT_FORMATS.get(dst.suffix.lower())
    if muxer is None:
        raise InputError(
            f"unknown output extension {dst.suffix or '(none)'!r}; use one of "
            + ", ".join(OUTPUT_FORMATS)
        )
    if dst.is_dir():
        raise InputError(f"output is a directory: {dst}")
    if dst.exists() and not overwrite:
        raise InputError(f"output exists: {dst} (pass --overwrite to replace it)")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output directory is not writable: {parent}")
    return muxer


def check_paths(src: Path, dst: Path, overwrite: bool) -> str:
    """Validate the output path against the input; returns the muxer name."""
    if dst.resolve() == src.resolve() or (dst.exists() and src.exists() and os.path.samefile(src, dst)):
        raise InputError("output path is the input; choose another output file")
    return check_output(dst, overwrite)


def choose_pix_fmt(codec: av.codec.Codec, layout: PlaneLayout, requested: str | None) -> str:
    """The encoder pixel format: the requested one, else the processed layout's, else 4:2:0."""
    supported = [f.name for f in (codec.video_formats or ())]
    if requested is not None:
        if supported and requested not in supported:
            raise EncodeError(
                f"{codec.name} cannot encode {requested}; it takes " + ", ".join(supported)
            )
        return requested
    if not supported or layout.pix_fmt in supported:
        return layout.pix_fmt
    for fallback in (("yuv420p10le", "yuv420p") if layout.bits > 8 else ("yuv420p",)):
        if fallback in supported:
            log.warning("%s cannot encode %s; writing %s", codec.name, layout.pix_fmt, fallback)
            return fallback
    return supported[0]


def temporary_path(dst: Path) -> Path:
    """Hidden file beside ``dst`` (same filesystem, so the final rename is atomic)."""
    return dst.with_name(f".{dst.stem}.rtsr-{os.getpid()}.partial{dst.suffix}")


def remove_stale_partials(dst: Path) -> None:
    """Delete temporary files of ``dst`` that a killed run left behind.

    Call only while holding ``dst``'s work folder: no other run can then be
    writing one of them.
    """
    pattern = glob.escape(f".{dst.stem}.rtsr-") + "*" + glob.escape(f".partial{dst.suffix}")
    for stale in dst.parent.glob(pattern):
        stale.unlink(missing_ok=True)


# --------------------------------------------------------------------------- frames <-> planes


def _plane_view(plane: av.video.plane.VideoPlane, width: int, height: int,
                dtype: type[np.generic]) -> np.ndarray:
    """A (height, width) numpy view of one plane, line padding excluded (no copy)."""
    itemsize = np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype=dtype)[: height * plane.line_size // itemsize]
    return rows.reshape(height, plane.line_size // itemsize)[:, :width]


def frame_planes(frame: av.VideoFrame, layout: PlaneLayout, width: int, height: int) -> list[np.ndarray]:
    """The Y, U, V planes of a decoded frame in ``layout`` at width×height, converting if needed.

    The size differs only where the stream changes resolution part-way; such
    frames are resized (bicubic) to the size the run was set up for, so the
    output keeps one size and shows the whole picture.
    """
    if (frame.width, frame.height) != (width, height):
        frame = frame.reformat(width=width, height=height, format=layout.pix_fmt, interpolation="BICUBIC")
    elif frame.format.name != layout.pix_fmt:
        frame = frame.reformat(format=layout.pix_fmt)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    cw, ch = layout.chroma_size(width, height)
    sizes = [(width, height), (cw, ch), (cw, ch)]
    return [_plane_view(p, w, h, dtype) for p, (w, h) in zip(frame.planes, sizes)]


def planes_frame(planes: list[np.ndarray], layout: PlaneLayout) -> av.VideoFrame:
    """A new VideoFrame in ``layout`` holding the given Y, U, V planes."""
    height, width = planes[0].shape
    frame = av.VideoFrame(width, height, layout.pix_fmt)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    for plane, data in zip(frame.planes, planes):
        _plane_view(plane, data.shape[1], data.shape[0], dtype)[:] = data
    return frame


# --------------------------------------------------------------------------- the pipeline


class _Pipeline:
    """Threads, queues and the shared stop flag of one run."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.to_infer: queue.Queue = queue.Queue(QUEUE_FRAMES)
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
        """Next item; once the run stops, what is still queued and then _END.

        Draining lets the encoder keep, on Ctrl-C, every frame already upscaled.
        """
        while True:
            stopped = self.stop.is_set()
            try:
                return q.get_nowait() if stopped else q.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                if stopped:
                    return _END

    def thread(self, target: Callable[[], None], name: str,
               ffmpeg_failure: Callable[[av.FFmpegError], RtsrError]) -> threading.Thread:
        """Start ``target``; an FFmpeg error in it becomes ``ffmpeg_failure(err)``, naming the stage."""
        def guarded() -> None:
            try:
                target()
            except av.FFmpegError as err:
                failure = ffmpeg_failure(err)
                failure.__cause__ = err
                self.errors.append(failure)
                self.stop.set()
            except BaseException as err:  # handed to the main thread, which re-raises it
                self.errors.append(err)
                self.stop.set()

        worker = threading.Thread(target=guarded, name=name, daemon=True)
        worker.start()
        return worker


class PtsOrder:
    """Give decoded frames increasing presentation timestamps, without losing any frame.

    Well-formed streams pass through unchanged. Some containers (AVI with
    B-frames, above all) attach timestamps in decode order, so frames come
    out of the decoder with a shuffled pts sequence that no muxer accepts.
    Frames are held ``depth`` deep and each leaving frame takes the smallest
    pts seen, which restores the display order of such timestamps. A frame
    without pts gets the previous one plus ``step``; anything still not
    increasing is nudged forward by one tick and counted in ``repaired``.
    """

    def __init__(self, step: int, depth: int = 8) -> None:
        self.step, self.depth = step, depth
        self.frames: collections.deque[av.VideoFrame] = collections.deque()
        self.pts: list[int] = []  # heap
        self.last_seen: int | None = None
        self.last_out: int | None = None
        self.repaired = 0

    def push(self, frame: av.VideoFrame) -> Iterator[av.VideoFrame]:
        """Take one decoded frame; yield the frames that are ready, pts set."""
        pts = frame.pts if frame.pts is not None else frame.dts
        if pts is None:
            pts = 0 if self.last_seen is None else self.last_seen + self.step
        self.last_seen = pts
        heapq.heappush(self.pts, pts)
        self.frames.append(frame)
        if len(self.frames) > self.depth:
            yield self._pop()

    def flush(self) -> Iterator[av.VideoFrame]:
        while self.frames:
            yield self._pop()

    def _pop(self) -> av.VideoFrame:
        frame, pts = self.frames.popleft(), heapq.heappop(self.pts)
        if self.last_out is not None and pts <= self.last_out:
            pts = self.last_out + 1
            self.repaired += 1
        frame.pts = self.last_out = pts
        return frame


def upscale_file(
    src: Path,
    dst: Path,
    upscaler_for: Callable[[VideoInfo, tuple[int, int]], Callable[[list[np.ndarray]], list[np.ndarray]]],
    scale: int,
    report: Report,
    clock: StageClock,
    settings: EncodeSettings,
    identity: dict[str, object] | None = None,
    overwrite: bool = False,
    progress: bool = False,
    checkpoint_seconds: float = 60.0,
) -> Report:
    """Upscale ``src`` into ``dst``; fills and returns ``report``.

    ``upscaler_for(info, out_size)`` builds the per-frame plane function once
    the input is probed. The encoded video goes into chunks in a work folder
    beside ``dst``, one closed every ``checkpoint_seconds`` (rtsr.resume); at
    the end they are muxed into ``dst`` with the input's other streams. A run
    of the same job that was cut short (same input, ``identity`` -- model and
    weights -- and encoder settings) is resumed after its last complete chunk.
    Raises InputError/EncodeError for bad input or settings and DecodeError
    when the input stops being readable part-way; KeyboardInterrupt
    propagates. ``dst`` never holds a partial file.
    """
    src, dst = Path(src), Path(dst)
    muxer = check_paths(src, dst, overwrite)
    try:
        codec = av.codec.Codec(settings.codec, "w")
    except av.codec.codec.UnknownCodecError:
        raise EncodeError(f"unknown encoder {settings.codec!r}") from None
    if codec.type != "video":
        raise EncodeError(f"{settings.codec} is not a video encoder")
    started = time.perf_counter()
    with open_input(src) as source:
        info = probe_video(source, src)
        pix_fmt = choose_pix_fmt(codec, info.layout, settings.pix_fmt)
        out_size = info.layout.encodable_size(info.width * scale, info.height * scale)
        if out_size != (info.width * scale, info.height * scale):
            log.warning(
                "output is %d×%d, not %d×%d: %s needs even dimensions, so the last column/row is cropped",
                *out_size, info.width * scale, info.height * scale, info.layout.pix_fmt,
            )
        report.input_size, report.output_size, report.pix_fmt = (info.width, info.height), out_size, pix_fmt
        plan = plan_copies(source, info.index, muxer, report)
        upscale_planes = upscaler_for(info, out_size)
        work = WorkFolder(dst, job_identity(src, **(identity or {}), codec=codec.name, crf=settings.crf,
                                            preset=settings.preset, pix_fmt=pix_fmt, output_size=out_size,
                                            rtsr=__version__))
        work.open()
        remove_stale_partials(dst)
        report.resumed_frames = work.frames_done
        if work.chunks:
            log.info("resuming: %d frames were upscaled by an earlier run (kept in %s)",
                     work.frames_done, work.path)
        try:
            _run(source, info, work, muxer, codec, pix_fmt, out_size, upscale_planes, settings,
                 report, clock, progress, checkpoint_seconds)
            t0 = time.perf_counter()
            _write_output(src, dst, muxer, info, work, plan, report)
            clock.add("encode", time.perf_counter() - t0)
        except BaseException:
            if work.chunks:
                log.warning("kept %d upscaled frames in %s: run the same command again to resume",
                            work.frames_done, work.path)
                work.close()
            else:
                work.remove()
            raise
        work.remove()
    report.wall_seconds = time.perf_counter() - started
    report.stage_seconds = dict(clock.seconds)
    return report


def _write_output(src: Path, dst: Path, muxer: str, info: VideoInfo, work: WorkFolder, plan: list[int],
                  report: Report) -> None:
    """Mux the finished chunks and the planned input streams into a temporary file renamed to ``dst``."""
    tmp = temporary_path(dst)
    try:
        assemble(src, info.index, work.files(), plan, tmp, muxer, info.time_base, info.display_matrix, report)
        os.replace(tmp, dst)
    except av.FFmpegError as err:
        raise EncodeError(f"writing {dst.name} from the upscaled chunks failed: {err}") from err
    finally:
        tmp.unlink(missing_ok=True)


def _add_video_stream(output: av.container.OutputContainer, muxer: str, codec: av.codec.Codec,
                      info: VideoInfo, pix_fmt: str, out_size: tuple[int, int],
                      settings: EncodeSettings) -> av.video.stream.VideoStream:
    """The upscaled video's encoder stream: size, format, time base, colour tags, pixel shape."""
    if codec.name not in output.supported_codecs:
        raise EncodeError(f"a {muxer} file cannot hold {codec.name} video; choose another --codec or extension")
    options = encoder_options(codec.name, settings.crf, settings.preset)
    video = output.add_stream(codec.name, rate=info.rate, options=options)
    video.width, video.height = out_size
    video.pix_fmt = pix_fmt
    ctx = video.codec_context
    ctx.time_base = info.time_base
    video.time_base = info.time_base
    ctx.thread_count = 0  # all cores
    color = info.color
    ctx.color_primaries, ctx.color_trc = color.primaries, color.transfer
    ctx.colorspace, ctx.color_range = color.colorspace, color.color_range
    if info.sample_aspect_ratio:
        ctx.sample_aspect_ratio = info.sample_aspect_ratio
    return video


def _note_resized(frame: av.VideoFrame, info: VideoInfo, report: Report) -> None:
    """Count a frame whose size is not the stream's first size; warn at the first one."""
    if not report.resized_frames:
        at = float(frame.pts * info.time_base) if frame.pts is not None else float("nan")
        log.warning("the input changes resolution at %.3f s (%d×%d, was %d×%d): such frames are resized "
                    "to %d×%d before upscaling", at, frame.width, frame.height, info.width, info.height,
                    info.width, info.height)
    report.resized_frames += 1


class _ChunkWriter:
    """Encodes upscaled frames into the work folder's chunks, closing one every ``checkpoint_seconds``.

    Each chunk is a file of the output's own format with its own encoder, so
    a closed chunk is complete and playable, whatever happens afterwards.
    """

    def __init__(self, work: WorkFolder, muxer: str, codec: av.codec.Codec, info: VideoInfo, pix_fmt: str,
                 out_size: tuple[int, int], settings: EncodeSettings, checkpoint_seconds: float) -> None:
        self.work, self.muxer, self.codec, self.info = work, muxer, codec, info
        self.pix_fmt, self.out_size, self.settings = pix_fmt, out_size, settings
        self.checkpoint_seconds = checkpoint_seconds
        self.output: av.container.OutputContainer | None = None
        self._open()  # now, in the caller's thread: bad encoder settings fail before any decoding

    def _open(self) -> None:
        self.output = av.open(str(self.work.partial_path()), "w", format=self.muxer,
                              options=muxer_options(self.muxer, self.info.time_base))
        try:
            self.video = _add_video_stream(self.output, self.muxer, self.codec, self.info, self.pix_fmt,
                                           self.out_size, self.settings)
            self.output.start_encoding()
        except (av.FFmpegError, ValueError) as err:
            self.close()
            raise EncodeError(f"cannot start encoding with {self.codec.name} ({self.pix_fmt}): {err}") from None
        except BaseException:
            self.close()
            raise
        self.opened, self.frames, self.last_pts = time.monotonic(), 0, 0

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame (pts in the input's time base); close the chunk when its time is up."""
        if self.output is None:
            self._open()
        self.output.mux(self.video.encode(frame))
        self.frames, self.last_pts = self.frames + 1, frame.pts
        if time.monotonic() - self.opened >= self.checkpoint_seconds:
            self._commit()

    def finish(self) -> None:
        """Flush and keep the last chunk (dropped if it got no frame)."""
        if self.output is not None and self.frames:
            self._commit()
        self.close()

    def close(self) -> None:
        """Abandon the open chunk, if any (its partial file is removed)."""
        if self.output is not None:
            self.output.close()
            self.output = None
            self.work.discard_partial()

    def _commit(self) -> None:
        self.output.mux(self.video.encode(None))  # flush: the encoder holds frames for lookahead
        self.output.close()
        self.output = None
        self.work.commit(self.frames, self.last_pts)


def _run(source, info: VideoInfo, work: WorkFolder, muxer: str, codec: av.codec.Codec, pix_fmt: str,
         out_size: tuple[int, int], upscale_planes, settings: EncodeSettings, report: Report,
         clock: StageClock, progress: bool, checkpoint_seconds: float) -> None:
    """Decode, upscale and encode every frame not already in ``work``'s chunks."""
    vstream = source.streams[info.index]
    vstream.thread_type = "AUTO"
    writer = _ChunkWriter(work, muxer, codec, info, pix_fmt, out_size, settings, checkpoint_seconds)
    pipeline = _Pipeline()
    out_layout = info.layout
    color = info.color
    order = PtsOrder(step=max(1, round(1 / (info.rate * info.time_base))) if info.rate else 1)
    done_up_to = work.last_pts  # frames at or before this input pts are in the chunks already

    def wanted(frame: av.VideoFrame) -> bool:
        return done_up_to is None or frame.pts > done_up_to

    def decode() -> None:
        if done_up_to is not None:
            try:
                source.seek(done_up_to, stream=vstream, backward=True)  # to the keyframe at or before it
            except av.FFmpegError as err:  # unseekable: decode from the start, skipping what is done
                log.info("cannot seek the input (%s); decoding from the start to resume", err)
        for packet in source.demux(vstream):
            if pipeline.stop.is_set():
                return
            t0 = time.perf_counter()
            try:
                frames = packet.decode()
            except av.error.InvalidDataError as err:
                report.corrupt_packets += 1
                at = float(packet.pts * packet.time_base) if packet.pts is not None else float("nan")
                log.warning("skipping a corrupt video packet at %.3f s: %s", at, err.strerror)
                continue
            clock.add("decode", time.perf_counter() - t0)
            for frame in frames:
                for ready in order.push(frame):
                    if wanted(ready) and not pipeline.put(pipeline.to_infer, ready):
                        return
        for ready in order.flush():
            if wanted(ready) and not pipeline.put(pipeline.to_infer, ready):
                return
        if order.repaired:
            log.warning("%d video timestamps were not increasing and were moved forward", order.repaired)
        pipeline.put(pipeline.to_infer, _END)

    def encode() -> None:
        while True:
            item = pipeline.get(pipeline.to_encode)
            if item is _END:
                break
            t0 = time.perf_counter()
            writer.write(item)
            clock.add("encode", time.perf_counter() - t0)
        t0 = time.perf_counter()
        writer.finish()
        clock.add("encode", time.perf_counter() - t0)

    bar = ProgressBar(info.frames, already=work.frames_done) if progress else None
    decoder = pipeline.thread(decode, "rtsr-decode",
                              lambda err: DecodeError(f"reading the input failed: {err}"))
    encoder = pipeline.thread(encode, "rtsr-encode", lambda err: EncodeError(f"encoding failed: {err}"))
    try:
        while True:
            item = pipeline.get(pipeline.to_infer)
            if item is _END:
                break
            pts = item.pts
            if (item.width, item.height) != (info.width, info.height):
                _note_resized(item, info, report)
            out = planes_frame(upscale_planes(frame_planes(item, info.layout, info.width, info.height)),
                               out_layout)
            out.pts, out.time_base, out.duration = pts, info.time_base, item.duration
            out.color_range, out.colorspace = color.color_range, color.colorspace
            if out_layout.pix_fmt != pix_fmt:
                out = out.reformat(format=pix_fmt)
                out.pts, out.time_base, out.duration = pts, info.time_base, item.duration
            report.frames += 1
            if bar is not None:
                bar.update(report.resumed_frames + report.frames)
            if not pipeline.put(pipeline.to_encode, out):
                break
        pipeline.put(pipeline.to_encode, _END)
        encoder.join()
    except BaseException:
        pipeline.stop.set()
        raise
    finally:
        if bar is not None:
            bar.close()
        pipeline.stop.set()
        decoder.join()
        encoder.join()
        writer.close()
    if pipeline.errors:
        raise pipeline.errors[0]
