"""The tools (python -m tools.NAME) and what they share (tools.lab), on tiny generated images."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import damage_packet, decode_video, noise_like
from PIL import Image

from rtsr.checkpoints import load_model
from tools.lab.data import psnr, rgb_to_y, ssim

CHECKOUT = Path(__file__).resolve().parents[1]


@pytest.fixture
def image_folder(tmp_path: Path) -> Path:
    """Six 96x72 images of smooth gradients and edges."""
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:72, 0:96]
    for index in range(6):
        base = np.stack([xx * (index + 1) % 256, yy * 3 % 256, (xx + yy) * 2 % 256], axis=-1)
        noise = rng.integers(0, 20, base.shape)
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(folder / f"{index}.png")
    return folder


def _tool(script: str, *args: object) -> subprocess.CompletedProcess:
    """Run ``python -m tools.NAME`` (``script``: NAME.py) from the checkout with ``args``, capturing its output."""
    return subprocess.run([sys.executable, "-m", f"tools.{script.removesuffix('.py')}", *map(str, args)],
                          capture_output=True, text=True, timeout=300, cwd=CHECKOUT)


def _train(*args: object) -> subprocess.CompletedProcess:
    return _tool("train.py", *args)


def test_protocol_helpers() -> None:
    white = np.full((4, 4, 3), 255, np.uint8)
    assert rgb_to_y(white) == pytest.approx(np.full((4, 4), 235.0))
    a = np.random.default_rng(0).uniform(16, 235, (32, 32))
    assert psnr(a, a) == float("inf") and ssim(a, a) == pytest.approx(1.0)
    assert psnr(a, a + 1) == pytest.approx(20 * np.log10(255), abs=1e-6)
    assert ssim(a, np.full_like(a, a.mean())) < 0.1


def test_train_writes_a_loadable_self_describing_checkpoint_and_resumes(image_folder, tmp_path) -> None:
    out = tmp_path / "run"
    common = ["--model", "fsrcnn", "--scale", "2", "--data", image_folder, "--out", out, "--batch", "4",
              "--patch", "12", "--val-count", "2", "--val-every", "10", "--save-every", "10", "--log-every", "5",
              "--threads", "1"]
    first = _train(*common, "--iters", "20")
    assert first.returncode == 0, first.stderr
    assert "it/s" in first.stdout and "ETA" in first.stdout and "validation it 20" in first.stdout
    meta = load_model("fsrcnn", 2, out / "best.pt").meta
    assert meta["iterations"] in (10, 20) and meta["val_psnr"] > 0 and meta["data"] == [str(image_folder)]
    assert {"git_commit", "val_images", "loss", "train_seconds"} <= set(meta)
    assert re.fullmatch(r"[0-9a-f]{7,}(-dirty)?|unknown", meta["git_commit"]), meta["git_commit"]
    resumed = _train(*common, "--iters", "30", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at iteration 20" in resumed.stdout and "validation it 30" in resumed.stdout
    changed = _train(*common, "--iters", "40", "--resume", "--context", "2")
    assert changed.returncode != 0 and "--context was 0, now 2" in changed.stderr
    assert torch.load(out / "state.pt", weights_only=True)["iteration"] == 30


def test_train_initialises_another_scale_from_weights(image_folder, tmp_path) -> None:
    base = ["--model", "fsrcnn", "--data", image_folder, "--batch", "2", "--patch", "10", "--val-count", "1",
            "--threads", "1", "--iters", "2", "--val-every", "2"]
    assert _train(*base, "--scale", "3", "--out", tmp_path / "x3").returncode == 0
    result = _train(*base, "--scale", "4", "--out", tmp_path / "x4", "--init", tmp_path / "x3" / "best.pt")
    assert result.returncode == 0, result.stderr
    assert "initialised" in result.stdout
    load_model("fsrcnn", 4, tmp_path / "x4" / "best.pt")


def test_train_tune_last_changes_only_the_output_layer(image_folder, tmp_path) -> None:
    base = ["--model", "fsrcnn", "--data", image_folder, "--batch", "2", "--patch", "10", "--val-count", "1",
            "--threads", "1", "--iters", "3", "--val-every", "3"]
    assert _train(*base, "--scale", "3", "--out", tmp_path / "x3").returncode == 0
    without_init = _train(*base, "--scale", "2", "--out", tmp_path / "x2", "--tune", "last")
    assert without_init.returncode == 2 and "needs --init" in without_init.stderr
    result = _train(*base, "--scale", "2", "--out", tmp_path / "x2", "--init", tmp_path / "x3" / "best.pt",
                    "--tune", "last")
    assert result.returncode == 0, result.stderr
    before = load_model("fsrcnn", 3, tmp_path / "x3" / "best.pt").network
    loaded = load_model("fsrcnn", 2, tmp_path / "x2" / "best.pt")
    after, meta = loaded.network, loaded.meta
    changed = {name for name, tensor in after.state_dict().items()
               if not torch.equal(tensor, before.state_dict()[name])}
    assert changed == {"deconv.weight", "deconv.bias"} and meta["tune"] == "last"


def test_evaluate_prints_a_markdown_table(image_folder, tmp_path, random_weights) -> None:
    data = tmp_path / "eval"
    data.mkdir()
    image_folder.rename(data / "Tiny")
    result = _tool("evaluate.py", "--data", data, "--datasets", "Tiny", "--scales", "2",
                   "--models", "bicubic", "fsrcnn", "--weights", f"fsrcnn_x2={random_weights('fsrcnn', 2)}")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "| model | Tiny ×2 |"
    bicubic = lines[2].split("|")[2].split("/")
    assert lines[2].startswith("| bicubic |") and 15 < float(bicubic[0]) < 60 and 0 < float(bicubic[1]) <= 1
    assert lines[3].startswith("| fsrcnn |")


def test_patch_sampler_weighting_and_alignment(tmp_path) -> None:
    from tools.lab.data import PatchSampler

    folder = tmp_path / "two"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for name, size in (("big", (192, 144)), ("small", (48, 48))):
        Image.fromarray(rng.integers(0, 256, (*size[::-1], 3), dtype=np.uint8)).save(folder / f"{name}.png")
    paths = sorted(folder.iterdir())  # big.png, small.png
    by_pixel = PatchSampler(paths, 2, 8, "y", seed=0, weighting="pixel")
    by_image = PatchSampler(paths, 2, 8, "y", seed=0, weighting="image")
    big_pairs = 5  # every augmentation factor of the big image is large enough
    assert by_pixel.weights[:big_pairs].sum() > 0.9
    assert by_image.weights[:big_pairs].sum() == pytest.approx(0.5)
    assert by_image.weights.sum() == pytest.approx(1.0)

    lr, hr, mask = by_image.batch(6)
    assert lr.shape == (6, 1, 8, 8) and hr.shape == (6, 1, 16, 16) and bool(mask.all())
    # The HR patch downscaled 2x is close to its LR patch (same place, same orientation).
    pooled = hr.reshape(6, 1, 8, 2, 8, 2).mean(dim=(3, 5))
    assert float((pooled - lr).abs().mean()) < float((pooled - lr.flip(-1)).abs().mean())


def test_patch_sampler_context_feeds_real_neighbours_and_stops_at_frame_edges(tmp_path) -> None:
    from tools.lab.data import PatchSampler
    from tools.train import masked_loss, parse_args

    with pytest.raises(SystemExit):
        parse_args(["--model", "srcnn", "--scale", "4", "--data", str(tmp_path), "--out", str(tmp_path),
                    "--context", "-1"])

    Image.fromarray(np.zeros((60, 60, 3), np.uint8)).save(tmp_path / "blank.png")
    scale, patch, context, height, width = 2, 4, 3, 13, 17
    sampler = PatchSampler([tmp_path / "blank.png"], scale, patch, "y", seed=0, context=context)
    # One LR image whose values say where each pixel is: value = row * width + col.
    code = np.arange(height * width, dtype=np.float32).reshape(1, height, width)
    sampler.pairs = [(code, code.repeat(scale, 1).repeat(scale, 2))]
    sampler.weights = np.array([1.0])
    inputs, targets, masks = sampler.batch(200)
    side = patch + 2 * context
    assert inputs.shape == (200, 1, side, side) and targets.shape == masks.shape == (200, 1, side * 2, side * 2)
    touched_edge = 0
    for lr, mask in zip(inputs, masks):
        counted = lr[0][mask[0, ::2, ::2] > 0].long()  # the LR pixels under the counted HR pixels
        rows, cols = counted // width, counted % width
        assert len(counted) == patch * patch
        assert int(rows.max() - rows.min()) == int(cols.max() - cols.min()) == patch - 1
        top, left = int(rows.min()), int(cols.min())
        # The input is the patch widened by the context, moved inside the image where it would leave it.
        assert int((lr[0].long() // width).min()) == min(max(top - context, 0), height - side)
        assert int((lr[0].long() % width).min()) == min(max(left - context, 0), width - side)
        touched_edge += top == 0 or left == 0 or top == height - patch or left == width - patch
    assert touched_edge > 0  # frame edges are in the training data too
    loss = masked_loss(targets, torch.zeros_like(targets), masks, "mse")
    assert float(loss) == pytest.approx(float(targets.square()[masks.expand_as(targets) > 0].mean()))


def test_schedule_follows_iterations_or_the_time_budget_whichever_is_further(tmp_path) -> None:
    from tools.lab.runs import schedule_progress
    from tools.train import learning_rate, parse_args

    base = ["--model", "srcnn", "--scale", "2", "--data", str(tmp_path), "--out", str(tmp_path)]
    by_iters = parse_args([*base, "--iters", "100"])
    assert schedule_progress(by_iters, 50, 1e9) == 0.5  # no budget: time does not count
    budget = parse_args([*base, "--iters", "100", "--budget-minutes", "2"])
    assert schedule_progress(budget, 10, 60) == 0.5 and schedule_progress(budget, 80, 60) == 0.8
    assert schedule_progress(budget, 10, 500) == 1.0
    assert learning_rate(budget, 0.0) == pytest.approx(1e-3) and learning_rate(budget, 1.0) == pytest.approx(1e-6)
    for bad in (["--amp"], ["--device", "nonsense"], ["--workers", "-1"]):
        with pytest.raises(SystemExit):
            parse_args([*base, *bad])


def test_train_with_background_workers_ends_at_its_time_budget(image_folder, tmp_path) -> None:
    out = tmp_path / "run"
    result = _train("--model", "fsrcnn", "--scale", "2", "--data", image_folder, "--out", out, "--batch", "4",
                    "--patch", "12", "--val-count", "2", "--val-every", "1000000", "--threads", "1",
                    "--workers", "2", "--iters", "100000000", "--budget-minutes", "0.05")
    assert result.returncode == 0, result.stderr
    done = re.search(r"done: iteration (\d+)", result.stdout)
    assert done and 0 < int(done.group(1)) < 100000000  # stopped by the clock, not the iteration count
    assert f"validation it {done.group(1)}:" in result.stdout  # the end of a schedule is validated
    meta = load_model("fsrcnn", 2, out / "best.pt").meta
    assert meta["device"] == "cpu" and meta["amp"] is False


def test_train_gan_fine_tunes_srresnet_and_resumes(image_folder, tmp_path, random_weights) -> None:
    from tools.train_gan import Discriminator

    assert Discriminator(64)(torch.rand(2, 3, 64, 64)).shape == (2,)
    with pytest.raises(ValueError, match="multiple of 16"):
        Discriminator(40)
    out = tmp_path / "gan"
    common = ["train_gan.py", "--scale", "4", "--data", image_folder, "--out", out, "--batch", "2",
              "--patch", "16", "--val-count", "1", "--threads", "1", "--log-every", "1", "--val-every", "2",
              "--init", random_weights("srresnet", 4)]
    first = _tool(*common, "--iters", "2")
    assert first.returncode == 0, first.stderr
    assert "adversarial" in first.stdout and "validation it 2" in first.stdout
    loaded = load_model("srresnet", 4, out / "final.pt")
    model, meta = loaded.network, loaded.meta
    assert meta["adversarial"] is True and meta["iterations"] == 2 and meta["content_loss"] == "mse"
    before = model.state_dict()
    initial = load_model("srresnet", 4, random_weights("srresnet", 4)).network
    assert any(not torch.equal(before[k], v) for k, v in initial.state_dict().items())
    resumed = _tool(*common, "--iters", "3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "resumed at iteration 2" in resumed.stdout
    assert load_model("srresnet", 4, out / "final.pt").meta["iterations"] == 3
    no_init = _tool(*common[:-2], "--iters", "1")
    assert no_init.returncode == 2 and "--init" in no_init.stderr


def test_train_int8_makes_int8_weights_shipped_beside_the_f32_ones(image_folder, tmp_path) -> None:
    base = ["--model", "fsrcnn", "--scale", "2", "--data", image_folder, "--batch", "2", "--patch", "10",
            "--val-count", "1", "--threads", "1", "--iters", "3", "--val-every", "3"]
    assert _train(*base, "--out", tmp_path / "f32").returncode == 0
    without_init = _train(*base, "--out", tmp_path / "int8", "--int8")
    assert without_init.returncode == 2 and "--int8 trains FSRCNN weights" in without_init.stderr
    f32 = tmp_path / "f32" / "best.pt"
    result = _train(*base, "--out", tmp_path / "int8", "--int8", "--init", f32, "--calibration-patch", "16")
    assert result.returncode == 0, result.stderr
    assert "int8: activation steps calibrated" in result.stdout
    int8 = load_model("fsrcnn", 2, tmp_path / "int8" / "best.pt")
    assert int8.meta["int8"]["base_sha256"] == load_model("fsrcnn", 2, f32).weights_sha256
    assert len(int8.meta["int8"]["activation_steps"]) == 7
    shipped = tmp_path / "shipped"
    shipped.mkdir()
    assert _tool("ship_weights.py", f32, "--dir", shipped).returncode == 0
    result = _tool("ship_weights.py", tmp_path / "int8" / "best.pt", "--dir", shipped)
    assert result.returncode == 0, result.stderr
    assert (shipped / "fsrcnn_x2_int8.pt").is_file()
    other = _train(*base, "--out", tmp_path / "other", "--seed", "5")
    assert other.returncode == 0
    assert _tool("ship_weights.py", tmp_path / "other" / "best.pt", "--dir", shipped).returncode == 0
    refused = _tool("ship_weights.py", tmp_path / "int8" / "best.pt", "--dir", shipped)
    assert refused.returncode != 0 and "trained from other weights" in refused.stderr


def test_ship_weights_stores_fp16_without_moving_the_output(tmp_path, random_weights) -> None:
    source = random_weights("srresnet", 2)
    result = _tool("ship_weights.py", source, "--half", "--dir", tmp_path)
    assert result.returncode == 0, result.stderr
    shipped = tmp_path / "srresnet_x2.pt"
    assert shipped.stat().st_size < 0.6 * source.stat().st_size
    assert float(re.search(r"output is ([0-9.]+) dB", result.stdout).group(1)) > 60
    loaded = load_model("srresnet", 2, shipped)
    model, meta = loaded.network, loaded.meta
    assert meta["stored_as"] == "float16" and next(model.parameters()).dtype == torch.float32


def test_compare_crops_writes_captioned_panels(image_folder, tmp_path, random_weights) -> None:
    out = tmp_path / "strip.png"
    result = _tool("compare_crops.py", image_folder / "0.png", "--scale", "2", "--box", "10", "8", "30", "20",
                   "--zoom", "2", "--out", out,
                   "--models", f"a={random_weights('fsrcnn', 2)}", f"b={random_weights('srcnn', 2)}")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as strip:
        # bicubic, a, b, original: four 60x40 crops with a caption strip, 4 px apart
        assert strip.size == (4 * 60 + 3 * 4, 40 + 14)
    outside = _tool("compare_crops.py", image_folder / "0.png", "--scale", "2", "--box", "90", "8", "30", "20",
                    "--out", out, "--models", f"a={random_weights('fsrcnn', 2)}")
    assert outside.returncode != 0 and "outside" in outside.stderr


def test_extract_frames_keeps_every_nth_frame_in_the_streams_own_colours(clip_factory, tmp_path) -> None:
    from tools.extract_frames import extract, main

    src = clip_factory("footage.mkv", pix_fmt="yuv444p10le", bt709=True, frames=10, audio=False)
    paths = extract(src, tmp_path / "frames", every=3, max_frames=0).paths
    assert [p.name for p in paths] == [f"footage_{i:06d}.png" for i in (0, 3, 6, 9)]
    ours = np.asarray(Image.open(paths[1])).astype(int)
    assert ours.shape == (64, 96, 3)
    frame = decode_video(src)[0][3]

    def share_within_2(colorspace: str) -> float:
        reference = frame.reformat(format="rgb24", src_colorspace=colorspace).to_ndarray().astype(int)
        return float((np.abs(ours - reference) <= 2).mean())

    # FFmpeg's own BT.709 conversion agrees (4:4:4: no chroma upsampling to differ in); BT.601 would shift.
    assert share_within_2("ITU709") > 0.99 and share_within_2("ITU601") < 0.8
    assert len(extract(src, tmp_path / "few", every=1, max_frames=2).paths) == 2
    assert main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "x")]) == 1


def test_extract_frames_keeps_what_it_wrote_and_says_where_decoding_stopped(clip_factory, tmp_path,
                                                                            monkeypatch) -> None:
    import av

    from rtsr.errors import DecodeError
    from tools import extract_frames

    src = clip_factory("broken.mp4", frames=6, audio=False)
    real_frame_rgb, calls = extract_frames.frame_rgb, []

    def fail_on_third(planes, info):
        calls.append(1)
        if len(calls) == 3:
            raise av.error.OSError(5, "Input/output error")  # as when a network drive goes away
        return real_frame_rgb(planes, info)

    monkeypatch.setattr(extract_frames, "frame_rgb", fail_on_third)
    with pytest.raises(DecodeError, match="after 2 extracted frames"):
        extract_frames.extract(src, tmp_path / "frames", every=1, max_frames=0)
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == ["broken_000000.png", "broken_000001.png"]


def test_extract_frames_leaves_out_damaged_frames_and_those_predicted_from_them(clip_factory, tmp_path,
                                                                                 capsys) -> None:
    from tools.extract_frames import extract, main

    # A P-frame cut to a third: FFmpeg decodes it flagged corrupt, and frames 3 and 4 predict from it.
    clean = clip_factory("clean.mkv", frames=12, audio=False, extra_options={"g": "5", "bf": "0"})
    src = damage_packet(clean, tmp_path / "glitch.mkv", 2, lambda data: data[: len(data) // 3])
    extraction = extract(src, tmp_path / "frames", every=1, max_frames=0)
    # The keyframe 5 starts clean pictures again.
    assert [p.name for p in extraction.paths] == [f"glitch_{i:06d}.png" for i in (0, 1, *range(5, 12))]
    assert extraction.damaged_frames == 3
    assert main([str(src), "--out", str(tmp_path / "cli"), "--every", "5"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli").iterdir()) == [f"glitch_{i:06d}.png" for i in (0, 5, 10)]
    assert "3 frames (3 damaged frame(s) left out) ->" in capsys.readouterr().out

    # Random bytes in an intra-only stream: FFmpeg cannot decode the packet; only its own frame is lost.
    intra = clip_factory("intra.mkv", codec="ffv1", frames=8, audio=False, extra_options={"g": "1"})
    src = damage_packet(intra, tmp_path / "noise.mkv", 4, noise_like)
    extraction = extract(src, tmp_path / "intra_frames", every=1, max_frames=0)
    assert [p.name for p in extraction.paths] == [f"noise_{i:06d}.png" for i in (0, 1, 2, 3, 5, 6, 7)]
    assert extraction.damaged_frames == 1


def test_quality_grid_runs_the_cli_and_scores_both_weights(clip_factory, tmp_path) -> None:
    import json

    clip = clip_factory("real.mkv", width=192, height=128, frames=6, audio=False, codec="ffv1")
    done = _tool("quality_grid.py", clip, "--scales", "2", "--levels", "clean", "36", "--frames", "4",
                 "--compare", "--degradation none", "--json", tmp_path / "grid.json")
    assert done.returncode == 0, done.stderr
    rows = json.loads((tmp_path / "grid.json").read_text())
    assert [(r["scale"], r["level"]) for r in rows] == [(2, "clean"), (2, "36")]
    clean, compressed = (r["runs"] for r in rows)
    assert "for clean input (lossless ffv1)" in clean["no flags"]["weights"]
    assert clean["no flags"]["gain_db"] == clean["--degradation none"]["gain_db"]  # the same weights
    assert "for compressed input (h264, mean QP" in compressed["no flags"]["weights"]
    assert compressed["no flags"]["gain_db"] != compressed["--degradation none"]["gain_db"]
    assert all(r["temporal"] > 0 and r["temporal_bicubic"] > 0 for row in rows for r in row["runs"].values())
    assert "| real.mkv | ×2 | CRF 36 | compressed input |" in done.stdout


def test_sequences_then_temporal_training_make_loadable_rlsp_weights(tmp_path) -> None:
    """make_sequences.py on two tiny clips (one a held-out name), train_temporal.py on them, and back."""
    from conftest import Clip, make_clip

    clips = tmp_path / "clips"
    for name, filters in (("pan_a", "scroll=h=0.01"), ("stefan_sif", "scroll=v=0.01")):
        (clips / name).mkdir(parents=True)
        make_clip(clips / name / "clip.mp4", Clip(width=192, height=160, frames=24, audio=False, filters=filters))
    made = _tool("make_sequences.py", "--clips", clips, "--scale", "2", "--level", "clean", "--frames", "6",
                 "--windows", "2", "--crops", "2", "--lr-size", "16", "--out", tmp_path / "seq")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "seq" / "pan_a.npz").is_file() and not (tmp_path / "seq" / "stefan_sif.npz").exists()
    with np.load(tmp_path / "seq" / "pan_a.npz") as data:
        assert data["lr"].shape == (4, 6, 16, 16) and data["hr"].shape == (4, 6, 32, 32)
        assert data["flow"].shape == (4, 5, 16, 16, 2)
    trained = _tool("train_temporal.py", "--data", tmp_path / "seq", "--scale", "2", "--iters", "4",
                    "--validate-every", "2", "--batch", "2", "--out", tmp_path / "run")
    assert trained.returncode == 0, trained.stderr
    loaded = load_model("rlsp", 2, tmp_path / "run" / "best.pt")
    assert loaded.recurrent is not None and loaded.meta["align"] == "dis" and loaded.meta["degradation"] == ["none"]
    resumed = _tool("train_temporal.py", "--data", tmp_path / "seq", "--scale", "2", "--iters", "6",
                    "--validate-every", "2", "--batch", "2", "--out", tmp_path / "run", "--resume")
    assert resumed.returncode == 0 and "resumed at iteration 4" in resumed.stdout
    scored = _tool("train_temporal.py", "--data", tmp_path / "seq", "--scale", "2", "--evaluate",
                   tmp_path / "run" / "best.pt")
    assert scored.returncode == 0 and "memory aligned by DIS" in scored.stdout and "fsrcnn ×2" in scored.stdout
