"""The cuda engine's network compiled with ``torch.compile``, per frame size, with an eager fallback.

FSRCNN is tiny and memory-bound on a GPU: eager PyTorch launches one kernel
per layer and activation, each reading and writing the whole frame, so the
launches and the extra memory traffic dominate. Inductor fuses the
activations into the convolutions' epilogues and autotunes the kernels for
the one shape a video has (``dynamic=False``: frames keep one size).

* The first frame of each size compiles, announced in the log with its time;
  later frames of that size run the compiled code.
* Inductor's caches live in ``$RTSR_COMPILE_DIR`` (default
  ``~/.cache/rtsr/inductor``) unless ``TORCHINDUCTOR_CACHE_DIR`` is set, so
  the next run of the same model and size starts from the disk.
* A compile that fails (no compiler, an unsupported op, a torch bug) is
  reported once, with its reason, and the run goes on eagerly: compiling is
  an optimisation, never a reason to stop.
* ``MODE`` leaves CUDA graphs out ("max-autotune-no-cudagraphs"): a graph
  replay overwrites its previous outputs, which run_in_strips still holds
  when a frame takes several strips, and that path has not yet been checked on
  a GPU (no session so far had one).

Device-agnostic: the tests compile on the CPU.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger("rtsr")

MODE = "max-autotune-no-cudagraphs"
# What a failed compile raises: torch's own errors (TorchDynamoException and InductorError are
# RuntimeErrors), a missing or broken C++/Triton toolchain (OSError, ImportError, CalledProcessError).
COMPILE_ERRORS = (RuntimeError, OSError, ImportError, AssertionError, NotImplementedError)


def compile_cache_dir() -> Path:
    """Where Inductor keeps compiled kernels and autotuning results between runs."""
    return Path(os.environ.get("RTSR_COMPILE_DIR") or Path.home() / ".cache" / "rtsr" / "inductor")


class CompiledNetwork:
    """Calls ``network`` through torch.compile; the eager network after a failed compile.

    ``label`` names it in messages ("fsrcnn ×3"). ``state`` says what ran:
    "compiled (MODE)", or "eager: <why>" after a failure.
    """

    def __init__(self, network: nn.Module, label: str, mode: str = MODE) -> None:
        self.network, self.label, self.mode = network, label, mode
        self._compiled: nn.Module | None = None
        self._shapes: set[tuple[int, ...]] = set()
        self.failure: str | None = None

    @property
    def state(self) -> str:
        return f"eager: {self.failure}" if self.failure else f"compiled ({self.mode})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.failure is not None:
            return self.network(x)
        shape = tuple(x.shape)
        try:
            if shape in self._shapes:
                return self._compiled(x)
            return self._compile_for(x)
        except COMPILE_ERRORS as err:
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            self.failure = f"compiling failed ({type(err).__name__}: {reason})"
            log.warning("%s: %s; running without compiling (--no-compile skips the attempt)", self.label,
                        self.failure)
            return self.network(x)

    def _compile_for(self, x: torch.Tensor) -> torch.Tensor:
        if self._compiled is None:
            os.environ.setdefault("TORCHINDUCTOR_CACHE_DIR", str(compile_cache_dir()))
            self._compiled = torch.compile(self.network, mode=self.mode, dynamic=False, fullgraph=True)
        height, width = x.shape[-2:]
        log.info("compiling %s for %d×%d (once per size; cached in %s) …", self.label, width, height,
                 os.environ["TORCHINDUCTOR_CACHE_DIR"])
        started = time.perf_counter()
        out = self._compiled(x)
        if x.device.type == "cuda":
            torch.cuda.synchronize(x.device)
        log.info("compiled %s for %d×%d in %.1f s", self.label, width, height, time.perf_counter() - started)
        self._shapes.add(tuple(x.shape))
        return out
