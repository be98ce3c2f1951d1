"""Cores this process may use: affinity capped by a container's CPU quota (cgroup v2 and v1)."""

from __future__ import annotations

import os

from rtsr.cores import available_cores, cgroup_cpu_quota


def _affinity() -> int:
    return len(os.sched_getaffinity(0))


def test_cgroup_v2_quota_caps_the_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")  # docker --cpus 1.5
    assert cgroup_cpu_quota(tmp_path) == 1.5
    assert available_cores(tmp_path) == min(_affinity(), 2)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_quota(tmp_path) is None and available_cores(tmp_path) == _affinity()


def test_cgroup_v1_quota_and_no_cgroup_at_all(tmp_path):
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (tmp_path / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_quota(tmp_path) == 1.0 and available_cores(tmp_path) == 1
    (tmp_path / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert cgroup_cpu_quota(tmp_path) is None
    assert available_cores(tmp_path / "missing") == _affinity()


def test_the_cpu_engine_never_starts_more_threads_than_cores(monkeypatch):
    import torch

    from rtsr.engines import base
    from rtsr.engines.cpu import CpuEngine
    from rtsr.models import MODELS

    before = torch.get_num_threads()
    monkeypatch.setattr(base, "available_cores", lambda: 1)
    try:
        torch.set_num_threads(max(2, before))
        CpuEngine(MODELS["fsrcnn"].build(2))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


def test_the_command_sets_a_short_openmp_spin_before_torch_loads():
    import subprocess
    import sys

    code = ("import os, sys\n"
            "import rtsr.entry\n"
            "assert 'torch' not in sys.modules\n"
            "sys.argv = ['rtsr', '--version']\n"
            "try:\n    rtsr.entry.run()\nexcept SystemExit:\n    pass\n"
            "print(os.environ['GOMP_SPINCOUNT'])\n")
    env = {k: v for k, v in os.environ.items() if k != "GOMP_SPINCOUNT"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "1000"
    mine = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**env, "GOMP_SPINCOUNT": "5"})
    assert mine.stdout.strip().splitlines()[-1] == "5"  # a user's own setting wins
