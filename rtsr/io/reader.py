"""The one decode loop: frames of one video stream in display order, with one policy for damage.

:class:`FrameReader` is used by the file pipeline, ``rtsr live`` and
tools/extract_frames.py. What it decides, in one place:

* **Resume**: with ``after_pts``, it seeks to the keyframe at or before that
  pts and passes on only the frames after it (an unseekable input is decoded
  from the start instead).
* **Segments**: :meth:`FrameReader.from_packets` decodes a list of packets
  (one segment's, rtsr.io.packets) instead of a container, and passes on
  only the frames whose pts lie in ``[first_pts, end_pts)``.
* **Damage**: a packet the decoder rejects is skipped, counted and logged; the
  decoder conceals what it can. With ``drop_damaged`` (training data) no
  damaged picture is passed on: frames FFmpeg flags corrupt, and every frame
  after a rejected packet or a corrupt frame up to the next keyframe (they
  predict from it), are dropped and counted.
* **Timestamps**: :class:`PtsOrder` gives every frame a pts that increases.
* **Interlaced input**: with ``deinterlace`` (a field order), frames leave
  through FFmpeg's bwdif (rtsr.io.deinterlace), one per frame or, with
  ``fields``, one per field; the resume and segment ranges then apply to
  bwdif's output, so every frame has the same neighbours as in a whole run.
* **Other streams**: a one-pass run (rtsr.streaming) has the streams it
  copies demuxed in the same pass, their packets handed to ``on_packet``.
* **Warm-up**: with ``warmup`` N, the N frames just before a resumed run's or
  a segment's range are passed on first, each wrapped in a
  :class:`WarmUpFrame`: a recurrent model (rtsr.temporal) upscales them to
  build up its state and nobody encodes them. A resume seeks N frames earlier
  for them; a segment's packets start early enough (rtsr.segments.plan).
"""

from __future__ import annotations

import collections
import heapq
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from fractions import Fraction
from typing import Protocol

import av

from rtsr.io.alpha import alpha_decoder
from rtsr.io.deinterlace import deinterlaced

log = logging.getLogger("rtsr")


class WarmUpFrame:
    """A frame before the range, passed on only so that a recurrent model sees it (see ``warmup``)."""

    __slots__ = ("frame",)

    def __init__(self, frame: av.VideoFrame) -> None:
        self.frame = frame


class Clock(Protocol):
    def add(self, stage: str, seconds: float) -> None: ...


class PtsOrder:
    """Gives decoded frames strictly increasing pts, in the order they leave the decoder.

    Well-formed streams pass through unchanged. Some containers (AVI with
    B-frames, above all) attach timestamps in decode order, so frames come
    out of the decoder with a shuffled pts sequence that no muxer accepts.
    Frames are held ``depth`` deep and each leaving frame takes the smallest
    pts seen, which restores the display order of such timestamps. A frame
    without pts gets the previous one plus ``step``; anything still not
    increasing is nudged forward by one tick and counted in ``repaired``.
    Frames leave in the order they came (first in, first out).
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


class FrameReader:
    """Decoded frames of ``stream`` in display order, under the decode policy above.

    Iterate :meth:`frames` once. Counters afterwards (or during):
    ``corrupt_packets`` (rejected by the decoder), ``damaged_frames`` (dropped
    with ``drop_damaged``), ``position`` (the source index of the frame last
    yielded, counting every frame decoded or lost since the start or the
    seek), and ``pts_order.repaired``. ``reorder_depth`` is how many frames
    PtsOrder holds to restore shuffled timestamps: 0 for live sources, where
    every held frame is latency. FFmpeg errors other than rejected
    packets (I/O failures) propagate to the caller, which names the stage.
    """

    def __init__(self, container: av.container.InputContainer | None,
                 stream: av.video.stream.VideoStream | None, *, step: int = 1, after_pts: int | None = None,
                 drop_damaged: bool = False, clock: Clock | None = None, reorder_depth: int = 8,
                 deinterlace: str | None = None, fields: bool = False,
                 other_streams: tuple[av.stream.Stream, ...] = (),
                 on_packet: Callable[[av.Packet], object] | None = None, warmup: int = 0) -> None:
        self.container, self.stream = container, stream
        self.step = step
        # The frames just before the range, held until the range starts (see the module doc).
        self._warmup: collections.deque[av.VideoFrame] = collections.deque(maxlen=warmup)
        # A field order: frames leave through bwdif (rtsr.io.deinterlace), one per field with ``fields``.
        # The range (after_pts, first_pts, end_pts) is then applied to bwdif's output, so the first frame
        # of a resumed run or a segment has the frame before it as context, as in a whole run; after_pts is
        # in the output's time base (half the stream's with ``fields``), first_pts and end_pts in the stream's.
        self.deinterlace, self.fields = deinterlace, fields
        # A one-pass run (rtsr.streaming) reads the streams it copies in the same pass: their packets
        # go to ``on_packet`` as they are demuxed, in file order among the frames.
        self.other_streams, self.on_packet = other_streams, on_packet
        # VP9 whose alpha comes beside its packets is decoded by libvpx, the one decoder that reads it.
        own = alpha_decoder(stream) if stream is not None else None
        self.decoder: av.CodecContext | None = own or (stream.codec_context if stream is not None else None)
        self._packets: Iterable[av.Packet] | None = None
        # Stamped on frames decoded from bare packets, or by a decoder of our own (which leaves it unset).
        self._time_base: Fraction | None = stream.time_base if own is not None else None
        self.after_pts, self.drop_damaged, self.clock = after_pts, drop_damaged, clock
        self.first_pts: int | None = None
        self.end_pts: int | None = None
        self.pts_order = PtsOrder(step=step, depth=reorder_depth)
        self.corrupt_packets = 0
        self.damaged_frames = 0
        self.position = -1
        self._positions: collections.deque[int] = collections.deque()  # beside pts_order's frames
        self._counted = -1
        if self.decoder is not None and not self.decoder.is_open:  # a probed stream was set up by the probe
            self.decoder.thread_type = "AUTO"  # frame and slice threads, as the codec allows

    @classmethod
    def from_packets(cls, decoder: av.CodecContext, packets: Iterable[av.Packet], time_base: Fraction, *,
                     first_pts: int | None = None, end_pts: int | None = None, step: int = 1,
                     clock: Clock | None = None, deinterlace: str | None = None,
                     fields: bool = False, warmup: int = 0) -> FrameReader:
        """Frames decoded by ``decoder`` from ``packets`` (decode order), kept when ``first_pts <= pts < end_pts``.

        ``time_base`` is the packets' (a bare decoder does not stamp it on frames).
        The decoder is flushed after the last packet. Used for one segment of
        an input (rtsr.segments): its packets start at a keyframe at or before
        ``first_pts`` and may run past ``end_pts``, so that every frame of the
        range comes out with the pts the whole input's decode gives it.
        """
        reader = cls(None, None, step=step, clock=clock, deinterlace=deinterlace, fields=fields, warmup=warmup)
        reader.decoder, reader._packets, reader._time_base = decoder, packets, time_base
        reader.first_pts, reader.end_pts = first_pts, end_pts
        decoder.thread_type = "AUTO"
        return reader

    def frames(self) -> Iterator[av.VideoFrame | WarmUpFrame]:
        """The frames in display order (deinterlaced when asked), under the policy above."""
        if self.deinterlace is None:
            return self._decoded(in_range=True)
        return self._in_range(deinterlaced(self._decoded(in_range=False), self.deinterlace, self.clock, self.fields))

    def _in_range(self, frames: Iterator[av.VideoFrame]) -> Iterator[av.VideoFrame | WarmUpFrame]:
        """Deinterlaced ``frames`` within the reader's range (see __init__)."""
        scale = 2 if self.fields else 1
        for frame in frames:
            if self.end_pts is not None and frame.pts >= self.end_pts * scale:
                return
            if (self.after_pts is None or frame.pts > self.after_pts) and \
                    (self.first_pts is None or frame.pts >= self.first_pts * scale):
                yield from self._warmed_up()
                yield frame
            else:
                self._warmup.append(frame)

    def _warmed_up(self) -> Iterator[WarmUpFrame]:
        """The held frames before the range, once, when its first frame has come."""
        while self._warmup:
            yield WarmUpFrame(self._warmup.popleft())

    def _decoded(self, in_range: bool) -> Iterator[av.VideoFrame]:
        """Decoded frames in display order; only those in the reader's range with ``in_range``."""
        if self.after_pts is not None and self.container is not None:
            after = self.after_pts // 2 if self.fields else self.after_pts
            self._seek(after - 2 * self._warmup.maxlen * self.step)  # room for the warm-up frames, if any
        if self._packets is not None:
            packets: Iterable[av.Packet | None] = itertools.chain(self._packets, [None])  # None flushes
        elif self.other_streams:
            packets = self.container.demux([self.stream, *self.other_streams])
        else:
            packets = self.container.demux(self.stream)
        awaiting_keyframe = False
        for packet in packets:
            if self.other_streams and packet.stream.index != self.stream.index:
                if packet.size:
                    self.on_packet(packet)
                continue
            started = time.perf_counter()
            try:
                decoded = self.decoder.decode(packet)
            except av.error.InvalidDataError as err:
                self._rejected(packet, err)
                awaiting_keyframe = self.drop_damaged
                continue
            finally:
                if self.clock is not None:
                    self.clock.add("decode", time.perf_counter() - started)
            for frame in decoded:
                self._counted += 1
                if self._time_base is not None:
                    frame.time_base = self._time_base
                if self.drop_damaged:
                    awaiting_keyframe = (awaiting_keyframe and not frame.key_frame) or frame.is_corrupt
                    if awaiting_keyframe:
                        self.damaged_frames += 1
                        continue
                self._positions.append(self._counted)
                for ready in self._wanted(self.pts_order.push(frame), in_range):
                    if in_range and self._past_end(ready):
                        return  # pts only increase from here: the range is complete
                    yield ready
        for ready in self._wanted(self.pts_order.flush(), in_range):
            if in_range and self._past_end(ready):
                break
            yield ready
        if self.pts_order.repaired:
            log.warning("%d video timestamps were not increasing and were moved forward", self.pts_order.repaired)

    def _past_end(self, item: av.VideoFrame | WarmUpFrame) -> bool:
        """Whether a frame in the range lies at or after ``end_pts`` (a warm-up frame lies before the range)."""
        return self.end_pts is not None and not isinstance(item, WarmUpFrame) and item.pts >= self.end_pts

    def _wanted(self, ready: Iterator[av.VideoFrame], in_range: bool = True) -> Iterator[
            av.VideoFrame | WarmUpFrame]:
        for frame in ready:
            self.position = self._positions.popleft()
            if not in_range:
                yield frame
            elif (self.after_pts is None or frame.pts > self.after_pts) and \
                    (self.first_pts is None or frame.pts >= self.first_pts):
                yield from self._warmed_up()
                yield frame
            else:
                self._warmup.append(frame)

    def _seek(self, pts: int) -> None:
        try:
            self.container.seek(pts, stream=self.stream, backward=True)  # to the keyframe at or before it
            if self.decoder is not self.stream.codec_context:  # the seek flushed the stream's own decoder only
                self.decoder.flush_buffers()
        except av.FFmpegError as err:  # unseekable: decode from the start, skipping what is done
            log.info("cannot seek the input (%s); decoding from the start to resume", err)

    def _rejected(self, packet: av.Packet | None, err: av.FFmpegError) -> None:
        self.corrupt_packets += 1
        self._counted += 1  # the frame it carried (a video packet carries one)
        if self.drop_damaged:
            self.damaged_frames += 1
        at = float(packet.pts * packet.time_base) if packet is not None and packet.pts is not None \
            and packet.time_base is not None else float("nan")
        log.warning("skipping a corrupt video packet at %.3f s: %s", at, err.strerror)
