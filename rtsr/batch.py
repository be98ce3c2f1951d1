"""Many inputs into an output folder: ``rtsr a.mp4 b.mkv -o OUT/``, ``rtsr INDIR -o OUT/``.

Files are taken by content: a folder's files are probed, and those that are
not video (text, subtitles, still pictures) are left out with a note. Each
input is one ordinary run (rtsr.runs), so each is resumable on its own; an
output that already exists is a file finished by an earlier batch and is
skipped, so re-running the same command resumes the batch as a whole. A file
that fails is reported and the others go on.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import av

from rtsr.errors import InputError, RtsrError
from rtsr.io.output import OUTPUT_FORMATS
from rtsr.io.probe import InputVideo, main_video_stream
from rtsr.report import ProgressBar, ProgressFactory, Report
from rtsr.text import counted

log = logging.getLogger("rtsr")

# Demuxers of single pictures: a folder's photos and posters are not videos to upscale.
_STILL_FORMATS = frozenset({"image2", "apng"})


@dataclass
class BatchReport:
    """The outcome of every input of a batch."""

    done: list[Report] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name: why"
    failed: list[str] = field(default_factory=list)  # "name: error"
    wall_seconds: float = 0.0

    @property
    def frames(self) -> int:
        return sum(report.frames for report in self.done)

    def summary(self) -> str:
        fps = self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0
        lines = [f"{len(self.done)} upscaled, {len(self.skipped)} skipped, {len(self.failed)} failed: "
                 f"{counted(self.frames, 'frame')} in {self.wall_seconds:.1f} s ({fps:.2f} fps)"]
        lines += [f"skipped {item}" for item in self.skipped]
        lines += [f"FAILED {item}" for item in self.failed]
        return "\n".join(lines)


def is_batch(inputs: list[Path], output: Path, output_is_folder: bool = False) -> bool:
    """Several inputs, a folder as input, or a folder as output (one that exists, or ``output_is_folder``:
    the user wrote it with a trailing slash, which pathlib drops)."""
    return len(inputs) > 1 or any(path.is_dir() for path in inputs) or output.is_dir() \
        or output_is_folder or str(output).endswith("/")


def find_videos(inputs: list[Path]) -> tuple[list[Path], list[str]]:
    """The videos among ``inputs`` (folders: their files, not recursively, hidden ones left out).

    Named files are all kept (a bad one fails in its turn, with its reason);
    a folder's files are kept only when FFmpeg reads a moving picture from
    them. Returns (videos, notes on the files left out).
    """
    videos: list[Path] = []
    notes: list[str] = []
    for path in inputs:
        if not path.is_dir():
            if not path.exists():
                raise InputError(f"input not found: {path}")
            videos.append(path)
            continue
        for child in sorted(path.iterdir()):
            if child.name.startswith(".") or not child.is_file():
                continue
            why = _not_a_video(child)
            if why is None:
                videos.append(child)
            else:
                notes.append(f"{child.name}: {why}")
    return videos, notes


def _not_a_video(path: Path) -> str | None:
    try:
        with av.open(str(path), "r") as container:
            if container.format.name in _STILL_FORMATS or container.format.name.endswith("_pipe"):
                return "a still picture"
            if main_video_stream(container) is None:
                return "no video stream"
    except (av.FFmpegError, UnicodeDecodeError):
        return "not a media file"
    return None


def output_paths(videos: list[Path], out_dir: Path) -> dict[Path, Path]:
    """Where each input goes: its own name in ``out_dir``; an extension rtsr cannot write becomes .mkv."""
    targets: dict[Path, Path] = {}
    taken: set[Path] = set()
    for src in videos:
        suffix = src.suffix if src.suffix.lower() in OUTPUT_FORMATS else ".mkv"
        dst = out_dir / (src.stem + suffix)
        if dst in taken:  # clip.avi and clip.flv both make clip.mkv
            dst = out_dir / (src.name + ".mkv")
        if dst.resolve() == src.resolve():
            raise InputError(f"{src} would be overwritten by its own output; choose another output folder")
        taken.add(dst)
        targets[src] = dst
    return targets


class BatchProgress:
    """One progress line for the whole batch; each file reports into it at its offset."""

    def __init__(self, total: int) -> None:
        self.bar = ProgressBar(total)
        self.offset = 0

    def for_file(self) -> ProgressFactory:
        """The next file's ProgressFactory: its frames count from what the files before it did."""
        return lambda total, already: _FileShare(self.bar, self.offset)

    def finished(self, frames: int) -> None:
        self.offset += frames


class _FileShare:
    def __init__(self, bar: ProgressBar, offset: int) -> None:
        self.bar, self.offset = bar, offset

    def update(self, done: int) -> None:
        self.bar.update(self.offset + done)

    def close(self) -> None:
        self.bar.close()  # clears the line for the file's summary; the next update draws it again


def upscale_many(inputs: list[Path], out_dir: Path, run_one: Callable[[InputVideo, Path, ProgressFactory | None],
                                                                       Report],
                 overwrite: bool = False, progress: bool = False,
                 on_report: Callable[[str], None] | None = None, deinterlace: str = "auto") -> BatchReport:
    """Upscale every video among ``inputs`` into ``out_dir`` with ``run_one(video, dst, progress)``.

    ``on_report`` gets one line per file as it finishes (the CLI prints it).
    RtsrError and OSError of one file are recorded and the batch goes on;
    Ctrl-C stops the batch (the current file keeps its work).
    """
    started = time.perf_counter()
    if out_dir.exists() and not out_dir.is_dir():
        raise InputError(f"the output for several inputs must be a folder: {out_dir} is a file")
    videos, notes = find_videos(inputs)
    for note in notes:
        log.info("leaving out %s", note)
    stills = sum(note.endswith(": a still picture") for note in notes)
    if stills:
        log.warning("%d still picture%s left out: `rtsr photo.png -o photo_x3.png` upscales a picture, and "
                    "`rtsr FOLDER -o out.mp4 --fps 24` a folder of frames as one video", stills, "s" * (stills != 1))
    if not videos:
        raise InputError("no video files among the inputs"
                         + (f" ({stills} still picture{'s' * (stills != 1)}: `rtsr photo.png -o photo_x3.png` for "
                            "one, `rtsr FOLDER -o out.mp4 --fps 24` for frames)" if stills else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    targets = output_paths(videos, out_dir)
    batch = BatchReport()
    total = _total_frames(videos) if progress else 0
    shared = BatchProgress(total) if progress else None
    for src, dst in targets.items():
        if dst.exists() and not overwrite:
            batch.skipped.append(f"{src.name}: {dst} exists (finished earlier; --overwrite to redo it)")
            _say(on_report, f"{src.name}: skipped, {dst} exists")
            continue
        try:
            with InputVideo.open(src, deinterlace=deinterlace) as video:
                report = run_one(video, dst, shared.for_file() if shared else None)
        except (RtsrError, OSError) as err:
            batch.failed.append(f"{src.name}: {err}")
            _say(on_report, f"{src.name}: FAILED: {err}")
            continue
        batch.done.append(report)
        if shared is not None:
            shared.finished(report.frames + report.resumed_frames)
        _say(on_report, f"{src.name} → {dst}: {counted(report.frames, 'frame')} in {report.wall_seconds:.1f} s "
                        f"({report.fps:.2f} fps)")
    batch.wall_seconds = time.perf_counter() - started
    return batch


def _say(on_report: Callable[[str], None] | None, line: str) -> None:
    if on_report is not None:
        on_report(line)


def _total_frames(videos: list[Path]) -> int:
    """Frames in all inputs, as their containers state them (0 when unknown), for the progress line."""
    total = 0
    for path in videos:
        try:
            with av.open(str(path), "r") as container:
                stream = main_video_stream(container)
                total += stream.frames if stream is not None else 0
        except av.FFmpegError:
            continue
    return total
