"""The on-disk cache of compiled engines: keys, atomic writes, integrity checks.

A cached engine is only used when every ingredient that shaped it matches
(weights hash, model, scale, shape profile, precision, TensorRT /
torch-tensorrt / torch versions, GPU, rtsr version) and the file's SHA-256
matches its manifest. Anything else (a stale key, a truncated or corrupt file,
a file that fails to load) is rebuilt, never trusted.

Layout: ``<dir>/<model>_x<scale>_<precision>_<digest16>.ep`` plus a
``.json`` manifest beside it holding the key and the file's hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

from rtsr.atomic import write_atomically
from rtsr.errors import EngineUnavailable

log = logging.getLogger("rtsr")
T = TypeVar("T")

ENGINE_SUFFIX = ".ep"


def default_engine_dir() -> Path:
    """$RTSR_ENGINE_DIR, else ``engines/`` of a source checkout, else the user's cache folder."""
    if os.environ.get("RTSR_ENGINE_DIR"):
        return Path(os.environ["RTSR_ENGINE_DIR"]).expanduser()
    checkout = Path(__file__).resolve().parents[1] / "engines"
    if (checkout / "README.md").is_file():
        return checkout
    cache_home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache_home / "rtsr" / "engines"


@dataclass(frozen=True)
class ShapeProfile:
    """The (height, width) range one engine accepts; TensorRT tunes for ``opt``."""

    min_hw: tuple[int, int]
    opt_hw: tuple[int, int]
    max_hw: tuple[int, int]

    def tag(self) -> str:
        (h0, w0), (h1, w1), (h2, w2) = self.min_hw, self.opt_hw, self.max_hw
        return f"{w0}x{h0}-{w1}x{h1}-{w2}x{h2}"


@dataclass(frozen=True)
class EngineKey:
    """Everything that would make a cached engine wrong if it changed."""

    model: str
    scale: int
    weights_sha256: str
    profile: str
    precision: str
    tensorrt: str
    torch_tensorrt: str
    torch: str
    gpu: str
    rtsr: str

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def filename(self) -> str:
        return f"{self.model}_x{self.scale}_{self.precision}_{self.digest()[:16]}{ENGINE_SUFFIX}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class EngineCache:
    """Compiled engines in one folder, each checked before it is trusted."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def paths(self, key: EngineKey) -> tuple[Path, Path]:
        engine = self.folder / key.filename()
        return engine, engine.with_suffix(".json")

    def _valid(self, key: EngineKey) -> Path | None:
        """The engine file when its manifest matches ``key`` and its bytes, else None (and why)."""
        engine, manifest = self.paths(key)
        if not engine.is_file() or not manifest.is_file():
            return None
        try:
            recorded = json.loads(manifest.read_text())
        except (OSError, ValueError):
            log.warning("engine manifest %s is unreadable; rebuilding", manifest)
            return None
        if recorded.get("key") != asdict(key):
            log.warning("cached engine %s was built for other settings; rebuilding", engine.name)
            return None
        if recorded.get("sha256") != file_sha256(engine):
            log.warning("cached engine %s is truncated or corrupt; rebuilding", engine.name)
            return None
        return engine

    def load_or_build(self, key: EngineKey, description: str, build: Callable[[], T],
                      save: Callable[[T, Path], None], load: Callable[[Path], T]) -> T:
        """Load the cached engine for ``key`` or build, save and return a new one.

        ``description`` names the engine in the progress lines, e.g.
        "fsrcnn ×3 fp16 for 16x16..3840x1152".
        """
        engine_path, manifest_path = self.paths(key)
        valid = self._valid(key)
        if valid is not None:
            try:
                return load(valid)
            except (RuntimeError, OSError, ValueError, EOFError) as err:
                log.warning("cached engine %s failed to load (%s); rebuilding", valid.name, err)
        log.info("building TensorRT engine for %s … (once; later runs load it from %s)",
                 description, self.folder)
        started = time.perf_counter()
        built = build()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(engine_path, lambda tmp: save(built, tmp))
            manifest = {"key": asdict(key), "sha256": file_sha256(engine_path),
                        "description": description, "built_seconds": round(time.perf_counter() - started, 1),
                        "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}
            write_atomically(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
        except OSError as err:
            raise EngineUnavailable(f"cannot write the engine cache {self.folder}: {err}") from None
        log.info("built TensorRT engine for %s in %.0f s, cached at %s",
                 description, time.perf_counter() - started, engine_path)
        return built

    def entries(self) -> list[dict]:
        """Manifests of the cached engines, each with its file name and size."""
        found = []
        for manifest in sorted(self.folder.glob("*.json")):
            engine = manifest.with_suffix(ENGINE_SUFFIX)
            try:
                recorded = json.loads(manifest.read_text())
            except (OSError, ValueError):
                continue
            recorded["file"] = engine.name
            recorded["bytes"] = engine.stat().st_size if engine.is_file() else 0
            found.append(recorded)
        return found

    def clear(self) -> int:
        """Delete every cached engine and manifest; returns how many engines went."""
        removed = 0
        for path in list(self.folder.glob(f"*{ENGINE_SUFFIX}")) + list(self.folder.glob("*.json")):
            removed += path.suffix == ENGINE_SUFFIX
            path.unlink(missing_ok=True)
        return removed
