"""Output-path policy: which containers rtsr writes, and the checks made before any work starts."""

from __future__ import annotations

import os
from pathlib import Path

from rtsr.errors import InputError
from rtsr.io.probe import is_pipe

# Output extension -> FFmpeg muxer name.
OUTPUT_FORMATS = {
    ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
}  # not AVI: it cannot start a resumable chunk part-way at its own time (AVI input is fine)


def muxer_for(dst: Path) -> str:
    """The muxer for ``dst``'s extension, or InputError naming the ones rtsr writes."""
    muxer = OUTPUT_FORMATS.get(Path(dst).suffix.lower())
    if muxer is None:
        raise InputError(
            f"unknown output extension {Path(dst).suffix or '(none)'!r}; use one of "
            + ", ".join(OUTPUT_FORMATS) + ("; or end the path with / for a folder" if not Path(dst).suffix else "")
        )
    return muxer


def check_output(dst: Path, overwrite: bool) -> str:
    """Validate an output path (extension, existing file, directory); returns the muxer name."""
    dst = Path(dst)
    if is_pipe(dst):
        raise InputError(f"{dst} is a pipe: it is written in one pass (`rtsr IN -o -`, Upscaler.upscale_stream)")
    muxer = muxer_for(dst)
    if dst.is_dir():
        raise InputError(f"output is a directory: {dst}")
    if dst.exists() and not overwrite:
        raise InputError(f"output exists: {dst} (pass --overwrite to replace it)")
    parent = dst.parent if str(dst.parent) else Path(".")
    if not parent.is_dir():
        raise InputError(f"output directory does not exist: {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"output directory is not writable: {parent}")
    return muxer


def check_paths(src: Path, dst: Path, overwrite: bool) -> str:
    """Validate the output path against the input; returns the muxer name."""
    src, dst = Path(src), Path(dst)
    if dst.resolve() == src.resolve() or (dst.exists() and src.exists() and os.path.samefile(src, dst)):
        raise InputError("output path is the input; choose another output file")
    return check_output(dst, overwrite)
