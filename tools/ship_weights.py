"""Install a trained checkpoint as the package's default weights for its model and scale.

    python -m tools.ship_weights runs/srresnet_x4/best.pt --half
    # -> rtsr/weights/srresnet_x4.pt, what `rtsr --model srresnet --scale 4` loads
    python -m tools.ship_weights runs/fsrcnn_x4_compressed/best.pt
    # trained with --pairs: -> rtsr/weights/fsrcnn_x4_compressed.pt, for input rtsr judges compressed
    python -m tools.ship_weights runs/fsrcnn_x4_int8/best.pt
    # trained with --int8: -> rtsr/weights/fsrcnn_x4_int8.pt, what engine openvino-int8 runs for fsrcnn_x4.pt

``--half`` stores the floating-point tensors as fp16: half the bytes in the
package; the model is rebuilt in fp32 when it loads. The script prints how far
the stored model's output moves from the original's on a random input (as PSNR
in dB: above ~60 dB the change is far below one 8-bit code value), so a
precision loss cannot slip in unseen. The checkpoint's metadata is kept and
says how it was stored.
"""

from __future__ import annotations

import argparse
import copy
import math
from pathlib import Path

import torch

from rtsr.checkpoints import load_model, read_checkpoint, save_checkpoint
from rtsr.models import MODELS, WEIGHTS_DIR
from rtsr.quantization import META_KEY, companion_path


def output_psnr(a: torch.nn.Module, b: torch.nn.Module, channels: int) -> float:
    """PSNR (dB, peak 1) between two models' outputs on a fixed random (1, C, 48, 48) input."""
    x = torch.rand(1, channels, 48, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        mse = torch.mean((a(x) - b(x)) ** 2).item()
    return math.inf if mse == 0 else -10 * math.log10(mse)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", type=Path, help="a self-describing rtsr checkpoint (best.pt of a run)")
    p.add_argument("--half", action="store_true", help="store floating-point tensors as fp16")
    p.add_argument("--dir", type=Path, default=WEIGHTS_DIR, help="where to write (default: the package's)")
    args = p.parse_args(argv)
    payload = read_checkpoint(args.checkpoint)
    name, scale = payload.get("model"), payload.get("scale")
    if name not in MODELS or scale is None:
        raise SystemExit(f"{args.checkpoint} does not say which model and scale it holds")
    loaded = load_model(name, scale, args.checkpoint)
    original, meta = loaded.network, loaded.meta
    stored = copy.deepcopy(original)
    if args.half:
        stored.half()  # BN's integer batch counter stays int64
    # weights trained on compressed pairs (train.py --pairs) are shipped beside the clean ones, for the
    # inputs rtsr judges compressed (rtsr.io.degradation); int8 weights (train.py --int8) beside the f32
    # weights they were trained from, which must be the shipped ones of the same level
    level = "none" if meta.get("degradation", ["none"]) in (["none"], ["clean"]) else "compressed"
    target = args.dir / MODELS[name].weights_path(scale, level).name
    if META_KEY in meta:
        base = load_model(name, scale, target)
        if base.weights_sha256 != meta[META_KEY]["base_sha256"]:
            raise SystemExit(f"{args.checkpoint}: int8 weights trained from other weights than {target}")
        target = companion_path(target)
    meta["stored_as"] = "float16" if args.half else "float32"
    save_checkpoint(target, stored, name, scale, **meta)
    reloaded = load_model(name, scale, target).network
    channels = loaded.channels  # a recurrent model's packed input
    print(f"wrote {target} ({target.stat().st_size / 1e6:.1f} MB); its output is "
          f"{output_psnr(original, reloaded, channels):.1f} dB PSNR from the original's")


if __name__ == "__main__":
    main()
