"""Segments: the plan from the packet index, and segmented output against a whole-file run of the same clip.

Most comparisons run the segments in this process (InlinePool: the driver,
plan and worker are what is tested, and they finish in reverse order to test
out-of-order commits); test_segments_pool.py runs real worker processes.
Lossless encoding (crf 0) makes the pictures comparable exactly, except
where inference ran with another number of threads (the whole-file run
shares the cores with its encoder): 10-bit codes then differ by a code or
two in places, and such clips are held to >= 50 dB.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import audio_payloads, make_resolution_change

from rtsr import Upscaler
from rtsr.segments import driver
from rtsr.segments.plan import REORDER_MARGIN, PacketEntry, plan_segments
from rtsr.segments.pool import Outcome
from rtsr.segments.worker import encode_segment


class InlinePool:
    """The pool interface, run in this process; outcomes are handed back newest first."""

    def __init__(self, jobs: int, spec) -> None:
        self.upscaler = spec.build_runner()
        self.size, self.outcomes, self.closed = jobs, [], False

    @property
    def free(self) -> int:
        return self.size - len(self.outcomes)

    def submit(self, task, packets, out) -> None:
        self.outcomes.append(Outcome("done", task, result=encode_segment(self.upscaler, task, packets, Path(out))))

    def wait(self, timeout: float) -> list[Outcome]:
        done, self.outcomes = self.outcomes[::-1], []
        return done

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def inline_pool(monkeypatch):
    monkeypatch.setattr("rtsr.runs.LocalPool", InlinePool)


def _pictures(path: Path) -> tuple[list[int], list[np.ndarray]]:
    with av.open(str(path)) as container:
        frames = list(container.decode(video=0))
    return [f.pts for f in frames], [f.to_ndarray() for f in frames]


def _compare(src: Path, tmp_path: Path, weights: Path, seconds: float, exact: bool = True) -> object:
    """Segmented (2 jobs) against whole-file output of ``src``: same frames, pts, audio, pictures."""
    upscaler = Upscaler("fsrcnn", 2, "cpu", weights)
    whole = upscaler.upscale_video(src, tmp_path / "whole.mkv", crf=0, preset="ultrafast", jobs=1)
    parts = upscaler.upscale_video(src, tmp_path / "parts.mkv", crf=0, preset="ultrafast", jobs=2,
                                   segment_seconds=seconds)
    assert parts.jobs == 2 and whole.frames == parts.frames
    whole_pts, whole_pictures = _pictures(tmp_path / "whole.mkv")
    parts_pts, parts_pictures = _pictures(tmp_path / "parts.mkv")
    assert parts_pts == whole_pts and len(whole_pts) == whole.frames
    assert audio_payloads(tmp_path / "parts.mkv") == audio_payloads(tmp_path / "whole.mkv")
    for a, b in zip(whole_pictures, parts_pictures):
        if exact:
            np.testing.assert_array_equal(a, b)
        else:
            peak = 1023 if a.dtype == np.uint16 else 255  # 10-bit codes in 16-bit words
            error = np.mean((a.astype(float) - b.astype(float)) ** 2)
            assert error == 0 or 10 * np.log10(peak ** 2 / error) >= 50
    assert not list(tmp_path.glob(".*rtsr-work"))
    return parts


def test_open_gop_b_pyramid_clip(inline_pool, clip_factory, random_weights, tmp_path):
    src = clip_factory("opengop.mp4", frames=48, width=64, height=48, extra_options={
        "x264-params": "open-gop=1:keyint=12:min-keyint=12:bframes=3:b-pyramid=normal:scenecut=0"})
    with av.open(str(src)) as container:  # the clip really has leading frames: shown before their keyframe
        packets = [p for p in container.demux(video=0) if p.size]
    keyframes = [i for i, p in enumerate(packets) if p.is_keyframe]
    assert len(keyframes) >= 3 and any(p.pts < packets[keyframes[1]].pts for p in packets[keyframes[1]:][:4])
    report = _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.5)
    assert "jobs: 2" in report.summary()


def test_vfr_clip(inline_pool, clip_factory, random_weights, tmp_path):
    src = clip_factory("vfr.mkv", vfr=True, frames=30, extra_options={"x264-params": "keyint=6:min-keyint=6"})
    _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.3)


def test_segments_of_one_frame(inline_pool, clip_factory, random_weights, tmp_path):
    src = clip_factory("intra.mp4", frames=8, extra_options={"x264-params": "keyint=1"})
    report = _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.001)
    assert report.frames == 8


def test_rare_keyframes_are_cut_at_plain_frames(inline_pool, clip_factory, random_weights, tmp_path):
    src = clip_factory("rare.mp4", frames=36, extra_options={"x264-params": "keyint=infinite:scenecut=0"})
    _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.25)


def test_ten_bit_clip(inline_pool, clip_factory, random_weights, tmp_path):
    src = clip_factory("deep.mkv", pix_fmt="yuv420p10le", frames=24,
                       extra_options={"x264-params": "keyint=6:min-keyint=6"})
    _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.25, exact=False)
    with av.open(str(tmp_path / "parts.mkv")) as out:
        assert out.streams.video[0].codec_context.pix_fmt == "yuv420p10le"


def test_resolution_change(inline_pool, random_weights, tmp_path):
    src = make_resolution_change(tmp_path / "change.ts", 10)
    report = _compare(src, tmp_path, random_weights("fsrcnn", 2), seconds=0.2, exact=False)
    assert report.resized_frames == 10


def test_a_resumed_segmented_run_redoes_only_unfinished_segments(inline_pool, clip_factory, random_weights,
                                                                   tmp_path, monkeypatch):
    src = clip_factory("resume.mp4", frames=36, extra_options={"x264-params": "keyint=6:min-keyint=6"})
    upscaler = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2))
    settle = driver._settle
    settled = []

    def interrupted_after_three(outcome, *args):
        if len(settled) == 3:
            raise KeyboardInterrupt
        settled.append(outcome.task.segment.index)
        settle(outcome, *args)

    monkeypatch.setattr(driver, "_settle", interrupted_after_three)
    with pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, tmp_path / "out.mkv", jobs=2, segment_seconds=0.25)
    assert (tmp_path / ".out.mkv.rtsr-work").is_dir() and not (tmp_path / "out.mkv").exists()
    monkeypatch.setattr(driver, "_settle", settle)
    redone = []
    monkeypatch.setattr(InlinePool, "submit", lambda self, task, packets, out: (
        redone.append(task.segment.index),
        self.outcomes.append(Outcome("done", task, result=encode_segment(self.upscaler, task, packets, Path(out))))))
    report = upscaler.upscale_video(src, tmp_path / "out.mkv", jobs=2, segment_seconds=0.25)
    assert sorted(redone + settled) == list(range(6)) and not set(redone) & set(settled)
    assert report.resumed_frames == 18 and report.frames == 18
    with av.open(str(tmp_path / "out.mkv")) as out:
        assert len(list(out.decode(video=0))) == 36


def test_an_input_that_cannot_be_cut_runs_as_one_job(inline_pool, clip_factory, random_weights, tmp_path,
                                                      monkeypatch, caplog):
    src = clip_factory("clip.mp4", frames=24, extra_options={"x264-params": "keyint=6:min-keyint=6"})
    plan = driver.plan_segments
    monkeypatch.setattr(driver, "plan_segments", lambda entries, *args: plan(
        [PacketEntry(None, e.dts, e.keyframe) for e in entries], *args))  # as if the packets had no pts
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        report = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_video(
            src, tmp_path / "out.mkv", jobs=2, segment_seconds=0.2)
    assert report.jobs == 1 and report.frames == 24
    assert "cannot be cut into segments: its video packets carry no timestamps" in report.summary()
    assert "running one job" in caplog.text


def _entries(pts: list[int], keyframes: set[int]) -> list[PacketEntry]:
    return [PacketEntry(p, None, i in keyframes) for i, p in enumerate(pts)]


def test_plan_owns_every_frame_once_and_reaches_leading_frames():
    # Decode order of an open GOP with B-frames: I0 P4 B2 B1 B3 | I8 B6 B5 B7 P12 B10 B9 B11 (leading B6 B5 B7).
    pts = [0, 4, 2, 1, 3, 8, 6, 5, 7, 12, 10, 9, 11]
    plan = plan_segments(_entries(pts, {0, 5}), Fraction(1, 1), target_seconds=8)
    first, second = plan.segments
    assert (first.start, first.end, second.start, second.end) == (0, 8, 8, None)
    assert first.frames == 8 and second.frames == 5 == plan.frames - first.frames
    assert first.last_packet == len(pts) - 1  # past the keyframe, to B6 B5 B7 (and the margin)
    assert second.first_packet == 5


def test_plan_cuts_at_plain_frames_when_keyframes_are_rare():
    plan = plan_segments(_entries(list(range(100)), {0}), Fraction(1, 10), target_seconds=2)
    assert [s.start for s in plan.segments] == [0, 20, 40, 60, 80]
    assert all(s.first_packet == 0 for s in plan.segments)  # each decodes from the only keyframe
    ends = (20, 40, 60, 80, 100)
    assert [s.last_packet for s in plan.segments] == [min(99, end - 1 + REORDER_MARGIN) for end in ends]


def test_a_warm_up_starts_each_segment_at_a_keyframe_early_enough_and_owns_the_same_frames():
    entries = _entries(list(range(40)), {0, 10, 20, 30})
    plain = plan_segments(entries, Fraction(1, 10), target_seconds=1)
    warm = plan_segments(entries, Fraction(1, 10), target_seconds=1, warmup=4)
    assert [s.start for s in warm.segments] == [s.start for s in plain.segments] == [0, 10, 20, 30]
    assert [s.first_packet for s in plain.segments] == [0, 10, 20, 30]
    assert [s.first_packet for s in warm.segments] == [0, 0, 10, 20]  # frames 6-9 need the keyframe at 0
    assert warm.warmup == 4 and warm.signature() != plain.signature()


def test_plan_refuses_to_cut_without_timestamps_or_with_repeated_ones():
    assert plan_segments([PacketEntry(None, None, True)] * 3, Fraction(1, 25), 1).unsplittable
    assert "repeat" in plan_segments(_entries([0, 1, 1, 2], {0}), Fraction(1, 25), 1).unsplittable


def test_auto_jobs_follow_the_engine() -> None:
    from rtsr.segments.driver import choose_jobs

    pytorch = choose_jobs(None, "cpu", 2, 10)
    assert (pytorch.jobs, pytorch.torch_threads, pytorch.reason) == (2, 1, "auto: 2 cores, CPU engine")
    # OpenVINO: two workers on 2 cores were no faster than one process (docs/performance.md)
    openvino = choose_jobs(None, "cpu", 2, 10, "openvino-bf16")
    assert openvino.jobs == 1 and "openvino-bf16 engine" in openvino.reason
    assert choose_jobs(None, "cpu", 8, 10, "openvino").jobs == 4
    assert choose_jobs(2, "cpu", 2, 10, "openvino").jobs == 2  # --jobs 2 is obeyed
    assert choose_jobs(None, "cuda", 16, 10).jobs == 8
