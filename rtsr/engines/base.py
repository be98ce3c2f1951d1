"""What every engine shares: running a frame in strips, and timing work where it runs.

An engine maps a (1, C, H, W) float32 tensor in the model's domain, on
``engine.device``, to (1, C, H*scale, W*scale) float32. Strips overlapping by
the model's receptive radius give the result of one whole-frame pass while
the working set stays bounded: on the CPU that keeps activations in cache, on
a GPU it bounds memory for 4K frames.
"""

from __future__ import annotations

import ctypes
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch

from rtsr.cores import available_cores

Network = Callable[[torch.Tensor], torch.Tensor]


def run_in_strips(network: Network, x: torch.Tensor, scale: int, rows: int, halo: int) -> torch.Tensor:
    """Apply ``network`` to horizontal strips of ``rows`` LR rows with ``halo`` rows of context.

    Exact whenever ``halo`` covers the receptive radius: each output row sees
    the same inputs as in a whole-frame pass. x: (N, C, H, W) -> (N, C, H*s, W*s).
    """
    height = x.shape[-2]
    if height <= rows + halo:
        return network(x)
    count = -(-height // rows)
    rows = -(-height // count)  # equal strips: no sliver at the bottom (TensorRT has a minimum)
    pieces = []
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        lo, hi = max(0, top - halo), min(height, bottom + halo)
        out = network(x[..., lo:hi, :])
        pieces.append(out[..., (top - lo) * scale:(bottom - lo) * scale, :])
    return torch.cat(pieces, dim=-2)


class HostTimer:
    """Wall-clock time of work that is finished when the call returns (the CPU engines)."""

    def __init__(self) -> None:
        self._started = self._ended = 0.0

    def start(self) -> None:
        self._started = time.perf_counter()

    def stop(self) -> None:
        self._ended = time.perf_counter()

    def seconds(self) -> float:
        return self._ended - self._started


class CudaTimer:
    """GPU time between two CUDA events on the current stream; read after a synchronisation."""

    def __init__(self) -> None:
        self._start = torch.cuda.Event(enable_timing=True)
        self._end = torch.cuda.Event(enable_timing=True)

    def start(self) -> None:
        self._start.record()

    def stop(self) -> None:
        self._end.record()

    def seconds(self) -> float:
        self._end.synchronize()
        return self._start.elapsed_time(self._end) / 1000.0


def keep_freed_memory() -> bool:
    """Ask glibc to reuse freed activation buffers instead of returning them to the kernel.

    Each strip allocates ~10 MB activations. glibc serves such sizes with fresh
    mmap()s whose pages the kernel must zero on first touch, and that alone
    made FSRCNN ×2 run at 7.4 instead of 17.1 fps here (640×360, 2 cores).
    Fixing the mmap threshold at its 32 MiB maximum and never trimming the heap
    keeps those buffers mapped. Returns False where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 32 * 1024 * 1024)) and bool(mallopt(m_trim_threshold, 1 << 30))


def inference_threads(cores: int | None = None) -> int:
    """CPU inference threads: torch's setting (a segment worker's share), at most the cores we may use.

    ``cores``: available_cores() when None. OpenMP or TBB threads beyond the
    cores spin-wait on descheduled peers (rtsr.cores).
    """
    return max(1, min(torch.get_num_threads(), cores if cores is not None else available_cores()))


@contextmanager
def torch_threads_halved() -> Iterator[None]:
    """Half of the CPU inference threads (at least one) inside, the old count after.

    torch's thread count is the one setting every CPU engine follows (the
    openvino engine reads it at each frame), so halving it shares the cores
    whichever CPU engine runs.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, before // 2))
    try:
        yield
    finally:
        torch.set_num_threads(before)
