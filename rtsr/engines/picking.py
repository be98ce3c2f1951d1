"""``--engine auto`` without a GPU: the fastest CPU engine for this machine and frame shape, measured.

Which CPU runtime wins depends on the machine (OpenVINO beat PyTorch 1.5-1.8× on
the development machine's AVX-512 Xeon; on an older AVX2 machine it once lost
to ONNX Runtime), so rtsr measures instead of assuming:

1. Before the first frame of a shape (a file run's; for local segment workers
   the driver's, with one worker's threads; a Ray actor's; a live source's; a
   picture's), each candidate engine is built and run on a frame
   of that shape: one untimed run each, then three timed rounds taken in turn
   (cpu, openvino, cpu, openvino, ...) so a disturbance hits both; the median
   of each decides. A frame that would take over MAX_RUN_SECONDS (estimated
   on a 32-row slice first) is timed on a slice of its rows instead, so the
   whole measurement stays near a second.
2. The verdict is kept in ``cpu_verdicts.json`` in the engine cache, keyed by
   the machine (CPU model, its instruction-set flags, usable cores), model,
   scale, weights, shape, threads and the runtimes' versions; the next run of
   the same kind reads it and builds only the winner.
3. The summary says what was picked and the measured ratio; ``rtsr engines
   list`` shows the verdicts, ``rtsr engines clear`` forgets them.

A candidate that cannot be built (OpenVINO missing or failing to compile) is
left out with its reason. ``openvino-bf16`` and ``openvino-int8`` join the
candidates only for weights that pass the quality gate (rtsr.engines.precision;
int8 only for 8-bit input, since it reads the luma as 8-bit codes), and win
only when at least MIN_GAIN × faster than the fastest f32 engine.
"""

from __future__ import annotations

import hashlib
import json
import logging
import statistics
import time
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch

from rtsr.atomic import write_atomically
from rtsr.checkpoints import LoadedModel
from rtsr.cores import available_cores
from rtsr.engines.base import HostTimer, inference_threads, torch_threads_halved
from rtsr.engines.cache import default_engine_dir
from rtsr.engines.precision import MIN_GAIN, is_lower_precision, lower_precisions
from rtsr.engines.registry import FALLS_BACK_TO_CPU, EngineChoice, build_engine
from rtsr.engines.tensorrt import package_version
from rtsr.errors import EngineUnavailable
from rtsr.version import __version__

log = logging.getLogger("rtsr")

VERDICTS_FILE = "cpu_verdicts.json"
ROUNDS = 3
MAX_RUN_SECONDS = 0.25  # per timed run; slower frames are timed on a slice of their rows
PROBE_ROWS = 32  # rows of the slice that estimates a frame's cost first


def machine_tag() -> str:
    """This CPU as measurements depend on it: its model name, a digest of its flags, usable cores."""
    name, flags = "unknown CPU", ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and name == "unknown CPU":
                    name = value.strip()
                elif key.strip() in ("flags", "Features") and not flags:
                    flags = " ".join(sorted(value.split()))
    except OSError:
        import platform  # noqa: PLC0415

        name = platform.processor() or platform.machine()
    digest = hashlib.sha256(flags.encode()).hexdigest()[:8]
    return f"{name} [flags {digest}], {available_cores()} cores"


@dataclass(frozen=True)
class Verdict:
    """The outcome of timing the CPU candidates on one frame shape."""

    winner: str
    fps: dict[str, float]  # candidate -> frames per second on the timed shape
    width: int
    height: int
    threads: int
    timed_rows: int  # rows of the timed input (height, or a slice of it for slow frames)
    machine: str
    measured_at: str
    left_out: dict[str, str] = field(default_factory=dict)  # candidate -> why it could not run
    losses_db: dict[str, float] = field(default_factory=dict)  # lower-precision candidate -> the gate's loss
    untimed: dict[str, str] = field(default_factory=dict)  # lower-precision engine not timed -> why

    def ratio(self, baseline: str = "cpu") -> float | None:
        """The winner's speed over ``baseline``'s, when both were timed."""
        if baseline not in self.fps or not self.fps[baseline]:
            return None
        return self.fps[self.winner] / self.fps[baseline]

    def describe(self) -> str:
        """"openvino 1.64× cpu (cpu 10.1, openvino 16.5 fps at 640×360, 2 threads; measured 2026-12-01 13:10)"."""
        ratio = self.ratio() if self.winner != "cpu" else None
        head = f"{self.winner} {ratio:.2f}× cpu" if ratio is not None else self.winner
        timed = (", ".join(f"{name} {fps:.1f}" for name, fps in self.fps.items()) + " fps" if self.fps
                 else "the only candidate that runs")
        rows = "" if self.timed_rows == self.height else f", whole frames estimated from {self.timed_rows} rows"
        left = "".join(f"; {name} left out: {why}" for name, why in self.left_out.items())
        loss = self.losses_db.get(self.winner)
        lower = (f"; {self.winner.removeprefix('openvino-')} costs {loss:.2f} dB on Set5/Set14 with these weights, "
                 "--engine openvino keeps f32" if loss is not None else "")
        return (f"{head} ({timed} at {self.width}×{self.height}, {self.threads} "
                f"thread{'s' if self.threads > 1 else ''}{rows}; measured {self.measured_at}{left}{lower}"
                f"{self.passed_over()})")

    def passed_over(self) -> str:
        """Why a faster-timed candidate did not win, or why bf16 or int8 was not timed (issue 37: "picked:
        openvino" beside a faster bf16 figure said nothing of the rule), as "; ..." or ""."""
        faster = [name for name, fps in self.fps.items() if fps > self.fps.get(self.winner, float("inf"))]
        said = "".join(f"; {name} ran {self.fps[name] / self.fps[self.winner]:.2f}× {self.winner}, under the "
                       f"{MIN_GAIN:g}× a lower precision must gain to be taken" for name in faster)
        if "openvino" in self.fps:
            said += "".join(f"; {name} not timed: {why}" for name, why in self.untimed.items())
        return said


class VerdictCache:
    """Verdicts in one JSON file of the engine cache folder, written atomically."""

    def __init__(self, folder: Path) -> None:
        self.path = Path(folder) / VERDICTS_FILE

    def _read(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str) -> Verdict | None:
        entry = self._read().get(key)
        try:
            return Verdict(**entry["verdict"]) if isinstance(entry, dict) else None
        except (KeyError, TypeError):
            return None

    def put(self, key: str, verdict: Verdict, ingredients: dict) -> None:
        """Record ``verdict``; a cache that cannot be written only costs a measurement next time."""
        data = self._read()
        data[key] = {"verdict": asdict(verdict), "key": ingredients}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_atomically(self.path, lambda tmp: tmp.write_text(json.dumps(data, indent=2)))
        except OSError as err:
            log.warning("cannot record the engine verdict in %s (%s)", self.path, err)

    def entries(self) -> list[dict]:
        return list(self._read().values())

    def clear(self) -> int:
        count = len(self._read())
        self.path.unlink(missing_ok=True)
        return count


def verdict_ingredients(loaded: LoadedModel, shape: tuple[int, int, int], threads: int,
                        candidates: tuple[str, ...]) -> dict:
    """Everything a verdict depends on."""
    channels, height, width = shape
    return {"machine": machine_tag(), "model": loaded.name, "scale": loaded.scale,
            "weights_sha256": loaded.weights_sha256, "shape": [channels, height, width], "threads": threads,
            "candidates": list(candidates), "torch": torch.__version__, "openvino": package_version("openvino"),
            "rtsr": __version__, "fps": "whole frames"}  # earlier verdicts gave a slice's fps


def _digest(ingredients: dict) -> str:
    return hashlib.sha256(json.dumps(ingredients, sort_keys=True).encode()).hexdigest()[:24]


def _seconds(engine, x: torch.Tensor) -> float:
    started = time.perf_counter()
    engine.run(x)
    return time.perf_counter() - started


def timing_input(engine, x: torch.Tensor) -> torch.Tensor:
    """``x``, or its first rows when one run of ``engine`` on all of it would exceed MAX_RUN_SECONDS.

    The cost per row is estimated on a slice of PROBE_ROWS rows (run twice, the first untimed), so a
    frame that takes seconds (SRResNet on a large frame) is never run whole just to learn that.
    """
    height = x.shape[-2]
    probe = x[..., : min(height, PROBE_ROWS), :].contiguous()
    engine.run(probe)
    per_row = _seconds(engine, probe) / probe.shape[-2]
    if per_row * height <= MAX_RUN_SECONDS:
        return x
    rows = max(probe.shape[-2], int(MAX_RUN_SECONDS / max(per_row, 1e-9)))
    return x[..., : min(rows, height), :].contiguous()


def time_engines(engines: dict[str, object], x: torch.Tensor, rounds: int = ROUNDS) -> tuple[dict[str, float], int]:
    """Whole frames per second of each engine on ``x`` (1, C, H, W), timed in turn; and the rows timed.

    One untimed run each first. When a run of the first engine would take
    over MAX_RUN_SECONDS, every engine is timed on the same first rows instead.
    """
    height = x.shape[-2]
    x = timing_input(next(iter(engines.values())), x)
    for engine in engines.values():
        engine.run(x)  # warm-up: first-run set-up (OpenVINO's shape inference, allocations)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            times[name].append(_seconds(engine, x))
    whole = height / x.shape[-2]  # a slice's time, scaled to the whole frame: fps always mean whole frames
    return {name: round(1.0 / (statistics.median(t) * whole), 2) for name, t in times.items()}, x.shape[-2]


def pick_winner(fps: dict[str, float]) -> str:
    """The fastest full-precision engine, unless a bf16 or int8 one is at least MIN_GAIN × faster than it."""
    full = {name: value for name, value in fps.items() if not is_lower_precision(name)}
    best = max(full, key=full.get)
    lower = {name: value for name, value in fps.items()
             if is_lower_precision(name) and value >= MIN_GAIN * full[best]}
    return max(lower, key=lower.get) if lower else best


def settle_engine(engine, channels: int, height: int, width: int, bits: int = 8) -> None:
    """Have ``engine`` pick for (channels, height, width) frames of ``bits`` bits before the first one, if
    it picks (a MeasuredCpuEngine); every other engine is settled already."""
    pick = getattr(engine, "pick", None)
    if pick is not None:
        pick(channels, height, width, bits)


class MeasuredCpuEngine:
    """The fastest of ``candidates`` for each frame shape (measured once, remembered on disk).

    Behaves as the engine it picked: same device (the CPU), strips and
    threads. ``verdict`` is the latest pick's, None before the first frame.
    """

    device = torch.device("cpu")

    def __init__(self, loaded: LoadedModel, candidates: tuple[str, ...], engine_dir: Path | None = None) -> None:
        self.losses_db, self.untimed = lower_precisions(loaded) if "openvino" in candidates else ({}, {})
        candidates = (*candidates, *self.losses_db)
        self.loaded, self.candidates = loaded, candidates
        self.cache = VerdictCache(engine_dir or default_engine_dir())
        self.engine_dir = engine_dir
        self._engines: dict[str, object] = {}
        self._left_out: dict[str, str] = {}
        self._picked: dict[tuple[int, ...], Verdict] = {}  # (C, H, W, threads, deep) -> its verdict
        self._bits = 8  # the bit depth of the input of the last pick
        self.verdict: Verdict | None = None
        self.cores = available_cores()
        self.current = self._engine("cpu") or self._any_engine()

    @property
    def name(self) -> str:
        return self.current.name

    def _engine(self, name: str):
        """The candidate ``name``, built on first use; None (its reason kept) when it cannot be."""
        if name in self._left_out:
            return None
        if name not in self._engines:
            try:
                self._engines[name] = build_engine(name, self.loaded, self.engine_dir)
            except EngineUnavailable as err:
                log.warning("engine %s cannot run here (%s); left out of the measurement", name, err)
                self._left_out[name] = str(err)
                return None
        return self._engines[name]

    def _any_engine(self):
        for name in self.candidates:
            engine = self._engine(name)
            if engine is not None:
                return engine
        raise EngineUnavailable("no CPU engine can run here")  # pragma: no cover - cpu always builds

    def pick(self, channels: int, height: int, width: int, bits: int = 8) -> Verdict:
        """Make the fastest candidate for (channels, height, width) frames of ``bits`` bits the current
        engine; its verdict. int8 is no candidate above 8 bits: it reads the luma as 8-bit codes."""
        threads = inference_threads(self.cores)
        shape, self._bits, deep = (channels, height, width), bits, bits > 8
        candidates, untimed = self.candidates, dict(self.untimed)
        if deep and "openvino-int8" in candidates:
            candidates = tuple(name for name in candidates if name != "openvino-int8")
            untimed["openvino-int8"] = f"{bits}-bit input (int8 reads 8-bit codes)"
        verdict = self._picked.get((*shape, threads, deep))
        if verdict is None:  # not picked in this process yet: the disk's verdict, or a measurement
            ingredients = verdict_ingredients(self.loaded, shape, threads, candidates)
            key = _digest(ingredients)
            verdict = self.cache.get(key)
            if verdict is None or self._engine(verdict.winner) is None:
                verdict = self._measure(shape, threads, ingredients["machine"], candidates, untimed)
                self.cache.put(key, verdict, ingredients)
                log.info("engine: %s", verdict.describe())
            self._picked[(*shape, threads, deep)] = verdict
        self.current = self._engines[verdict.winner]
        self.verdict = verdict
        return verdict

    def _measure(self, shape: tuple[int, int, int], threads: int, machine: str, candidates: tuple[str, ...],
                 untimed: dict[str, str]) -> Verdict:
        engines = {name: engine for name in candidates if (engine := self._engine(name)) is not None}
        if len(engines) > 1:
            fps, rows = time_engines(engines, torch.rand(1, *shape))
            winner = pick_winner(fps)
        else:  # the others could not be built: nothing to time
            (winner,), fps, rows = engines, {}, shape[1]
        return Verdict(winner=winner, fps=fps, width=shape[2], height=shape[1], threads=threads,
                       timed_rows=rows, machine=machine, measured_at=time.strftime("%Y-%m-%d %H:%M"),
                       left_out=dict(self._left_out),
                       losses_db={name: loss for name, loss in self.losses_db.items() if name in engines},
                       untimed=untimed)

    def run(self, x: torch.Tensor) -> torch.Tensor:
        """(1, C, H, W) float32 -> (1, C, H*scale, W*scale), on the engine picked for this shape."""
        verdict = self._picked.get((*x.shape[1:], inference_threads(self.cores), self._bits > 8))
        if verdict is None:  # a new shape: the bit depth stays that of the input being run
            self.pick(*x.shape[1:], bits=self._bits)
        elif self.current.name != verdict.winner:
            self.current = self._engines[verdict.winner]
        return self.current.run(x)

    def timer(self) -> HostTimer:
        return HostTimer()

    def synchronize(self) -> None:
        """Nothing to wait for: CPU work is finished when run() returns."""

    def sharing_cores(self) -> AbstractContextManager[None]:
        """Half the inference threads while a decoder and encoder run beside us (every CPU engine follows them)."""
        return torch_threads_halved()


def make_engine(choice: EngineChoice, loaded: LoadedModel, engine_dir: Path | None = None,
                compile: bool = True) -> tuple[object, EngineChoice]:
    """The chosen engine, built, and the choice as it ended up.

    ``auto`` with several CPU candidates gives a MeasuredCpuEngine, which
    picks per frame shape (rtsr.engines.picking). An engine in
    FALLS_BACK_TO_CPU that fails to build gives the cpu engine, and the
    returned choice says why.
    """
    if choice.candidates:
        return MeasuredCpuEngine(loaded, choice.candidates, engine_dir), choice
    try:
        return build_engine(choice.name, loaded, engine_dir, compile), choice
    except EngineUnavailable as err:
        if choice.name not in FALLS_BACK_TO_CPU:
            raise
        log.warning("engine %s failed (%s); running the PyTorch cpu engine", choice.name, err)
        return build_engine("cpu", loaded), replace(choice, name="cpu", skipped={**choice.skipped,
                                                                                   choice.name: str(err)})
