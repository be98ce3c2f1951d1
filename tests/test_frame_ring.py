"""The ring of frames in flight (rtsr.frame_ring), on the CPU.

The GPU's streams are replaced by ones whose events finish only when the host
waits for them -- a device that is always behind -- so the ring's order, its
waits and its slot reuse are exercised without a GPU. tests/test_gpu.py runs
the real streams.
"""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np
import pytest
import torch
from conftest import decode_video
from test_plane_upscaler import NearestEngine

from rtsr import Upscaler, plane_upscaler
from rtsr.formats import LAYOUTS, ColorInfo
from rtsr.frame_ring import FrameRing, Lanes, default_depth
from rtsr.plane_upscaler import PlaneUpscaler
from rtsr.report import StageClock


class LateEvent:
    """Finished only once the host has waited for it."""

    def __init__(self, log: list, name: str) -> None:
        self.log, self.name, self.done = log, name, False

    def query(self) -> bool:
        return self.done

    def synchronize(self) -> None:
        self.done = True
        self.log.append(("host waits", self.name))


class FakeStream:
    def __init__(self, log: list, name: str) -> None:
        self.log, self.name, self.marks = log, name, 0

    def wait_event(self, event: LateEvent) -> None:
        self.log.append((self.name, "waits", event.name))


class LateLanes(Lanes):
    """Streams that record their waits; events that finish only when the host waits (no GPU needed)."""

    def __init__(self, log: list) -> None:
        self.device, self.cuda, self.log = torch.device("cpu"), False, log
        self.upload, self.compute, self.download = (FakeStream(log, n) for n in ("upload", "compute", "download"))

    def on(self, stream):
        return nullcontext()

    def mark(self, stream: FakeStream) -> LateEvent:
        stream.marks += 1
        return LateEvent(self.log, f"{stream.name} {stream.marks}")


def _numbered(n: int) -> list[np.ndarray]:
    return [np.full((4, 6), n, np.uint8), np.full((2, 3), n, np.uint8), np.full((2, 3), n, np.uint8)]


def _doubling_ring(log: list, depth: int, fail_on: int | None = None) -> FrameRing:
    def compute(planes: list[torch.Tensor]):
        frame = int(planes[0][0, 0])
        log.append(("launch", frame))
        if frame == fail_on:
            raise RuntimeError("the engine failed")
        timer = LateLanes(log).timer()
        timer.start()
        timer.stop()
        return [p * 2 for p in planes], timer

    return FrameRing(torch.device("cpu"), compute, depth, StageClock(), lanes=LateLanes(log))


def _finish(log: list):
    def finish(planes: list[np.ndarray]) -> int:
        log.append(("finish", int(planes[0][0, 0]) // 2))
        return int(planes[0][0, 0]) // 2
    return finish


def test_results_come_back_in_order_once_the_ring_is_full() -> None:
    log: list = []
    ring = _doubling_ring(log, depth=3)
    returned = [ring.submit(_numbered(n), _finish(log)) for n in range(1, 6)]
    assert returned == [[], [], [], [1], [2]]  # the host waits only when all three slots are busy
    assert ring.in_flight == 3
    assert ring.drain() == [3, 4, 5] and ring.in_flight == 0


def test_a_slot_is_reused_only_after_its_frame_is_finished() -> None:
    log: list = []
    ring = _doubling_ring(log, depth=2)
    for n in range(1, 7):
        ring.submit(_numbered(n), _finish(log))
    ring.drain()
    order = [entry for entry in log if entry[0] in ("launch", "finish")]
    for n in range(1, 5):
        assert order.index(("finish", n)) < order.index(("launch", n + 2))


def test_each_part_waits_for_the_previous_part_of_its_own_frame() -> None:
    log: list = []
    ring = _doubling_ring(log, depth=2)
    for n in range(1, 4):
        ring.submit(_numbered(n), _finish(log))
    ring.drain()
    assert [e for e in log if e[1] == "waits"] == [
        ("compute", "waits", "upload 1"), ("download", "waits", "compute 1"),
        ("compute", "waits", "upload 2"), ("download", "waits", "compute 2"),
        ("compute", "waits", "upload 3"), ("download", "waits", "compute 3"),
    ]
    # The host waited for downloads only, the oldest first: never for the whole device.
    assert [e[1] for e in log if e[0] == "host waits"] == ["download 1", "download 2", "download 3"]


def test_a_failed_frame_leaves_the_ring_usable() -> None:
    log: list = []
    ring = _doubling_ring(log, depth=2, fail_on=2)
    ring.submit(_numbered(1), _finish(log))
    with pytest.raises(RuntimeError, match="the engine failed"):
        ring.submit(_numbered(2), _finish(log))
    results = [r for n in (3, 4, 5) for r in ring.submit(_numbered(n), _finish(log))] + ring.drain()
    assert results == [1, 3, 4, 5]


def test_the_ring_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one slot"):
        FrameRing(torch.device("cpu"), lambda planes: (planes, None), 0)


def test_depth_is_one_on_the_cpu_and_more_on_a_gpu() -> None:
    assert default_depth(torch.device("cpu")) == 1
    assert default_depth(torch.device("cuda")) > 1


def _random_frames(count: int, layout_name: str, width: int, height: int) -> list[list[np.ndarray]]:
    layout = LAYOUTS[layout_name]
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    cw, ch = layout.chroma_size(width, height)
    rng = np.random.default_rng(1)
    return [[rng.integers(0, layout.max_code + 1, size, dtype=dtype) for size in [(height, width), (ch, cw), (ch, cw)]]
            for _ in range(count)]


@pytest.mark.parametrize("layout_name, planes", [("yuv420p", "y"), ("yuv420p10le", "y"), ("yuv444p", "rgb")])
def test_frames_in_flight_give_the_synchronous_result(layout_name: str, planes: str) -> None:
    layout, color = LAYOUTS[layout_name], ColorInfo("bt709", False)
    frames = _random_frames(5, layout_name, 10, 6)
    synchronous = PlaneUpscaler(NearestEngine(2), planes, 2, layout, color, (20, 12))
    expected = [synchronous(f) for f in frames]
    clock = StageClock()
    late = PlaneUpscaler(NearestEngine(2), planes, 2, layout, color, (20, 12), clock)
    late.ring = FrameRing(torch.device("cpu"), late._compute, 3, clock, lanes=LateLanes([]))
    got = [r for f in frames for r in late.submit(f, lambda out: [p.copy() for p in out])] + late.drain()
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected):
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(mine, theirs))
    assert clock.seconds["inference"] > 0 and clock.seconds["convert"] > 0


def test_calling_with_frames_in_flight_is_refused() -> None:
    layout, color = LAYOUTS["yuv420p"], ColorInfo("bt709", False)
    upscaler = PlaneUpscaler(NearestEngine(2), "y", 2, layout, color, (20, 12))
    upscaler.ring = FrameRing(torch.device("cpu"), upscaler._compute, 2, lanes=LateLanes([]))
    frame = _random_frames(1, "yuv420p", 10, 6)[0]
    upscaler.submit(frame, lambda out: None)
    with pytest.raises(RuntimeError, match="in flight"):
        upscaler(frame)


def test_file_pipeline_with_frames_in_flight_matches_one_at_a_time(clip_factory, random_weights, tmp_path,
                                                                   monkeypatch) -> None:
    """The pipeline hands frames on as the ring returns them, late, and flushes the rest at the end."""
    src = clip_factory("in.mp4", width=64, height=48, frames=11)
    upscaler = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2))
    upscaler.upscale_video(src, tmp_path / "sync.mp4", crf=0, preset="ultrafast")
    late_rings: list[FrameRing] = []

    def late_ring(device, compute, depth, clock):
        late_rings.append(FrameRing(device, compute, 4, clock, lanes=LateLanes([])))
        return late_rings[-1]

    monkeypatch.setattr(plane_upscaler, "FrameRing", late_ring)
    report = upscaler.upscale_video(src, tmp_path / "late.mp4", crf=0, preset="ultrafast")
    assert late_rings and report.frames == 11
    sync_frames, _ = decode_video(tmp_path / "sync.mp4")
    late_frames, _ = decode_video(tmp_path / "late.mp4")
    assert [f.pts for f in late_frames] == [f.pts for f in sync_frames]
    for a, b in zip(late_frames, sync_frames):
        assert np.array_equal(a.to_ndarray(), b.to_ndarray())
