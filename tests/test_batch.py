"""Many inputs: named files and folders into an output folder, a broken file among good ones, resuming a batch."""

from __future__ import annotations

import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
from conftest import frame_times, run_rtsr_here
from PIL import Image

from rtsr import Upscaler
from rtsr.batch import find_videos, output_paths


def _rtsr(*args: object) -> subprocess.CompletedProcess:
    return run_rtsr_here(*args)


def test_named_files_with_a_broken_one_go_on_and_exit_1_with_the_list(clip_factory, random_weights, tmp_path):
    good = clip_factory("good.mp4")
    other = clip_factory("other.avi", codec="mpeg4", audio=False)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(200))
    out = tmp_path / "out"
    result = _rtsr(good, broken, other, "-o", f"{out}/", "--scale", "2", "--weights", random_weights("fsrcnn", 2))
    assert result.returncode == 1, result.stderr
    assert "2 upscaled, 0 skipped, 1 failed" in result.stderr
    assert "FAILED broken.mp4: cannot read" in result.stderr
    assert "good.mp4 → " in result.stderr and "other.avi → " in result.stderr
    assert sorted(p.name for p in out.iterdir()) == ["good.mp4", "other.mkv"]  # AVI is not written: .mkv
    assert frame_times(out / "good.mp4") == frame_times(good)
    made, given = frame_times(out / "other.mkv"), frame_times(other)  # Matroska keeps milliseconds
    assert len(made) == len(given) and all(abs(a - b) <= Fraction(1, 1000) for a, b in zip(made, given))


def test_a_folder_by_content_and_a_rerun_skips_what_is_done(clip_factory, random_weights, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    clip_factory("in/a.mkv")
    clip_factory("in/b.mov", audio=False)
    (folder / "notes.txt").write_text("not a video")
    (folder / "clip.mp4.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "poster.png")
    out = tmp_path / "out"
    command = [folder, "-o", out, "--scale", "2", "--weights", random_weights("fsrcnn", 2)]
    first = _rtsr(*command)
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mov"]
    assert "2 upscaled, 0 skipped, 0 failed" in first.stderr
    (out / "b.mov").unlink()  # as if the batch had stopped before b
    again = _rtsr(*command)
    assert again.returncode == 0, again.stderr
    assert "1 upscaled, 1 skipped, 0 failed" in again.stderr and "a.mkv: skipped" in again.stderr
    assert sorted(p.name for p in out.iterdir()) == ["a.mkv", "b.mov"]


def test_find_videos_leaves_out_hidden_files_and_pictures(clip_factory, tmp_path):
    clip_factory("v.mp4")
    clip_factory(".hidden.mp4")
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "still.jpg")
    videos, notes = find_videos([tmp_path])
    assert [v.name for v in videos] == ["v.mp4"]
    assert any("still.jpg: a still picture" in note for note in notes)


def test_output_names_do_not_collide(tmp_path):
    targets = output_paths([Path("x/clip.avi"), Path("y/clip.flv"), Path("z/clip.mp4")], tmp_path)
    assert [t.name for t in targets.values()] == ["clip.mkv", "clip.flv.mkv", "clip.mp4"]


def test_python_api_for_many_files(clip_factory, random_weights, tmp_path):
    inputs = [clip_factory("one.mp4"), clip_factory("two.mkv")]
    lines: list[str] = []
    batch = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2)).upscale_videos(
        inputs, tmp_path / "out", on_report=lines.append)
    assert len(batch.done) == 2 and not batch.failed and len(lines) == 2
    assert batch.frames == 24
