"""Encoding the upscaled video into the work folder's chunks (rtsr.io.resume), one closed every so often."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

import av

from rtsr.errors import EncodeError
from rtsr.io.encode import EncodePlan, add_video_stream
from rtsr.io.priority import call_lowered
from rtsr.io.remux import muxer_options


class ChunkDestination(Protocol):
    """Where chunks go: the work folder (rtsr.io.resume.WorkFolder) or one segment's file."""

    def partial_path(self) -> Path: ...

    def commit(self, frames: int, last_pts: int) -> None: ...

    def discard_partial(self) -> None: ...


class ChunkWriter:
    """Encodes frames into ``work``'s chunks, closing one every ``checkpoint_seconds`` (inf: one chunk).

    Each chunk is a file of the output's own format with its own encoder, so
    a closed chunk is complete and playable, whatever happens afterwards.
    The first chunk opens at construction, in the caller's thread: bad
    encoder settings fail before any decoding.
    """

    def __init__(self, work: ChunkDestination, plan: EncodePlan, checkpoint_seconds: float) -> None:
        self.work, self.plan, self.checkpoint_seconds = work, plan, checkpoint_seconds
        self.output: av.container.OutputContainer | None = None
        self._open()

    def _open(self) -> None:
        self.output = av.open(str(self.work.partial_path()), "w", format=self.plan.muxer,
                              options=muxer_options(self.plan.muxer, self.plan.time_base))
        try:
            # Opened on a lowered thread: the encoder's worker threads yield to the upscale stage (rtsr.io.priority).
            self.video = call_lowered(self._start_encoder)
        except (av.FFmpegError, ValueError) as err:
            self.close()
            raise EncodeError(f"cannot start encoding with {self.plan.codec} ({self.plan.pix_fmt}, "
                              f"{self.plan.size[0]}×{self.plan.size[1]}): {err}") from None
        except BaseException:
            self.close()
            raise
        self.opened, self.frames, self.last_pts = time.monotonic(), 0, 0

    def _start_encoder(self) -> av.video.stream.VideoStream:
        video = add_video_stream(self.output, self.plan)
        self.output.start_encoding()
        return video

    def write(self, frame: av.VideoFrame) -> None:
        """Encode one frame (pts in the plan's time base); close the chunk when its time is up."""
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
        """Abandon the open chunk, if any: its partial file is removed.

        A failure to close it (the disk that made encoding fail is still
        full) is ignored: the chunk is thrown away either way, and the error
        that stopped the run is the one worth reporting.
        """
        if self.output is not None:
            output, self.output = self.output, None
            try:
                output.close()
            except (av.FFmpegError, OSError):
                pass
            finally:
                self.work.discard_partial()

    def _commit(self) -> None:
        self.output.mux(self.video.encode(None))  # flush: the encoder holds frames for lookahead
        output, self.output = self.output, None
        output.close()
        self.work.commit(self.frames, self.last_pts)
