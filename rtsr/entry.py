"""The ``rtsr`` command's entry point (console script and ``python -m rtsr``).

It sets one process-wide default before torch, and with it OpenMP, loads:
``GOMP_SPINCOUNT=1000``. torch's OpenMP threads otherwise spin for a long
while waiting on each other, and beside other work a peer is often
descheduled: FSRCNN ×3 640×360 with two threads on 2 cores ran 7.7–9.3 fps
beside a busy loop against 11.7–12.2 fps with the shorter spin, and 6.0 against
11.1 fps each for two runs at once; alone, 26.3–27.5 against 24.9–26.7 fps
(docs/performance.md). Segment workers inherit it. A value already in the
environment wins; the Python API (``import rtsr``) sets nothing.
"""

from __future__ import annotations

import os
from typing import NoReturn

OPENMP_SPIN_COUNT = "1000"


def run() -> NoReturn:
    os.environ.setdefault("GOMP_SPINCOUNT", OPENMP_SPIN_COUNT)
    from rtsr.cli import run as run_cli  # noqa: PLC0415  (after the environment is set: it loads torch)

    run_cli()
