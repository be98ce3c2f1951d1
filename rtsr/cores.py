"""How many CPU cores this process may really use: its affinity, and a container's CPU quota.

A container started with ``--cpus 2`` on a 16-core host still sees 16 cores
through ``os.cpu_count()`` and its affinity; torch would then start 16
OpenMP threads for 2 cores' worth of time, and they spin-wait on each other
(issue 22: 0.7 fps beside another run). The quota is in the cgroup's
``cpu.max`` (v2) or ``cpu.cfs_quota_us``/``cpu.cfs_period_us`` (v1).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def available_cores(cgroup: Path = CGROUP) -> int:
    """Cores this process may run on: affinity (taskset), capped by the cgroup's CPU quota; at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    return max(1, min(cores, math.ceil(quota)) if quota else cores)


def cgroup_cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """CPUs' worth of time the cgroup allows (2.0 for ``--cpus 2``), or None when unlimited or unknown."""
    try:
        text = (cgroup / "cpu.max").read_text().split()  # v2: "200000 100000" or "max 100000"
        if text and text[0] != "max":
            return int(text[0]) / int(text[1])
        return None
    except (OSError, ValueError, IndexError):
        pass
    try:  # v1
        quota = int((cgroup / "cpu" / "cpu.cfs_quota_us").read_text())
        period = int((cgroup / "cpu" / "cpu.cfs_period_us").read_text())
        return quota / period if quota > 0 and period > 0 else None
    except (OSError, ValueError):
        return None
