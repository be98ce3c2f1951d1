"""tools/lab/pairs.py: training pairs for compressed input (issue 27)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rtsr.metrics import psnr, resize_bicubic, rgb_to_y
from tools.lab.pairs import LEVELS, build_cache, degraded_pairs, load_pairs, pan_clip


@pytest.fixture(scope="module")
def picture() -> np.ndarray:
    """A detailed 320×320 picture: smooth noise with edges."""
    rng = np.random.default_rng(3)
    base = np.asarray(Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).resize((320, 320),
                                                                                               Image.BICUBIC))
    base = base.copy()
    base[::16] = 255
    return base


def test_a_pan_moves_across_the_picture(picture) -> None:
    clip = pan_clip(picture, 6, (128, 128), np.random.default_rng(0))
    assert [f.shape for f in clip] == [(128, 128, 3)] * 6
    assert not np.array_equal(clip[0], clip[-1])  # it moved


@pytest.mark.parametrize("level", LEVELS)
def test_pairs_carry_codec_damage_and_are_reproducible(picture, level) -> None:
    lr, hr, draw = degraded_pairs(picture, 2, level, 6, 64, np.random.default_rng(7))
    again, _, same = degraded_pairs(picture, 2, level, 6, 64, np.random.default_rng(7))
    assert lr.shape == (6, 64, 64, 3) and hr.shape == (6, 128, 128, 3) and draw == same
    assert np.array_equal(lr, again)  # one seed, the same pairs
    clean = np.stack([resize_bicubic(frame, 64, 64) for frame in hr])
    assert 20 < psnr(rgb_to_y(lr), rgb_to_y(clean)) < 48  # degraded, but still the same picture


def test_the_cache_round_trips(picture, tmp_path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(picture).save(folder / "a.png")
    Image.fromarray(picture[:, ::-1].copy()).save(folder / "b.png")
    info = build_cache([folder / "a.png", folder / "b.png"], tmp_path / "pairs", 2, "heavy", clips_per_image=1,
                       frames=4, seed=1)
    assert info.clips == 2 and info.pairs == 8 and info.bytes > 0 and sum(info.codecs.values()) == 2
    pairs, held, meta = load_pairs(tmp_path / "pairs")
    assert len(pairs) == 8 and not held and meta["level"] == "heavy" and pairs[0][1].shape == (128, 128, 3)
    pairs, held, _ = load_pairs(tmp_path / "pairs", hold_out={"b.png"})  # a run's validation image
    assert len(pairs) == 4 and len(held) == 4
    with pytest.raises(ValueError, match="at least 64"):
        degraded_pairs(picture, 2, "light", 2, 48, np.random.default_rng(0))


def test_train_learns_from_cached_pairs_and_says_so(picture, tmp_path) -> None:
    import subprocess

    from rtsr.checkpoints import load_model

    images = tmp_path / "images"
    images.mkdir()
    for index in range(4):
        Image.fromarray(np.roll(picture, 40 * index, axis=1)).save(images / f"{index}.png")
    # 2.png is the run's validation image (--val-count 1 of 4): its clips validate, they are not learnt from
    build_cache([images / "0.png", images / "2.png"], tmp_path / "pairs", 2, "heavy", clips_per_image=1, frames=4,
                seed=0)
    out = tmp_path / "run"
    run = subprocess.run([sys.executable, "-m", "tools.train", "--model", "fsrcnn", "--scale", "2",
                          "--data", str(images), "--pairs", str(tmp_path / "pairs"), "--out", str(out),
                          "--iters", "4", "--batch", "2", "--val-count", "1", "--val-every", "4", "--threads", "1"],
                         capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert run.returncode == 0, run.stderr
    # 3 images × 5 sizes and 0.png's 4 pairs; every other frame of 2.png's clip held out
    assert "19 augmented training images, 2 held-out compressed frames" in run.stdout
    assert ", compressed " in run.stdout
    meta = load_model("fsrcnn", 2, out / "best.pt").meta
    assert meta["degradation"] == ["heavy"] and meta["pairs"] == [str(tmp_path / "pairs")]
    assert meta["val_psnr"] == meta["val_psnr_compressed"] != meta["val_psnr_clean"]
