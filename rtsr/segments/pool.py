"""Local worker processes, each holding a loaded model, encoding segments sent by the driver.

Processes, not threads: the upscale stage holds the GIL for its Python and
tensor glue, so threads would take turns. Each worker is started with the
``spawn`` method (a fresh interpreter: no forked CUDA context or OpenMP
pool), loads its model once, then takes segments one at a time over its own
pipe. A worker ignores Ctrl-C; the driver stops every worker itself
(:meth:`LocalPool.close`), within a second. A worker that dies part-way (OOM
killer, kill -9) is reported as *lost*; the driver retries its segment on a
fresh worker.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rtsr.errors import RtsrError
from rtsr.io.packets import PacketRun
from rtsr.logs import log_to_stderr
from rtsr.segments.worker import SegmentResult, SegmentTask

if TYPE_CHECKING:
    from rtsr.run_spec import RunSpec
    from rtsr.runner import Runner

log = logging.getLogger("rtsr")

# Workers that may die before the pool gives up: a worker that cannot even start would otherwise be restarted forever.
_RESTARTS_PER_WORKER = 3
UNGUARDED_EXIT = 86  # a worker found its parent's script upscaling at import: the guard is missing
UNGUARDED = ("segment workers start with multiprocessing's spawn, which runs the calling script again in each "
             "worker, and this script upscales when it runs: put the calls under `if __name__ == \"__main__\":`, "
             "or pass jobs=1")
_STOP_SECONDS = 1.0  # how long close() waits for a terminated worker before killing it


@dataclass(frozen=True)
class WorkerSpec:
    """What every worker runs (the driver's RunSpec: local workers get auto's pick by name, Ray nodes choose
    their own engine) and with how many inference threads."""

    run: RunSpec
    torch_threads: int = 1  # inference threads (CPU engine)
    log_level: int = logging.WARNING

    @property
    def engine(self) -> str:
        return self.run.engine

    def build_runner(self) -> Runner:
        """In the worker: its inference threads set, the weights loaded (RtsrError when they cannot be)."""
        import torch  # noqa: PLC0415  (in the worker: the driver need not load it for the spec)

        from rtsr.runner import build_runner  # noqa: PLC0415  (likewise)

        torch.set_num_threads(self.torch_threads)
        return build_runner(self.run)


@dataclass
class Outcome:
    """What became of one submitted segment: ``done`` (result), ``failed`` (error) or ``lost`` (worker died)."""

    kind: str
    task: SegmentTask
    result: SegmentResult | None = None
    error: BaseException | None = None


def exit_reason(code: int | None) -> str:
    """Why a worker ended, as far as its exit code tells: SIGKILL is most often the kernel short of memory."""
    if code == -signal.SIGKILL:
        return "killed: most often the kernel, short of memory"
    if code is not None and code < 0:
        return f"killed by signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def exit_if_spawning() -> None:
    """In a worker that is still starting (spawn runs the parent's main script again, as ``__mp_main__``),
    a call that would upscale means the script has no ``if __name__ == "__main__":`` guard: exit at once
    with UNGUARDED_EXIT, which the parent turns into one line (LocalPool), instead of every worker
    starting workers of its own and dying with a RuntimeError traceback each."""
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        os._exit(UNGUARDED_EXIT)  # nothing of this half-started process is worth cleaning up


class WorkerCrashed(RuntimeError):
    """A worker met an unexpected error (a bug, not bad input); carries the worker's traceback."""


class _Worker:
    def __init__(self, context: multiprocessing.context.SpawnContext, spec: WorkerSpec, number: int) -> None:
        self.conn, child = context.Pipe()
        self.process = context.Process(target=worker_main, args=(child, spec, os.getpid()),
                                       name=f"rtsr-segment-{number}", daemon=True)
        self.process.start()
        child.close()
        self.task: SegmentTask | None = None


class LocalPool:
    """``jobs`` worker processes; submit() to a free one, wait() for what finished."""

    def __init__(self, jobs: int, spec: WorkerSpec) -> None:
        self.spec = spec
        self._context = multiprocessing.get_context("spawn")
        self._started = 0
        self._restarts_left = _RESTARTS_PER_WORKER * jobs
        self.workers = [self._start() for _ in range(jobs)]

    def _start(self) -> _Worker:
        self._started += 1
        return _Worker(self._context, self.spec, self._started)

    @property
    def free(self) -> int:
        return sum(worker.task is None for worker in self.workers)

    @property
    def size(self) -> int:
        return len(self.workers)

    def submit(self, task: SegmentTask, packets: PacketRun, out: Path) -> None:
        """Send a segment to a free worker; its chunk is to be written at ``out``."""
        worker = next(worker for worker in self.workers if worker.task is None)
        worker.task = task
        try:
            worker.conn.send((task, packets, str(out)))
        except (BrokenPipeError, ConnectionResetError, EOFError):
            pass  # it died: wait() reports the segment lost

    def wait(self, timeout: float) -> list[Outcome]:
        """Outcomes of finished, failed or lost segments; [] when none within ``timeout`` seconds."""
        waitables = {}
        for worker in self.workers:
            waitables[worker.conn] = worker
            waitables[worker.process.sentinel] = worker
        ready = multiprocessing.connection.wait(list(waitables), timeout)
        outcomes: list[Outcome] = []
        for worker in {id(waitables[r]): waitables[r] for r in ready}.values():
            outcomes += self._collect(worker)
        return outcomes

    def _collect(self, worker: _Worker) -> list[Outcome]:
        outcomes: list[Outcome] = []
        try:
            while worker.conn.poll():
                kind, payload = worker.conn.recv()
                if kind == "ready":
                    continue
                task, worker.task = worker.task, None
                if task is None:  # failed before any task: the model would not load
                    raise payload if isinstance(payload, BaseException) else WorkerCrashed(str(payload))
                if kind == "done":
                    outcomes.append(Outcome("done", task, result=payload))
                elif kind == "failed":
                    outcomes.append(Outcome("failed", task, error=payload))
                else:
                    outcomes.append(Outcome("failed", task, error=WorkerCrashed(
                        f"a worker failed on segment {task.segment.index} of {task.label}:\n{payload}")))
        except (EOFError, ConnectionResetError, OSError):
            pass
        if not worker.process.is_alive():
            outcomes += self._replace(worker)
        return outcomes

    def _replace(self, worker: _Worker) -> list[Outcome]:
        """A worker died: its segment (if any) is lost; a fresh worker takes its place."""
        code = worker.process.exitcode
        lost = [Outcome("lost", worker.task, error=WorkerCrashed(exit_reason(code)))] if worker.task else []
        if code == UNGUARDED_EXIT:
            raise RtsrError(UNGUARDED)
        log.warning("a segment worker died (exit code %s)%s", code,
                    f"; segment {worker.task.segment.index} will be redone" if worker.task else "")
        worker.conn.close()
        if self._restarts_left <= 0:
            raise RtsrError(f"segment workers keep dying ({exit_reason(code)}); run with --jobs 1, or fewer jobs")
        self._restarts_left -= 1
        self.workers[self.workers.index(worker)] = self._start()
        return lost

    def close(self) -> None:
        """Stop every worker now (whatever it is doing) and wait for them, a second at most each."""
        for worker in self.workers:
            try:
                worker.conn.send(None)  # an idle worker exits on its own
            except (OSError, ValueError):
                pass
            if worker.task is not None and worker.process.is_alive():
                worker.process.terminate()
        for worker in self.workers:
            worker.process.join(_STOP_SECONDS)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.conn.close()


DRIVER_CHECK_SECONDS = 0.25


def _exit_with_driver(driver_pid: int) -> None:
    """End this worker within DRIVER_CHECK_SECONDS once its driver is gone, however it went.

    A driver killed with SIGKILL closes no pipe in time: a worker blocked in a
    segment would go on encoding for many seconds. A thread watches the parent
    pid instead (portable, and unlike Linux's parent-death signal it does not
    depend on which driver thread started the worker). The segment's chunk is
    left unfinished; the next run redoes it from the work folder.
    """
    def watch() -> None:
        while os.getppid() == driver_pid:
            time.sleep(DRIVER_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="rtsr-driver-watch", daemon=True).start()


def worker_main(conn: multiprocessing.connection.Connection, spec: WorkerSpec, driver_pid: int | None = None) -> None:
    """A worker process: load the model once, then encode segments until told to stop or the driver goes."""
    if driver_pid is not None:
        _exit_with_driver(driver_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    log_to_stderr(spec.log_level)
    from rtsr.segments.worker import encode_segment  # noqa: PLC0415

    try:
        runner = spec.build_runner()
    except RtsrError as err:
        conn.send(("failed", err))
        return
    conn.send(("ready", None))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):  # the driver is gone
            return
        if message is None:
            return
        task, packets, out = message
        try:
            reply = ("done", encode_segment(runner, task, packets, Path(out)))
        except RtsrError as err:
            reply = ("failed", err)
        except BaseException:  # noqa: BLE001  (sent to the driver, which stops the run with it)
            reply = ("crashed", traceback.format_exc())
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return
