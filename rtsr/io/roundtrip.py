"""RGB frames through a real codec and back: the one codec round-trip, for ``rtsr check`` and the tools.

``rtsr check`` compresses its shrunk frames again as the input was
(rtsr.check.codec_match); the training tools make compressed LR the same
way (tools/lab/pairs.py), and the validation tools write the "user's clip"
with :func:`write_clip`. Frames are (H, W, 3) uint8 RGB, converted to 4:2:0
with the BT.601 matrix (limited range; full range for MJPEG, as JPEG is),
cropped to even sizes (4:2:0 needs them). Torch-free.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def _range(codec: str) -> int:
    """libswscale's colour range: 2 (full, "pc") for MJPEG, which is JPEG's, else 1 (limited, "tv")."""
    return 2 if codec == "mjpeg" else 1


def write_clip(frames: Sequence[np.ndarray], target: str | Path | io.BytesIO, codec: str,
               options: dict[str, str] | None = None, rate: int = 25, muxer: str | None = None) -> None:
    """Encode ``frames`` as one 4:2:0 video with ``codec`` and its ``options`` (crf, preset, qp...) at
    ``rate`` frames per second into ``target`` (a path, or memory with ``muxer``); P and B frames as the
    encoder chooses. Frames of odd size lose their last row or column."""
    height, width = frames[0].shape[0] // 2 * 2, frames[0].shape[1] // 2 * 2
    pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
    with av.open(target if isinstance(target, io.BytesIO) else str(target), "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=rate, options=dict(options or {}))
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        for index, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[:height, :width]), format="rgb24").reformat(
                format=pix_fmt, dst_colorspace="ITU601", dst_color_range=_range(codec))
            frame.pts, frame.time_base = index, Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def read_clip(source: str | Path | io.BytesIO, codec: str = "", muxer: str | None = None) -> list[np.ndarray]:
    """Every frame of ``source`` as (H, W, 3) uint8 RGB, read back with the matrix and range write_clip used
    for ``codec``."""
    with av.open(source if isinstance(source, io.BytesIO) else str(source), format=muxer) as container:
        return [f.to_ndarray(format="rgb24", src_colorspace="ITU601", src_color_range=_range(codec))
                for f in container.decode(video=0)]


def through_codec(frames: Sequence[np.ndarray], codec: str, options: dict[str, str] | None = None,
                  rate: int = 25) -> list[np.ndarray]:
    """``frames`` encoded as one video in memory and decoded again (even sizes: odd ones lose an edge);
    RuntimeError when the codec gives back another number of frames."""
    muxer = "webm" if codec == "libvpx-vp9" else "matroska"
    buffer = io.BytesIO()
    write_clip(frames, buffer, codec, options, rate, muxer)
    buffer.seek(0)
    decoded = read_clip(buffer, codec, muxer)
    if len(decoded) != len(frames):
        raise RuntimeError(f"{codec} {options} gave {len(decoded)} frames for {len(frames)}")
    return decoded
