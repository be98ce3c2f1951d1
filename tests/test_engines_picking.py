"""--engine auto without a GPU: the CPU candidates timed on the run's shape, the verdict kept on disk."""

from __future__ import annotations

import json
import time

import pytest
import torch
from conftest import run_rtsr_here

from rtsr.checkpoints import load_model
from rtsr.engines import picking
from rtsr.engines.picking import MeasuredCpuEngine, VerdictCache, pick_winner, time_engines
from rtsr.engines.precision import MAX_LOSS_DB, bf16_loss_db
from rtsr.errors import EngineUnavailable
from rtsr.run_spec import RunSpec
from rtsr.runner import build_runner


class Sleeper:
    """A stand-in engine that takes ``seconds`` per run and counts its runs."""

    device = torch.device("cpu")

    def __init__(self, name: str, seconds: float) -> None:
        self.name, self.seconds, self.runs = name, seconds, 0

    def run(self, x: torch.Tensor) -> torch.Tensor:
        self.runs += 1
        time.sleep(self.seconds)
        return x


@pytest.fixture
def stand_ins(monkeypatch):
    """build_engine replaced: cpu sleeps 12 ms a run, openvino 3 ms, openvino-bf16 2.5 ms; the built ones."""
    built: dict[str, Sleeper] = {}

    def build(name, loaded, engine_dir=None, compile=True):
        built[name] = Sleeper(name, {"cpu": 0.012, "openvino": 0.003, "openvino-bf16": 0.0025}[name])
        return built[name]

    monkeypatch.setattr(picking, "build_engine", build)
    return built


def test_the_faster_candidate_wins_and_the_verdict_is_remembered(stand_ins, tmp_path) -> None:
    loaded = load_model("fsrcnn", 2)
    engine = MeasuredCpuEngine(loaded, ("cpu", "openvino"), tmp_path)
    verdict = engine.pick(1, 36, 64)
    assert verdict.winner == "openvino" and engine.name == "openvino"
    assert verdict.fps["openvino"] > 2 * verdict.fps["cpu"] and verdict.ratio() > 2
    assert "openvino" in verdict.describe() and "× cpu" in verdict.describe()
    stored = json.loads((tmp_path / picking.VERDICTS_FILE).read_text())
    assert len(stored) == 1 and next(iter(stored.values()))["key"]["shape"] == [1, 36, 64]

    stand_ins.clear()
    again = MeasuredCpuEngine(loaded, ("cpu", "openvino"), tmp_path)
    assert again.pick(1, 36, 64).measured_at == verdict.measured_at  # read back, not measured again
    assert stand_ins["openvino"].runs == 0 and stand_ins["cpu"].runs == 0
    again.run(torch.zeros(1, 1, 36, 64))
    assert stand_ins["openvino"].runs == 1 and stand_ins["cpu"].runs == 0


def test_each_shape_and_thread_count_has_its_own_verdict(stand_ins, tmp_path) -> None:
    engine = MeasuredCpuEngine(load_model("fsrcnn", 2), ("cpu", "openvino"), tmp_path)
    engine.run(torch.zeros(1, 1, 20, 30))
    engine.run(torch.zeros(1, 1, 40, 30))
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        engine.run(torch.zeros(1, 1, 40, 30))
    finally:
        torch.set_num_threads(before)
    expected = 3 if before > 1 else 2
    assert len(VerdictCache(tmp_path).entries()) == expected


def test_a_candidate_that_cannot_be_built_is_left_out(monkeypatch, tmp_path) -> None:
    def build(name, loaded, engine_dir=None, compile=True):
        if name == "openvino":
            raise EngineUnavailable("OpenVINO could not compile the network for this CPU (test)")
        return Sleeper(name, 0.001)

    monkeypatch.setattr(picking, "build_engine", build)
    engine = MeasuredCpuEngine(load_model("fsrcnn", 2), ("cpu", "openvino"), tmp_path)
    verdict = engine.pick(1, 16, 16)
    assert verdict.winner == "cpu" and "openvino" in verdict.left_out and verdict.fps == {}
    assert "the only candidate that runs" in verdict.describe()
    assert "openvino left out: OpenVINO could not compile" in verdict.describe()


def test_a_slow_frame_is_timed_on_a_slice_of_its_rows(monkeypatch) -> None:
    monkeypatch.setattr(picking, "MAX_RUN_SECONDS", 0.01)

    class RowCost(Sleeper):
        tallest = 0

        def run(self, x):
            self.runs += 1
            self.tallest = max(self.tallest, x.shape[-2])
            time.sleep(x.shape[-2] * 0.0005)  # 0.5 ms a row: 200 rows take 0.1 s
            return x

    engines = {"cpu": RowCost("cpu", 0), "openvino": RowCost("openvino", 0)}
    fps, rows = time_engines(engines, torch.zeros(1, 1, 200, 8))
    assert rows == picking.PROBE_ROWS and set(fps) == {"cpu", "openvino"}
    assert engines["cpu"].tallest == engines["openvino"].tallest == rows  # never run on the whole frame
    assert 8 < fps["cpu"] < 10.5  # per whole frame: 200 rows at 0.5 ms (0.1 s), not the slice's ~60 fps


def test_a_file_run_says_what_auto_picked(clip_factory, tmp_path) -> None:
    if torch.cuda.is_available():
        pytest.skip("auto takes a GPU engine here")
    src = clip_factory(width=64, height=48, frames=6, audio=False)
    result = run_rtsr_here(src, "-o", tmp_path / "out.mp4", "--scale", "2", "--jobs", "1")
    assert result.returncode == 0, result.stderr
    assert "picked by measurement: " in result.stderr and "at 64×48" in result.stderr
    listed = run_rtsr_here("engines", "list")
    assert "1 CPU engine verdict" in listed.stdout or "CPU engine verdict(s)" in listed.stdout
    assert "fsrcnn ×2 64×48" in listed.stdout


def test_the_image_api_picks_on_the_picture_shape(stand_ins, tmp_path) -> None:
    runner = build_runner(RunSpec("fsrcnn", 2, "none", None, "cpu"))
    runner.engine = MeasuredCpuEngine(runner.loaded, ("cpu", "openvino"), tmp_path)
    runner.prepare_engine(24, 16)
    assert runner.engine.name == "openvino" and runner.engine_verdict().startswith("picked by measurement: openvino")


def test_bf16_must_pass_the_quality_gate_and_earn_its_speed(stand_ins, tmp_path, random_weights) -> None:
    assert pick_winner({"cpu": 10.0, "openvino": 16.0, "openvino-bf16": 20.0}) == "openvino"  # < 1.3× f32
    assert pick_winner({"cpu": 10.0, "openvino": 16.0, "openvino-bf16": 21.0}) == "openvino-bf16"
    assert pick_winner({"cpu": 17.0, "openvino": 16.0}) == "cpu"
    fsrcnn_x3, fsrcnn_x2 = load_model("fsrcnn", 3), load_model("fsrcnn", 2)
    assert bf16_loss_db(fsrcnn_x3) <= MAX_LOSS_DB and bf16_loss_db(fsrcnn_x2) is None  # x2 lost 0.10 dB
    assert bf16_loss_db(load_model("fsrcnn", 3, random_weights("fsrcnn", 3))) is None  # unmeasured weights
    gated = MeasuredCpuEngine(fsrcnn_x3, ("cpu", "openvino"), tmp_path)
    assert gated.candidates == ("cpu", "openvino", "openvino-bf16")
    verdict = gated.pick(1, 30, 40)
    assert verdict.winner == "openvino"  # 2.5 ms against 3 ms: faster, but not by 1.3×
    # and the verdict says why the faster figure beside it did not run (issue 37)
    assert "; openvino-bf16 ran 1." in verdict.describe() and "× openvino, under the 1.3× a lower" in verdict.describe()
    ungated = MeasuredCpuEngine(fsrcnn_x2, ("cpu", "openvino"), tmp_path / "x2")
    assert ungated.candidates == ("cpu", "openvino")
    assert "openvino-bf16 not timed: these weights are not measured within 0.05 dB" in \
        ungated.pick(1, 30, 40).describe()
    assert MeasuredCpuEngine(fsrcnn_x3, ("cpu",), tmp_path).candidates == ("cpu",)  # no OpenVINO, no bf16
