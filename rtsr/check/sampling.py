"""A few frames spread over a clip, and a short run of consecutive ones, without decoding the whole file.

Each sample seeks (rtsr.io.FrameReader's resume seek: to the keyframe at or
before the time, then decoding up to it), so the cost is a GOP per sample
whatever the clip's length. Where the length is unknown or the input cannot
seek, the samples are the first frames instead, and say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import av
import numpy as np

from rtsr.errors import InputError
from rtsr.io.probe import InputVideo, container_seconds
from rtsr.io.reader import FrameReader

RUN_FRAMES = 24  # consecutive frames decoded to time the decoder (and to feed the encoder's timing)
RUN_SECONDS = 1.5  # ... or fewer, when decoding them takes longer than this


@dataclass
class Sample:
    """One decoded frame and where it lies in the clip."""

    seconds: float  # presentation time from the stream's start
    frame: av.VideoFrame

    def rgb(self) -> np.ndarray:
        """(H, W, 3) uint8 RGB of the frame (swscale, the stream's own matrix)."""
        return self.frame.to_ndarray(format="rgb24")


def _start_pts(video: InputVideo) -> int:
    start = video.stream.start_time
    return int(start) if start is not None else 0


def _duration_ticks(video: InputVideo) -> int | None:
    stream = video.stream
    if stream.duration:
        return int(stream.duration)
    seconds = container_seconds(video.container)
    if seconds and stream.time_base:
        return int(seconds / stream.time_base)
    return None


def frame_after(video: InputVideo, pts: int | None) -> av.VideoFrame | None:
    """The first frame whose pts is after ``pts`` (None: the first frame), or None past the end."""
    if pts is None:
        _rewind(video)
    reader = FrameReader(video.container, video.stream, step=video.info.frame_step, after_pts=pts)
    frames = reader.frames()
    try:
        return next(frames, None)
    finally:
        frames.close()


def _rewind(video: InputVideo) -> None:
    """Back to the first packet, the decoder flushed: an earlier pass may have drained it (a decoder
    that has been sent the end of the stream refuses more packets until it is flushed)."""
    try:
        video.container.seek(0)  # PyAV flushes the streams' decoders with the seek
    except av.FFmpegError:
        video.stream.codec_context.flush_buffers()  # unseekable: at least the decoder takes packets again


def _seconds(video: InputVideo, frame: av.VideoFrame) -> float:
    return float((frame.pts - _start_pts(video)) * video.stream.time_base) if frame.pts is not None else 0.0


def sample_frames(video: InputVideo, count: int) -> tuple[list[Sample], DecodeRun | None]:
    """Up to ``count`` distinct frames at evenly spread times, and None; where the clip's length is
    unknown, its first ``count`` frames instead, with the decoder's time on them (a DecodeRun, for
    the decode run a clip without a length cannot seek to)."""
    ticks = _duration_ticks(video)
    if ticks:
        start = _start_pts(video)
        targets = [start + int(ticks * (i + 0.5) / count) for i in range(count)]
        samples: dict[int, Sample] = {}
        for target in targets:
            frame = frame_after(video, target - 1)
            if frame is not None and frame.pts not in samples:
                samples[frame.pts] = Sample(_seconds(video, frame), frame)
        if samples:
            return sorted(samples.values(), key=lambda s: s.seconds), None
    _rewind(video)
    reader = FrameReader(video.container, video.stream, step=video.info.frame_step, after_pts=None)
    run = _consecutive(reader, count, RUN_SECONDS)
    return [Sample(_seconds(video, f), f) for f in run.frames], run


def frame_at(video: InputVideo, seconds: float | None) -> Sample:
    """The frame shown at ``seconds`` (None: the middle of the clip; the first frame when the length is unknown)."""
    ticks = _duration_ticks(video)
    tb = video.stream.time_base
    if seconds is None:
        target = _start_pts(video) + ticks // 2 if ticks else None
    else:
        target = _start_pts(video) + int(seconds / tb)
    frame = frame_after(video, target - 1 if target is not None else None)
    if frame is None and target is not None:  # past the end: the last frame there is
        frame = frame_after(video, _start_pts(video) + (ticks or 0) - 2 * video.info.frame_step)
    if frame is None:
        frame = frame_after(video, None)
    if frame is None:
        raise InputError(f"{video.path}: no frame could be decoded")
    return Sample(_seconds(video, frame), frame)


@dataclass
class DecodeRun:
    """Consecutive frames from the middle of the clip and the decoder's time per frame on them."""

    frames: list[av.VideoFrame]
    seconds_per_frame: float | None  # None when fewer than two frames came


def decode_run(video: InputVideo, frames: int = RUN_FRAMES, budget: float = RUN_SECONDS) -> DecodeRun:
    """Decode up to ``frames`` consecutive frames from the middle (or start) of the clip, timed."""
    ticks = _duration_ticks(video)
    after = _start_pts(video) + ticks // 2 - 1 if ticks else None
    reader = FrameReader(video.container, video.stream, step=video.info.frame_step, after_pts=after)
    return _consecutive(reader, frames, budget)


def _consecutive(reader: FrameReader, frames: int, budget: float) -> DecodeRun:
    """Up to ``frames`` frames of ``reader`` (fewer once ``budget`` seconds have passed), timed.

    The time runs from the first frame out to the last, so a seek and the
    frames decoded to reach its target are not counted.
    """
    decoded: list[av.VideoFrame] = []
    frames_iter = reader.frames()
    started = 0.0
    try:
        for frame in frames_iter:
            decoded.append(frame)
            if len(decoded) == 1:
                started = time.perf_counter()
            elif len(decoded) >= frames or time.perf_counter() - started > budget:
                break
    finally:
        frames_iter.close()
    elapsed = time.perf_counter() - started
    return DecodeRun(decoded, elapsed / (len(decoded) - 1) if len(decoded) > 1 else None)
