"""--ray on a real Ray cluster of 2 CPUs, started (``ray start --head``) and stopped by this module itself.

The actors get the segments' packets through the object store and return
encoded chunks: no shared folder is used (the actors write their chunks in
their own temporary folder, which the test points at to see them at work).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import audio_payloads, frame_times

ray = pytest.importorskip("ray")

_START_SECONDS = 120
# The cluster and its clients share a token made for this run: nothing else on the network can use it.
_RAY_ENV = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16), "RAY_USAGE_STATS_ENABLED": "0"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ``ray stop --force`` stops every Ray process on the machine: these tests run on one test process.
pytestmark = pytest.mark.xdist_group("ray")


@pytest.fixture(scope="module")
def cluster():
    """(address, the actors' temporary folder) of a local 2-CPU Ray head node; stopped after the module.

    ``ray stop --force`` at the end stops every Ray process on this machine: run these tests where no
    other Ray cluster lives (CI, a developer's box). The folder is short: Ray's socket paths inside it
    must stay under 108 bytes, which pytest's per-worker temporary folders can pass.
    """
    ray_cli = str(Path(sys.executable).with_name("ray"))
    actor_tmp = Path(tempfile.mkdtemp(prefix="rtsr-ray-"))
    port = _free_port()
    env = {**os.environ, **_RAY_ENV, "TMPDIR": str(actor_tmp)}
    started = subprocess.run([ray_cli, "start", "--head", "--num-cpus", "2", "--num-gpus", "0",
                              "--port", str(port), "--include-dashboard", "false", "--disable-usage-stats"],
                             env=env, capture_output=True, text=True, timeout=_START_SECONDS)
    assert started.returncode == 0, started.stderr + started.stdout
    try:
        yield f"127.0.0.1:{port}", actor_tmp
    finally:
        subprocess.run([ray_cli, "stop", "--force"], capture_output=True, timeout=_START_SECONDS)
        shutil.rmtree(actor_tmp, ignore_errors=True)


def _command(src: Path, out: Path, weights: Path, address: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "rtsr", str(src), "-o", str(out), "--scale", "2", "--weights", str(weights),
            "--preset", "ultrafast", "--ray", address, *extra]


def test_ray_cluster_output_matches_one_job(cluster, clip_factory, random_weights, tmp_path):
    address, _ = cluster
    src = clip_factory("clip.mp4", frames=48, extra_options={"x264-params": "keyint=12:min-keyint=12"})
    weights = random_weights("fsrcnn", 2)
    result = subprocess.run(_command(src, tmp_path / "ray.mp4", weights, address, "--jobs", "2",
                                     "--segment-seconds", "0.5"), capture_output=True, text=True, timeout=300,
                            env={**os.environ, **_RAY_ENV})
    assert result.returncode == 0, result.stderr
    assert "Ray: 2 actors, each 1 CPU, on a cluster of 2 CPU" in result.stderr
    assert frame_times(tmp_path / "ray.mp4") == frame_times(src)
    assert audio_payloads(tmp_path / "ray.mp4") == audio_payloads(src)


def _actor_pids() -> list[int]:
    """Processes whose command line Ray set to the actor's name (as ps shows it)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and b"ray::SegmentActor" in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def test_a_killed_actor_has_its_segment_redone(cluster, clip_factory, random_weights, tmp_path):
    address, actor_tmp = cluster
    src = clip_factory("long.mp4", width=320, height=240, frames=144,
                       extra_options={"x264-params": "keyint=24:min-keyint=24"})
    out = tmp_path / "out.mp4"
    process = subprocess.Popen(_command(src, out, random_weights("fsrcnn", 2), address, "--jobs", "2",
                                        "--segment-seconds", "1"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, **_RAY_ENV})
    deadline = time.monotonic() + 180
    while not list(actor_tmp.glob("rtsr-segment-*/chunk")):  # an actor is encoding a segment
        assert process.poll() is None, process.communicate()[1]
        assert time.monotonic() < deadline, "no actor ever started a segment"
        time.sleep(0.05)
    pids = _actor_pids()
    assert pids, "no actor process found"
    os.kill(pids[0], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    assert "a Ray segment worker died" in stderr
    assert frame_times(out) == frame_times(src)


def test_ray_missing_says_how_to_get_it(clip_factory, tmp_path, monkeypatch):
    from rtsr.errors import RtsrError
    from rtsr.segments import ray_pool

    monkeypatch.setattr(ray_pool.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RtsrError, match=r"pip install 'rtsr\[ray\]'"):
        ray_pool.ray_available()
