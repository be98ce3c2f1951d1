"""Training sequences for the recurrent model (issue 35): real clips with motion, their LR, and its flow.

    python -m tools.make_sequences --clips ../shared/videos/train --scale 4 --level clean \\
        --out runs/seq_x4_clean
    python -m tools.make_sequences --clips ../shared/videos/train --scale 4 --level heavy \\
        --out runs/seq_x4_heavy

Every clip of ``--clips`` (a folder of clips: video files, folders of PNG/JPEG
frames, raw I420) gives windows of ``--frames`` consecutive frames. The
truth (HR) is each frame shrunk by ``--pre-shrink`` (2: most clips are x264
re-encodes, and shrinking hides their artefacts, as the clips' README
advises; lossless sources are kept as they are). The LR is the truth
shrunk by the papers' bicubic (rtsr.metrics); for ``--level light|heavy``
the LR window is then encoded as one clip by a codec drawn as
tools/lab/pairs.py draws them, and decoded. The flow between consecutive LR
frames is computed as rtsr computes it at run time
(rtsr.temporal.motion.backward_flow, on the LR luma the network sees).

Training windows are cut into ``--crops`` random crops of ``--lr-size``
LR pixels (the flow computed on the whole LR frame first). The clips named
in ``--hold-out`` are kept whole (up to ``--val-size``) in ``val.npz``
for validation and never trained on. Shards hold uint8 BT.601 luma
(studio range, rtsr.metrics.rgb_to_y) and float16 flows; ``sequences.json``
says how they were made. Everything is drawn from ``--seed``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av
import numpy as np

from rtsr.metrics import resize_bicubic, rgb_to_y
from rtsr.temporal.motion import backward_flow
from tools.lab.data import load_rgb
from tools.lab.pairs import LEVELS, MIN_LR_SIZE, draw_codec, through_codec

HOLD_OUT = ("stefan_sif", "harbour_4cif", "jctvc_basketballpass")  # validation clips: never trained on
SKIP = ("videolq_demo000",)  # already degraded: no ground truth (the clips' README)
LOSSLESS = ("jctvc_basketballpass", "libvpl_cars_320x240")  # kept at full size as truth
PICTURES = (".png", ".jpg", ".jpeg")


def read_clip(folder: Path, limit: int) -> list[np.ndarray]:
    """Up to ``limit`` RGB frames (H, W, 3) uint8 of one clip folder: a video file, pictures, or raw I420."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() != ".md")
    pictures = [p for p in files if p.suffix.lower() in PICTURES]
    if pictures:
        return [np.asarray(load_rgb(p)) for p in pictures[:limit]]
    path = files[0]
    if path.suffix == ".i420":
        width, height = map(int, folder.name.rsplit("_", 1)[-1].split("x"))
        container = av.open(str(path), format="rawvideo",
                            options={"video_size": f"{width}x{height}", "pixel_format": "yuv420p"})
    else:
        container = av.open(str(path))
    frames = []
    with container:
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == limit:
                break
    return frames


def truth_frames(frames: list[np.ndarray], pre_shrink: int, scale: int, cap: tuple[int, int] | None,
                 rng: np.random.Generator) -> list[np.ndarray]:
    """The HR frames: shrunk by ``pre_shrink``, cropped (one place for the whole window) to at most ``cap``
    (w, h) and to a multiple of 2·scale (4:2:0 LR)."""
    if pre_shrink > 1:
        h, w = frames[0].shape[:2]
        frames = [resize_bicubic(f, w // pre_shrink, h // pre_shrink) for f in frames]
    h, w = frames[0].shape[:2]
    cap_w, cap_h = cap or (w, h)
    step = 2 * scale
    out_w, out_h = min(w, cap_w) // step * step, min(h, cap_h) // step * step
    left, top = int(rng.integers(0, w - out_w + 1)), int(rng.integers(0, h - out_h + 1))
    return [f[top:top + out_h, left:left + out_w] for f in frames]


def lr_window(truth: list[np.ndarray], scale: int, level: str, rng: np.random.Generator) -> tuple[
        list[np.ndarray], str]:
    """The LR frames (RGB) of a window of truth frames, through a codec unless ``level`` is clean."""
    h, w = truth[0].shape[:2]
    low = [resize_bicubic(f, w // scale, h // scale) for f in truth]
    if level == "clean":
        return low, "clean"
    while True:
        draw = draw_codec(level, rng, (w // scale) * (h // scale) * 25)
        if draw.codec != "libx265" or min(h, w) // scale >= MIN_LR_SIZE:
            break
    return through_codec(low, draw), draw.describe()


def luma(frames: list[np.ndarray]) -> np.ndarray:
    """(T, H, W) uint8 BT.601 studio-range luma of RGB frames."""
    return np.stack([np.clip(np.round(rgb_to_y(f)), 0, 255).astype(np.uint8) for f in frames])


def flows(lr_y: np.ndarray) -> np.ndarray:
    """(T-1, H, W, 2) float16 backward flows between consecutive LR luma frames."""
    return np.stack([backward_flow(lr_y[t], lr_y[t - 1]) for t in range(1, len(lr_y))]).astype(np.float16)


@dataclass
class SequenceInfo:
    scale: int
    level: str
    seed: int
    frames: int
    lr_size: int
    pre_shrink: int
    hold_out: list[str]
    clips: list[str] = field(default_factory=list)
    windows: int = 0
    sequences: int = 0
    codecs: dict[str, int] = field(default_factory=dict)
    build_seconds: float = 0.0


def crops(lr_y: np.ndarray, hr_y: np.ndarray, flow: np.ndarray, size: int, scale: int, count: int,
          rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``count`` random (lr, hr, flow) crops of ``size`` LR pixels from one window."""
    _, h, w = lr_y.shape
    out = []
    for _ in range(count):
        top, left = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
        out.append((lr_y[:, top:top + size, left:left + size],
                    hr_y[:, top * scale:(top + size) * scale, left * scale:(left + size) * scale],
                    flow[:, top:top + size, left:left + size]))
    return out


def build(clips_dir: Path, out: Path, scale: int, level: str, frames: int, lr_size: int, windows: int,
          crops_per_window: int, pre_shrink: int, val_size: tuple[int, int], seed: int) -> SequenceInfo:
    out.mkdir(parents=True, exist_ok=True)
    info = SequenceInfo(scale, level, seed, frames, lr_size, pre_shrink, list(HOLD_OUT))
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    val: dict[str, np.ndarray] = {}
    for folder in sorted(p for p in clips_dir.iterdir() if p.is_dir()):
        if folder.name in SKIP:
            continue
        held = folder.name in HOLD_OUT
        length = 2 * frames if held else frames
        clip = read_clip(folder, 400)
        if len(clip) < length:
            continue
        shrink = 1 if folder.name in LOSSLESS else pre_shrink
        starts = np.linspace(0, len(clip) - length, 2 if held else windows).round().astype(int)
        lr_list, hr_list, flow_list = [], [], []
        for number, start in enumerate(starts):
            truth = truth_frames(clip[start:start + length], shrink, scale, val_size if held else None, rng)
            if min(truth[0].shape[:2]) < lr_size * scale:
                break
            low, codec = lr_window(truth, scale, level, rng)
            info.codecs[codec.split()[0]] = info.codecs.get(codec.split()[0], 0) + 1
            lr_y, hr_y = luma(low), luma(truth)
            flow = flows(lr_y)
            info.windows += 1
            if held:
                val.update({f"{folder.name}_{number}_lr": lr_y, f"{folder.name}_{number}_hr": hr_y,
                            f"{folder.name}_{number}_flow": flow})
                continue
            for lr_c, hr_c, flow_c in crops(lr_y, hr_y, flow, lr_size, scale, crops_per_window, rng):
                lr_list.append(lr_c)
                hr_list.append(hr_c)
                flow_list.append(flow_c)
        if lr_list:
            np.savez(out / f"{folder.name}.npz", lr=np.stack(lr_list), hr=np.stack(hr_list),
                     flow=np.stack(flow_list))
            info.sequences += len(lr_list)
            info.clips.append(folder.name)
        print(f"{folder.name}: {len(lr_list)} sequences{' (held out)' if held else ''}", flush=True)
    np.savez(out / "val.npz", **val)
    info.build_seconds = round(time.perf_counter() - started, 1)
    (out / "sequences.json").write_text(json.dumps(asdict(info), indent=2))
    return info


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=Path, required=True, help="a folder of clip folders (../shared/videos/train)")
    p.add_argument("--scale", type=int, choices=(2, 3, 4), required=True)
    p.add_argument("--level", choices=("clean", *LEVELS), required=True)
    p.add_argument("--frames", type=int, default=10, help="frames per training window")
    p.add_argument("--lr-size", type=int, default=32, help="LR side of a training crop")
    p.add_argument("--windows", type=int, default=16, help="windows per clip")
    p.add_argument("--crops", type=int, default=4, help="crops per window")
    p.add_argument("--pre-shrink", type=int, default=2)
    p.add_argument("--val-size", type=int, nargs=2, default=(480, 288), metavar=("W", "H"),
                   help="largest HR size of a held-out window")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    info = build(args.clips, args.out, args.scale, args.level, args.frames, args.lr_size, args.windows,
                 args.crops, args.pre_shrink, tuple(args.val_size), args.seed)
    print(f"{info.sequences} sequences from {len(info.clips)} clips, {info.windows} windows, "
          f"{info.build_seconds} s; codecs {info.codecs}")


if __name__ == "__main__":
    main()
