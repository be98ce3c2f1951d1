"""The Python API: ``Upscaler`` ties a model, its weights and an engine together."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from rtsr.batch import BatchReport, upscale_many
from rtsr.checkpoints import LoadedModel, load_model
from rtsr.engines import EngineChoice, choose_engine, make_engine
from rtsr.engines.picking import settle_engine
from rtsr.errors import InputError
from rtsr.io.degradation import LEVELS, Degradation, asked, check_choice, judge_video
from rtsr.io.encode import EncodeSettings, check_encoder_settings, resolve_codec, video_encoder
from rtsr.io.hdr import hdr_outcome
from rtsr.io.output import check_output, check_paths, muxer_for
from rtsr.io.probe import InputVideo, VideoInfo, is_pipe
from rtsr.io.sequences import check_sequence_output, is_pattern
from rtsr.memory import warn_if_memory_short
from rtsr.models import check_scale, get_architecture
from rtsr.plane_upscaler import PlaneUpscaler, upscale_rgb_image
from rtsr.report import ProgressFactory, Report, StageClock, terminal_progress
from rtsr.runs import RunOptions, upscale_input
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS
from rtsr.segments.pool import exit_if_spawning
from rtsr.segments.ray_pool import RAY_CONNECT_SECONDS
from rtsr.streaming import STDOUT, stream_format, stream_video
from rtsr.temporal.state import WARMUP_FRAMES

log = logging.getLogger("rtsr")


class Upscaler:
    """A ready-to-run super-resolution model.

    >>> up = Upscaler(model="fsrcnn", scale=3, engine="auto")   # doctest: +SKIP
    >>> big = up.upscale_image(rgb)          # (H, W, 3) uint8 -> (3H, 3W, 3) uint8
    >>> report = up.upscale_video("in.mp4", "out.mp4")

    ``engine``: one of rtsr.engines.ENGINE_NAMES; "auto" without a GPU times
    the CPU engines on the first frame's (or picture's) size and keeps the
    fastest (rtsr.engines.picking). ``weights`` overrides the shipped weights
    file; ``engine_dir`` the cache of built engines and auto's verdicts
    (default: rtsr.engines.cache.default_engine_dir); ``compile=False`` keeps
    the cuda engine eager (rtsr.engines.compiled). Raises an RtsrError
    subclass for an unknown model/scale/engine or unusable weights.

    ``degradation``: which shipped weights run, those trained on clean input
    ("none") or on compressed input ("compressed"); "auto" judges each video
    when it is opened (rtsr.io.degradation) and says which it picked in the
    run's report. Pictures through ``upscale_image`` get the clean weights
    under "auto" (a bare array says nothing of how it was stored) unless the
    call names a level. Only FSRCNN has weights for compressed input; "auto"
    keeps the others on their clean weights and says so.
    """

    def __init__(self, model: str = "fsrcnn", scale: int = 3, engine: str = "auto",
                 weights: str | Path | None = None, engine_dir: str | Path | None = None,
                 compile: bool = True, degradation: str = "auto") -> None:
        get_architecture(model)
        check_scale(scale)
        try:
            self.degradation = check_choice(degradation)
        except ValueError as err:
            raise InputError(str(err)) from None
        if weights and degradation not in ("auto", "none"):
            raise InputError("--weights names the weights to run, so --degradation cannot pick others")
        self._engine_choice = choose_engine(engine)
        self.engine_requested = engine  # Ray workers choose their own engine on their node
        self.weights_path = str(weights) if weights else None  # as given: segment workers load the same
        self.engine_dir = str(engine_dir) if engine_dir else None
        self.compile = compile
        self._model_name, self._scale = model, scale
        self._variants: dict[str, tuple[LoadedModel, object, EngineChoice]] = {}
        self._use("none" if degradation == "auto" else degradation)  # sets self.level: the weights loaded now

    def _use(self, level: str) -> None:
        """Make the weights for ``level`` (and their engine) the ones that run."""
        self.loaded, self.engine, self.engine_choice = self._variant(level)
        self.level = level

    def _variant(self, level: str) -> tuple[LoadedModel, object, EngineChoice]:
        """The weights for ``level`` and their engine, loaded once."""
        if level not in self._variants:
            loaded = load_model(self._model_name, self._scale, Path(self.weights_path) if self.weights_path
                                else None, level)
            # auto without a GPU: a MeasuredCpuEngine, which picks per frame shape (rtsr.engines.picking)
            engine, choice = make_engine(self._engine_choice, loaded,
                                         Path(self.engine_dir) if self.engine_dir else None, self.compile)
            self._variants[level] = (loaded, engine, choice)
        return self._variants[level]

    def choose_weights(self, video: InputVideo) -> str:
        """Under ``degradation="auto"``, judge ``video`` and run the weights for it; returns what runs and why,
        for the report: "fsrcnn ×4 for compressed input (h264, mean QP 31.2 over 48 frames)"."""
        return self.pick_weights(lambda: judge_video(video))

    def pick_weights(self, judge: Callable[[], Degradation]) -> str:
        """As :meth:`choose_weights`, with the input judged by ``judge`` (called only under "auto"; pictures
        and live sources are judged by rtsr.io.degradation's other functions)."""
        if self.weights_path:
            return f"{self.weights_path} (given)"
        return self._choose(judge() if self.degradation == "auto" else asked(self.degradation))

    def _choose(self, judged: Degradation) -> str:
        if judged.level != "none" and not get_architecture(self._model_name).weights_path(
                self._scale, judged.level).is_file():
            judged = Degradation("none", f"{judged.reason}; no shipped {self._model_name} ×{self._scale} "
                                         f"weights for {judged.level} input")
        if judged.level != self.level:  # the same weights: the engine stays as it is (and as set up)
            self._use(judged.level)
        return f"{self.model} ×{self.scale} {judged.describe()}"

    @property
    def model(self) -> str:
        return self.loaded.name

    @property
    def scale(self) -> int:
        return self.loaded.scale

    @property
    def weights_meta(self) -> dict:
        return self.loaded.meta

    @property
    def weights_sha256(self) -> str:
        return self.loaded.weights_sha256

    @property
    def warmup_frames(self) -> int:
        """Frames a segment or a resumed run upscales, and drops, before its first one, so that a recurrent
        model starts with the state an uninterrupted run would have there (0 for one-frame models)."""
        return WARMUP_FRAMES if self.loaded.recurrent else 0

    @property
    def identity(self) -> dict[str, object]:
        """What an interrupted run must share with the one that resumes it (besides the input and encoder)."""
        return {"model": self.model, "scale": self.scale, "weights_sha256": self.weights_sha256}

    def prepare_engine(self, width: int, height: int) -> None:
        """Settle the engine for width×height frames: ``auto`` on the CPU times its candidates now
        (or reads the verdict cached for this shape), so no frame waits for it. Other engines: nothing."""
        settle_engine(self.engine, self.loaded.channels, height, width)

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

    def upscale_image(self, rgb: np.ndarray, degradation: str | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H·scale, W·scale, 3) uint8 RGB, with the weights chosen last (the clean ones
        until a video or picture file is judged), or for this call those for ``degradation`` ("none",
        "compressed"; given ``weights`` always run)."""
        engine, planes = self.engine, self.loaded.planes
        if degradation is not None:
            if degradation not in LEVELS:
                raise InputError(f"degradation {degradation!r}: choose from {', '.join(LEVELS)}")
            if not self.weights_path:
                loaded, engine, _ = self._variant(degradation)
                planes = loaded.planes
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError("upscale_image takes an H×W×3 uint8 RGB array")
        if rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise InputError(f"upscale_image got an empty picture ({rgb.shape[1]}×{rgb.shape[0]})")
        rgb = np.ascontiguousarray(rgb)  # views such as cv2.imread(p)[..., ::-1] have negative strides
        return upscale_rgb_image(engine, planes, self.scale, rgb, self.loaded.recurrent)

    def plane_upscaler(self, info: VideoInfo, out_size: tuple[int, int],
                       clock: StageClock | None = None) -> PlaneUpscaler:
        """The per-frame plane function for frames described by ``info`` (files and live share it).

        Settles the engine for frames of this size first (prepare_engine).
        """
        self.prepare_engine(info.width, info.height)
        return PlaneUpscaler(self.engine, self.loaded.planes, self.scale, info.layout, info.color, out_size, clock,
                             recurrent=self.loaded.recurrent)

    def upscale_video(self, src: str | Path | InputVideo, dst: str | Path, *, codec: str = "auto",
                      crf: float | None = 18, preset: str | None = "medium",
                      pix_fmt: str | None = None, overwrite: bool = False,
                      progress: bool = False, checkpoint_seconds: float = 60.0, jobs: int | None = 1,
                      segment_seconds: float = DEFAULT_SEGMENT_SECONDS, ray: str | None = None,
                      ray_timeout: float = RAY_CONNECT_SECONDS, deinterlace: str = "auto",
                      fps: Fraction | float | None = None, refuse_unplayable: bool = False) -> Report:
        """Upscale the video file ``src`` into ``dst``, copying audio and subtitles.

        ``src`` may also be an input the caller has opened and probed already
        (rtsr.io.InputVideo; the CLI does, to check it before loading a model).
        ``codec="auto"`` uses the GPU's NVENC encoder when the engine runs on a
        GPU that has one, else libx264 on all cores. Work is saved every
        ``checkpoint_seconds``; calling this again after an interruption
        resumes where it stopped (see rtsr.io.resume).

        ``jobs`` > 1 (None: as many as suit this machine) cuts the input into
        segments of about ``segment_seconds`` at keyframes and upscales them
        on that many worker processes, each loading the model once
        (rtsr.segments); ``ray`` ("" for Ray's default cluster, or an address)
        runs them on a Ray cluster instead (one at an address must answer within
        ``ray_timeout`` seconds). Same output, same resuming. The
        workers are started with multiprocessing's ``spawn``: a script that
        passes ``jobs`` other than 1 needs the usual ``if __name__ == "__main__":``.

        ``deinterlace`` (auto, on, off): interlaced input through FFmpeg's
        bwdif first (rtsr.io.deinterlace); ``fps`` overrides the input's frame
        rate (raw streams); both apply when ``src`` is a path.

        An output most players cannot open (beyond every codec level, H.264 4:4:4) is warned about before
        any work, or refused with ``refuse_unplayable`` (rtsr.io.playable).

        Returns the run's Report (frames, fps, real-time ratio, per-stage times).
        """
        exit_if_spawning()
        options = RunOptions(EncodeSettings(codec, crf, preset, pix_fmt, refuse_unplayable), jobs,
                             segment_seconds, ray, overwrite, terminal_progress if progress else None,
                             checkpoint_seconds, ray_timeout)
        if isinstance(src, InputVideo):
            return self._run(src, Path(dst), options)
        check_paths(Path(src), Path(dst), overwrite)  # before opening the input: a wrong output fails first
        check_encoder_settings(video_encoder(self.codec_for(codec, Path(dst))).name, crf, preset)
        with InputVideo.open(Path(src), Fraction(fps) if fps else None, deinterlace) as video:
            return self._run(video, Path(dst), options)

    def upscale_stream(self, src: str | Path | InputVideo, dst: str | Path, *, codec: str = "auto",
                       crf: float | None = 18, preset: str | None = "medium", pix_fmt: str | None = None,
                       format: str | None = None, progress: bool = False, deinterlace: str = "auto",
                       fps: Fraction | float | None = None, overwrite: bool = False,
                       refuse_unplayable: bool = False) -> Report:
        """Upscale in one pass, for pipes: ``src`` "-" reads standard input, ``dst`` "-" writes standard
        output (Matroska unless ``format`` says mpegts or nut). No segments, no resume (rtsr.streaming).
        Audio and subtitles are copied as for files. A file ``dst`` appears only when complete.
        Picture sequences too: ``src`` a pattern (``frames/%05d.png``) or a folder of pictures, at ``fps``
        (default 25); ``dst`` a pattern (``up/%05d.png``, PNG/TIFF/WebP, lossless) (rtsr.io.sequences)."""
        exit_if_spawning()
        dst = str(dst)
        muxer = stream_format(format, dst)
        if muxer == "image2":
            check_sequence_output(dst, overwrite)
        elif dst != STDOUT:
            check_output(Path(dst), overwrite)
        settings = EncodeSettings(codec, crf, preset, pix_fmt, refuse_unplayable)
        if isinstance(src, InputVideo):
            return self._stream(src, dst, muxer, codec, settings, progress)
        rate = Fraction(fps) if fps else None
        opener = (InputVideo.open_pipe if is_pipe(Path(src)) else InputVideo.open_sequence
                  if is_pattern(src) or Path(src).is_dir() else InputVideo.open)
        with opener(Path(src), rate, deinterlace) as video:
            return self._stream(video, dst, muxer, codec, settings, progress)

    def _stream(self, video: InputVideo, dst: str, muxer: str, codec: str, settings: EncodeSettings,
                progress: bool) -> Report:
        settings = dataclasses.replace(settings, codec=resolve_codec(codec, self.engine.device.type == "cuda", muxer,
                                                                     video.info.hdr is not None))
        report = self._start_report(video, "standard output" if dst == STDOUT else dst, codec, settings.codec, 1)
        report.jobs_reason = "one pass: a pipe is read once, so no segments and no resume"
        report = stream_video(self, video, dst, settings, muxer, report, terminal_progress if progress else None)
        report.engine = self.engine_description()
        return report

    def upscale_videos(self, inputs: list[str | Path], out_dir: str | Path, *, codec: str = "auto",
                       crf: float | None = 18, preset: str | None = "medium", pix_fmt: str | None = None,
                       overwrite: bool = False, progress: bool = False, jobs: int | None = 1,
                       segment_seconds: float = DEFAULT_SEGMENT_SECONDS, ray: str | None = None,
                       on_report: Callable[[str], None] | None = None,
                       ray_timeout: float = RAY_CONNECT_SECONDS, deinterlace: str = "auto",
                       refuse_unplayable: bool = False) -> BatchReport:
        """Upscale many videos -- files, or every video in a folder -- into ``out_dir`` (rtsr.batch).

        Each input keeps its name (an extension rtsr cannot write becomes
        .mkv). Outputs that exist are skipped as done, unless ``overwrite``.
        A file that fails is listed in the returned BatchReport and the others
        go on. ``on_report`` receives one line per file as it finishes.
        """
        exit_if_spawning()
        if codec != "auto":
            check_encoder_settings(video_encoder(codec).name, crf, preset)
        settings = EncodeSettings(codec, crf, preset, pix_fmt, refuse_unplayable)

        def run_one(video: InputVideo, dst: Path, progress_to: ProgressFactory | None) -> Report:
            return self._run(video, dst, RunOptions(settings, jobs, segment_seconds, ray, overwrite, progress_to,
                                                    ray_timeout=ray_timeout))

        return upscale_many([Path(p) for p in inputs], Path(out_dir), run_one, overwrite, progress, on_report,
                            deinterlace)

    def codec_for(self, codec: str, dst: Path, hdr: bool = False) -> str:
        """``codec``, or for "auto" the encoder for this engine, ``dst``'s container and the input
        (``hdr``: HEVC Main10 for PQ/HLG input, rtsr.io.encode.resolve_codec)."""
        return resolve_codec(codec, self.engine.device.type == "cuda", muxer_for(dst), hdr)

    def _run(self, video: InputVideo, dst: Path, options: RunOptions) -> Report:
        requested = options.settings.codec
        settings = dataclasses.replace(options.settings,
                                       codec=self.codec_for(requested, dst, video.info.hdr is not None))
        report = self._start_report(video, str(dst), requested, settings.codec, options.jobs or 1)
        return upscale_input(self, video, dst, dataclasses.replace(options, settings=settings), report, StageClock())

    def _start_report(self, video: InputVideo, output: str, requested: str, codec: str, workers: int) -> Report:
        """A run's Report with the weights chosen for ``video``, and what must be said before any work:
        the HDR metadata the output will lack (rtsr.io.hdr), the memory it needs (rtsr.memory)."""
        weights = self.choose_weights(video)
        report = Report(source=str(video.path), output=output, model=self.model, scale=self.scale,
                        engine=self.engine_description(), codec=codec, weights=weights)
        line, warning = hdr_outcome(video.info.hdr, codec, requested == "auto" and codec in ("libx265", "hevc_nvenc"))
        if warning:
            log.warning("%s", warning)
        report.hdr = line
        network = None if self.loaded.recurrent else self.loaded.network
        warn_if_memory_short(network, self.loaded.channels, video.info.width, video.info.height, self.scale, workers)
        return report

