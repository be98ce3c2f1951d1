"""The segment work on a Ray cluster: long-lived actors, each holding a warm engine.

``--ray`` connects to ``ADDRESS`` (or ``$RAY_ADDRESS``), else starts a local
cluster for the run. Each actor loads its model once (on its node: the
engine is chosen there, so GPU nodes use their GPUs) and then takes segments:
the driver sends a segment's compressed packets (rtsr.io.packets) and gets
back the encoded chunk's bytes, so no shared filesystem is needed and no raw
frame ever crosses the object store. An actor that dies (node lost, OOM) has
its segment retried on a fresh actor; a driver that dies resumes from its
work folder like any run. rtsr must be installed on every node.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import tempfile
import time
from pathlib import Path

from rtsr.errors import RtsrError
from rtsr.io.packets import PacketRun
from rtsr.segments.pool import Outcome, WorkerCrashed, WorkerSpec
from rtsr.segments.worker import SegmentResult, SegmentTask

log = logging.getLogger("rtsr")

_RESTARTS_PER_ACTOR = 3
RAY_CONNECT_SECONDS = 10.0  # how long a Ray cluster at an address may take to answer (--timeout)
# A gRPC server (Ray's GCS, the Ray Client server) answers HTTP/2's client preface with a SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_SETTINGS_FRAME = 4


def ray_available() -> None:
    """Raise RtsrError saying how to get Ray when it is not installed."""
    if importlib.util.find_spec("ray") is None:
        raise RtsrError("--ray needs Ray, which is not installed: pip install 'rtsr[ray]'")


def check_ray_address(address: str | None, timeout: float = RAY_CONNECT_SECONDS) -> None:
    """RtsrError within ``timeout`` seconds when nothing that speaks Ray's protocol answers at ``address``.

    ``ray.init`` with an address where no cluster runs retries for many
    minutes and does not return to Python, so Ctrl-C cannot stop it. So rtsr
    first connects itself and checks that a gRPC server (Ray's GCS, or a Ray
    Client server for ``ray://``) answers HTTP/2's preface. Addresses Ray
    resolves itself (``auto``, ``local``, none) are left to Ray.
    """
    if not address or address in ("auto", "local"):
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not port.isdigit():
        return
    deadline = time.monotonic() + timeout
    where = f"the Ray cluster at {address}"
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout) as conn:
            conn.sendall(_HTTP2_PREFACE)
            answer = b""
            while len(answer) < 9:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    raise RtsrError(f"{where} closed the connection: is it a Ray head node's GCS port (6379)?")
                answer += chunk
    except TimeoutError:
        raise RtsrError(f"{where} did not answer within {timeout:g} s: is it a Ray head node's GCS port "
                        "(6379)? (--timeout sets the wait)") from None
    except OSError as err:
        raise RtsrError(f"cannot reach {where}: {err.strerror or err}") from None
    if answer[3] != _SETTINGS_FRAME:
        raise RtsrError(f"{where} does not speak Ray's protocol (gRPC)")


class SegmentActor:
    """A Ray actor: one loaded model, encoding segments sent to it (wrapped by ray.remote in RayPool)."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.runner = spec.build_runner()

    def encode(self, task: SegmentTask, packets: PacketRun) -> tuple[SegmentResult, bytes]:
        """Encode one segment; returns its result and the chunk file's bytes (b"" when it has no frame)."""
        from rtsr.segments.worker import encode_segment  # noqa: PLC0415

        with tempfile.TemporaryDirectory(prefix="rtsr-segment-") as folder:
            out = Path(folder) / "chunk"
            result = encode_segment(self.runner, task, packets, out)
            return result, out.read_bytes() if result.frames else b""


class RayPool:
    """Segment workers as Ray actors; the same interface as rtsr.segments.pool.LocalPool."""

    def __init__(self, address: str, spec: WorkerSpec, jobs: int | None, segments: int,
                 timeout: float = RAY_CONNECT_SECONDS) -> None:
        ray_available()
        import ray  # noqa: PLC0415

        self.ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            check_ray_address(address or os.environ.get("RAY_ADDRESS"), timeout)
            try:
                ray.init(address=address or None, include_dashboard=False, logging_level=logging.ERROR,
                         log_to_driver=True)
            except ConnectionError as err:
                raise RtsrError(f"cannot reach the Ray cluster at {address or os.environ.get('RAY_ADDRESS')}: "
                                f"{err}") from None
        resources = ray.cluster_resources()
        cpus, gpus = resources.get("CPU", 1.0), resources.get("GPU", 0.0)
        wants_gpu = gpus > 0 and spec.engine in ("auto", "cuda", "tensorrt")
        actors = jobs or (max(1, int(gpus * 2)) if wants_gpu else max(1, int(cpus // 2)))
        actors = max(1, min(actors, segments))
        options: dict[str, float] = {"num_cpus": max(0.25, min(2.0, cpus / actors))}
        if wants_gpu:
            options["num_gpus"] = min(1.0, gpus / actors)  # fractions: several actors share a GPU
        self.reason = (f"Ray: {actors} actor{'s' * (actors != 1)}, each "
                       + " and ".join(f"{value:g} {name[4:-1].upper()}" for name, value in options.items())
                       + f", on a cluster of {cpus:g} CPU" + (f" and {gpus:g} GPU" if gpus else ""))
        self.encoder_threads = max(1, round(options["num_cpus"]))  # each actor's share of its node
        self.spec = spec
        self._actor_class = ray.remote(max_restarts=0)(SegmentActor).options(**options)
        self._restarts_left = _RESTARTS_PER_ACTOR * actors
        self.actors = [self._actor_class.remote(spec) for _ in range(actors)]
        self.busy: dict[object, tuple[object, SegmentTask, Path]] = {}  # object ref -> (actor, task, chunk path)

    @property
    def size(self) -> int:
        return len(self.actors)

    @property
    def free(self) -> int:
        return len(self.actors) - len(self.busy)

    def submit(self, task: SegmentTask, packets: PacketRun, out: os.PathLike) -> None:
        busy = {id(actor) for actor, _, _ in self.busy.values()}
        actor = next(actor for actor in self.actors if id(actor) not in busy)
        self.busy[actor.encode.remote(task, packets)] = (actor, task, Path(out))

    def wait(self, timeout: float) -> list[Outcome]:
        if not self.busy:
            return []
        ready, _ = self.ray.wait(list(self.busy), num_returns=1, timeout=timeout)
        if ready:
            rest = [ref for ref in self.busy if ref not in ready]
            ready += self.ray.wait(rest, num_returns=len(rest), timeout=0)[0] if rest else []
        return [self._collect(ref) for ref in ready]

    def _collect(self, ref: object) -> Outcome:
        actor, task, out = self.busy.pop(ref)
        exceptions = self.ray.exceptions
        try:
            result, data = self.ray.get(ref)
        except exceptions.RayActorError:
            return self._replace(actor, task)
        except exceptions.RayTaskError as err:
            cause = err.cause
            if isinstance(cause, RtsrError):
                return Outcome("failed", task, error=cause)
            return Outcome("failed", task, error=WorkerCrashed(
                f"a Ray worker failed on segment {task.segment.index} of {task.label}:\n{err}"))
        if data:
            out.write_bytes(data)
        return Outcome("done", task, result=result)

    def _replace(self, actor: object, task: SegmentTask) -> Outcome:
        log.warning("a Ray segment worker died; segment %d will be redone", task.segment.index)
        if self._restarts_left <= 0:
            raise RtsrError("Ray segment workers keep dying (out of memory? a lost node?)")
        self._restarts_left -= 1
        self.actors[self.actors.index(actor)] = self._actor_class.remote(self.spec)
        return Outcome("lost", task)

    def close(self) -> None:
        """Stop the actors (and the local cluster, when this run started it)."""
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors, self.busy = [], {}
        if self._owns_ray:
            self.ray.shutdown()
