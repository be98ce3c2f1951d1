"""One picture to one picture: ``rtsr photo.jpg -o photo_x3.png``.

The picture is read with PyAV (any format FFmpeg decodes), judged for the
weights it needs (a JPEG by its quality, rtsr.io.degradation), upscaled by
the runner chosen for it (RGB in, RGB out, BT.601 luma for the luma models,
as the papers evaluate), and written with OpenCV, atomically. 8-bit RGB
throughout: a 16-bit PNG is read as 8 bits. One picture or many, the CLI
and the batch go through :func:`upscale_picture`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from rtsr.atomic import write_atomically
from rtsr.errors import InputError, RtsrError
from rtsr.io.degradation import judge_picture
from rtsr.io.probe import open_input

if TYPE_CHECKING:
    from rtsr.upscaler import Upscaler

PICTURE_OUTPUTS = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 6], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95],
                   ".jpeg": [cv2.IMWRITE_JPEG_QUALITY, 95], ".webp": [cv2.IMWRITE_WEBP_QUALITY, 101],
                   ".tif": [], ".tiff": [], ".bmp": []}  # WebP quality 101: lossless


def is_picture_output(path: Path) -> bool:
    return Path(path).suffix.lower() in PICTURE_OUTPUTS


def is_picture_file(path: Path) -> bool:
    """A file named as a picture (.png, .jpg, ...): named inputs of a batch that are upscaled as pictures."""
    return Path(path).is_file() and Path(path).suffix.lower() in PICTURE_OUTPUTS


@dataclass(frozen=True)
class PictureDone:
    """One picture upscaled: sizes (width, height), why its weights ran, the engine, seconds upscaling."""

    input_size: tuple[int, int]
    output_size: tuple[int, int]
    weights: str  # "fsrcnn ×3 for compressed input (jpeg, quality 40)"
    engine: str
    seconds: float

    def line(self) -> str:
        (w, h), (big_w, big_h) = self.input_size, self.output_size
        return f"{w}×{h} → {big_w}×{big_h} ({self.engine}) in {self.seconds:.2f} s; weights: {self.weights}"


def upscale_picture(upscaler: Upscaler, src: Path, dst: Path, overwrite: bool) -> PictureDone:
    """``src`` (a picture file) upscaled into ``dst`` with the weights chosen for it; an RtsrError when
    ``dst`` exists (without ``overwrite``, checked first), ``src`` is no picture, or the write fails."""
    if Path(dst).exists() and not overwrite:
        raise InputError(f"output exists: {dst} (pass --overwrite to replace it)")
    rgb, codec = read_picture_and_codec(src)
    height, width = rgb.shape[:2]
    runner, weights = upscaler.runner_judged(lambda: judge_picture(src, codec, width, height))
    started = time.perf_counter()
    big = runner.upscale_rgb(rgb)
    seconds = time.perf_counter() - started
    write_picture(big, dst, overwrite)
    return PictureDone((width, height), (big.shape[1], big.shape[0]), weights, runner.engine_description(), seconds)


def upscale_pictures(upscaler: Upscaler, pictures: list[Path], out_dir: Path, overwrite: bool,
                     say: Callable[[str], None] | None = None) -> list[str]:
    """Each picture into ``out_dir`` under its own name (a format rtsr cannot write becomes .png);
    returns the failures, one line each. Existing outputs are skipped unless ``overwrite``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = []
    for src in pictures:
        dst = out_dir / (src.name if src.suffix.lower() in PICTURE_OUTPUTS else src.stem + ".png")
        if dst.exists() and not overwrite:
            if say:
                say(f"{src.name}: skipped, {dst} exists")
            continue
        try:
            done = upscale_picture(upscaler, src, dst, overwrite)
        except RtsrError as err:
            failed.append(f"{src.name}: {err}")
            if say:
                say(f"{src.name}: FAILED: {err}")
            continue
        if say:
            say(f"{src.name} → {dst} ({done.output_size[0]}×{done.output_size[1]}; weights: {done.weights})")
    return failed


def read_picture_and_codec(path: Path) -> tuple[np.ndarray, str]:
    """The first (only) frame of a picture file as (H, W, 3) uint8 RGB, and its codec ("png", "mjpeg"...)."""
    with open_input(path) as container:
        if not container.streams.video:
            raise InputError(f"{path} has no picture")
        frame = next(container.decode(video=0), None)
        if frame is None:
            raise InputError(f"{path}: no picture could be decoded")
        if container.streams.video[0].frames > 1:
            raise InputError(f"{path} is a video: write it to a video file (.mkv, .mp4)")
        return frame.to_ndarray(format="rgb24"), container.streams.video[0].codec_context.name


def write_picture(rgb: np.ndarray, path: Path, overwrite: bool) -> None:
    """(H, W, 3) uint8 RGB to ``path`` (format by extension), atomically; refuses to replace without ``overwrite``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError(f"output exists: {path} (pass --overwrite to replace it)")
    if not path.parent.is_dir():
        raise InputError(f"output directory does not exist: {path.parent}")
    suffix = path.suffix.lower()
    ok, data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), PICTURE_OUTPUTS[suffix])
    if not ok:
        raise InputError(f"cannot write a {path.suffix} picture of {rgb.shape[1]}×{rgb.shape[0]}")
    write_atomically(path, lambda tmp: tmp.write_bytes(data.tobytes()))
