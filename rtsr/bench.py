"""``rtsr bench``: throughput of the models on this machine, set against real time and bicubic.

Model-only figures time ``engine.run`` on a random frame of the given size
after warm-up (CPU: wall clock; GPU engines: their own synchronisation, so
queued work is counted). ``--e2e`` runs the whole file pipeline on a clip and
reports its per-stage budget, each stage's rate alone and the pipeline's
efficiency (rtsr.bench_stages). Speed does not depend on the weights, so a
model without trained weights is benchmarked with random ones (and says so).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from rtsr.bench_stages import StandInEngine, measure_nvdec, measure_stage_rates
from rtsr.checkpoints import LoadedModel, load_model, save_checkpoint, weights_digest
from rtsr.engines import choose_engine, make_engine
from rtsr.engines.picking import settle_engine
from rtsr.errors import RtsrError, WeightsError
from rtsr.io.probe import InputVideo
from rtsr.models import check_scale, get_architecture
from rtsr.report import REALTIME_FPS
from rtsr.run_spec import UNJUDGED
from rtsr.sample import make_sample_clip
from rtsr.segments.driver import DEFAULT_SEGMENT_SECONDS
from rtsr.temporal.state import Recurrence
from rtsr.upscaler import Upscaler

SCHEMA = "rtsr-bench-1"


@dataclass
class ModelResult:
    """One model × scale × engine × size measurement."""

    model: str
    scale: int
    engine: str
    input: str  # "640x360"
    output: str
    frames: int
    ms_per_frame: float
    fps: float
    megapixels_per_second: float  # output pixels
    realtime_ratio: float  # fps / 24
    bicubic_fps: float  # F.interpolate bicubic on the same engine's device, same frame
    weights: str  # "shipped", a path, or "random (speed only)"
    compile: str = "-"  # the cuda engine's compile state (rtsr.engines.compiled); "-" for other engines
    vs_first_engine: float = 1.0  # fps over the first --engines entry's on the same model, scale and size


def parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise RtsrError(f"bad size {text!r}; write WIDTHxHEIGHT, e.g. 640x360") from None
    if width < 8 or height < 8:
        raise RtsrError(f"size {text} is too small")
    return width, height


def _model_for_speed(name: str, scale: int) -> tuple[LoadedModel, str]:
    """Shipped weights when there are some, else random ones (speed does not depend on them)."""
    try:
        return load_model(name, scale), "shipped"
    except WeightsError:
        architecture = get_architecture(name)
        network = architecture.build(scale).eval()
        return LoadedModel(network, architecture, scale, Path("(random)"), weights_digest(network), {}), \
            "random (speed only)"


def _time(run, synchronize, frames: int, warmup: int) -> float:
    """Seconds per call of ``run`` over ``frames`` calls after ``warmup`` calls."""
    with torch.inference_mode():
        for _ in range(warmup):
            run()
        synchronize()
        started = time.perf_counter()
        for _ in range(frames):
            run()
        synchronize()
    return (time.perf_counter() - started) / frames


def panning_frames(height: int, width: int, device: torch.device, count: int = 4) -> list[torch.Tensor]:
    """``count`` (1, 1, H, W) smooth luma pictures, each moved 2 pixels right of the one before: motion that
    a recurrent model follows without resetting (a random picture would look like a cut every frame)."""
    generator = torch.Generator().manual_seed(0)
    coarse = torch.rand(1, 1, height // 8 + 2, width // 8 + 2 + count, generator=generator)
    smooth = F.interpolate(coarse, size=(height, width + 16 * count), mode="bicubic", align_corners=False)
    smooth = 0.1 + 0.8 * (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return [smooth[..., 2 * (count - i):2 * (count - i) + width].contiguous().to(device) for i in range(count)]


def bench_model(name: str, scale: int, engine_name: str, size: tuple[int, int],
                frames: int, warmup: int, compile: bool = True) -> ModelResult:
    check_scale(scale)
    choice = choose_engine(engine_name)
    loaded, weights = _model_for_speed(name, scale)
    engine, _ = make_engine(choice, loaded, compile=compile)
    width, height = size
    settle_engine(engine, loaded.channels, height, width)  # auto on the CPU measures before the timing, as a run
    if loaded.recurrent:  # with its motion and warping, on a pan, as a video runs it
        pan = panning_frames(height, width, engine.device)
        recurrence = Recurrence(loaded.recurrent)
        seconds = _time(lambda: recurrence.step(engine.run, pan[recurrence.frames % len(pan)]),
                        engine.synchronize, frames, warmup)
        x = pan[0]
    else:
        x = torch.rand(1, loaded.channels, height, width, device=engine.device)
        seconds = _time(lambda: engine.run(x), engine.synchronize, frames, warmup)
    bicubic = _time(lambda: F.interpolate(x, scale_factor=scale, mode="bicubic", align_corners=False),
                    engine.synchronize, frames, warmup)
    fps = 1.0 / seconds
    return ModelResult(
        model=name, scale=scale, engine=f"{engine.name} (auto)" if choice.candidates else engine.name,
        input=f"{width}x{height}",
        output=f"{width * scale}x{height * scale}", frames=frames,
        ms_per_frame=round(1000 * seconds, 3), fps=round(fps, 2),
        megapixels_per_second=round(fps * width * height * scale * scale / 1e6, 2),
        realtime_ratio=round(fps / REALTIME_FPS, 3), bicubic_fps=round(1.0 / bicubic, 2),
        weights=weights, compile=getattr(engine, "compile_state", "-"),
    )


def bench_e2e(name: str, scale: int, engine_name: str, clip: Path | None, size: tuple[int, int],
              frames: int, warmup: int, codec: str, preset: str, jobs: int = 1,
              segment_seconds: float | None = None, stages: bool = False,
              stand_in_ms: float | None = None, compile: bool = True) -> dict:
    """Run the whole pipeline into a temporary file; returns the Report's figures.

    First, untimed, the same upscaler runs a ``warmup``-frame clip of the
    source's size, so one-off costs (cuDNN autotuning every convolution
    shape, kernel and buffer set-up) stay out of the per-frame figures.
    With ``jobs`` > 1 the clip is cut into segments of ``segment_seconds``
    (None: four per job, at most the run's default) and the time includes
    starting the workers and loading their models, as a real run's does.
    ``stages`` adds each stage's rate alone and the pipeline's efficiency
    (rtsr.bench_stages); ``stand_in_ms`` replaces the engine by one that
    sleeps that long per frame (one job only).
    """
    loaded, weights = _model_for_speed(name, scale)
    with tempfile.TemporaryDirectory(prefix="rtsr-bench-") as folder:
        weights_file = None
        if weights != "shipped":
            weights_file = Path(folder) / "random.pt"
            save_checkpoint(weights_file, loaded.network, name, scale, note="random weights for speed")
        source = clip or make_sample_clip(Path(folder) / "clip.mp4", size, frames)
        # The clean weights for every input: which weights run does not change the speed, and one spec
        # (one runner) is what the figures then describe.
        upscaler = Upscaler(name, scale, engine_name, weights_file, compile=compile, degradation="none")
        runner, _ = upscaler.runner_judged(lambda: UNJUDGED)
        if stand_in_ms is not None:
            runner.engine = StandInEngine(scale, stand_in_ms)
        with InputVideo.open(source) as video:
            info = video.info
        if warmup:
            warmup_clip = make_sample_clip(Path(folder) / "warmup.mp4", (info.width, info.height), warmup,
                                           audio=False)
            upscaler.upscale_video(warmup_clip, Path(folder) / "warmup_out.mp4", codec=codec, preset=preset)
        if segment_seconds is None:
            duration = info.frames / float(info.rate or 24)
            segment_seconds = min(DEFAULT_SEGMENT_SECONDS, max(0.1, duration / (4 * jobs)))
        report = upscaler.upscale_video(source, Path(folder) / "out.mp4", codec=codec, preset=preset, jobs=jobs,
                                        segment_seconds=segment_seconds)
        rates = measure_stage_rates(runner, source, Path(folder) / "out.mp4", report.codec, 18, preset,
                                    Path(folder) / "encode_alone.mp4") if stages else None
        decoders = measure_nvdec(source) if stages and runner.engine.device.type == "cuda" else None
    result = {
        "model": name, "scale": scale, "engine": report.engine, "source": str(clip or "generated testsrc2"),
        "input": "x".join(map(str, report.input_size)), "output": "x".join(map(str, report.output_size)),
        "frames": report.frames, "seconds": round(report.wall_seconds, 3), "fps": round(report.fps, 2),
        "realtime_ratio": round(report.realtime_ratio, 3),
        "stage_ms_per_frame": {k: round(v, 2) for k, v in report.stage_ms_per_frame.items()},
        "bottleneck": report.bottleneck, "codec": codec, "preset": preset, "weights": weights,
        "warmup_frames": warmup, "jobs": report.jobs, "jobs_requested": jobs,
        "segment_seconds": round(segment_seconds, 3), "jobs_reason": report.jobs_reason,
        "stand_in_ms": stand_in_ms, "compile": getattr(runner.engine, "compile_state", "-"),
    }
    if stand_in_ms is not None:
        result["engine"] = f"stand-in ({stand_in_ms:g} ms per frame)"
    if rates is not None:
        result["stage_alone_fps"] = {stage: round(getattr(rates, stage), 2) for stage in ("decode", "engine", "encode")}
        result["slowest_stage_alone"] = rates.slowest
        result["back_to_back_fps"] = round(rates.back_to_back_fps, 2)
        result["pipeline_efficiency"] = round(report.fps / rates.slowest_fps, 3)
        result["vs_back_to_back"] = round(report.fps / rates.back_to_back_fps, 3)
    if decoders is not None:
        result["decode_to_planes_fps"] = {
            "cpu": round(decoders.software_fps, 2),
            "nvdec": round(decoders.nvdec_fps, 2) if decoders.nvdec_fps is not None else None,
            "nvdec_note": decoders.nvdec_note,
        }
    return result


def format_table(results: list[ModelResult]) -> str:
    header = ("model", "scale", "engine", "input", "output", "ms/frame", "fps", "MP/s", "× real time", "bicubic fps",
              "× 1st engine")
    rows = [header] + [
        (r.model, f"×{r.scale}", r.engine, r.input, r.output, f"{r.ms_per_frame:.1f}", f"{r.fps:.1f}",
         f"{r.megapixels_per_second:.1f}", f"{r.realtime_ratio:.2f}", f"{r.bicubic_fps:.1f}",
         f"{r.vs_first_engine:.2f}")
        for r in results
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(w) for cell, w in zip(row, widths)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    random = sorted({f"{r.model} ×{r.scale}" for r in results if r.weights.startswith("random")})
    if random:
        lines.append("random weights (no trained ones shipped) for: " + ", ".join(random))
    return "\n".join(lines)


def build_parser(parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser = parser_class(
        prog="rtsr bench",
        description="Measure model throughput (default) or the whole pipeline (--e2e).",
        epilog="example: rtsr bench --models fsrcnn --scales 3 --sizes 640x360 1280x720 --engines cpu",
    )
    parser.add_argument("--models", nargs="+", default=["fsrcnn"], help="models to time (default fsrcnn)")
    parser.add_argument("--scales", nargs="+", type=int, default=[3], help="scales (default 3)")
    parser.add_argument("--engines", nargs="+", default=["auto"],
                        help="engines, timed one after the other in this run and compared with the first "
                             "(e.g. cpu openvino; default auto)")
    parser.add_argument("--sizes", nargs="+", default=["640x360"], help="LR frame sizes WxH (default 640x360)")
    parser.add_argument("--frames", type=int, default=30, help="timed frames per case (default 30)")
    parser.add_argument("--warmup", type=int, default=5,
                        help="untimed frames first (default 5; with --e2e, an untimed clip of that many frames)")
    parser.add_argument("--e2e", nargs="?", const="", metavar="CLIP",
                        help="time the whole file pipeline, on CLIP or on a generated clip of --sizes")
    parser.add_argument("--codec", default="libx264", help="encoder for --e2e (default libx264)")
    parser.add_argument("--preset", default="medium", help="encoder preset for --e2e (default medium)")
    parser.add_argument("--jobs", nargs="+", type=int, default=[1],
                        help="with --e2e: worker counts to compare, e.g. --jobs 1 2 4 (default 1)")
    parser.add_argument("--segment-seconds", type=float,
                        help="with --e2e --jobs: segment length (default: four segments per job)")
    parser.add_argument("--no-stages", action="store_true",
                        help="with --e2e: skip timing each stage alone (decode, engine, encode)")
    parser.add_argument("--stand-in-ms", type=float, metavar="MS",
                        help="with --e2e: replace the engine by one that waits MS per frame without holding "
                             "the GIL, to see whether the stages overlap (one job)")
    parser.add_argument("--no-compile", action="store_true", help="cuda engine: eager, without torch.compile")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def main(argv: list[str], parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser) -> int:
    args = build_parser(parser_class).parse_args(argv)
    for name in args.models:
        get_architecture(name)
    for scale in args.scales:
        check_scale(scale)
    sizes = [parse_size(s) for s in args.sizes]
    if args.e2e is not None:
        clip = Path(args.e2e) if args.e2e else None
        if any(jobs < 1 for jobs in args.jobs):
            raise RtsrError("--jobs takes positive numbers")
        if args.stand_in_ms is not None and (args.stand_in_ms < 0 or args.jobs != [1]):
            raise RtsrError("--stand-in-ms takes a time of 0 ms or more and runs with --jobs 1 only")
        results = []
        for m in args.models:
            for s in args.scales:
                for e in args.engines:
                    for size in (sizes[:1] if clip else sizes):
                        runs = [bench_e2e(m, s, e, clip, size, args.frames, args.warmup, args.codec, args.preset,
                                          jobs, args.segment_seconds, stages=not args.no_stages and i == 0,
                                          stand_in_ms=args.stand_in_ms, compile=not args.no_compile)
                                for i, jobs in enumerate(args.jobs)]
                        for r in runs:
                            r["speedup_vs_first"] = round(r["fps"] / runs[0]["fps"], 3) if runs[0]["fps"] else 0.0
                            if r is not runs[0] and "stage_alone_fps" in runs[0]:  # measured once per case
                                r["pipeline_efficiency"] = round(
                                    r["fps"] / runs[0]["stage_alone_fps"][runs[0]["slowest_stage_alone"]], 3)
                        results += runs
        if args.json:
            print(json.dumps({"schema": SCHEMA, "kind": "e2e", "results": results}, indent=2))
        else:
            for r in results:
                stages = ", ".join(f"{k} {v:.1f} ms" for k, v in r["stage_ms_per_frame"].items())
                print(f"{r['model']} ×{r['scale']} {r['engine']}: {r['input']} → {r['output']}, "
                      f"{r['frames']} frames, jobs {r['jobs']}: {r['fps']:.1f} fps = "
                      f"{r['realtime_ratio']:.2f}× real time, ×{r['speedup_vs_first']:.2f} vs jobs "
                      f"{args.jobs[0]}; {stages}{' (summed over workers)' if r['jobs'] > 1 else ''}; "
                      f"bottleneck {r['bottleneck']}")
                if "stage_alone_fps" in r:
                    alone = ", ".join(f"{k} {v:.1f} fps" for k, v in r["stage_alone_fps"].items())
                    print(f"  each stage alone: {alone}; back to back {r['back_to_back_fps']:.1f} fps")
                if "decode_to_planes_fps" in r:
                    dec = r["decode_to_planes_fps"]
                    nvdec = f"{dec['nvdec']:.1f} fps" if dec["nvdec"] is not None else dec["nvdec_note"]
                    print(f"  decode to planes: CPU {dec['cpu']:.1f} fps, NVDEC {nvdec}")
                if "pipeline_efficiency" in r:
                    print(f"  pipeline efficiency: {r['pipeline_efficiency']:.2f} of the slowest stage alone"
                          + (f", {r['vs_back_to_back']:.2f}× the stages back to back" if "vs_back_to_back" in r
                             else ""))
        return 0
    results = [bench_model(m, s, e, size, args.frames, args.warmup, not args.no_compile)
               for m in args.models for s in args.scales for size in sizes for e in args.engines]
    first: dict[tuple, float] = {}
    for r in results:  # engines side by side: each against the first one named, as timed in this run
        baseline = first.setdefault((r.model, r.scale, r.input), r.fps)
        r.vs_first_engine = round(r.fps / baseline, 3) if baseline else 0.0
    if args.json:
        print(json.dumps({"schema": SCHEMA, "kind": "model", "torch": torch.__version__,
                          "threads": torch.get_num_threads(),
                          "results": [asdict(r) for r in results]}, indent=2))
    else:
        print(format_table(results))
    return 0

