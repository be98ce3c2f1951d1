"""What OpenVINO's lower precisions cost and gain: Set5/Set14 PSNR and model-only speed, in one run.

    python -m tools.lower_precision --data ../shared/datasets --models fsrcnn srcnn --scales 2 3 4

For each model and scale, the shipped weights run through the openvino engine
in f32, in bf16 (OpenVINO's INFERENCE_PRECISION_HINT) and in int8: the int8
weights trained from them (engine ``openvino-int8``, rtsr.quantization; their
digest is printed for rtsr/engines/precision.py's gate) and, with ``--ptq``,
NNCF post-training quantization of the f32 graph, calibrated on
``--calibration`` random LR patches of the training images, never on the
benchmarks (``pip install nncf``; not a dependency of rtsr). Quality
is evaluate.py's protocol (Y PSNR, scale pixels shaved) on Set5 and Set14;
speed is frames per second on one ``--size`` frame, the engines timed in turn
(rounds of one frame each, median), beside the PyTorch cpu engine. Prints a
Markdown table. The rule (issue 28): ship a precision only where the loss is at
most 0.05 dB on Set5 and Set14 and the gain at least 1.3× on the machine.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("GOMP_SPINCOUNT", "1000")  # as the rtsr command: spinning torch threads slow OpenVINO's
import torch

from rtsr.engines.cpu import CpuEngine
from rtsr.engines.openvino import OpenVinoEngine
from rtsr.quantization import int8_weights
from rtsr.run_spec import RunSpec
from rtsr.runner import Runner, build_runner
from tools.lab.benchmark import evaluate
from tools.lab.data import PatchSampler, image_paths


def calibration_patches(data: Path, scale: int, planes: str, count: int, patch: int = 48) -> list[np.ndarray]:
    """``count`` LR patches (1, C, patch, patch) from the training images (T91, BSD200), seeded."""
    paths = image_paths([data / "train" / "T91", data / "train" / "BSD200"])
    sampler = PatchSampler(paths, scale, patch, planes, seed=0)
    lr, _, _ = sampler.batch(count)
    return [lr[i:i + 1].numpy() for i in range(count)]


def int8_engine(up: Runner, data: Path, count: int) -> OpenVinoEngine:
    """The openvino engine with its graph quantized to int8 by NNCF."""
    import nncf

    engine = OpenVinoEngine(up.loaded)
    patches = calibration_patches(data, up.scale, up.loaded.planes, count)
    engine.graph = nncf.quantize(engine.graph, nncf.Dataset(patches), subset_size=count)
    engine._requests.clear()
    engine.name = "openvino-int8"
    return engine


def speed(engines: dict[str, object], channels: int, size: tuple[int, int], rounds: int) -> dict[str, float]:
    x = torch.rand(1, channels, size[1], size[0])
    for engine in engines.values():
        engine.run(x)
        engine.run(x)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(rounds):
        for name, engine in engines.items():
            started = time.perf_counter()
            engine.run(x)
            times[name].append(time.perf_counter() - started)
    return {name: 1.0 / statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding train/ and eval/")
    parser.add_argument("--models", nargs="+", default=["fsrcnn", "srcnn"])
    parser.add_argument("--scales", nargs="+", type=int, default=[2, 3, 4])
    parser.add_argument("--datasets", nargs="+", default=["Set5", "Set14"])
    parser.add_argument("--calibration", type=int, default=300, help="LR patches for int8 calibration")
    parser.add_argument("--size", default="640x360", help="frame size for the speed (WxH)")
    parser.add_argument("--rounds", type=int, default=10, help="timed frames per engine")
    parser.add_argument("--no-int8", action="store_true", help="skip int8")
    parser.add_argument("--ptq", action="store_true", help="also NNCF post-training int8 of the f32 weights")
    parser.add_argument("--degradation", choices=("none", "compressed"), default="none",
                        help="the shipped weights for clean input, or those for compressed input")
    args = parser.parse_args(argv)
    size = tuple(int(v) for v in args.size.split("x"))
    print("| model | precision | " + " | ".join(f"{d} PSNR (Δ vs f32)" for d in args.datasets)
          + f" | fps at {args.size} | × cpu engine | × openvino f32 |")
    print("|---|---|" + "---|" * (len(args.datasets) + 3))
    for model in args.models:
        for scale in args.scales:
            started = time.perf_counter()
            up = build_runner(RunSpec(model, scale, args.degradation, None, "cpu"))
            engines = {"cpu": CpuEngine(up.loaded.network), "openvino f32": OpenVinoEngine(up.loaded),
                       "openvino bf16": OpenVinoEngine(up.loaded, precision="bf16")}
            if not args.no_int8 and (int8 := int8_weights(up.loaded)) is not None:
                engines["openvino int8"] = OpenVinoEngine(up.loaded, precision="int8")
                print(f"  ({model} ×{scale} int8 weights {int8.weights.name}: sha256 {int8.weights_sha256[:16]})",
                      file=sys.stderr)
            if not args.no_int8 and args.ptq:
                engines["openvino int8 PTQ"] = int8_engine(up, args.data, args.calibration)
            fps = speed(engines, up.loaded.channels, size, args.rounds)
            scores: dict[str, list[float]] = {}
            for name, engine in engines.items():
                up.engine = engine  # this runner's engine for the scores below
                scores[name] = [evaluate(lambda lr, hr_size: up.upscale_rgb(lr), args.data / "eval" / d, scale)[0]  # noqa: B023  (called at once)
                                for d in args.datasets]
            for name in engines:
                cells = " | ".join(f"{p:.2f} ({p - f:+.2f})" for p, f in zip(scores[name], scores["openvino f32"]))
                print(f"| {model} ×{scale} | {name} | {cells} | {fps[name]:.1f} | {fps[name] / fps['cpu']:.2f} | "
                      f"{fps[name] / fps['openvino f32']:.2f} |", flush=True)
            print(f"  ({model} ×{scale}: {time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
