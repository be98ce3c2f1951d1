"""Int8 FSRCNN (rtsr.quantization), its preparation (tools/lab/int8.py) and the openvino-int8 engine."""

from __future__ import annotations

import copy
import logging

import numpy as np
import pytest
import torch

from rtsr.checkpoints import load_model, save_checkpoint, weights_digest
from rtsr.engines import choose_engine, make_engine, picking
from rtsr.engines.openvino import OpenVinoEngine
from rtsr.engines.picking import MeasuredCpuEngine
from rtsr.engines.precision import INT8_MEASURED_LOSS, MAX_LOSS_DB, lower_precisions
from rtsr.errors import EngineUnavailable
from rtsr.models import FSRCNN
from rtsr.quantization import META_KEY, Int8FSRCNN, companion_path, int8_meta, int8_weights
from rtsr.run_spec import RunSpec
from rtsr.runner import build_runner
from tools.lab.int8 import calibrate, equalise


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def luma_codes(*shape: int, seed: int = 0) -> torch.Tensor:
    """Smooth-ish 8-bit luma codes / 255, as video gives the network."""
    generator = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 1, shape[0] // 4 + 1, shape[1] // 4 + 1, generator=generator)
    x = torch.nn.functional.interpolate(coarse, size=shape, mode="bilinear", align_corners=False)
    return (x * 219 + 16).round() / 255


@pytest.fixture
def int8_pair(tmp_path):
    """Shipped-like f32 weights and int8 weights trained from them (here: equalised and calibrated only)."""
    base = load_model("fsrcnn", 3)
    network = copy.deepcopy(base.network)
    batches = [luma_codes(24, 24, seed=seed) for seed in range(4)]
    equalise(network, batches)
    quantized = Int8FSRCNN(network, calibrate(network, batches))
    f32_path = tmp_path / "mine_x3.pt"
    save_checkpoint(f32_path, base.network, "fsrcnn", 3)
    save_checkpoint(companion_path(f32_path), network, "fsrcnn", 3,
                    **{META_KEY: int8_meta(quantized, weights_digest(base.network))})
    return load_model("fsrcnn", 3, f32_path), quantized


def test_equalise_keeps_the_f32_output_and_evens_out_channel_ranges() -> None:
    network = load_model("fsrcnn", 2).network
    before = copy.deepcopy(network)
    x = luma_codes(30, 40)
    equalise(network, [x])
    with torch.no_grad():
        assert psnr(network(x), before(x)) > 80
        spread = [before.body[1](before.body[0](x)).abs().amax(dim=(0, 2, 3)),
                  network.body[1](network.body[0](x)).abs().amax(dim=(0, 2, 3))]
    assert (spread[1].max() / spread[1].min()) < (spread[0].max() / spread[0].min())


def test_the_int8_grid_is_what_the_exported_operators_compute_and_not_f32() -> None:
    network = load_model("fsrcnn", 3).network
    x = luma_codes(20, 28)
    quantized = Int8FSRCNN(network, calibrate(network, [x]))
    with torch.no_grad():
        reference, exported, f32 = quantized(x), quantized.exportable()(x), network(x)
    assert psnr(exported, reference) > 70  # the same grid, up to rounding ties
    assert 35 < psnr(reference, f32) < 70  # quantized: close to f32, but not it


def test_training_reaches_the_weights_and_the_steps() -> None:
    network = FSRCNN(2)
    x = luma_codes(16, 16)
    quantized = Int8FSRCNN(network, calibrate(network, [x]))
    loss = quantized(x).square().mean()
    loss.backward()
    assert network.body[0].weight.grad.abs().sum() > 0 and quantized.log_steps.grad.abs().sum() > 0


def test_openvino_int8_runs_the_grid_of_the_int8_weights(int8_pair, tmp_path) -> None:
    loaded, quantized = int8_pair
    engine = OpenVinoEngine(loaded, tmp_path, precision="int8")
    assert engine.name == "openvino-int8"
    x = luma_codes(36, 52, seed=9)
    with torch.no_grad():
        reference = quantized(x)
    out = engine.run(x)
    assert out.shape == (1, 1, 108, 156)
    assert psnr(out, reference) > 45  # OpenVINO's int8 kernels on the same grid (its rounding may differ)
    assert psnr(out, loaded.network(x).detach()) < 70  # not the f32 network


def test_weights_without_int8_weights_cannot_run_in_int8(tmp_path, random_weights) -> None:
    loaded = load_model("fsrcnn", 3, random_weights("fsrcnn", 3))
    assert int8_weights(loaded) is None
    with pytest.raises(EngineUnavailable, match="no int8 weights for fsrcnn ×3"):
        OpenVinoEngine(loaded, tmp_path, precision="int8")
    with pytest.raises(EngineUnavailable, match="no int8 weights for srcnn"):
        make_engine(choose_engine("openvino-int8"), load_model("srcnn", 3), tmp_path)


def test_int8_weights_trained_from_other_weights_are_not_used(int8_pair, tmp_path) -> None:
    loaded, _ = int8_pair
    other = copy.deepcopy(loaded.network)
    other.body[0].bias.data += 0.01
    save_checkpoint(loaded.weights, other, "fsrcnn", 3)  # the f32 file changed after its int8 weights were made
    assert int8_weights(load_model("fsrcnn", 3, loaded.weights)) is None


def test_int8_weights_given_directly_run_in_int8(int8_pair, tmp_path) -> None:
    loaded, _ = int8_pair
    direct = load_model("fsrcnn", 3, companion_path(loaded.weights))
    assert int8_weights(direct) is direct
    assert OpenVinoEngine(direct, tmp_path, precision="int8").run(luma_codes(8, 8)).shape == (1, 1, 24, 24)


def test_auto_says_why_int8_was_not_timed(tmp_path, random_weights, caplog) -> None:
    unmeasured = load_model("fsrcnn", 3, random_weights("fsrcnn", 3))
    passed, refused = lower_precisions(unmeasured)
    assert "openvino-int8" not in passed and "no int8 weights" in refused["openvino-int8"]
    with caplog.at_level(logging.WARNING):
        engine = MeasuredCpuEngine(unmeasured, ("cpu", "openvino"), tmp_path)
        verdict = engine.pick(1, 20, 24)
    assert "openvino-int8 not timed: no int8 weights were trained from these" in verdict.describe()


def test_deep_input_leaves_int8_out_and_says_so(tmp_path, monkeypatch) -> None:
    loaded = load_model("fsrcnn", 3)
    monkeypatch.setattr(picking, "lower_precisions", lambda _: ({"openvino-int8": 0.01}, {}))
    engine = MeasuredCpuEngine(loaded, ("cpu", "openvino"), tmp_path)
    assert "openvino-int8" in engine.candidates
    monkeypatch.setattr(engine, "_engine", lambda name: object() if name != "openvino-int8" else None)
    monkeypatch.setattr(picking, "time_engines", lambda engines, x: ({name: 10.0 for name in engines}, x.shape[-2]))
    deep = engine._measure((1, 20, 24), 2, "m", ("cpu", "openvino"), {"openvino-int8": "10-bit input"})
    assert "openvino-int8" not in deep.fps and "openvino-int8 not timed: 10-bit input" in deep.describe()


@pytest.mark.parametrize("level", ["none", "compressed"])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_shipped_int8_weights_belong_to_the_shipped_f32_ones_and_are_measured(scale: int, level: str) -> None:
    loaded = load_model("fsrcnn", scale, degradation=level)
    int8 = int8_weights(loaded)
    assert int8 is not None and int8.weights.name == f"{loaded.weights.stem}_int8.pt"
    model, measured_scale, loss = INT8_MEASURED_LOSS[int8.weights_sha256[:16]]
    assert (model, measured_scale) == ("fsrcnn", scale)
    passed, refused = lower_precisions(loaded)
    if loss > MAX_LOSS_DB:  # today every scale: auto leaves int8 out and says what it costs
        assert "openvino-int8" not in passed and f"cost {loss:.2f} dB" in refused["openvino-int8"]
    else:
        assert passed["openvino-int8"] == loss


def test_int8_asked_for_on_deep_input_says_what_it_costs(tmp_path, caplog) -> None:
    runner = build_runner(RunSpec("fsrcnn", 3, "none", None, "openvino-int8", str(tmp_path)))
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        runner.prepare_engine(32, 24, bits=8)
        assert "8-bit codes" not in caplog.text
        runner.prepare_engine(32, 24, bits=10)
    assert "this 10-bit input loses its extra precision" in caplog.text
