"""Frames in flight: a ring of slots that overlaps host↔device copies with the engine's work.

One frame's trip through a GPU engine has three parts, and different frames'
parts can run at the same time::

    planes ─memcpy─▶ pinned[k] ─upload stream─▶ device planes
           ─compute stream─▶ colour work, the network, rounding to codes
           ─download stream─▶ pinned[k] ─▶ finish(planes) on the host

Each part runs on its own CUDA stream and waits for the previous part of the
same frame through a CUDA event, so frame n+1 uploads while frame n computes
and frame n-1 downloads, and the host decodes and encodes meanwhile. The host
waits only for the **oldest** frame in flight, when all ``depth`` slots are
busy (and at the end, to drain), never for the whole device. Results come
back in submission order.

Buffer lifetimes: a slot's pinned buffers and the device tensors of its frame
belong to that frame until the host has seen its download finish and has
called its ``finish`` (which must copy what it keeps, as building an
``av.VideoFrame`` does). Only then is the slot reused, so nothing is
overwritten while a copy or a kernel still reads it, and the caching
allocator only gets a frame's device memory back once every stream is done
with it.

On the CPU there are no streams: each part runs when it is called, a frame is
finished before ``submit`` returns, and the same code (slots, order, timing)
runs, which is what the CPU tests check.

Times are taken where the work runs -- CUDA events on each stream on a GPU,
the host clock on the CPU -- and read when the frame is collected, so the
stage clock holds work, not the host's waiting: "inference" is the network,
"convert" the rest (copies into pinned memory, uploads, colour work,
downloads).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import numpy as np
import torch

from rtsr.engines.base import CudaTimer, HostTimer
from rtsr.report import StageClock

T = TypeVar("T")

# Frames in flight on a GPU: one uploading, one or two computing, one downloading.
GPU_DEPTH = 4


class Timer(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def seconds(self) -> float: ...


# The device work of one frame: its planes on the device -> the output planes on the device,
# and the timer that measured the network inside it.
Compute = Callable[[list[torch.Tensor]], tuple[list[torch.Tensor], Timer]]


def default_depth(device: torch.device) -> int:
    """Frames in flight for an engine on ``device``: GPU_DEPTH on CUDA, 1 (no overlap to gain) on the CPU."""
    return GPU_DEPTH if device.type == "cuda" else 1


@dataclass
class _Part:
    """One part of a frame's work (upload, compute, download) once queued: the event at its end."""

    done: torch.cuda.Event | None = None  # None on the CPU, where the work is done when queued


class Lanes:
    """The upload, compute and download streams of a CUDA device; on the CPU, none (work runs when called)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        if self.cuda:
            self.upload, self.compute, self.download = (torch.cuda.Stream(device) for _ in range(3))
        else:
            self.upload = self.compute = self.download = None

    def on(self, stream: torch.cuda.Stream | None) -> AbstractContextManager[object]:
        """Make ``stream`` current for the work queued inside (nothing on the CPU)."""
        return torch.cuda.stream(stream) if stream is not None else nullcontext()

    def timer(self) -> Timer:
        """A timer for work on the current stream (CUDA events), or for the host's own work."""
        return CudaTimer() if self.cuda else HostTimer()

    @contextmanager
    def part(self, stream: torch.cuda.Stream | None, after: torch.cuda.Event | None,
             timer: Timer) -> Iterator[_Part]:
        """Queue the work inside on ``stream``, after ``after``, timed by ``timer``; ``.done`` marks its end."""
        part = _Part()
        with self.on(stream):
            if after is not None:
                stream.wait_event(after)
            timer.start()
            yield part
            timer.stop()
            part.done = self.mark(stream)

    def mark(self, stream: torch.cuda.Stream | None) -> torch.cuda.Event | None:
        """An event at the current end of ``stream``'s queue; None on the CPU, where work is already done."""
        if stream is None:
            return None
        event = torch.cuda.Event()
        event.record(stream)
        return event


def _as_torch(plane: np.ndarray) -> torch.Tensor:
    """A numpy plane as a tensor sharing its memory; uint16 travels as int16 (the same bytes: torch computes
    poorly on uint16, and codes of at most 12 bits fit)."""
    return torch.from_numpy(plane.view(np.int16) if plane.dtype == np.uint16 else plane)


def _as_numpy(plane: torch.Tensor) -> np.ndarray:
    """A host tensor as a numpy view; int16 codes are uint16 again."""
    array = plane.numpy()
    return array.view(np.uint16) if array.dtype == np.int16 else array


@dataclass
class _Slot:
    """One frame's place in the ring: reusable pinned buffers, and what its frame in flight holds."""

    pinned: dict[tuple[str, int, tuple[int, ...], torch.dtype], torch.Tensor] = field(default_factory=dict)
    finish: Callable[[list[np.ndarray]], object] | None = None
    held: list[torch.Tensor] = field(default_factory=list)  # device tensors, kept until collected
    outputs: list[torch.Tensor] = field(default_factory=list)  # host planes the download fills
    done: torch.cuda.Event | None = None  # the download finished (None: already done)
    timers: dict[str, Timer] = field(default_factory=dict)
    host_seconds: float = 0.0  # the host's copy into pinned memory

    def buffer(self, role: str, index: int, like: torch.Tensor) -> torch.Tensor:
        key = (role, index, tuple(like.shape), like.dtype)
        if key not in self.pinned:
            self.pinned[key] = torch.empty(like.shape, dtype=like.dtype, pin_memory=True)
        return self.pinned[key]

    def finished(self) -> bool:
        return self.done is None or self.done.query()


class FrameRing(Generic[T]):
    """Up to ``depth`` frames' device work in flight; each result is handed to its ``finish`` in order.

    ``compute`` maps a frame's device planes (uint8, or int16 codes) to the
    output's device planes. ``submit`` returns the results of the frames
    that completed meanwhile (oldest first), ``drain`` those of all the rest.
    ``lanes`` defaults to ``device``'s streams (tests pass their own).
    """

    def __init__(self, device: torch.device, compute: Compute, depth: int,
                 clock: StageClock | None = None, lanes: Lanes | None = None) -> None:
        if depth < 1:
            raise ValueError(f"a frame ring needs at least one slot, not {depth}")
        self.lanes, self.compute, self.depth = lanes or Lanes(device), compute, depth
        self.clock = clock or StageClock()
        self._free = [_Slot() for _ in range(depth)]
        self._flight: deque[_Slot] = deque()

    @property
    def in_flight(self) -> int:
        return len(self._flight)

    def submit(self, planes: list[np.ndarray], finish: Callable[[list[np.ndarray]], T]) -> list[T]:
        """Queue one frame's planes; the results of frames finished by now, oldest first.

        ``finish`` receives the output planes as numpy views of buffers the
        ring reuses, so it must copy what it keeps. It runs on this thread,
        inside a later submit() or drain().
        """
        results = [self._collect()] if len(self._flight) == self.depth else []
        slot = self._free.pop()
        launched = False
        try:
            self._launch(slot, planes, finish)
            launched = True
        finally:
            if not launched:  # the frame is dropped (an error, Ctrl-C); its slot stays usable
                self._release(slot)
        self._flight.append(slot)
        while self._flight and self._flight[0].finished():
            results.append(self._collect())
        return results

    def drain(self) -> list[T]:
        """Wait for every frame in flight; their results, oldest first."""
        return [self._collect() for _ in range(len(self._flight))]

    def _launch(self, slot: _Slot, planes: list[np.ndarray], finish: Callable[[list[np.ndarray]], T]) -> None:
        lanes, device = self.lanes, self.lanes.device
        started = time.perf_counter()
        hosts = [_as_torch(plane) for plane in planes]
        if lanes.cuda:  # page-locked copies make the uploads true, asynchronous DMA transfers
            hosts = [slot.buffer("up", i, host).copy_(host) for i, host in enumerate(hosts)]
        slot.host_seconds = time.perf_counter() - started
        timers = {part: lanes.timer() for part in ("upload", "compute", "download")}
        with lanes.part(lanes.upload, None, timers["upload"]) as upload:
            uploaded = [host.to(device, non_blocking=True) for host in hosts]
        with lanes.part(lanes.compute, upload.done, timers["compute"]) as compute:
            outputs, timers["inference"] = self.compute(uploaded)
        with lanes.part(lanes.download, compute.done, timers["download"]) as download:
            if lanes.cuda:
                slot.outputs = [slot.buffer("down", i, out).copy_(out, non_blocking=True)
                                for i, out in enumerate(outputs)]
            else:
                slot.outputs = [out.to(device) for out in outputs]
        slot.done = download.done
        slot.held, slot.timers, slot.finish = uploaded + outputs, timers, finish

    def _collect(self) -> T:
        """Wait for the oldest frame's download, hand its planes to its finish, free its slot."""
        slot = self._flight.popleft()
        try:
            if slot.done is not None:
                slot.done.synchronize()
            seconds = {part: timer.seconds() for part, timer in slot.timers.items()}
            self.clock.add("inference", seconds["inference"])
            self.clock.add("convert", slot.host_seconds + seconds["upload"] + seconds["download"]
                           + max(0.0, seconds["compute"] - seconds["inference"]))
            return slot.finish([_as_numpy(out) for out in slot.outputs])
        finally:
            self._release(slot)

    def _release(self, slot: _Slot) -> None:
        slot.finish, slot.held, slot.outputs, slot.done, slot.timers = None, [], [], None, {}
        self._free.append(slot)
