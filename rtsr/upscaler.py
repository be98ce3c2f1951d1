"""The Python API: ``Upscaler`` ties a model, its weights and an engine together."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from rtsr.engine_cache import weights_digest
from rtsr.engines import choose_engine, make_engine
from rtsr.errors import InputError
from rtsr.frames import PlaneUpscaler, upscale_rgb_image
from rtsr.models import check_scale, load_model, model_entry
from rtsr.report import Report, StageClock
from rtsr.video import EncodeSettings, VideoInfo, resolve_codec, upscale_file


class Upscaler:
    """A ready-to-run super-resolution model.

    >>> up = Upscaler(model="fsrcnn", scale=3, engine="auto")   # doctest: +SKIP
    >>> big = up.upscale_image(rgb)          # (H, W, 3) uint8 -> (3H, 3W, 3) uint8
    >>> report = up.upscale_video("in.mp4", "out.mp4")

    ``weights`` overrides the shipped weights file; ``engine_dir`` the cache
    of compiled TensorRT engines (default: rtsr.engine_cache.default_engine_dir). Raises an RtsrError
    subclass for an unknown model/scale/engine or unusable weights.
    """

    def __init__(self, model: str = "fsrcnn", scale: int = 3, engine: str = "auto",
                 weights: str | Path | None = None, engine_dir: str | Path | None = None) -> None:
        self.entry = model_entry(model)
        self.scale = check_scale(scale)
        self.engine_choice = choose_engine(engine)
        network, self.weights_meta = load_model(model, scale, Path(weights) if weights else None)
        self.weights_sha256 = weights_digest(network)
        self.engine = make_engine(self.engine_choice, network, self.entry,
                                  Path(engine_dir) if engine_dir else None)

    @property
    def model(self) -> str:
        return self.entry.name

    def estimate_frame_seconds(self, width: int, height: int) -> float:
        """Seconds the engine needs for one width×height frame, from timing one strip of it."""
        channels = 1 if self.entry.architecture.planes == "y" else 3
        rows = min(height, max(64, height // 4))
        x = torch.rand(1, channels, rows, width, device=self.engine.device)
        self.engine.run(x)  # warm-up
        self.engine.synchronize()
        started = time.perf_counter()
        self.engine.run(x)
        self.engine.synchronize()
        return (time.perf_counter() - started) * height / rows

    def upscale_image(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H·scale, W·scale, 3) uint8 RGB."""
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError("upscale_image takes an H×W×3 uint8 RGB array")
        return upscale_rgb_image(self.engine, self.entry.architecture.planes, self.scale, rgb)

    def upscale_video(self, src: str | Path, dst: str | Path, *, codec: str = "auto",
                      crf: int | None = 18, preset: str | None = "medium",
                      pix_fmt: str | None = None, overwrite: bool = False,
                      progress: bool = False, checkpoint_seconds: float = 60.0) -> Report:
        """Upscale the video file ``src`` into ``dst``, copying audio and subtitles.

        ``codec="auto"`` uses the GPU's NVENC encoder when the engine runs on a
        GPU that has one, else libx264 on all cores. Work is saved every
        ``checkpoint_seconds``; calling this again after an interruption
        resumes where it stopped (see rtsr.resume).

        Returns the run's Report (frames, fps, real-time ratio, per-stage times).
        """
        clock = StageClock()
        report = Report(source=str(src), output=str(dst), model=self.model, scale=self.scale,
                        engine=self.engine_choice.describe())
        planes = self.entry.architecture.planes

        def upscaler_for(info: VideoInfo, out_size: tuple[int, int]) -> PlaneUpscaler:
            return PlaneUpscaler(self.engine, planes, self.scale, info.layout, info.color,
                                 out_size, clock)

        codec = resolve_codec(codec, gpu_present=self.engine.device.type == "cuda")
        report.codec = codec
        settings = EncodeSettings(codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt)
        with self.engine.sharing_cores():
            identity = {"model": self.model, "scale": self.scale, "weights_sha256": self.weights_sha256}
            return upscale_file(Path(src), Path(dst), upscaler_for, self.scale, report, clock, settings,
                                identity, overwrite=overwrite, progress=progress,
                                checkpoint_seconds=checkpoint_seconds)
