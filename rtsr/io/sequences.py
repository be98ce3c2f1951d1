"""Image sequences in and out: ``rtsr "frames/%05d.png" -o out.mp4 --fps 24``, ``-o "up/%05d.png"``.

Photographers, editors and compositors keep video as numbered pictures.
FFmpeg reads and writes them through its ``image2`` (de)muxer: a printf
pattern (``%05d``) or, for a folder, a glob of its pictures. A sequence has
no audio, no timestamps but the frame rate given (``--fps``, default 25,
FFmpeg's), and cannot be cut into segments, so it runs in one pass
(rtsr.streaming). Written frames are lossless: PNG or TIFF at the input's
bit depth (16 bits a channel above 8), WebP lossless at 8. Each file is
written under a temporary name and renamed (the muxer's ``atomic_writing``),
so a frame on disk is always whole. Torch-free, like all of rtsr.io.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from pathlib import Path

import av

from rtsr.errors import InputError

PATTERN = re.compile(r"%0?\d*d")
PICTURE_SUFFIXES = (".png", ".tif", ".tiff", ".webp", ".jpg", ".jpeg", ".bmp", ".exr", ".dpx")
# Output picture format -> (encoder, its options, pixel formats by preference: deep first, then 8-bit).
SEQUENCE_OUTPUTS = {
    ".png": ("png", {}, ("rgb48be", "rgb24")),
    ".tif": ("tiff", {}, ("rgb48le", "rgb24")),
    ".tiff": ("tiff", {}, ("rgb48le", "rgb24")),
    ".webp": ("libwebp", {"lossless": "1"}, ("bgra",)),
}
DEFAULT_RATE = Fraction(25)  # FFmpeg's image2 default
DEFAULT_NAME = "%06d.png"  # frames written into a folder


def is_pattern(path: Path | str) -> bool:
    """A printf-numbered name: ``frames/%05d.png``."""
    return bool(PATTERN.search(Path(path).name))


def folder_glob(folder: Path) -> str | None:
    """``folder/*.EXT`` for the pictures in ``folder`` (the most common picture extension), or None."""
    counts = Counter(p.suffix.lower() for p in Path(folder).iterdir()
                     if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in PICTURE_SUFFIXES)
    if not counts:
        return None
    suffix = counts.most_common(1)[0][0]
    return str(Path(folder) / f"*{suffix}")


def open_sequence(spec: Path | str, rate: Fraction | None) -> av.container.InputContainer:
    """The pictures of a printf pattern or a folder, as one video at ``rate`` frames per second."""
    spec = Path(spec)
    options = {"framerate": str(rate or DEFAULT_RATE)}
    if spec.is_dir():
        pattern = folder_glob(spec)
        if pattern is None:
            raise InputError(f"no pictures in {spec}")
        options["pattern_type"] = "glob"
    else:
        pattern = str(spec)
        options["pattern_type"] = "sequence"
    try:
        return av.open(pattern, "r", format="image2", options=options)
    except av.FFmpegError as err:
        raise InputError(f"cannot read the picture sequence {spec} ({err.strerror}): is the first number "
                         "at most 4? (FFmpeg looks for it from 0 to 4)") from None


def output_pattern(dst: Path, is_folder: bool) -> str | None:
    """Where a sequence goes: ``dst`` itself when it is a pattern, ``dst/%06d.png`` for a folder; else None."""
    if is_pattern(dst):
        return str(dst)
    if is_folder:
        return str(Path(dst) / DEFAULT_NAME)
    return None


def sequence_encoder(pattern: str, bits: int) -> tuple[str, dict[str, str], str]:
    """(encoder, options, pixel format) for writing ``pattern``'s pictures from ``bits``-bit video."""
    suffix = Path(pattern).suffix.lower()
    if suffix not in SEQUENCE_OUTPUTS:
        raise InputError(f"picture sequences are written as {', '.join(SEQUENCE_OUTPUTS)} (lossless), "
                         f"not {suffix or '(no extension)'}")
    codec, options, formats = SEQUENCE_OUTPUTS[suffix]
    return codec, dict(options), formats[0] if bits > 8 else formats[-1]


def check_sequence_output(pattern: str, overwrite: bool) -> None:
    """The folder exists (it is made), and its first frame's file is not there unless ``overwrite``."""
    folder = Path(pattern).parent
    folder.mkdir(parents=True, exist_ok=True)
    first = folder / (Path(pattern).name % 1)
    if first.exists() and not overwrite:
        raise InputError(f"output exists: {first} (pass --overwrite to replace the sequence)")
