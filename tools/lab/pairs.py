"""Training pairs for compressed input: HR clips with motion, their LR through real codecs (issue 27).

Made by ``python -m tools.degrade`` (its --help has the command line), read by ``tools.train --pairs``.

Our weights were trained on pristine LR (bicubic and nothing else), and on
footage that went through H.264 their gain melts (docs/check.md measures
it). Tools that do better train on what users have: here every HR image
becomes short clips with motion -- a pan, with a slow zoom, across the
image -- so that a codec's inter-frame (P/B) artefacts are in the LR and not
only its intra ones. Each clip is shrunk by the papers' bicubic (rtsr.metrics),
then encoded in memory through PyAV with one codec of the ``level``, 4:2:0,
and decoded again:

* light: libx264 CRF 18-24, libx265 CRF 22-28, libvpx-vp9 CRF 28-38, JPEG q 80-95
* heavy: libx264 CRF 26-36, libx265 CRF 28-38, libvpx-vp9 CRF 40-52,
  mpeg2video / mpeg4 at 0.05-0.2 bit/pixel, JPEG q 30-60

(presets drawn from veryfast..slow). Everything is drawn from one seed, so
the same command makes the same pairs. The pairs (LR, HR, uint8 RGB) go into
numbered ``.npz`` shards in ``--out`` with a ``pairs.json`` that says how
they were made; ``train.py --pairs`` trains on them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from rtsr.io.roundtrip import through_codec as codec_roundtrip
from rtsr.metrics import resize_bicubic
from tools.lab.data import load_rgb

LEVELS = ("light", "heavy")
PRESETS = ("veryfast", "faster", "fast", "medium", "slow")
MIN_LR_SIZE = 64  # libx265 (PyAV 18) corrupted the heap on 48×48 frames, below its 64-pixel CTU; 64 ran clean


@dataclass(frozen=True)
class CodecDraw:
    """One codec setting drawn for a clip."""

    codec: str
    options: dict[str, str]

    def describe(self) -> str:
        return f"{self.codec} {' '.join(f'{k}={v}' for k, v in self.options.items())}".strip()


def _crf(codec: str, low: int, high: int, **fixed: str) -> Callable[..., CodecDraw]:
    """A codec at a CRF drawn from low..high, the clip's preset where the codec takes x264's presets."""
    def draw(rng: np.random.Generator, preset: str, pixels_per_second: float) -> CodecDraw:
        options = {"crf": str(rng.integers(low, high + 1))}
        options.update({"preset": preset} if codec in ("libx264", "libx265") else {})
        return CodecDraw(codec, {**options, **fixed})
    return draw


def _jpeg(low: int, high: int) -> Callable[..., CodecDraw]:
    """MJPEG at a JPEG quality drawn from low..high (mapped onto FFmpeg's q:v, 25 for q 30 .. 2 for q 95)."""
    def draw(rng: np.random.Generator, preset: str, pixels_per_second: float) -> CodecDraw:
        return CodecDraw("mjpeg", {"q:v": str(int(np.interp(rng.integers(low, high + 1), (30, 95), (25, 2))))})
    return draw


def _bit_rate(codec: str) -> Callable[..., CodecDraw]:
    """A bit rate, capped, of 0.05-0.2 bit/pixel: PyAV passes no per-frame quantiser to these encoders."""
    def draw(rng: np.random.Generator, preset: str, pixels_per_second: float) -> CodecDraw:
        bits = str(max(4000, int(rng.uniform(0.05, 0.2) * pixels_per_second)))
        return CodecDraw(codec, {"b": bits, "maxrate": bits, "bufsize": str(2 * int(bits))})
    return draw


_X265 = {"x265-params": "log-level=error"}
_VP9 = {"b": "0", "deadline": "good", "cpu-used": "4"}
# Per level, the codecs a clip is drawn from, each equally likely (the module doc lists them).
LEVEL_CODECS: dict[str, tuple[Callable[..., CodecDraw], ...]] = {
    "light": (_crf("libx264", 18, 24), _crf("libx265", 22, 28, **_X265), _crf("libvpx-vp9", 28, 38, **_VP9),
              _jpeg(80, 95)),
    "heavy": (_crf("libx264", 26, 36), _crf("libx265", 28, 38, **_X265), _crf("libvpx-vp9", 40, 52, **_VP9),
              _bit_rate("mpeg2video"), _bit_rate("mpeg4"), _jpeg(30, 60)),
}


def draw_codec(level: str, rng: np.random.Generator, pixels_per_second: float) -> CodecDraw:
    """A codec and its quality for one clip of ``level`` (see the module doc)."""
    preset = str(rng.choice(PRESETS))
    codecs = LEVEL_CODECS[level]
    return codecs[rng.integers(len(codecs))](rng, preset, pixels_per_second)


def pan_clip(image: np.ndarray, frames: int, size: tuple[int, int], rng: np.random.Generator) -> list[np.ndarray]:
    """``frames`` (h, w, 3) crops of ``size`` (w, h) moving across ``image`` (H, W, 3): a pan of 1-4 px a
    frame in a random direction, with a zoom of up to ±1 % a frame (resampled by the papers' bicubic)."""
    width, height = size
    image_h, image_w = image.shape[:2]
    zoom = float(rng.uniform(-0.01, 0.01))
    step = rng.uniform(1, 4) * np.array([np.cos(angle := rng.uniform(0, 2 * np.pi)), np.sin(angle)])
    span = np.abs(step) * frames
    x0 = rng.uniform(0, max(0.0, image_w - width * 1.1 - span[0]))
    y0 = rng.uniform(0, max(0.0, image_h - height * 1.1 - span[1]))
    start = np.array([x0 if step[0] >= 0 else x0 + span[0], y0 if step[1] >= 0 else y0 + span[1]])
    clip = []
    for index in range(frames):
        factor = (1 + zoom) ** index
        crop_w, crop_h = min(image_w, round(width * factor)), min(image_h, round(height * factor))
        left, top = np.clip(start + step * index, 0, [image_w - crop_w, image_h - crop_h]).round().astype(int)
        crop = image[top:top + crop_h, left:left + crop_w]
        clip.append(crop if (crop_w, crop_h) == (width, height) else resize_bicubic(crop, width, height))
    return clip


def through_codec(frames: list[np.ndarray], draw: CodecDraw, rate: int = 25) -> list[np.ndarray]:
    """(h, w, 3) uint8 RGB frames (even sizes) encoded as one 4:2:0 video with ``draw``, and decoded again
    (rtsr.io.roundtrip, the round-trip ``rtsr check`` uses too)."""
    return codec_roundtrip(frames, draw.codec, dict(draw.options), rate)


def degraded_pairs(image: np.ndarray, scale: int, level: str, frames: int, size: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, CodecDraw]:
    """One clip of ``image``: (frames, h, w, 3) degraded LR, (frames, h·s, w·s, 3) HR, and the codec used.

    ``size`` is the LR side (even, at least MIN_LR_SIZE); the HR crops are ``size·scale``.
    """
    if size % 2 or size < MIN_LR_SIZE:
        raise ValueError(f"the LR side must be even and at least {MIN_LR_SIZE}, not {size}")
    hr = pan_clip(image, frames, (size * scale, size * scale), rng)
    lr = [resize_bicubic(frame, size, size) for frame in hr]
    draw = draw_codec(level, rng, size * size * 25)
    return np.stack(through_codec(lr, draw)), np.stack(hr), draw


@dataclass
class CacheInfo:
    scale: int
    level: str
    seed: int
    frames_per_clip: int
    lr_size: int
    images: list[str]
    clips: int = 0
    pairs: int = 0
    bytes: int = 0
    build_seconds: float = 0.0
    codecs: dict[str, int] | None = None


def build_cache(paths: list[Path], out: Path, scale: int, level: str, clips_per_image: int = 2,
                frames: int = 8, lr_size: int = 64, seed: int = 0) -> CacheInfo:
    """Write the pairs of every image's clips into ``out`` (one .npz shard per image) and pairs.json."""
    if level not in LEVELS:
        raise SystemExit(f"--level takes {', '.join(LEVELS)}")
    out.mkdir(parents=True, exist_ok=True)
    info = CacheInfo(scale, level, seed, frames, lr_size, [str(p) for p in paths], codecs={})
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    for number, path in enumerate(paths):
        image = np.asarray(load_rgb(path))
        if min(image.shape[:2]) < lr_size * scale * 1.15:
            continue  # too small for a moving crop
        lrs, hrs = [], []
        for _ in range(clips_per_image):
            lr, hr, draw = degraded_pairs(image, scale, level, frames, lr_size, rng)
            lrs.append(lr)
            hrs.append(hr)
            info.codecs[draw.codec] = info.codecs.get(draw.codec, 0) + 1
            info.clips += 1
        shard = out / f"{number:05d}.npz"
        np.savez_compressed(shard, lr=np.concatenate(lrs), hr=np.concatenate(hrs))
        info.pairs += sum(len(x) for x in lrs)
        info.bytes += shard.stat().st_size
    info.build_seconds = round(time.perf_counter() - started, 1)
    (out / "pairs.json").write_text(json.dumps(asdict(info), indent=2))
    return info


def load_pairs(folder: Path, hold_out: set[str] = frozenset()) -> tuple[
        list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]], dict]:
    """The (LR, HR) uint8 RGB pairs of a cache made by :func:`build_cache`, split into those to train on and
    those of the images named in ``hold_out`` (file names: the training run's validation images, which
    must not be learnt from in any form), and its pairs.json."""
    meta = json.loads((folder / "pairs.json").read_text())
    train, held = [], []
    for shard in sorted(folder.glob("*.npz")):
        source = Path(meta["images"][int(shard.stem)]).name
        with np.load(shard) as data:
            (held if source in hold_out else train).extend(zip(data["lr"], data["hr"]))
    if not train:
        raise SystemExit(f"no pairs to train on in {folder}")
    return train, held, meta
