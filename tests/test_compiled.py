"""The compiled network (rtsr.engines.compiled), on the CPU: torch.compile per frame size, and the eager fallback."""

from __future__ import annotations

import logging

import torch
from torch import nn

from rtsr.cli import build_parser
from rtsr.engines import compiled
from rtsr.engines.compiled import CompiledNetwork, compile_cache_dir


def _network() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.PReLU(8), nn.Conv2d(8, 4, 3, padding=1),
                         nn.PixelShuffle(2)).eval()


def test_compiles_once_per_size_and_matches_eager(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    network = _network()
    runner = CompiledNetwork(network, "tiny ×2")
    x = torch.rand(1, 1, 24, 32)
    with caplog.at_level(logging.INFO, logger="rtsr"), torch.inference_mode():
        first, second = runner(x), runner(x)
        expected = network(x)
    assert runner.state == f"compiled ({compiled.MODE})"
    torch.testing.assert_close(first, expected, atol=1e-5, rtol=0)
    torch.testing.assert_close(second, expected, atol=1e-5, rtol=0)
    assert caplog.text.count("compiling tiny ×2 for 32×24") == 1 and "compiled tiny ×2 for 32×24 in" in caplog.text
    assert any((tmp_path / "inductor").iterdir())  # the kernels are kept for the next run


def test_a_failed_compile_falls_back_to_eager_once_with_its_reason(monkeypatch, caplog):
    calls = []

    def broken_compile(*args, **kwargs):
        calls.append(1)
        raise RuntimeError("no working C++ compiler\nlong details")

    monkeypatch.setattr(torch, "compile", broken_compile)
    network = _network()
    runner = CompiledNetwork(network, "tiny ×2")
    x = torch.rand(1, 1, 24, 32)
    with caplog.at_level(logging.WARNING, logger="rtsr"), torch.inference_mode():
        outputs = [runner(x), runner(torch.rand(1, 1, 16, 16))]
        expected = network(x)
    assert len(calls) == 1 and torch.equal(outputs[0], expected)
    assert runner.state == "eager: compiling failed (RuntimeError: no working C++ compiler)"
    assert caplog.text.count("running without compiling") == 1


def test_cache_folder_and_the_switch(monkeypatch, tmp_path):
    monkeypatch.setenv("RTSR_COMPILE_DIR", str(tmp_path))
    assert compile_cache_dir() == tmp_path
    args = build_parser().parse_args(["in.mp4", "-o", "out.mp4", "--no-compile"])
    assert args.no_compile


def test_the_cpu_engine_is_never_compiled(random_weights):
    from rtsr import Upscaler
    from rtsr.run_spec import UNJUDGED

    upscaler = Upscaler("fsrcnn", 2, "cpu", random_weights("fsrcnn", 2))
    assert not hasattr(upscaler.runner_judged(lambda: UNJUDGED)[0].engine, "compile_state")
