"""The on-disk cache of built engines: keys, atomic writes, integrity checks.

It holds what is slow to make and cheap to load: TensorRT engines (``.ep``,
minutes to build) and the ONNX graphs the OpenVINO engine compiles (``.onnx``,
a torch export of a second or two). A cached file is only used when every
ingredient that shaped it matches (weights hash, model, scale, shape profile,
precision, runtime / torch versions, device, rtsr version) and the file's
SHA-256 matches its manifest. Anything else (a stale key, a truncated or
corrupt file, a file that fails to load) is rebuilt, never trusted.

Layout: ``<dir>/<model>_x<scale>_<precision>_<digest16><suffix>`` plus a
``.json`` manifest beside it holding the key, the file's name and its hash.
The CPU engines' measured verdicts live beside them (rtsr.engines.picking).
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

def default_engine_dir() -> Path:
    """$RTSR_ENGINE_DIR, else ``engines/`` of a source checkout, else the user's cache folder."""
    if os.environ.get("RTSR_ENGINE_DIR"):
        return Path(os.environ["RTSR_ENGINE_DIR"]).expanduser()
    checkout = Path(__file__).resolve().parents[2] / "engines"
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
    runtime: str  # what builds and runs the file, with versions: "tensorrt 10.3, torch-tensorrt 2.5"
    device: str  # what it was built for: "NVIDIA H100 sm_90", or "any" for a portable graph
    torch: str
    rtsr: str
    suffix: str  # the file's extension: ".ep", ".onnx"

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()

    def filename(self) -> str:
        return f"{self.model}_x{self.scale}_{self.precision}_{self.digest()[:16]}{self.suffix}"


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
        return engine, engine.with_name(engine.stem + ".json")

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

        ``description`` names what is built in the progress lines, e.g.
        "TensorRT engine for fsrcnn ×3 fp16, strips 16x16-1280x720-3840x1152".
        """
        engine_path, manifest_path = self.paths(key)
        valid = self._valid(key)
        if valid is not None:
            try:
                return load(valid)
            except (RuntimeError, OSError, ValueError, EOFError) as err:
                log.warning("cached engine %s failed to load (%s); rebuilding", valid.name, err)
        log.info("building the %s … (once; later runs load it from %s)",
                 description, self.folder)
        started = time.perf_counter()
        built = build()
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomically(engine_path, lambda tmp: save(built, tmp))
            manifest = {"key": asdict(key), "sha256": file_sha256(engine_path), "file": engine_path.name,
                        "description": description, "built_seconds": round(time.perf_counter() - started, 1),
                        "built_at": time.strftime("%Y-%m-%d %H:%M:%S")}
            write_atomically(manifest_path, lambda tmp: tmp.write_text(json.dumps(manifest, indent=2)))
        except OSError as err:
            raise EngineUnavailable(f"cannot write the engine cache {self.folder}: {err}") from None
        log.info("built the %s in %.1f s, cached at %s",
                 description, time.perf_counter() - started, engine_path)
        return built

    def _manifests(self) -> list[tuple[Path, dict]]:
        """Each readable manifest with what it records (the key, the file's name and hash)."""
        found = []
        for manifest in sorted(self.folder.glob("*.json")):
            try:
                recorded = json.loads(manifest.read_text())
            except (OSError, ValueError):
                continue
            if isinstance(recorded, dict) and isinstance(recorded.get("key"), dict):
                found.append((manifest, recorded))
        return found

    def _file_of(self, manifest: Path, recorded: dict) -> Path:
        return self.folder / recorded.get("file", manifest.stem + recorded["key"].get("suffix", ".ep"))

    def entries(self) -> list[dict]:
        """Manifests of the cached engines, each with its file name and size."""
        found = []
        for manifest, recorded in self._manifests():
            engine = self._file_of(manifest, recorded)
            recorded["file"] = engine.name
            recorded["bytes"] = engine.stat().st_size if engine.is_file() else 0
            found.append(recorded)
        return found

    def clear(self) -> int:
        """Delete every cached engine and its manifest; returns how many engines went."""
        removed = 0
        for manifest, recorded in self._manifests():
            engine = self._file_of(manifest, recorded)
            removed += engine.is_file()
            engine.unlink(missing_ok=True)
            manifest.unlink(missing_ok=True)
        return removed
