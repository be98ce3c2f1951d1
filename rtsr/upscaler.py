"""The Python API: ``Upscaler`` takes the user's options and runs, per input, the RunSpec chosen for it."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import numpy as np

from rtsr.batch import BatchReport, upscale_many
from rtsr.engines import choose_engine
from rtsr.errors import InputError
from rtsr.io.degradation import LEVELS, Degradation, judge_video
from rtsr.io.encode import EncodeSettings, check_encoder_settings, resolve_codec, video_encoder
from rtsr.io.hdr import hdr_outcome
from rtsr.io.output import check_output, check_paths, muxer_for
from rtsr.io.probe import InputVideo, is_pipe
from rtsr.io.sequences import check_sequence_output, is_pattern
from rtsr.memory import warn_if_memory_short
from rtsr.models import check_scale, get_architecture
from rtsr.report import ProgressFactory, Report, StageClock, terminal_progress
from rtsr.run_spec import UNJUDGED, RunSpec, UpscaleOptions, choose_spec
from rtsr.runner import Runner, build_runner
from rtsr.runs import RunOptions, upscale_input
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS
from rtsr.segments.pool import exit_if_spawning
from rtsr.segments.ray_pool import RAY_CONNECT_SECONDS
from rtsr.streaming import STDOUT, stream_format, stream_video

log = logging.getLogger("rtsr")


class Upscaler:
    """Ready-to-run super-resolution: the user's options, and a cache of loaded models and settled engines.

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
    or picture file when it is opened (rtsr.io.degradation) and the report
    says which it picked. Each call chooses its own RunSpec (rtsr.run_spec)
    from these options and its input, so no call depends on the one before:
    ``upscale_image`` on a bare array gets the clean weights under "auto"
    unless the call names a level. Models without weights for compressed
    input stay on their clean weights, and the report says so.
    """

    def __init__(self, model: str = "fsrcnn", scale: int = 3, engine: str = "auto",
                 weights: str | Path | None = None, engine_dir: str | Path | None = None,
                 compile: bool = True, degradation: str = "auto") -> None:
        get_architecture(model)
        check_scale(scale)
        choose_engine(engine)
        try:
            self.options = UpscaleOptions(model, scale, engine, str(weights) if weights else None,
                                          str(engine_dir) if engine_dir else None, compile, degradation)
        except ValueError as err:
            raise InputError(str(err)) from None
        self._runners: dict[RunSpec, Runner] = {}
        self.runner_judged(lambda: UNJUDGED)  # loaded now: unusable weights fail here, engines are built

    @property
    def model(self) -> str:
        return self.options.model

    @property
    def scale(self) -> int:
        return self.options.scale

    def runner(self, spec: RunSpec) -> Runner:
        """The spec's weights and engine, loaded once per Upscaler (rtsr.runner)."""
        if spec not in self._runners:
            self._runners[spec] = build_runner(spec)
        return self._runners[spec]

    def runner_judged(self, judge: Callable[[], Degradation]) -> tuple[Runner, str]:
        """The runner for an input judged by ``judge`` (called only when the options judge inputs), and
        why its weights run, for the report: "fsrcnn ×4 for compressed input (h264, mean QP 31.2 over 48 frames)"."""
        spec, why = choose_spec(self.options, judge() if self.options.judges_inputs else None)
        return self.runner(spec), why

    def runner_for(self, video: InputVideo) -> tuple[Runner, str]:
        """As :meth:`runner_judged` for an opened video or picture file (judged once per opened input)."""
        return self.runner_judged(lambda: judge_video(video))

    def upscale_image(self, rgb: np.ndarray, degradation: str | None = None) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H·scale, W·scale, 3) uint8 RGB, with the clean weights (under "auto") or
        those the Upscaler was made with, or for this call those for ``degradation`` ("none", "compressed";
        given ``weights`` always run). The same array gives the same picture whatever ran before."""
        options = self.options
        if degradation is not None:
            if degradation not in LEVELS:
                raise InputError(f"degradation {degradation!r}: choose from {', '.join(LEVELS)}")
            if not options.weights:
                options = dataclasses.replace(options, degradation=degradation)
        if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise InputError("upscale_image takes an H×W×3 uint8 RGB array")
        if rgb.shape[0] == 0 or rgb.shape[1] == 0:
            raise InputError(f"upscale_image got an empty picture ({rgb.shape[1]}×{rgb.shape[0]})")
        return self.runner(choose_spec(options)[0]).upscale_rgb(rgb)

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
        runner, weights = self.runner_for(video)
        settings = dataclasses.replace(settings, codec=resolve_codec(codec, _on_gpu(runner), muxer,
                                                                     video.info.hdr is not None))
        report = self._start_report(video, runner, weights, "standard output" if dst == STDOUT else dst, codec,
                                    settings.codec, 1)
        report.jobs_reason = "one pass: a pipe is read once, so no segments and no resume"
        report = stream_video(runner, video, dst, settings, muxer, report, terminal_progress if progress else None)
        report.engine = runner.engine_description()
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
        (``hdr``: HEVC Main10 for PQ/HLG input, rtsr.io.encode.resolve_codec). The engine's device is the
        same for every spec of these options: the clean weights' runner, loaded at construction, says it."""
        return resolve_codec(codec, _on_gpu(self.runner_judged(lambda: UNJUDGED)[0]), muxer_for(dst), hdr)

    def _run(self, video: InputVideo, dst: Path, options: RunOptions) -> Report:
        runner, weights = self.runner_for(video)
        requested = options.settings.codec
        codec = resolve_codec(requested, _on_gpu(runner), muxer_for(dst), video.info.hdr is not None)
        settings = dataclasses.replace(options.settings, codec=codec)
        report = self._start_report(video, runner, weights, str(dst), requested, settings.codec, options.jobs or 1)
        return upscale_input(runner, video, dst, dataclasses.replace(options, settings=settings), report,
                             StageClock())

    def _start_report(self, video: InputVideo, runner: Runner, weights: str, output: str, requested: str,
                      codec: str, workers: int) -> Report:
        """A run's Report with the weights chosen for ``video`` (``weights``: why), and what must be said before
        any work: the HDR metadata the output will lack (rtsr.io.hdr), the memory it needs (rtsr.memory)."""
        rate = video.info.output_rate
        report = Report(source=str(video.path), output=output, model=runner.model, scale=runner.scale,
                        engine=runner.engine_description(), codec=codec, weights=weights,
                        input_fps=float(rate) if rate else None)
        line, warning = hdr_outcome(video.info.hdr, codec, requested == "auto" and codec in ("libx265", "hevc_nvenc"))
        if warning:
            log.warning("%s", warning)
        report.hdr = line
        loaded = runner.loaded
        network = None if loaded.recurrent else loaded.network
        warn_if_memory_short(network, loaded.channels, video.info.width, video.info.height, runner.scale, workers)
        return report


def _on_gpu(runner: Runner) -> bool:
    """Whether the runner's engine runs on a GPU (which picks its NVENC encoder for codec "auto")."""
    return runner.engine.device.type == "cuda"

