"""Resumable runs: the encoded video lands in chunk files in a hidden folder beside the output.

    .out.mp4.rtsr-work/
        job.json                   what is being made, and the chunks that are complete
        lock                       held (flock) by the run using the folder
        chunk-00000.mp4            complete chunks, listed in job.json
        chunk-00001.mp4
        chunk-00002.partial.mp4    the chunk being written; discarded if the run dies

A run closes its chunk every ``checkpoint_seconds`` of wall time, so a crash,
a kill or a power cut loses at most that much work. A run cut into segments
(rtsr.segments, ``--jobs``) has one chunk per segment instead,
``segment-00003.mp4``, listed as its segment finishes, in any order; a resumed
run redoes only the segments not listed. Running the same command
again resumes after the last complete chunk. When every frame is upscaled, the
chunks' packets and the input's audio, subtitles and cover art are muxed into
the output (no re-encoding) and the folder is removed.

A chunk counts only once it is closed, renamed into place *and* listed in
``job.json`` (written atomically after the rename, both flushed to the disk), so a chunk that was cut
short, or renamed but never listed, is never trusted. One run at a time uses
a folder: a second one on the same output stops with InputError.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from rtsr.atomic import commit_file, write_text_atomically
from rtsr.errors import EncodeError, InputError

log = logging.getLogger("rtsr")

MANIFEST = "job.json"
LOCK = "lock"


@dataclass(frozen=True)
class Chunk:
    """One complete chunk: its file name, how many frames it holds, its last frame's input pts.

    ``segment`` is the segment it holds in a segmented run (0 otherwise); a
    segment that yielded no frame is listed with an empty name.
    """

    name: str
    frames: int
    last_pts: int  # in the input video stream's time base
    segment: int = 0


def work_folder(dst: Path) -> Path:
    """The hidden work folder beside ``dst`` (same filesystem as the output)."""
    return dst.with_name(f".{dst.name}.rtsr-work")


def job_identity(src: Path, **settings: object) -> dict[str, object]:
    """What a resumed run must share with the first: the input file (path, size, mtime) and ``settings``."""
    stat = src.stat()
    return {"input": str(src.resolve()), "input_bytes": stat.st_size, "input_mtime_ns": stat.st_mtime_ns,
            **{key: value if isinstance(value, (int, float, str, bool, type(None))) else str(value)
               for key, value in settings.items()}}


class WorkFolder:
    """The chunks of one output, and the manifest that says which of them are complete."""

    def __init__(self, dst: Path, identity: dict[str, object]) -> None:
        """The work folder of ``dst``; chunks are files of dst's own format."""
        self.path = work_folder(dst)
        self.suffix = dst.suffix
        self.identity = identity
        self.chunks: list[Chunk] = []
        self._lock: int | None = None

    def open(self) -> list[Chunk]:
        """Take up an unfinished run of the same job, or start afresh; returns the complete chunks.

        Raises InputError while another run holds the folder.
        """
        try:
            self.path.mkdir(exist_ok=True)
            self._lock = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # /proc, a read-only mount, a full disk: before any work, in one line
            raise InputError(f"cannot create the work folder {self.path} beside the output: "
                             f"{err.strerror or err}") from None
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released by the kernel if we die
        except BlockingIOError:
            self.close()
            raise InputError(f"another rtsr run is writing this output (its work folder {self.path} "
                             "is in use)") from None
        manifest = self._read_manifest()
        if manifest is not None and manifest.get("job") == self.identity:
            for chunk in manifest.get("chunks", []):
                if chunk["name"] and not (self.path / chunk["name"]).is_file():  # missing: keep what precedes it
                    break
                self.chunks.append(Chunk(**chunk))
        elif manifest is not None:
            log.warning("%s holds an unfinished run of another input or other settings; starting over",
                        self.path)
        listed = {chunk.name for chunk in self.chunks if chunk.name} | {MANIFEST, LOCK}
        for leftover in self.path.iterdir():  # cut-short, never-listed or another job's files
            if leftover.name in listed:
                continue
            if leftover.is_dir():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
        self._write_manifest()
        return list(self.chunks)

    @property
    def frames_done(self) -> int:
        return sum(chunk.frames for chunk in self.chunks)

    @property
    def last_pts(self) -> int | None:
        """Input pts of the last frame already upscaled, or None when nothing is done."""
        return self.chunks[-1].last_pts if self.chunks else None

    def files(self) -> list[Path]:
        """The complete chunks' files, in order (segments in display order)."""
        ordered = sorted(enumerate(self.chunks), key=lambda item: (item[1].segment, item[0]))
        return [self.path / chunk.name for _, chunk in ordered if chunk.name]

    @property
    def done_segments(self) -> set[int]:
        return {chunk.segment for chunk in self.chunks}

    def segment_partial_path(self, segment: int) -> Path:
        """Where a worker writes segment ``segment``'s chunk while it is being encoded."""
        return self.path / f"segment-{segment:05d}.partial{self.suffix}"

    def commit_segment(self, segment: int, frames: int, last_pts: int | None) -> None:
        """Segment ``segment``'s chunk is complete at segment_partial_path(): rename it into place and list it."""
        name = f"segment-{segment:05d}{self.suffix}" if frames else ""
        self._record(self.segment_partial_path(segment), Chunk(name, frames, -1 if last_pts is None else last_pts,
                                                                segment))

    def discard_partials(self) -> None:
        """Remove every chunk still being written (workers stopped part-way)."""
        for partial in self.path.glob("*.partial*"):
            partial.unlink(missing_ok=True)

    def partial_path(self) -> Path:
        """Where the next chunk is written while it is open."""
        return self.path / f"chunk-{len(self.chunks):05d}.partial{self.suffix}"

    def commit(self, frames: int, last_pts: int) -> None:
        """The chunk at partial_path() is closed: rename it into place and list it."""
        self._record(self.partial_path(), Chunk(f"chunk-{len(self.chunks):05d}{self.suffix}", frames, last_pts))

    def _record(self, partial: Path, chunk: Chunk) -> None:
        """Rename ``partial`` into place as ``chunk`` and list it; EncodeError when the disk refuses (full)."""
        try:
            if chunk.name:
                commit_file(partial, self.path / chunk.name)  # on the disk before the manifest lists it
            self.chunks.append(chunk)
            try:
                self._write_manifest()
            except OSError:
                self.chunks.pop()  # not listed on the disk: the next run will not trust it either
                raise
        except OSError as err:
            raise EncodeError(f"cannot save the upscaled work in {self.path}: {err.strerror or err}") from None

    def discard_partial(self) -> None:
        self.partial_path().unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the folder (the job is done, or nothing worth keeping was made)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self.close()

    def close(self) -> None:
        """Let another run take the folder up."""
        if self._lock is not None:
            os.close(self._lock)
            self._lock = None

    def _read_manifest(self) -> dict | None:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except (OSError, ValueError):
            return None

    def _write_manifest(self) -> None:
        write_text_atomically(self.path / MANIFEST, json.dumps(
            {"job": self.identity, "chunks": [asdict(c) for c in self.chunks]}, indent=1))
