"""How the recurrent model's memory is best aligned: DIS flow, the codec's motion vectors, or nothing.

    python -m tools.temporal_ablation ../shared/videos/vtest.avi ../shared/videos/akiyo_cif.mp4 \\
        --scale 4 --levels clean 28 --weights rtsr/weights/rlsp_x4.pt

The user's clip is made as tools/quality_grid.py makes it (``--frames``
frames from the middle, shrunk by the papers' bicubic, FFV1 for ``clean`` or
libx264 at the CRF, P and B frames), then decoded with FFmpeg's motion-vector
export (``flags2=+export_mvs``). For each way of aligning:

* ``dis``: rtsr's own (rtsr.temporal.motion.backward_flow on the LR luma);
* ``mv``: the decoder's vectors (rtsr.temporal.motion.codec_flow; pixels no
  vector covers -- intra and skipped blocks, key frames, FFV1 -- do not move);
* ``mv+dis``: the vectors where there are some, DIS elsewhere;
* ``none``: the memory as it is;

it reports the alignment error (mean |warped previous luma − luma|, in code
values, over frames 2..N) and the weights' gain in Y PSNR over bicubic
against the original frames (border = scale), the network run frame by
frame as rtsr runs it (no cut detection: the clips have no cuts).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import av
import numpy as np
import torch

from rtsr.checkpoints import load_model
from rtsr.metrics import psnr, resize_bicubic, rgb_to_y, shave
from rtsr.temporal.motion import backward_flow, codec_flow
from rtsr.temporal.network import warp
from tools.lab.clips import bicubic_luma, read_frames, write_user_clip
from tools.lab.temporal import codes, run_window

METHODS = ("dis", "mv", "mv+dis", "none")
ANCHORS = ("I", "P")
PICTURE_TYPES = {1: "I", 2: "P", 3: "B"}  # FFmpeg's AVPictureType values, as PyAV's frame.pict_type gives them


def decode_with_vectors(path: Path) -> tuple[list[np.ndarray], list[np.ndarray | None], list[str]]:
    """Y planes, motion vectors (None where a frame has none) and picture types, in display order."""
    planes, vectors, kinds = [], [], []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = {"flags2": "+export_mvs"}
        for frame in container.decode(stream):
            planes.append(frame.to_ndarray()[: frame.height])
            side = frame.side_data.get("MOTION_VECTORS")
            vectors.append(side.to_ndarray() if side is not None else None)
            kinds.append(PICTURE_TYPES.get(int(frame.pict_type), "?"))
    return planes, vectors, kinds


def anchor_distances(kinds: list[str]) -> list[tuple[int | None, int | None]]:
    """For each frame, how far back and ahead the nearest I or P frame lies (None: none)."""
    anchors = [i for i, kind in enumerate(kinds) if kind in ANCHORS]
    out = []
    for t in range(len(kinds)):
        before = [a for a in anchors if a < t]
        after = [a for a in anchors if a > t]
        out.append((t - before[-1] if before else None, after[0] - t if after else None))
    return out


def flows(planes: list[np.ndarray], vectors, kinds: list[str], method: str) -> list[np.ndarray | None]:
    """Backward flows for frames 1..N-1 by ``method`` (None: no alignment)."""
    height, width = planes[0].shape
    distances = anchor_distances(kinds)
    out = []
    for t in range(1, len(planes)):
        if method == "none":
            out.append(None)
            continue
        dis = backward_flow(planes[t], planes[t - 1]) if method in ("dis", "mv+dis") else None
        if method == "dis":
            out.append(dis)
            continue
        mv, covered = codec_flow(vectors[t], height, width, *distances[t])
        if method == "mv+dis":
            mv[~covered] = dis[~covered]
        out.append(mv)
    return out


def to_tensor(flow: np.ndarray | None) -> torch.Tensor | None:
    return None if flow is None else torch.from_numpy(np.ascontiguousarray(flow)).permute(2, 0, 1)[None]


def alignment_error(planes: list[np.ndarray], flow_list: list[np.ndarray | None]) -> float:
    errors = []
    for t, flow in enumerate(flow_list, start=1):
        previous = torch.from_numpy(planes[t - 1].astype(np.float32))[None, None]
        moved = warp(previous, to_tensor(flow))[0, 0].numpy()
        errors.append(np.abs(moved - planes[t]).mean())
    return float(np.mean(errors))


@torch.inference_mode()
def upscale(network, planes: list[np.ndarray], flow_list: list[np.ndarray | None]) -> list[np.ndarray]:
    """The Y planes upscaled frame by frame as training runs them (train_temporal.run_window), the memory
    warped by ``flow_list`` (all None: not aligned); rounded codes."""
    lr = torch.from_numpy(np.stack(planes).astype(np.float32) / 255.0)[None]
    if all(flow is None for flow in flow_list):
        outputs = run_window(network, lr, None, "none")
    else:
        outputs = run_window(network, lr, torch.stack([to_tensor(f)[0] for f in flow_list])[None], "dis")
    return [codes(out) for out in outputs]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("clips", type=Path, nargs="+")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--levels", nargs="+", default=["clean", "28"])
    p.add_argument("--frames", type=int, default=30)
    p.add_argument("--weights", type=Path, help="rlsp weights (default: the shipped ones)")
    args = p.parse_args(argv)
    loaded = load_model("rlsp", args.scale, args.weights)
    network = loaded.network
    print("alignment error (code values) / gain over bicubic (dB), BT.601 luma, border = scale\n")
    print("| clip | user's clip | " + " | ".join(METHODS) + " |")
    print("|---|---|" + "---|" * len(METHODS))
    with tempfile.TemporaryDirectory() as scratch:
        for clip in args.clips:
            step = 2 * args.scale
            truth = [f[: f.shape[0] // step * step, : f.shape[1] // step * step]
                     for f in read_frames(clip, args.frames)]
            low = [resize_bicubic(f, f.shape[1] // args.scale, f.shape[0] // args.scale) for f in truth]
            truth_y = [shave(rgb_to_y(t), args.scale) for t in truth]
            for level in args.levels:
                user = Path(scratch) / f"{clip.stem}_{level}.mkv"
                write_user_clip(low, user, level)
                planes, vectors, kinds = decode_with_vectors(user)
                bicubic = [psnr(shave(bicubic_luma(y, args.scale).astype(np.float64), args.scale), t)
                           for y, t in zip(planes, truth_y)]
                cells = []
                for method in METHODS:
                    flow_list = flows(planes, vectors, kinds, method)
                    outputs = upscale(network, planes, flow_list)
                    gain = np.mean([psnr(shave(o, args.scale), t) - b
                                    for o, t, b in zip(outputs, truth_y, bicubic)])
                    cells.append(f"{alignment_error(planes, flow_list):.2f} / {gain:+.2f}")
                name = "clean" if level == "clean" else f"CRF {level}"
                print(f"| {clip.name} | {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
