"""The memory estimate said before a run that would fill the machine (issue 38)."""

from __future__ import annotations

import logging

from rtsr import Upscaler
from rtsr.memory import feature_bytes_per_pixel, run_bytes
from rtsr.models import MODELS


def test_feature_maps_are_measured_per_input_pixel():
    assert feature_bytes_per_pixel(MODELS["fsrcnn"].build(4), 1) == 448  # 56 channels in and out of a PReLU
    srcnn = feature_bytes_per_pixel(MODELS["srcnn"].build(2), 1)
    assert srcnn == 2048  # SRCNN works at the output size: 64 channels in and out on 4× the pixels
    assert run_bytes(448, 3840, 2160, 4) > 3.7e9  # at least the peak reported for 4K ×4


def test_a_run_close_to_the_machines_memory_says_so_before_any_work(monkeypatch, clip_factory, random_weights,
                                                                    tmp_path, caplog):
    src = clip_factory(width=96, height=64, frames=2)
    upscaler = Upscaler("fsrcnn", 2, "cpu", weights=random_weights("fsrcnn", 2))
    monkeypatch.setattr("rtsr.memory.machine_memory", lambda: 400_000_000)
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        upscaler.upscale_video(src, tmp_path / "out.mkv", jobs=2, segment_seconds=0.5)
    warnings = [r.getMessage() for r in caplog.records if "needs about" in r.getMessage()]
    assert warnings == ["this run needs about 0.6 GB of memory (2 workers), and the machine has 0.4 GB: close other "
                        "programs, use fewer --jobs, or a smaller input"]
    caplog.clear()
    monkeypatch.setattr("rtsr.memory.machine_memory", lambda: 64_000_000_000)
    with caplog.at_level(logging.WARNING, logger="rtsr"):
        upscaler.upscale_video(src, tmp_path / "again.mkv")
    assert not [r for r in caplog.records if "needs about" in r.getMessage()]
