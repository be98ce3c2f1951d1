"""The segment plan: the input's video cut into display-time ranges, each decodable on its own.

The plan comes from the packet index -- one demux pass over the video
packets, no decoding -- and holds, per segment, the range of display
timestamps it owns and the run of packets (decode order) its worker needs::

    display order   |0 1 2 3 4 5 6 7 8 9 ...      segment k owns pts in [start, end)
    decode order     K . . . . K . . . . ...      its packets: from the keyframe K at or before
                                                  ``start`` to the last packet of a frame before
                                                  ``end``, plus REORDER_MARGIN packets

Every frame belongs to exactly one segment, so the segments' outputs
together have exactly the input's frames and timestamps:

* Open GOPs and B-pyramids: frames decoded after a keyframe but shown before
  it belong to the segment before; that segment's packets run past the
  keyframe to reach them (the margin covers the decoder's reordering).
* Rare keyframes (one every 20 s in vtest.avi; one in a whole screen
  recording): when no keyframe falls within 1.5 targets, the cut is made at a
  plain frame and the segment decodes from the keyframe before it, dropping
  what precedes its start -- decoding is ~100× faster than upscaling.
* Inputs whose packets lack timestamps, or repeat one, cannot be cut
  safely: they get one segment, and the reason is reported.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
from dataclasses import dataclass
from fractions import Fraction

import av

from rtsr.errors import DecodeError
from rtsr.io.packets import DecoderParameters, PacketRun

# Packets read past a segment's last frame, so that the decoder's reordering
# (B-frames held back: at most 16 in H.264/HEVC) and rtsr's own pts repair
# (io.reader.PtsOrder, 8 deep) give its last frames the pts the whole input gives them.
REORDER_MARGIN = 32
# A keyframe cut is taken up to this many targets after the segment start; else a plain frame is cut.
KEYFRAME_SLACK = 1.5


@dataclass(frozen=True)
class PacketEntry:
    """One video packet of the input, in decode order."""

    pts: int | None
    dts: int | None
    keyframe: bool


@dataclass(frozen=True)
class Segment:
    """A display-time range of the input and the packets that decode it.

    ``start``/``end`` are pts in the input video's time base (``end`` None:
    to the end); ``first_packet``/``last_packet`` decode-order indices into
    the packet index, inclusive; ``frames`` how many frames it owns.
    """

    index: int
    start: int
    end: int | None
    first_packet: int
    last_packet: int
    frames: int


@dataclass(frozen=True)
class SegmentPlan:
    segments: tuple[Segment, ...]
    target_seconds: float
    unsplittable: str | None = None  # why there is one segment, when the input cannot be cut
    entries: tuple[PacketEntry, ...] = ()  # the packet index the plan was made from (decode order)
    warmup: int = 0  # frames before each segment's start its worker upscales and drops (plan_segments)

    @property
    def frames(self) -> int:
        return sum(segment.frames for segment in self.segments)

    def signature(self) -> str:  # the first packets move with a warm-up, so it is part of the cut
        """Identifies the plan in the resume state: a resumed run must cut the input the same way."""
        text = ";".join(f"{s.start}:{s.end}:{s.first_packet}:{s.last_packet}" for s in self.segments)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def index_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[PacketEntry]:
    """Every video packet's timestamps and keyframe flag, in decode order; the container is rewound after."""
    try:
        entries = [PacketEntry(p.pts, p.dts, p.is_keyframe) for p in container.demux(stream) if p.size]
    except av.FFmpegError as err:
        raise DecodeError(f"reading the input's packets failed: {err}") from err
    finally:
        _rewind(container)
    return entries


def plan_segments(entries: list[PacketEntry], time_base: Fraction, target_seconds: float,
                  warmup: int = 0) -> SegmentPlan:
    """Cut the video into segments of about ``target_seconds`` of display time (see the module docstring).

    ``warmup``: a segment's packets start at a keyframe shown at or before the frame ``warmup`` frames
    before its start, so that its worker can pass those frames to a recurrent model first
    (rtsr.io.reader's warm-up). What each segment owns is the same.
    """
    if not entries:
        return SegmentPlan((), target_seconds, "the input has no video packets")
    everything = (Segment(0, _first_pts(entries), None, 0, len(entries) - 1, len(entries)),)
    if any(entry.pts is None for entry in entries):
        return SegmentPlan(everything, target_seconds, "its video packets carry no timestamps", tuple(entries))
    shown = sorted(entry.pts for entry in entries)
    if any(a == b for a, b in zip(shown, shown[1:])):
        return SegmentPlan(everything, target_seconds, "its video packets repeat timestamps", tuple(entries))
    target = max(1, round(Fraction(target_seconds) / time_base))
    keyframes = sorted(entry.pts for entry in entries if entry.keyframe)
    # In display order: the latest decode index so far, over all packets and over keyframes.
    by_display = sorted(range(len(entries)), key=lambda i: entries[i].pts)
    latest = list(itertools.accumulate(by_display, max))
    latest_keyframe = list(itertools.accumulate((i if entries[i].keyframe else -1 for i in by_display), max))
    starts = [shown[0]]
    while True:
        cut = _next_cut(shown, keyframes, starts[-1], target)
        if cut is None:
            break
        starts.append(cut)
    segments = []
    for index, start in enumerate(starts):
        end = starts[index + 1] if index + 1 < len(starts) else None
        at_start = bisect.bisect_left(shown, start)
        at_end = bisect.bisect_left(shown, end) if end is not None else len(shown)
        first = max(0, latest_keyframe[max(0, at_start - warmup)]) if index else 0  # 0: none shown before
        last = max(first, latest[at_end - 1])
        frames = at_end - at_start
        segments.append(Segment(index, start, end, first, min(len(entries) - 1, last + REORDER_MARGIN), frames))
    return SegmentPlan(tuple(segments), target_seconds, None, tuple(entries), warmup)


def _first_pts(entries: list[PacketEntry]) -> int:
    known = [entry.pts for entry in entries if entry.pts is not None]
    return min(known) if known else 0


def _next_cut(shown: list[int], keyframes: list[int], start: int, target: int) -> int | None:
    """The next segment's first pts: a keyframe ``target`` or more after ``start`` if one is near, else a frame."""
    at = bisect.bisect_left(keyframes, start + target)
    if at < len(keyframes) and keyframes[at] <= start + KEYFRAME_SLACK * target:
        return keyframes[at]
    at = bisect.bisect_left(shown, start + target)
    if at >= len(shown) - 1:  # nothing left, or a last segment of one frame: merged into this one
        return None
    return shown[at]


def _rewind(container: av.container.InputContainer) -> None:
    try:
        container.seek(0)
    except av.FFmpegError as err:
        raise DecodeError(f"cannot rewind the input ({err.strerror})") from None


class SegmentReader:
    """Reads a segment's packets from the input (the driver's side), seeking to its first keyframe."""

    def __init__(self, container: av.container.InputContainer, stream: av.video.stream.VideoStream,
                 entries: tuple[PacketEntry, ...]) -> None:
        self.container, self.stream, self.entries = container, stream, entries
        self.parameters = DecoderParameters.of_stream(stream)
        self._index_of = {(e.pts, e.dts): i for i, e in enumerate(entries)}

    def read(self, segment: Segment) -> PacketRun:
        """The packets ``first_packet..last_packet`` of ``segment``, exactly as the index lists them."""
        packets = self._read_from(segment, seek=True)
        if packets is None:  # the seek landed past the keyframe: read from the start instead
            packets = self._read_from(segment, seek=False)
        if packets is None or len(packets) != segment.last_packet - segment.first_packet + 1:
            raise DecodeError(f"the input's packets changed while it was being read (segment {segment.index})")
        return PacketRun.collect(self.parameters, packets)

    def _read_from(self, segment: Segment, seek: bool) -> list[av.Packet] | None:
        first = self.entries[segment.first_packet]
        target = min(t for t in (first.pts, first.dts) if t is not None) if seek and segment.first_packet else None
        try:
            if target is None:
                self.container.seek(0)
            else:
                self.container.seek(target, stream=self.stream, backward=True)
        except av.FFmpegError:
            if target is None:
                raise
            return None
        packets: list[av.Packet] = []
        position: int | None = None
        try:
            for packet in self.container.demux(self.stream):
                if not packet.size:
                    continue
                if position is None:
                    index = self._index_of.get((packet.pts, packet.dts))
                    if index is None or index < segment.first_packet:
                        continue
                    if index > segment.first_packet:
                        return None
                    position = index
                else:
                    position += 1
                packets.append(packet)
                if position == segment.last_packet:
                    break
        except av.FFmpegError as err:
            raise DecodeError(f"reading the input failed: {err}") from err
        return packets if position is not None else None
