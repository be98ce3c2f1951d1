"""rtsr export: ONNX files that ONNX Runtime runs to the same pictures as PyTorch, with their metadata."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from conftest import run_rtsr_here

from rtsr.checkpoints import load_model
from rtsr.engines.onnx_export import OPSET, export_onnx
from rtsr.quantization import int8_network, int8_weights


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def _matches_torch(graph: bytes, model: str, scale: int, weights=None) -> None:
    loaded = load_model(model, scale, weights)
    out_channels = loaded.network.out_channels if loaded.recurrent else loaded.channels
    session = ort.InferenceSession(graph, providers=["CPUExecutionProvider"])
    for height, width in [(24, 32), (45, 61)]:  # two sizes: the graph's height and width are dynamic
        x = torch.rand(1, loaded.channels, height, width)
        with torch.no_grad():
            expected = loaded.network.for_inference()(x).numpy()
        (out,) = session.run(["hr"], {"lr": x.numpy()})
        assert out.shape == (1, out_channels, height * scale, width * scale)
        assert psnr(out, expected) >= 60.0


def test_rtsr_export_writes_onnx_that_onnx_runtime_runs(tmp_path) -> None:
    target = tmp_path / "fsrcnn_x3.onnx"
    result = run_rtsr_here("export", "--model", "fsrcnn", "--scale", "3", "-o", target)
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "BT.601 studio-range luma" in result.stdout
    model = onnx.load(str(target))
    assert model.opset_import[0].version >= OPSET >= 17
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["rtsr.model"] == "fsrcnn" and meta["rtsr.scale"] == "3" and meta["rtsr.channels"] == "1"
    assert "BT.601 studio-range" in meta["rtsr.colour_domain"] and "[0, 1]" in meta["rtsr.value_range"]
    _matches_torch(target.read_bytes(), "fsrcnn", 3)
    again = run_rtsr_here("export", "--model", "fsrcnn", "--scale", "3", "-o", target)
    assert again.returncode == 1 and "--overwrite" in again.stderr


@pytest.mark.parametrize("model, scale", [("srcnn", 2), ("srresnet", 4), ("fsrcnn", 4)])
def test_every_model_exports_and_matches_torch(model: str, scale: int) -> None:
    graph = export_onnx(load_model(model, scale))
    meta = {p.key: p.value for p in onnx.load_from_string(graph).metadata_props}
    assert meta["rtsr.channels"] == ("3" if model == "srresnet" else "1")
    _matches_torch(graph, model, scale)


def test_the_recurrent_model_exports_its_state_as_an_input_and_output_pair(random_weights) -> None:
    weights = random_weights("rlsp", 3)
    graph = export_onnx(load_model("rlsp", 3, weights))
    meta = {p.key: p.value for p in onnx.load_from_string(graph).metadata_props}
    assert meta["rtsr.channels"] == "20" and "9-channel state" in meta["rtsr.layout"]
    assert "output (1, 2, H*3, W*3)" in meta["rtsr.layout"]
    _matches_torch(graph, "rlsp", 3, weights)


def test_bad_export_requests_are_one_line_errors(tmp_path) -> None:
    unknown = run_rtsr_here("export", "--model", "edsr", "-o", tmp_path / "x.onnx")
    assert unknown.returncode == 1 and "unknown model 'edsr'" in unknown.stderr
    missing = run_rtsr_here("export", "-o", tmp_path / "no" / "x.onnx")
    assert missing.returncode == 1 and "no folder" in missing.stderr


def test_int8_export_carries_the_int8_grid_onnx_runtime_runs(tmp_path) -> None:
    target = tmp_path / "fsrcnn_x4_int8.onnx"
    result = run_rtsr_here("export", "--model", "fsrcnn", "--scale", "4", "--int8", "-o", target)
    assert result.returncode == 0, result.stderr
    assert "fsrcnn ×4 int8" in result.stdout
    model = onnx.load(str(target))
    ops = {node.op_type for node in model.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    assert "int8" in {p.key: p.value for p in model.metadata_props}["rtsr.precision"]
    int8 = int8_weights(load_model("fsrcnn", 4))
    x = np.random.default_rng(1).integers(16, 236, (1, 1, 20, 24)).astype(np.float32) / 255
    session = ort.InferenceSession(target.read_bytes(), providers=["CPUExecutionProvider"])
    out = session.run(None, {"lr": x})[0]
    with torch.no_grad():
        expected = int8_network(int8.network, int8.meta)(torch.from_numpy(x)).numpy()
    assert psnr(out, expected) >= 45.0
    srcnn = run_rtsr_here("export", "--model", "srcnn", "--int8", "-o", tmp_path / "s.onnx")
    assert srcnn.returncode == 1 and "no int8 weights for srcnn" in srcnn.stderr
