"""Resumable runs: an interrupted upscale keeps its complete chunks, and the next run finishes the job."""

from __future__ import annotations

import json
import logging
from fractions import Fraction
from pathlib import Path

import av
import pytest
from conftest import audio_payloads, frame_times

from rtsr import Upscaler
from rtsr.errors import InputError
from rtsr.io.resume import LOCK, MANIFEST, WorkFolder, job_identity, work_folder
from rtsr.plane_upscaler import PlaneUpscaler


@pytest.fixture
def upscaler(random_weights):
    return Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2))


@pytest.fixture
def interrupt_after(monkeypatch):
    """interrupt_after(n): the next upscale raises KeyboardInterrupt on its (n+1)-th frame, as Ctrl-C would."""
    def arm(frames: int) -> None:
        original = PlaneUpscaler.submit
        calls = {"n": 0}

        def counting(self, planes, finish):
            calls["n"] += 1
            if calls["n"] > frames:
                raise KeyboardInterrupt
            return original(self, planes, finish)

        monkeypatch.setattr(PlaneUpscaler, "submit", counting)

    yield arm
    monkeypatch.undo()


def _frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize("name, vfr, suffix", [
    ("in.mp4", False, ".mp4"), ("in.mp4", False, ".mkv"), ("vfr.mkv", True, ".mkv"), ("vfr.mkv", True, ".mov"),
    ("in.mp4", False, ".webm"),
])
@pytest.mark.parametrize("checkpoint_seconds", [0, 60], ids=["chunk-per-frame", "chunk-at-ctrl-c"])
def test_an_interrupted_run_resumes_and_the_output_is_whole(name, vfr, suffix, checkpoint_seconds, clip_factory,
                                                           upscaler, interrupt_after, monkeypatch, tmp_path,
                                                           caplog):
    src = clip_factory(name, frames=36, vfr=vfr)
    dst = tmp_path / f"out{suffix}"
    codec = "libvpx-vp9" if suffix == ".webm" else "auto"
    interrupt_after(20)
    with caplog.at_level(logging.WARNING, logger="rtsr"), pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, dst, codec=codec, checkpoint_seconds=checkpoint_seconds)
    assert not dst.exists()
    assert "kept 20 upscaled frames" in caplog.text and "run the same command again" in caplog.text
    monkeypatch.undo()

    report = upscaler.upscale_video(src, dst, codec=codec, checkpoint_seconds=checkpoint_seconds)
    assert (report.resumed_frames, report.frames) == (20, 16)
    assert "resumed: 20 frames" in report.summary()
    after, before = frame_times(dst), frame_times(src)  # every frame once, at its own time
    if suffix in (".mp4", ".mov"):
        assert after == before
    else:  # Matroska counts milliseconds from a start it may shift (to keep AAC priming non-negative)
        assert len(after) == len(before)
        assert all(abs((a - after[0]) - (b - before[0])) <= Fraction(1, 1000) for a, b in zip(after, before))
    if suffix != ".webm":  # WebM cannot hold AAC
        assert audio_payloads(dst) == audio_payloads(src)
    assert not work_folder(dst).exists()


@pytest.fixture
def half_done(clip_factory, upscaler, interrupt_after, monkeypatch, tmp_path) -> tuple[Path, Path]:
    """(input, output) of a 12-frame upscale interrupted after 6 frames, a chunk per frame."""
    src = clip_factory("in.mp4", frames=12)
    dst = tmp_path / "out.mp4"
    interrupt_after(6)
    with pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, dst, checkpoint_seconds=0)
    monkeypatch.undo()
    return src, dst


def test_resuming_with_other_settings_starts_over(half_done, upscaler, caplog):
    src, dst = half_done
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        report = upscaler.upscale_video(src, dst, crf=30, checkpoint_seconds=0)
    assert "starting over" in caplog.text
    assert (report.resumed_frames, report.frames) == (0, 12) and _frame_count(dst) == 12


def test_a_chunk_cut_short_or_never_listed_is_not_trusted(half_done, upscaler):
    src, dst = half_done
    folder = work_folder(dst)
    (folder / "chunk-00006.partial.mp4").write_bytes(b"a power cut mid-write")
    (folder / "chunk-00007.mp4").write_bytes(b"renamed, but the manifest never listed it")
    report = upscaler.upscale_video(src, dst, checkpoint_seconds=0)
    assert (report.resumed_frames, report.frames) == (6, 6)
    assert frame_times(dst) == frame_times(src)


def test_no_work_folder_is_left_when_nothing_was_kept(clip_factory, upscaler, interrupt_after, tmp_path):
    src = clip_factory("in.mp4", frames=6)
    interrupt_after(0)
    with pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, tmp_path / "out.mp4")  # interrupted before the first frame
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_work_folder_lists_only_committed_chunks_and_keeps_those_before_a_missing_one(tmp_path):
    dst = tmp_path / "out.mkv"
    source = tmp_path / "in.mkv"
    source.write_bytes(b"input")
    identity = job_identity(source, model="fsrcnn", output_size=(64, 48))
    work = WorkFolder(dst, identity)
    assert work.open() == [] and work.last_pts is None
    for index in range(3):
        work.partial_path().write_bytes(b"chunk")
        work.commit(frames=10, last_pts=100 * index + 90)
    assert json.loads((work.path / MANIFEST).read_text())["job"]["output_size"] == "(64, 48)"
    work.close()

    again = WorkFolder(dst, identity)
    assert [chunk.name for chunk in again.open()] == ["chunk-00000.mkv", "chunk-00001.mkv", "chunk-00002.mkv"]
    assert (again.frames_done, again.last_pts) == (30, 290)
    again.close()

    (work.path / "chunk-00001.mkv").unlink()
    third = WorkFolder(dst, identity)
    assert [chunk.name for chunk in third.open()] == ["chunk-00000.mkv"]
    assert sorted(p.name for p in work.path.iterdir()) == ["chunk-00000.mkv", MANIFEST, LOCK]
    third.close()

    source.write_bytes(b"another input")  # size changed: not the same job
    other = WorkFolder(dst, job_identity(source, model="fsrcnn", output_size=(64, 48)))
    assert other.open() == []
    other.close()


def test_one_run_at_a_time_uses_a_work_folder(tmp_path):
    source = tmp_path / "in.mkv"
    source.write_bytes(b"input")
    first = WorkFolder(tmp_path / "out.mkv", job_identity(source))
    first.open()
    with pytest.raises(InputError, match="another rtsr run is writing this output"):
        WorkFolder(tmp_path / "out.mkv", job_identity(source)).open()
    first.close()  # as when the first run ends or dies
    second = WorkFolder(tmp_path / "out.mkv", job_identity(source))
    assert second.open() == []
    second.remove()
    assert not (tmp_path / ".out.mkv.rtsr-work").exists()


def test_streams_the_output_cannot_hold_are_warned_about_before_any_work(clip_factory, upscaler, interrupt_after,
                                                                         tmp_path, caplog):
    src = clip_factory("subs.mkv", subtitles=True, frames=6)
    interrupt_after(0)
    with caplog.at_level(logging.WARNING, logger="rtsr"), pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, tmp_path / "out.mp4")
    assert "not copying #2 subtitle srt: a mp4 file cannot hold srt" in caplog.text


@pytest.mark.parametrize("suffix", [".mkv", ".mp4", ".mov"])
@pytest.mark.parametrize("frames_before", [1, 2, 3])
def test_a_resume_after_the_first_few_frames(frames_before, suffix, clip_factory, upscaler, interrupt_after,
                                             monkeypatch, tmp_path):
    src = clip_factory(f"in{suffix}", frames=12)
    dst = tmp_path / f"out{suffix}"
    # A first chunk shorter than the B-frame delay: in Matroska it holds no dts at all; in MP4 its
    # dts are not delayed, and the next chunk's first dts (delayed) fall at or before its last.
    interrupt_after(frames_before)
    with pytest.raises(KeyboardInterrupt):
        upscaler.upscale_video(src, dst)
    monkeypatch.undo()
    report = upscaler.upscale_video(src, dst)
    assert (report.resumed_frames, report.frames) == (frames_before, 12 - frames_before)
    assert frame_times(dst) == frame_times(src)
