"""Turn your own footage into a folder of PNG frames that tools/train.py trains on.

    python -m tools.extract_frames my_footage.mp4 --out runs/my_frames --every 24
    python -m tools.train --model fsrcnn --scale 3 --data runs/my_frames --init rtsr/weights/fsrcnn_x3.pt \\
        --iters 20000 --lr 1e-4 --patch 12 --context 7 --weighting image --out runs/my_fsrcnn_x3
    rtsr input.mp4 -o output.mp4 --scale 3 --weights runs/my_fsrcnn_x3/best.pt

The frames are the high-resolution targets: training downscales them and
teaches the model to undo that, so use the sharpest footage of the kind you
will upscale. Neighbouring frames are near-duplicates, so only every
``--every``-th decoded frame is kept (default: about one per second), up to
``--max-frames``. train.py holds some of these frames out for validation;
frames of one video resemble each other, so that score flatters: judge the
result on a clip the model has not seen.

Frames are decoded and converted as the rtsr pipeline does (rtsr.io,
rtsr.color): the stream's own matrix (BT.601/709/2020) and range, so the
training set has no colour shift. Sources above 8 bits are rounded to 8-bit
PNGs; training works on 8-bit images, as the papers did.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
import torch
from PIL import Image

from rtsr.color import planes_to_rgb
from rtsr.errors import DecodeError, RtsrError
from rtsr.io.planes import frame_planes
from rtsr.io.probe import InputVideo, VideoInfo
from rtsr.io.reader import FrameReader


def default_every(info: VideoInfo) -> int:
    """About one frame per second of video: the rounded frame rate (24 when unknown)."""
    return max(1, round(float(info.rate))) if info.rate else 24


def frame_rgb(planes: list[np.ndarray], info: VideoInfo) -> np.ndarray:
    """A decoded frame's Y, U, V code planes -> (H, W, 3) uint8 RGB."""
    y, u, v = (torch.from_numpy(plane.astype(np.float32)) for plane in planes)
    rgb = planes_to_rgb(y, u, v, info.layout, info.color)  # (3, H, W) in [0, 1]
    return (rgb * 255.0).round_().to(torch.uint8).permute(1, 2, 0).numpy()


@dataclass
class Extraction:
    """What extract() did: the PNGs it wrote, and how many frames it left out as damaged."""

    paths: list[Path] = field(default_factory=list)
    damaged_frames: int = 0  # undecodable, flagged corrupt by FFmpeg, or predicted from such a frame

    def summary(self) -> str:
        damage = f" ({self.damaged_frames} damaged frame(s) left out)" if self.damaged_frames else ""
        return f"{len(self.paths)} frames{damage}"


def extract(video: Path, out: Path, every: int | None, max_frames: int) -> Extraction:
    """Write every ``every``-th frame of ``video`` to ``out/<stem>_<frame index>.png``.

    ``every=None`` keeps about one frame per second; ``max_frames=0`` means no
    limit. Damaged input does not stop extraction (the rtsr pipeline, too,
    skips a corrupt packet), but unlike the pipeline no damaged picture
    becomes a training target (rtsr.io.FrameReader's ``drop_damaged``). Raises RtsrError for
    unreadable input (frames written before a decoding failure stay).
    """
    out.mkdir(parents=True, exist_ok=True)
    result = Extraction()
    with InputVideo.open(video) as opened:
        info = opened.info
        step = every or default_every(info)
        reader = FrameReader(opened.container, opened.stream, step=info.frame_step, drop_damaged=True)
        try:
            for frame in reader.frames():
                index = reader.position  # counts the damaged frames too: PNG names stay source positions
                if index % step:
                    continue
                path = out / f"{video.stem}_{index:06d}.png"
                planes = frame_planes(frame, info.layout, info.width, info.height, info.color)
                Image.fromarray(frame_rgb(planes, info)).save(path)
                result.paths.append(path)
                if len(result.paths) == max_frames:
                    break
        except av.FFmpegError as err:
            raise DecodeError(f"{video}: decoding stopped after {len(result.paths)} extracted frames "
                              f"({err.strerror})") from None
        finally:
            result.damaged_frames = reader.damaged_frames
    return result


def at_least(minimum: int):
    """An argparse type: an integer no smaller than ``minimum``."""
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more")
        return value
    return parse


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("videos", type=Path, nargs="+", help="video files to take frames from")
    p.add_argument("--out", type=Path, required=True, help="folder for the PNG frames")
    p.add_argument("--every", type=at_least(1), help="keep every Nth frame (default: about one per second)")
    p.add_argument("--max-frames", type=at_least(0), default=0, help="at most this many frames per video (0: all)")
    args = p.parse_args(argv)
    stems = [video.stem for video in args.videos]
    if len(set(stems)) != len(stems):
        p.error("two videos share a file name, so their frames would overwrite each other; rename one")
    for video in args.videos:
        try:
            extraction = extract(video, args.out, args.every, args.max_frames)
        except RtsrError as err:
            print(f"extract_frames: {err}", file=sys.stderr)
            return 1
        print(f"{video}: {extraction.summary()} -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
