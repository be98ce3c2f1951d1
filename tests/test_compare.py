"""``rtsr compare``: the PNG's size, panels and labels, the detail finder, pictures as input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import Clip, make_clip

from rtsr.check.compare import GAP, LABEL_HEIGHT, Box, build_panels, compose, most_detailed, nearest
from rtsr.cli import main


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("compare") / "clip.mp4", Clip(width=320, height=240, frames=48))


def test_the_png_has_two_labelled_rows_of_crops(clip, tmp_path, capsys) -> None:
    out = tmp_path / "c.png"
    assert main(["compare", str(clip), "--models", "fsrcnn", "--crop", "270x180", "-o", str(out)]) == 0
    err = capsys.readouterr().err.splitlines()
    labels = [line.split(": ", 2)[1:] for line in err if line.startswith("rtsr: upscaled") or
              line.startswith("rtsr: self-test")]
    assert [row for row, _ in labels] == ["upscaled"] * 3 + ["self-test"] * 3
    assert [label.split(" ")[0] for _, label in labels] == ["nearest", "bicubic", "fsrcnn", "bicubic", "fsrcnn",
                                                             "original"]
    psnrs = {label.split(" ")[0]: float(label.split()[-2]) for _, label in labels if label.endswith(" dB")}
    assert set(psnrs) == {"bicubic", "fsrcnn"} and psnrs["fsrcnn"] > psnrs["bicubic"]  # testsrc2 is sharp
    image = cv2.imread(str(out))
    panel_w, panel_h = 270, 180  # 90×60 input pixels, ×3
    title_lines = 2  # the clip, and how the self-test re-encodes (an H.264 input)
    assert image.shape == (LABEL_HEIGHT * title_lines + 2 * (LABEL_HEIGHT + panel_h) + 2 * GAP,
                           3 * panel_w + 2 * GAP, 3)
    assert "at 1.0" in err[-1] and "6 panels" in err[-1]  # the middle frame of the 2 s clip


def test_whole_frame_at_a_time_and_refusals(clip, tmp_path, capsys) -> None:
    out = tmp_path / "w.png"
    assert main(["compare", str(clip), "--models", "fsrcnn", "--scale", "2", "--whole", "--at", "0.5",
                 "-o", str(out)]) == 0
    assert cv2.imread(str(out)).shape[1] == 3 * 640 + 2 * GAP
    assert "at 0.50 s" in capsys.readouterr().err
    assert main(["compare", str(clip), "-o", str(out)]) == 1  # exists
    assert "output exists" in capsys.readouterr().err
    assert main(["compare", str(clip), "-o", str(tmp_path / "c.jpg")]) == 1
    assert "writes a PNG" in capsys.readouterr().err
    assert main(["compare", str(clip), "--crop", "big", "-o", str(tmp_path / "d.png")]) == 1


def test_compare_draws_the_weights_a_run_would_pick(clip_factory, tmp_path, capsys) -> None:
    """One judgement: a heavily compressed clip is compared with the weights for compressed input."""
    heavy = clip_factory("heavy.mp4", width=160, height=120, frames=24, audio=False, extra_options={"crf": "40"})
    assert main(["compare", str(heavy), "--models", "fsrcnn", "--scale", "2", "-o", str(tmp_path / "h.png")]) == 0
    assert "rtsr: weights: fsrcnn ×2 for compressed input (h264, mean QP" in capsys.readouterr().err


def test_a_picture_compares_too(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    picture = cv2.resize(rng.integers(0, 256, (30, 40, 3), dtype=np.uint8), (160, 120), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "photo.png"), picture)
    out = tmp_path / "photo_compare.png"
    assert main(["compare", str(tmp_path / "photo.png"), "--models", "fsrcnn", "--scale", "2", "-o", str(out)]) == 0
    assert cv2.imread(str(out)) is not None and "6 panels" in capsys.readouterr().err


def test_the_most_detailed_region_is_found() -> None:
    rgb = np.full((90, 160, 3), 128, np.uint8)
    rgb[40:70, 100:140] = np.random.default_rng(2).integers(0, 256, (30, 40, 3))
    box = most_detailed(rgb, 40, 30)
    assert abs(box.left - 100) <= 1 and abs(box.top - 40) <= 1
    assert most_detailed(rgb, 400, 300) == Box(0, 0, 160, 90)  # a crop larger than the frame: all of it


def test_panels_line_up_at_the_frame_edge() -> None:
    rgb = np.random.default_rng(3).integers(0, 256, (100, 100, 3), dtype=np.uint8)
    up = {"nearest-again": lambda x: nearest(x, 3)}
    panels = build_panels(rgb, 3, up, Box(70, 70, 30, 30))  # the box touches the right and bottom edges
    assert {p.image.shape for p in panels} == {(90, 90, 3)}
    assert len(panels) == 6 and compose(panels, ["t"]).shape[1] == 3 * 90 + 2 * GAP
