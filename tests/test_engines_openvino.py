"""The openvino engine: the same pictures as the PyTorch cpu engine, its ONNX cache, threads and fallback."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from rtsr.checkpoints import load_model
from rtsr.engines import choose_engine, make_engine, registry
from rtsr.engines import openvino as openvino_module
from rtsr.engines.cache import EngineCache
from rtsr.engines.cpu import CpuEngine
from rtsr.engines.openvino import OpenVinoEngine, onnx_key
from rtsr.errors import EngineUnavailable
from rtsr.models import SCALES


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("model", ["fsrcnn", "srcnn", "srresnet"])
def test_openvino_f32_matches_the_cpu_engine_on_every_shipped_model(model: str, scale: int, tmp_path) -> None:
    loaded = load_model(model, scale)
    torch.manual_seed(scale)
    x = torch.rand(1, loaded.channels, 29, 41)
    reference = CpuEngine(loaded.network).run(x)
    out = OpenVinoEngine(loaded, tmp_path).run(x)
    assert out.shape == reference.shape == (1, loaded.channels, 29 * scale, 41 * scale)
    assert psnr(out, reference) >= 60.0


def test_strips_give_the_whole_frame(tmp_path) -> None:
    loaded = load_model("fsrcnn", 2)
    x = torch.rand(1, 1, 70, 48)
    whole = OpenVinoEngine(loaded, tmp_path).run(x)
    strips = OpenVinoEngine(loaded, tmp_path, strip_pixels=48 * 12).run(x)  # 12-row strips and halos
    assert psnr(strips, whole) >= 100.0


def test_bf16_runs_close_to_f32(tmp_path) -> None:
    loaded = load_model("fsrcnn", 3)
    x = torch.rand(1, 1, 32, 40)
    engine = OpenVinoEngine(loaded, tmp_path, precision="bf16")
    assert engine.name == "openvino-bf16"
    assert psnr(engine.run(x), CpuEngine(loaded.network).run(x)) >= 35.0
    with pytest.raises(EngineUnavailable, match="precision"):
        OpenVinoEngine(loaded, tmp_path, precision="int4")


def test_the_onnx_graph_is_exported_once_then_loaded_from_the_cache(tmp_path, monkeypatch, caplog) -> None:
    loaded = load_model("fsrcnn", 4)
    calls = []
    real_export = openvino_module.export_onnx
    monkeypatch.setattr(openvino_module, "export_onnx", lambda m, **kw: calls.append(m) or real_export(m, **kw))
    with caplog.at_level(logging.INFO, logger="rtsr"):
        OpenVinoEngine(loaded, tmp_path)
        OpenVinoEngine(loaded, tmp_path)
    assert len(calls) == 1 and "building the ONNX graph of fsrcnn ×4" in caplog.text
    graph, manifest = EngineCache(tmp_path).paths(onnx_key(loaded))
    assert graph.suffix == ".onnx" and graph.is_file() and manifest.is_file()
    other = load_model("fsrcnn", 3)
    assert onnx_key(other).filename() != onnx_key(loaded).filename()  # weights and scale are in the key


def test_threads_follow_torch_and_sharing_cores_halves_them(tmp_path) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        engine = OpenVinoEngine(load_model("fsrcnn", 2), tmp_path)
        engine.cores = 2
        assert engine.threads == 2
        with engine.sharing_cores():
            assert engine.threads == 1
            engine.run(torch.rand(1, 1, 16, 16))
        assert engine.threads == 2 and set(engine._requests) == {1, 2}  # one compiled network per count
    finally:
        torch.set_num_threads(before)


def test_without_openvino_the_cpu_engine_runs_and_says_why(monkeypatch, caplog) -> None:
    monkeypatch.setattr(registry, "openvino_unavailable", lambda: "OpenVINO cannot be imported (test)")
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        choice = choose_engine("openvino")
    assert choice.name == "cpu" and "OpenVINO cannot be imported (test)" in choice.describe()
    assert "running the PyTorch cpu engine" in caplog.text
    auto = choose_engine("auto")
    if not torch.cuda.is_available():
        assert auto.name == "cpu" and auto.candidates == () and "openvino" in auto.skipped


def test_an_openvino_engine_that_fails_to_build_falls_back_to_cpu(monkeypatch, tmp_path) -> None:
    def failing(*args, **kwargs):
        raise EngineUnavailable("OpenVINO could not compile the network for this CPU (test)")

    monkeypatch.setattr(openvino_module.OpenVinoEngine, "__init__", failing)
    engine, choice = make_engine(choose_engine("openvino"), load_model("fsrcnn", 2), tmp_path)
    assert engine.name == "cpu" and choice.name == "cpu"
    assert "openvino skipped: OpenVINO could not compile" in choice.describe()


@pytest.mark.parametrize("model", ["fsrcnn", "srresnet"])
def test_the_image_api_gives_the_cpu_engine_s_picture(model: str) -> None:
    from rtsr import Upscaler

    rgb = (np.random.default_rng(0).random((20, 28, 3)) * 255).astype(np.uint8)
    on_openvino = Upscaler(model, 2, "openvino")
    assert on_openvino.runner_judged(lambda: None)[0].engine.name == "openvino"
    a = on_openvino.upscale_image(rgb).astype(np.float64)
    b = Upscaler(model, 2, "cpu").upscale_image(rgb).astype(np.float64)
    mse = ((a - b) ** 2).mean()
    assert mse == 0 or 10 * np.log10(255.0**2 / mse) >= 60.0
