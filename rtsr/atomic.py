"""The one way rtsr writes a file that must never be seen half-written.

Write into a hidden temporary file beside the target (same filesystem, so the
rename is atomic), flush it to the disk, rename it over the target, then flush
the folder so the rename itself survives a power cut. A reader sees the old
file or the whole new one, never a torn one; a crash leaves at most a hidden
temporary file, which :func:`remove_stale_temporaries` cleans up.

Plain Python: the I/O code, the models and the tools all use it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable
from pathlib import Path


def temporary_path(path: Path) -> Path:
    """The hidden file beside ``path`` that this process writes before renaming it into place.

    The suffix is kept, so writers that pick a format from it (muxers,
    ``torch.save``) see the real one.
    """
    path = Path(path)
    return path.with_name(f".{path.stem}.rtsr-{os.getpid()}.partial{path.suffix}")


def remove_stale_temporaries(path: Path) -> None:
    """Delete temporary files of ``path`` that a killed process left behind.

    Call only while no other process can be writing ``path`` (rtsr holds the
    output's work-folder lock then).
    """
    path = Path(path)
    pattern = glob.escape(f".{path.stem}.rtsr-") + "*" + glob.escape(f".partial{path.suffix}")
    for stale in path.parent.glob(pattern):
        stale.unlink(missing_ok=True)


def orphaned_temporaries(path: Path) -> list[Path]:
    """Temporary files of ``path`` whose writer is no longer running (killed before it could rename them)."""
    path = Path(path)
    pattern = glob.escape(f".{path.stem}.rtsr-") + "*" + glob.escape(f".partial{path.suffix}")
    found = []
    for candidate in sorted(path.parent.glob(pattern)):
        pid = candidate.name[len(f".{path.stem}.rtsr-"):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and _running(int(pid)):
            continue  # another rtsr is writing it now
        found.append(candidate)
    return found


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: running
        return True
    return True


def fsync_file(path: Path) -> None:
    """Flush a closed file's data to the disk."""
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename into it) to the disk; a no-op where folders cannot be opened."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:  # some filesystems do not sync folders; the data itself is synced
        pass
    finally:
        os.close(handle)


def commit_file(written: Path, path: Path) -> None:
    """Put the complete, closed file ``written`` at ``path`` durably: fsync, rename, fsync the folder.

    For files written over time by someone else (a muxer writing a chunk);
    :func:`write_atomically` is the same step around a write callback.
    """
    fsync_file(written)
    os.replace(written, path)
    fsync_folder(Path(path).parent if str(Path(path).parent) else Path("."))


def write_atomically(path: Path, write: Callable[[Path], None], temporary: Path | None = None) -> None:
    """Have ``write(tmp)`` write the whole file at ``tmp``, then put it at ``path`` durably.

    ``temporary`` defaults to :func:`temporary_path`. On any failure the
    temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    tmp = Path(temporary) if temporary is not None else temporary_path(path)
    try:
        write(tmp)
        commit_file(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomically(path: Path, text: str) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(text))
