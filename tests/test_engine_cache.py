"""The TensorRT engine cache, exercised on the CPU with torch.export standing in for the compiler."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from rtsr.checkpoints import weights_digest
from rtsr.engines.cache import EngineCache, EngineKey, ShapeProfile, default_engine_dir
from rtsr.engines.tensorrt import TENSORRT_PROFILE, export_network
from rtsr.models import FSRCNN, MODELS

KEY = EngineKey(model="fsrcnn", scale=3, weights_sha256="ab" * 32, profile=TENSORRT_PROFILE.tag(),
                precision="fp16", runtime="tensorrt 10.0, torch-tensorrt 2.5.0", torch="2.13.0",
                device="NVIDIA H100 sm_90", rtsr="0.1.0", suffix=".ep")


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(EngineKey)])
def test_every_ingredient_changes_the_cache_file(field: str) -> None:
    value = getattr(KEY, field)
    changed = dataclasses.replace(KEY, **{field: value + 1 if isinstance(value, int) else value + "x"})
    assert changed.filename() != KEY.filename()


def test_weights_digest_follows_the_weights() -> None:
    torch.manual_seed(0)
    model = FSRCNN(3)
    before = weights_digest(model)
    assert weights_digest(model) == before
    with torch.no_grad():
        model.deconv.bias.add_(1e-3)
    assert weights_digest(model) != before


def test_weights_digest_takes_batch_norm_counters() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))  # as SRResNet has
    before = weights_digest(model)  # num_batches_tracked is a 0-dim int64 tensor
    model[1].num_batches_tracked += 1
    assert weights_digest(model) != before


def test_engine_dir_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RTSR_ENGINE_DIR", str(tmp_path / "mine"))
    assert default_engine_dir() == tmp_path / "mine"
    monkeypatch.delenv("RTSR_ENGINE_DIR")
    # Running from this checkout: its engines/ folder (which holds a README).
    assert default_engine_dir() == Path(__file__).resolve().parents[1] / "engines"


@pytest.mark.parametrize("name", ["fsrcnn", "srcnn", "srresnet"])
def test_models_export_with_the_tensorrt_profile_and_match_eager(name: str) -> None:
    torch.manual_seed(0)
    model = MODELS[name].build(2).eval()
    network = model.for_inference()
    channels = MODELS[name].channels
    exported = export_network(network, channels, TENSORRT_PROFILE, torch.device("cpu"), torch.float32)
    module = exported.module()
    for height, width in [(16, 16), (37, 53)]:  # two shapes: the graph really is dynamic
        x = torch.rand(1, channels, height, width)
        with torch.no_grad():
            torch.testing.assert_close(module(x), model(x), atol=1e-4, rtol=1e-4)


class Counting:
    """build/save/load for EngineCache using torch.export, counting the builds."""

    def __init__(self) -> None:
        self.builds = 0
        self.model = FSRCNN(2).eval()
        self.profile = ShapeProfile((16, 16), (24, 24), (64, 64))

    def build(self):
        self.builds += 1
        return export_network(self.model.for_inference(), 1, self.profile, torch.device("cpu"), torch.float32)

    @staticmethod
    def save(program, path: Path) -> None:
        torch.export.save(program, str(path))

    @staticmethod
    def load(path: Path):
        return torch.export.load(str(path))

    def get(self, cache: EngineCache, key: EngineKey = KEY):
        return cache.load_or_build(key, "fsrcnn ×2 test", self.build, self.save, self.load)


def test_engine_is_built_once_then_loaded(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache, counting = EngineCache(tmp_path / "engines"), Counting()
    with caplog.at_level("INFO", logger="rtsr"):
        counting.get(cache)
    assert counting.builds == 1
    assert "building the fsrcnn ×2 test" in caplog.text and "cached at" in caplog.text
    loaded = counting.get(cache)
    assert counting.builds == 1
    x = torch.rand(1, 1, 20, 30)
    torch.testing.assert_close(loaded.module()(x), counting.model(x), atol=1e-5, rtol=1e-5)
    engine, manifest = cache.paths(KEY)
    assert engine.is_file() and json.loads(manifest.read_text())["key"]["model"] == "fsrcnn"
    assert not list((tmp_path / "engines").glob(".*"))  # atomic writes leave no temporary file behind
    assert [e["file"] for e in cache.entries()] == [engine.name]


@pytest.mark.parametrize("damage", ["truncate", "flip_byte", "stale_manifest", "garbage_manifest"])
def test_damaged_or_stale_engines_are_rebuilt(damage: str, tmp_path: Path, caplog) -> None:
    cache, counting = EngineCache(tmp_path), Counting()
    counting.get(cache)
    engine, manifest = cache.paths(KEY)
    if damage == "truncate":
        engine.write_bytes(engine.read_bytes()[: engine.stat().st_size // 2])
    elif damage == "flip_byte":
        data = bytearray(engine.read_bytes())
        data[len(data) // 2] ^= 0xFF
        engine.write_bytes(bytes(data))
    elif damage == "stale_manifest":
        recorded = json.loads(manifest.read_text())
        recorded["key"]["runtime"] = "tensorrt 9.0"
        manifest.write_text(json.dumps(recorded))
    else:
        manifest.write_text("{not json")
    with caplog.at_level("WARNING", logger="rtsr"):
        counting.get(cache)
    assert counting.builds == 2 and "rebuilding" in caplog.text
    counting.get(cache)
    assert counting.builds == 2  # the rebuilt engine is trusted again


def test_an_engine_that_fails_to_load_is_rebuilt(tmp_path: Path) -> None:
    cache, counting = EngineCache(tmp_path), Counting()
    counting.get(cache)
    calls = {"n": 0}

    def failing_load(path: Path):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("deserialization failed")
        return counting.load(path)

    cache.load_or_build(KEY, "x", counting.build, counting.save, failing_load)
    assert counting.builds == 2


def test_clear(tmp_path: Path) -> None:
    cache, counting = EngineCache(tmp_path), Counting()
    counting.get(cache)
    counting.get(cache, dataclasses.replace(KEY, scale=4))
    assert cache.clear() == 2 and not list(tmp_path.iterdir())


def test_the_tensorrt_key_names_the_runtime_and_the_gpu(monkeypatch) -> None:
    from types import SimpleNamespace

    from rtsr.engines import tensorrt

    monkeypatch.setattr(torch.cuda, "get_device_properties",
                        lambda device: SimpleNamespace(name="NVIDIA H200", major=9, minor=0))
    engine = object.__new__(tensorrt.TensorRTEngine)  # no GPU here: only the key is under test
    engine.device, engine.model_name, engine.scale = torch.device("cuda"), "fsrcnn", 3
    engine.weights_sha256, engine.profile = "cd" * 32, TENSORRT_PROFILE
    key = engine.key()
    assert key.device == "NVIDIA H200 sm_90" and key.runtime.startswith("tensorrt ")
    assert key.precision == "fp16" and key.filename().endswith(".ep")
