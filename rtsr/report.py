"""What a run measured, the summary it prints, and the terminal progress bar."""

from __future__ import annotations

import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Protocol, TextIO

from rtsr.text import counted

REALTIME_FPS = 24.0  # the real-time target for input that has no frame rate of its own (issue 37)
SLOW_RATIO = 0.25  # a run below this fraction of real time points to `rtsr check` in its summary
STAGES = ("decode", "convert", "inference", "encode")


class StageClock:
    """Seconds spent per pipeline stage, added to from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.seconds = dict.fromkeys(STAGES, 0.0)

    def add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.seconds[stage] += seconds


def realtime_fps(input_fps: float | Fraction | None) -> float:
    """Frames per second that keep pace with an input playing at ``input_fps`` (REALTIME_FPS without one)."""
    return float(input_fps) if input_fps and input_fps > 0 else REALTIME_FPS


def realtime_words(input_fps: float | None) -> str:
    """"the input's 10 fps", or "24 fps: the input has no frame rate"."""
    if input_fps and input_fps > 0:
        return f"the input's {input_fps:.4g} fps"
    return f"{REALTIME_FPS:g} fps: the input has no frame rate"


@dataclass
class Report:
    """The figures of one upscale_video run; ``summary()`` renders them for people."""

    source: str
    output: str
    model: str
    scale: int
    engine: str
    input_size: tuple[int, int] = (0, 0)
    output_size: tuple[int, int] = (0, 0)
    pix_fmt: str = ""
    codec: str = ""
    frames: int = 0
    wall_seconds: float = 0.0
    stage_seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))
    corrupt_packets: int = 0
    resized_frames: int = 0  # frames whose input size differed from the first (a resolution change)
    copied_streams: list[str] = field(default_factory=list)
    skipped_streams: list[str] = field(default_factory=list)
    chapters: int = 0  # chapters copied
    resumed_frames: int = 0  # frames an earlier, interrupted run had upscaled (not in ``frames``)
    jobs: int = 1  # segment workers (rtsr.segments); stage seconds are then summed over them
    jobs_reason: str = ""  # why that many: "--jobs", "auto: ...", or why the input was not cut
    missing_frames: int = 0  # frames the input's header/duration promise that could not be decoded
    last_frame_seconds: float = 0.0  # input time of the last frame upscaled
    engine_notes: list[str] = field(default_factory=list)  # e.g. the cuda engine's "compiled (...)" or "eager: why"
    deinterlaced: str = ""  # how interlaced input was deinterlaced, or why it was not (rtsr.io.deinterlace)
    heavy_compression: str = ""  # why the input is heavily compressed (rtsr.io.degradation), "" when it is not
    weights: str = ""  # which weights ran and why: "fsrcnn ×4 for compressed input (h264, mean QP 31.2 ...)"
    hdr: str = ""  # the input's HDR and what the output carries of it (rtsr.io.hdr.hdr_outcome), "" for SDR
    alpha: str = ""  # for input with transparency: kept, or why not (rtsr.io.alpha.keep_alpha)
    input_fps: float | None = None  # the frames per second the output plays at (None: the input has no rate)

    @property
    def fps(self) -> float:
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def realtime_fps(self) -> float:
        """Real time for this input: its own frame rate (a 10 fps clip upscaled at 6.2 fps is 0.62×), or
        REALTIME_FPS when it has none."""
        return realtime_fps(self.input_fps)

    @property
    def realtime_ratio(self) -> float:
        """Average fps over real time for this input (1.0 = exactly real time)."""
        return self.fps / self.realtime_fps

    @property
    def stage_ms_per_frame(self) -> dict[str, float]:
        n = max(1, self.frames)
        return {stage: 1000.0 * s / n for stage, s in self.stage_seconds.items()}

    @property
    def bottleneck(self) -> str:
        per_frame = self.stage_ms_per_frame
        return max(per_frame, key=per_frame.__getitem__)

    def summary(self) -> str:
        w, h = self.input_size
        ow, oh = self.output_size
        stages = self.stage_ms_per_frame
        lines = [
            f"{counted(self.frames, 'frame')} {w}×{h} → {ow}×{oh} ({self.model} ×{self.scale}, "
            f"{self.engine}, {self.codec} {self.pix_fmt}) in {self.wall_seconds:.1f} s: "
            f"{self.fps:.2f} fps = {self.realtime_ratio:.2f}× real time ({realtime_words(self.input_fps)})",
            ("per frame: " if self.jobs == 1 else f"per frame, summed over {self.jobs} workers: ")
            + ", ".join(f"{s} {stages[s]:.1f} ms" for s in STAGES) + f"; bottleneck: {self.bottleneck}",
        ]
        if self.weights:
            lines.append(f"weights: {self.weights}")
        if self.jobs_reason:
            lines.append(f"jobs: {self.jobs} ({self.jobs_reason})")
        if self.engine_notes:
            name = self.engine.split(" (", 1)[0]  # the first line already says why others were skipped
            lines.append(f"engine: {name}, " + "; ".join(self.engine_notes))
        if self.hdr:
            lines.append(f"hdr: {self.hdr}")
        if self.alpha:
            lines.append(f"alpha: {self.alpha}")
        copied = self.copied_streams + ([f"{self.chapters} chapters"] if self.chapters else [])
        if copied:
            lines.append("copied: " + ", ".join(copied))
        if self.skipped_streams:
            lines.append("NOT copied: " + ", ".join(self.skipped_streams))
        if self.deinterlaced:
            lines.append(f"deinterlaced: {self.deinterlaced}" if not self.deinterlaced.startswith("NOT")
                         else self.deinterlaced)
        if self.corrupt_packets:
            lines.append(f"skipped {self.corrupt_packets} corrupt video packet(s)")
        if self.missing_frames:
            lines.append(f"MISSING about {self.missing_frames} frame(s) the input promises: damaged or "
                         f"truncated input (decoded up to {self.last_frame_seconds:.2f} s)")
        if self.resized_frames:
            lines.append(f"resized {self.resized_frames} frame(s) to {w}×{h} before upscaling: "
                         "the input changes resolution part-way")
        if self.resumed_frames:
            lines.append(f"resumed: {counted(self.resumed_frames, 'frame')} "
                         f"{'was' if self.resumed_frames == 1 else 'were'} upscaled by an earlier run")
        hint = self.check_hint()
        if hint:
            lines.append(hint)
        lines.append(f"wrote {self.output}")
        return "\n".join(lines)

    def check_hint(self) -> str:
        """One line pointing to ``rtsr check`` when the run was far below real time or the input looks
        heavily compressed (where super-resolution adds least); "" otherwise."""
        reasons = []
        if self.frames and self.realtime_ratio < SLOW_RATIO:
            reasons.append(f"this ran at {self.realtime_ratio:.2f}× real time")
        if self.heavy_compression:
            reasons.append(f"the input looks heavily compressed ({self.heavy_compression})")
        if not reasons:
            return ""
        return (f"hint: {' and '.join(reasons)}; `rtsr check {shlex.quote(self.source)}` tells in under a minute "
                "whether upscaling helps this clip, which model and engine are fastest here, and how long it takes")


def clock_time(seconds: float) -> str:
    """H:MM:SS."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressBar:
    """One self-overwriting line on a terminal: frames done/total, fps, ETA.

    Draws at most ``per_second`` times a second; ``total`` may be 0 (unknown).
    ``already`` frames were done before this run (a resume): they count
    towards done/total, not towards the fps.
    """

    def __init__(self, total: int, stream: TextIO = sys.stderr, per_second: float = 4.0,
                 already: int = 0) -> None:
        self.total = total
        self.already = already
        self.stream = stream
        self.interval = 1.0 / per_second
        self.started = time.perf_counter()
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        now = time.perf_counter()
        if now - self._last_draw < self.interval:
            return
        self._last_draw = now
        elapsed = now - self.started
        fps = (done - self.already) / elapsed if elapsed > 0 else 0.0
        if self.total > 0:
            fraction = min(1.0, done / self.total)
            bar = "#" * int(fraction * 30)
            eta = clock_time((self.total - done) / fps) if fps > 0 else "?"
            text = f"[{bar:<30}] {done}/{self.total} frames {fps:5.1f} fps ETA {eta}"
        else:
            text = f"{done} frames {fps:5.1f} fps elapsed {clock_time(elapsed)}"
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r\x1b[K")
        self.stream.flush()


class Progress(Protocol):
    """What a run reports its frames to: a ProgressBar, or one file's share of a batch's bar."""

    def update(self, done: int) -> None: ...

    def close(self) -> None: ...


# (frames in the input, frames done by an earlier run) -> where this run reports its progress.
ProgressFactory = Callable[[int, int], Progress]


def terminal_progress(total: int, already: int) -> ProgressBar:
    """A ProgressFactory: the self-overwriting line on stderr."""
    return ProgressBar(total, already=already)
