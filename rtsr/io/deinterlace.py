"""Interlaced video: the field order found in the stream, and FFmpeg's bwdif to make frames of it.

DVD, broadcast and camcorder footage stores two fields (half pictures taken
1/50 or 1/60 s apart) woven into each frame. Upscaled as a picture, the
comb of their teeth is enlarged into the output, and the output says
progressive, so no player can undo it. So rtsr finds the field order (the
stream's own flag, else the first frame's) and, with ``--deinterlace auto``
(the default) or ``on``, runs every frame through FFmpeg's ``bwdif``
(Bob Weaver, the best of FFmpeg's CPU deinterlacers) before upscaling: one
output frame per input frame, at the input's frame rate and timestamps,
flagged progressive. Torch-free, like all of rtsr.io.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Protocol

import av

from rtsr.errors import InputError


class Clock(Protocol):
    def add(self, stage: str, seconds: float) -> None: ...


# FFmpeg's AVFieldOrder -> rtsr's name: 1 progressive, 2 TT, 3 BB, 4 TB (top shown first), 5 BT.
FIELD_ORDERS = {1: "progressive", 2: "tff", 3: "bff", 4: "tff", 5: "bff"}
MODES = ("auto", "on", "off", "fields")  # fields: deinterlaced at the field rate (50i -> 50p)


INTERLACED = ("tff", "bff", "interlaced")  # "interlaced": the frames say so, not which field comes first


def field_order(codec_order: int, first_frame: av.VideoFrame | None) -> str:
    """"tff", "bff", "progressive", "unknown", or "interlaced" when only the first frame's flag says so
    (PyAV shows no field order on frames: bwdif then reads each frame's own)."""
    order = FIELD_ORDERS.get(int(codec_order or 0), "unknown")
    if order == "unknown" and first_frame is not None and first_frame.interlaced_frame:
        order = "interlaced"
    return order


def wants_deinterlacing(mode: str, order: str) -> bool:
    """``on`` and ``fields``: always; ``auto``: when the field order says interlaced; ``off``: never."""
    if mode not in MODES:
        raise InputError(f"--deinterlace takes {', '.join(MODES)}, not {mode!r}")
    return mode in ("on", "fields") or (mode == "auto" and order in INTERLACED)


class Deinterlacer:
    """Frames in, the same frames deinterlaced out (bwdif, one per input frame; with ``fields``, one
    per field), in half the input's time base as bwdif gives them (see :func:`deinterlaced`).

    bwdif looks one frame ahead, so each push returns the frames that are
    ready (none for the first); ``flush`` returns the last. ``order`` is the
    field order ("tff", "bff"; anything else: bwdif reads each frame's flag).
    The graph is built on the first frame, from its size and format.
    """

    def __init__(self, order: str, fields: bool = False) -> None:
        self.parity = order if order in ("tff", "bff") else "auto"
        self.mode = "send_field" if fields else "send_frame"
        self._graph: av.filter.Graph | None = None
        self._source = self._sink = None

    def _build(self, frame: av.VideoFrame) -> None:
        graph = av.filter.Graph()
        self._source = graph.add_buffer(width=frame.width, height=frame.height, format=frame.format,
                                        time_base=frame.time_base)
        bwdif = graph.add("bwdif", f"mode={self.mode}:parity={self.parity}:deint=all")
        self._sink = graph.add("buffersink")
        self._source.link_to(bwdif)
        bwdif.link_to(self._sink)
        graph.configure()
        self._graph = graph

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        if self._graph is None:
            self._build(frame)
        self._source.push(frame)
        return list(self._ready())

    def flush(self) -> list[av.VideoFrame]:
        if self._graph is None:
            return []
        self._source.push(None)
        return list(self._ready())

    def _ready(self) -> Iterator[av.VideoFrame]:
        while True:
            try:
                frame = self._sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            yield frame  # bwdif clears the frame's interlaced flag: the encoder writes progressive


def deinterlaced(frames: Iterator[av.VideoFrame], order: str, clock: Clock | None = None,
                 fields: bool = False) -> Iterator[av.VideoFrame]:
    """``frames`` through a Deinterlacer, in their input's time base (halved with ``fields``); the
    filter's time is added to ``clock`` as decoding (it is part of reading the input).

    bwdif always answers in half its input's time base (pts doubled, so a second field fits between),
    even when it sends one frame per frame: its pts are converted to the time base wanted here.
    """
    deinterlacer = Deinterlacer(order, fields)
    time_base = None

    def rebased(out: av.VideoFrame) -> av.VideoFrame:
        if out.pts is not None and out.time_base and out.time_base != time_base:
            out.pts = round(out.pts * out.time_base / time_base)
        out.time_base = time_base
        return out

    for frame in frames:
        time_base = frame.time_base / 2 if fields else frame.time_base
        started = time.perf_counter()
        ready = deinterlacer.push(frame)
        if clock is not None:
            clock.add("decode", time.perf_counter() - started)
        for out in ready:
            yield rebased(out)
    for out in deinterlacer.flush():
        yield rebased(out)
