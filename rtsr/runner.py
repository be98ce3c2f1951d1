"""A RunSpec made runnable: its weights loaded and its engine built, settled once per frame size.

    RunSpec (rtsr.run_spec) ─▶ build_runner ─▶ Runner ─▶ PlaneUpscaler (files, pipes, live, segment workers)
                                                      └▶ upscale_rgb (pictures)

A Runner never changes what it runs: another spec is another Runner
(rtsr.Upscaler keeps them, one per spec). Segment workers build theirs from
the spec they receive (rtsr.segments.pool.WorkerSpec).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import numpy as np
import torch

from rtsr.checkpoints import LoadedModel, load_model
from rtsr.engines import EngineChoice, choose_engine, make_engine
from rtsr.engines.picking import settle_engine
from rtsr.io.probe import VideoInfo
from rtsr.plane_upscaler import PlaneUpscaler, upscale_rgb_image
from rtsr.report import StageClock
from rtsr.run_spec import RunSpec
from rtsr.temporal.state import WARMUP_FRAMES

log = logging.getLogger("rtsr")


class Runner:
    """One spec's network and engine. ``engine``: as rtsr.engines builds it (``auto`` without a GPU: a
    MeasuredCpuEngine, which picks per frame shape); ``engine_choice``: what was asked and skipped, and why."""

    def __init__(self, spec: RunSpec, loaded: LoadedModel, engine: object, engine_choice: EngineChoice) -> None:
        self.spec, self.loaded, self.engine, self.engine_choice = spec, loaded, engine, engine_choice

    @property
    def model(self) -> str:
        return self.loaded.name

    @property
    def scale(self) -> int:
        return self.loaded.scale

    @property
    def warmup_frames(self) -> int:
        """Frames a segment or a resumed run upscales, and drops, before its first one, so that a recurrent
        model starts with the state an uninterrupted run would have there (0 for one-frame models)."""
        return WARMUP_FRAMES if self.loaded.recurrent else 0

    @property
    def identity(self) -> dict[str, object]:
        """What an interrupted run must share with the one that resumes it (besides the input and encoder)."""
        return {"model": self.model, "scale": self.scale, "weights_sha256": self.loaded.weights_sha256}

    def worker_spec(self) -> RunSpec:
        """The spec local segment workers build: this engine by name (auto's pick, measured here once)."""
        return dataclasses.replace(self.spec, engine=self.engine.name)

    def prepare_engine(self, width: int, height: int, bits: int = 8) -> None:
        """Settle the engine for width×height frames of ``bits`` bits: ``auto`` on the CPU times its
        candidates now (or reads the verdict cached for this shape), so no frame waits for it. Other engines:
        nothing."""
        settle_engine(self.engine, self.loaded.channels, height, width, bits)
        if bits > 8 and self.engine.name == "openvino-int8":  # asked for by name: auto never takes it here
            log.warning("engine openvino-int8 reads the luma as 8-bit codes: this %d-bit input loses its extra "
                        "precision in the network (--engine openvino keeps it)", bits)

    def engine_description(self) -> str:
        """The engine that runs now and why others were passed over: "openvino (tensorrt skipped: ...)"."""
        return dataclasses.replace(self.engine_choice, name=self.engine.name).describe()

    def engine_verdict(self) -> str | None:
        """How ``auto`` picked the CPU engine ("openvino 1.64× cpu (...)"), None when it did not measure."""
        verdict = getattr(self.engine, "verdict", None)
        return f"picked by measurement: {verdict.describe()}" if verdict is not None else None

    def estimate_frame_seconds(self, width: int, height: int) -> float:
        """Seconds the engine needs for one width×height frame, from timing one strip of it."""
        self.prepare_engine(width, height)
        engine = getattr(self.engine, "current", self.engine)  # auto's pick, not a new pick for the strip
        rows = min(height, max(64, height // 4))
        x = torch.rand(1, self.loaded.channels, rows, width, device=engine.device)
        engine.run(x)  # warm-up
        engine.synchronize()
        started = time.perf_counter()
        engine.run(x)
        engine.synchronize()
        return (time.perf_counter() - started) * height / rows

    def upscale_rgb(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H·scale, W·scale, 3) uint8 RGB (rtsr.plane_upscaler)."""
        rgb = np.ascontiguousarray(rgb)  # views such as cv2.imread(p)[..., ::-1] have negative strides
        return upscale_rgb_image(self.engine, self.loaded.planes, self.scale, rgb, self.loaded.recurrent)

    def plane_upscaler(self, info: VideoInfo, out_size: tuple[int, int],
                       clock: StageClock | None = None) -> PlaneUpscaler:
        """The per-frame plane function for frames described by ``info`` (files, pipes, live and workers share
        it). Settles the engine for frames of this size first (prepare_engine)."""
        self.prepare_engine(info.width, info.height, info.layout.bits)
        return PlaneUpscaler(self.engine, self.loaded.planes, self.scale, info.layout, info.color, out_size, clock,
                             recurrent=self.loaded.recurrent)


def build_runner(spec: RunSpec) -> Runner:
    """Load the spec's weights and build its engine; an RtsrError subclass when either cannot be."""
    loaded = load_model(spec.model, spec.scale, Path(spec.weights) if spec.weights else None, spec.degradation)
    engine, choice = make_engine(choose_engine(spec.engine), loaded, Path(spec.engine_dir) if spec.engine_dir
                                 else None, spec.compile)
    return Runner(spec, loaded, engine, choice)
