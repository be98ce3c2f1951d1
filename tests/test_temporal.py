"""The recurrent model (rtsr.temporal): packing, warping, motion, resets at cuts, and runs through the CLI."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import as_array, decode_video, frame_times, h264_packets

from rtsr.checkpoints import load_model, save_checkpoint
from rtsr.engines.cpu import CpuEngine
from rtsr.formats import LAYOUTS, ColorInfo
from rtsr.io.reader import FrameReader
from rtsr.models import MODELS
from rtsr.plane_upscaler import PlaneUpscaler, upscale_rgb_image
from rtsr.run_spec import UNJUDGED
from rtsr.temporal.motion import backward_flow
from rtsr.temporal.network import RLSP, next_memory, reset_memory, warp
from rtsr.temporal.state import WARMUP_FRAMES, Recurrence, single_frame
from rtsr.upscaler import Upscaler


def smooth_picture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A smooth random (height, width) float picture in [0.1, 0.9]: texture DIS can follow."""
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.random((1, 1, height // 8 + 2, width // 8 + 2)), dtype=torch.float32)
    big = F.interpolate(x, size=(height, width), mode="bicubic", align_corners=False)[0, 0]
    return (0.1 + 0.8 * (big - big.min()) / (big.max() - big.min())).numpy()


def trained_looking(scale: int) -> RLSP:
    """A seeded RLSP whose last layer is not near zero, so its state and output carry something."""
    torch.manual_seed(0)
    model = RLSP(scale).eval()
    with torch.no_grad():
        model.body[-1].weight.normal_(0, 0.05)
    return model


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_packed_io_shapes_and_state_channels(scale: int) -> None:
    model = RLSP(scale)
    layout = model.layout
    assert model.state_channels % (scale * scale) == 0 and model.state_channels >= 8
    x = torch.rand(2, 1, 10, 12)
    memory = reset_memory(x, layout)
    assert memory.shape == (2, layout.memory_channels, 10, 12)
    out = model(torch.cat([x, memory], dim=1))
    assert out.shape == (2, model.out_channels, 10 * scale, 12 * scale)
    hr, following = model.step(x, memory)
    assert torch.equal(hr, out[:, :1]) and following.shape == memory.shape
    assert torch.equal(following[:, :1], x)  # the luma this frame had
    assert torch.equal(F.pixel_shuffle(following[:, 1:1 + scale * scale], scale), hr)  # the output, folded
    assert (following[:, 1 + scale * scale:] >= 0).all()  # the state after its ReLU
    assert torch.equal(next_memory(x, out, scale), following)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_the_bicubic_skip_at_lr_is_torchs_bicubic(scale: int) -> None:
    """With the body's output zeroed, the network is exactly bicubic, borders included."""
    model = RLSP(scale)
    with torch.no_grad():
        model.body[-1].weight.zero_()
        model.body[-1].bias.zero_()
    x = torch.rand(1, 1, 13, 17)
    hr, _ = model.step(x, reset_memory(x, model.layout))
    bicubic = F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False)
    assert (hr - bicubic).abs().max() < 1e-5


def test_warp_moves_the_past_by_the_flow() -> None:
    image = torch.arange(60, dtype=torch.float32).view(1, 1, 6, 10)
    assert torch.allclose(warp(image, torch.zeros(1, 2, 6, 10)), image, atol=1e-4)
    flow = torch.zeros(1, 2, 6, 10)
    flow[:, 0] = -2  # every pixel was two columns to the left in the previous frame
    moved = warp(image, flow)
    assert torch.allclose(moved[..., 2:], image[..., :-2], atol=1e-4)


def test_warping_the_folded_output_at_lr_moves_the_hr_picture() -> None:
    """Each of the s² phases is a sub-lattice of the HR picture: one LR pixel of flow moves it s HR pixels."""
    hr = torch.rand(1, 1, 32, 32)
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = -1
    moved = F.pixel_shuffle(warp(F.pixel_unshuffle(hr, 4), flow), 4)
    assert torch.allclose(moved[..., 4:], hr[..., :-4], atol=1e-5)
    assert warp(hr, None) is hr


def test_backward_flow_finds_a_pan() -> None:
    picture = (smooth_picture(72, 128) * 255).astype(np.uint8)
    moved = np.roll(picture, (1, 3), axis=(0, 1))  # the content moves 3 right, 1 down
    flow = backward_flow(moved, picture)
    inner = flow[8:-8, 8:-8]
    assert np.median(inner[..., 0]) == pytest.approx(-3, abs=0.3)
    assert np.median(inner[..., 1]) == pytest.approx(-1, abs=0.3)
    assert not backward_flow(picture[:8, :8], picture[:8, :8]).any()  # too small for DIS: no motion


def _planes(luma: np.ndarray) -> list[np.ndarray]:
    """(H, W) float luma in [0, 1] as yuv420p code planes (grey chroma)."""
    y = np.round(16 + 219 * luma).astype(np.uint8)
    h, w = y.shape
    return [y, np.full((h // 2, w // 2), 128, np.uint8), np.full((h // 2, w // 2), 128, np.uint8)]


def _upscaler(model: RLSP, width: int, height: int) -> PlaneUpscaler:
    scale = model.scale
    return PlaneUpscaler(CpuEngine(model), "y", scale, LAYOUTS["yuv420p"], ColorInfo("bt601", False), (width * scale,
                         height * scale), recurrent=model.layout)


def test_a_pan_keeps_the_state_and_a_cut_resets_it_without_ghosting() -> None:
    """A spliced clip: six frames of one pan, then six of an unrelated one. The first frame after the cut
    comes out exactly as that picture alone would (no trace of the first scene); within a pan the past is kept."""
    model = trained_looking(2)
    width, height = 96, 64
    first, second = smooth_picture(height, width + 20, 1), smooth_picture(height, width + 20, 2)
    frames = [first[:, i:i + width] for i in range(6)] + [second[:, i:i + width] for i in range(6)]
    upscale = _upscaler(model, width, height)
    outputs = [upscale(_planes(f)) for f in frames]
    recurrence = upscale.recurrence
    assert recurrence.frames == 12 and recurrence.resets == 2  # the first frame and the cut
    alone = _upscaler(model, width, height)(_planes(frames[6]))
    assert np.array_equal(outputs[6][0], alone[0])
    carried = _upscaler(model, width, height)(_planes(frames[7]))
    assert not np.array_equal(outputs[7][0], carried[0])  # after the cut the new scene's past is used


def test_a_changed_frame_size_resets() -> None:
    model = trained_looking(2)
    recurrence = Recurrence(model.layout)
    with torch.inference_mode():
        recurrence.step(model, torch.rand(1, 1, 16, 16))
        recurrence.step(model, torch.rand(1, 1, 20, 16))
    assert recurrence.resets == 2 and recurrence.memory.shape[-2:] == (20, 16)


def test_a_picture_runs_from_a_reset() -> None:
    model = trained_looking(3)
    x = torch.rand(1, 1, 12, 12)
    with torch.inference_mode():
        assert torch.equal(single_frame(model, x, model.layout), Recurrence(model.layout).step(model, x))
    rgb = (np.random.default_rng(0).random((12, 16, 3)) * 255).astype(np.uint8)
    assert upscale_rgb_image(CpuEngine(model), "y", 3, rgb, model.layout).shape == (36, 48, 3)


def test_checkpoint_says_what_it_is_and_a_bare_state_dict_finds_its_scale(tmp_path) -> None:
    for scale in (2, 3, 4):
        model = RLSP(scale)
        save_checkpoint(tmp_path / f"r{scale}.pt", model, "rlsp", scale)
        loaded = load_model("rlsp", scale, tmp_path / f"r{scale}.pt")
        assert loaded.recurrent == model.layout and loaded.channels == model.in_channels
        torch.save(model.state_dict(), tmp_path / f"bare{scale}.pt")
        assert load_model("rlsp", scale, tmp_path / f"bare{scale}.pt").scale == scale
        assert MODELS["rlsp"].matches(model.state_dict())


def test_the_reader_hands_over_the_frames_before_a_segment_as_warm_up() -> None:
    packets = h264_packets(64, 48, 20, 0, 200)
    decoder = av.CodecContext.create("h264", "r")
    reader = FrameReader.from_packets(decoder, packets, Fraction(1, 25), first_pts=12, end_pts=16, warmup=3)
    items = list(reader.frames())
    assert [type(i).__name__ for i in items] == ["WarmUpFrame"] * 3 + ["VideoFrame"] * 4
    assert [i.frame.pts for i in items[:3]] == [9, 10, 11] and [i.pts for i in items[3:]] == [12, 13, 14, 15]
    none = FrameReader.from_packets(av.CodecContext.create("h264", "r"), packets, Fraction(1, 25), first_pts=12,
                                    end_pts=16)
    assert [f.pts for f in none.frames()] == [12, 13, 14, 15]


def test_warm_up_frames_are_upscaled_but_not_encoded(clip_factory, random_weights, tmp_path) -> None:
    """Segments of a recurrent model start early and drop the warm-up: same frames, same timestamps."""
    clip = clip_factory(frames=30, extra_options={"g": "6", "bf": "0"})
    upscaler = Upscaler("rlsp", 2, "cpu", random_weights("rlsp", 2))
    assert upscaler.runner_judged(lambda: UNJUDGED)[0].warmup_frames == WARMUP_FRAMES > 0
    whole = upscaler.upscale_video(clip, tmp_path / "whole.mkv", codec="ffv1", jobs=1)
    parts = upscaler.upscale_video(clip, tmp_path / "parts.mkv", codec="ffv1", jobs=2, segment_seconds=0.25)
    assert parts.jobs == 2 and whole.frames == parts.frames == 30
    assert frame_times(tmp_path / "whole.mkv") == frame_times(tmp_path / "parts.mkv")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def test_segments_with_shipped_weights_match_a_whole_run(clip_factory, tmp_path) -> None:
    """--jobs 2 against --jobs 1 with the shipped ×4 weights, on a scrolling picture: the same frames, each
    ≥ 45 dB from the whole run's (issue 35's bar), thanks to the warm-up (without it the segments' first
    frames came out at 30-32 dB; docs/temporal.md)."""
    clip = clip_factory(frames=60, width=96, height=64, extra_options={"g": "12", "bf": "0"},
                        filters="scroll=h=0.01:v=0.005")
    upscaler = Upscaler("rlsp", 4, "cpu")
    upscaler.upscale_video(clip, tmp_path / "whole.mkv", codec="ffv1", jobs=1)
    parts = upscaler.upscale_video(clip, tmp_path / "parts.mkv", codec="ffv1", jobs=2, segment_seconds=0.5)
    assert parts.jobs == 2
    whole, _ = decode_video(tmp_path / "whole.mkv")
    cut, _ = decode_video(tmp_path / "parts.mkv")
    assert len(whole) == len(cut) == 60
    worst = min(_psnr(as_array(a), as_array(b)) for a, b in zip(whole, cut))
    assert worst >= 45.0
