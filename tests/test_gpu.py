"""GPU engines. Skipped without CUDA; run them on a GPU machine with `python -m pytest -m gpu`."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from rtsr import Upscaler
from rtsr.engines.cpu import CpuEngine
from rtsr.engines.cuda import CudaEngine
from rtsr.formats import LAYOUTS, ColorInfo
from rtsr.models import MODELS
from rtsr.plane_upscaler import PlaneUpscaler
from rtsr.report import StageClock

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = torch.mean((a.double() - b.double()) ** 2).item()
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("name, channels", [("fsrcnn", 1), ("srcnn", 1), ("srresnet", 3)])
def test_cuda_fp16_matches_cpu_fp32_above_50_db(name: str, channels: int) -> None:
    torch.manual_seed(0)
    model = MODELS[name].build(3).eval()
    x = torch.rand(1, channels, 90, 160)
    reference = CpuEngine(model).run(x).clamp(0, 1)
    fast = CudaEngine(model, compile=False).run(x.cuda()).cpu().clamp(0, 1)
    assert fast.shape == reference.shape
    assert _psnr(fast, reference) >= 50


def test_compiled_cuda_engine_matches_eager_and_says_so(caplog) -> None:
    torch.manual_seed(0)
    model = MODELS["fsrcnn"].build(3).eval()
    x = torch.rand(1, 1, 48, 64, device="cuda")
    eager = CudaEngine(model, compile=False).run(x).clamp(0, 1)
    engine = CudaEngine(model, label="fsrcnn ×3")
    with caplog.at_level("INFO", logger="rtsr"):
        compiled = engine.run(x).clamp(0, 1)
        again = engine.run(x).clamp(0, 1)
    assert engine.compile_state.startswith("compiled"), engine.compile_state
    assert caplog.text.count("compiling fsrcnn ×3 for 64×48") == 1
    assert _psnr(compiled, eager) >= 50 and torch.equal(compiled, again)


def test_cuda_pipeline_end_to_end(clip_factory, random_weights, tmp_path) -> None:
    src = clip_factory("in.mp4", width=320, height=180, frames=12)
    report = Upscaler("fsrcnn", 3, "cuda", random_weights("fsrcnn", 3), compile=False).upscale_video(
        src, tmp_path / "o.mp4")
    assert report.frames == 12 and report.output_size == (960, 540)
    assert "eager (--no-compile)" in report.summary()
    assert report.stage_seconds["inference"] > 0


@pytest.mark.skipif(importlib.util.find_spec("torch_tensorrt") is None, reason="torch-tensorrt not installed")
def test_tensorrt_engine_builds_caches_and_matches(random_weights, tmp_path) -> None:
    weights = random_weights("fsrcnn", 3)
    first = Upscaler("fsrcnn", 3, "tensorrt", weights, engine_dir=tmp_path)
    rgb = np.random.default_rng(0).integers(0, 256, (90, 160, 3), dtype=np.uint8)
    out = first.upscale_image(rgb)
    again = Upscaler("fsrcnn", 3, "tensorrt", weights, engine_dir=tmp_path)  # loads, no rebuild
    assert np.abs(again.upscale_image(rgb).astype(int) - out.astype(int)).max() <= 1
    assert len(list(tmp_path.glob("*.ep"))) == 1


@pytest.mark.parametrize("name, layout_name", [("fsrcnn", "yuv420p"), ("srresnet", "yuv420p10le")])
def test_frames_in_flight_on_cuda_streams_match_one_at_a_time(name: str, layout_name: str) -> None:
    """The ring's streams and events (rtsr.frame_ring) give each frame the result a synchronous call gives it."""
    torch.manual_seed(0)
    model = MODELS[name].build(2).eval()
    layout, color = LAYOUTS[layout_name], ColorInfo("bt709", False)
    engine = CudaEngine(model, compile=False)
    dtype = np.uint8 if layout.bits == 8 else np.uint16
    rng = np.random.default_rng(0)
    width, height = 320, 180
    cw, ch = layout.chroma_size(width, height)
    sizes = [(height, width), (ch, cw), (ch, cw)]
    frames = [[rng.integers(0, layout.max_code + 1, size, dtype=dtype) for size in sizes] for _ in range(10)]
    synchronous = PlaneUpscaler(engine, MODELS[name].planes, 2, layout, color, (640, 360))
    expected = [synchronous(f) for f in frames]
    clock = StageClock()
    ring = PlaneUpscaler(engine, MODELS[name].planes, 2, layout, color, (640, 360), clock, depth=4)
    got = [r for f in frames for r in ring.submit(f, lambda out: [p.copy() for p in out])] + ring.drain()
    assert len(got) == len(frames)
    for mine, theirs in zip(got, expected):
        for a, b in zip(mine, theirs):
            assert a.dtype == b.dtype and np.abs(a.astype(int) - b.astype(int)).max() <= 1
    assert clock.seconds["inference"] > 0 and clock.seconds["convert"] > 0
