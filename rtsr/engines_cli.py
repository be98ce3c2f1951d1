"""The ``rtsr engines`` and ``rtsr export`` commands: the engine cache, auto's verdicts, ONNX files."""

from __future__ import annotations

import argparse
from pathlib import Path

from rtsr.atomic import write_atomically
from rtsr.checkpoints import load_model
from rtsr.engines.cache import EngineCache, default_engine_dir
from rtsr.engines.onnx_export import export_onnx, layout
from rtsr.engines.openvino import int8_weights_for
from rtsr.engines.picking import VerdictCache
from rtsr.errors import RtsrError
from rtsr.models import check_scale, get_architecture
from rtsr.upscaler import Upscaler


def engines_command(argv: list[str], parser_class: type[argparse.ArgumentParser]) -> int:
    """``rtsr engines list|build|clear``."""
    parser = parser_class(prog="rtsr engines",
                     description="The cache of built engines (TensorRT engines, OpenVINO's ONNX graphs) and the "
                                 "verdicts of auto's CPU measurements.",
                     epilog="examples: rtsr engines list; rtsr engines build --engine openvino --models fsrcnn "
                            "--scales 2 3 4")
    parser.add_argument("action", nargs="?", choices=("list", "build", "clear"),
                        help="list the cache and verdicts, build engines ahead of a run, or clear them")
    parser.add_argument("--engine-dir", type=Path, help="cache folder (default: see rtsr --help)")
    parser.add_argument("--engine", default="tensorrt", choices=("tensorrt", "openvino"),
                        help="for build (default tensorrt)")
    parser.add_argument("--models", nargs="+", default=["fsrcnn"], help="for build (default fsrcnn)")
    parser.add_argument("--scales", nargs="+", type=int, default=[3], help="for build (default 3)")
    args = parser.parse_args(argv)
    if args.action is None:
        parser.error("name an action: list (what is cached), build (engines ahead of a run) or clear (empty it)")
    cache = EngineCache(args.engine_dir or default_engine_dir())
    verdicts = VerdictCache(cache.folder)
    if args.action == "clear":
        print(f"removed {cache.clear()} engine(s) and {verdicts.clear()} CPU verdict(s) from {cache.folder}")
    elif args.action == "list":
        entries = cache.entries()
        print(f"{len(entries)} engine(s) in {cache.folder}")
        for entry in entries:
            key = entry["key"]
            print(f"  {entry['file']}: {key['model']} ×{key['scale']} {key['precision']} {key['profile']}, "
                  f"{key.get('runtime', '?')}, for {key.get('device', '?')}, rtsr {key['rtsr']}, "
                  f"{entry['bytes'] / 1e6:.1f} MB, built {entry.get('built_at', '?')} "
                  f"in {entry.get('built_seconds', '?')} s")
        found = verdicts.entries()
        print(f"{len(found)} CPU engine verdict(s) (--engine auto without a GPU)")
        for entry in found:
            key, verdict = entry.get("key", {}), entry.get("verdict", {})
            fps = ", ".join(f"{name} {value:.1f} fps" for name, value in verdict.get("fps", {}).items())
            print(f"  {key.get('model')} ×{key.get('scale')} {verdict.get('width')}×{verdict.get('height')}, "
                  f"{verdict.get('threads')} thread(s): {verdict.get('winner')} ({fps}), "
                  f"measured {verdict.get('measured_at')} on {verdict.get('machine')}")
    else:
        for model in args.models:
            for scale in args.scales:
                Upscaler(model, scale, args.engine, engine_dir=cache.folder)
    return 0


def export_command(argv: list[str], parser_class: type[argparse.ArgumentParser]) -> int:
    """``rtsr export``: a model and its weights as an ONNX file."""
    parser = parser_class(prog="rtsr export", description="Write a model with its weights as ONNX (opset 17, "
                     "dynamic height and width, metadata saying scale, channels, colour domain and value range).",
                     epilog="example: rtsr export --model fsrcnn --scale 3 -o fsrcnn_x3.onnx; "
                            "docs/architecture.md shows ONNX Runtime, OpenVINO, vs-mlrt and trtexec use")
    parser.add_argument("--model", default="fsrcnn", help="network (default fsrcnn)")
    parser.add_argument("--scale", type=int, default=3, help="2, 3 or 4 (default 3)")
    parser.add_argument("--weights", type=Path, help="weights file instead of the shipped ones")
    parser.add_argument("-o", "--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--int8", action="store_true",
                        help="the int8 weights trained from these (fsrcnn), as QuantizeLinear/DequantizeLinear pairs "
                             "around every convolution, for int8 runtimes (engine openvino-int8; trtexec --int8)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)
    get_architecture(args.model)
    check_scale(args.scale)
    if args.output.exists() and not args.overwrite:
        raise RtsrError(f"{args.output} exists; add --overwrite to replace it")
    if not args.output.parent.is_dir():
        raise RtsrError(f"no folder {args.output.parent} to write {args.output.name} into")
    loaded = load_model(args.model, args.scale, args.weights)
    if args.int8:
        loaded = int8_weights_for(loaded)
    graph = export_onnx(loaded, int8=args.int8)
    write_atomically(args.output, lambda tmp: tmp.write_bytes(graph))
    domain = "BT.601 studio-range luma / 255" if loaded.planes == "y" else "RGB"
    precision = " int8" if args.int8 else ""
    print(f"wrote {args.output}: {loaded.name} ×{loaded.scale}{precision}, float32 in [0, 1] ({domain}), "
          f"{layout(loaded)}; {len(graph) / 1e6:.2f} MB")
    return 0
