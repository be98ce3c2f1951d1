"""Encoder threads yield the CPU to the rest of rtsr.

The thread that feeds the engine (the upscale stage: colour work, copies,
Python) is on the critical path of every frame; the encoder is not, as long
as its queue has room. On a machine with few cores, x264's threads (one and a
half per core, plus lookahead) otherwise take the CPU from that thread
whenever they have work: with an engine that waits 8 ms per frame without
using the CPU (rtsr.bench_stages.StandInEngine), 320×192 → 640×384 and x264
medium on 2 cores ran 75 fps with equal priorities and 84–86 fps with the
encoder 19 steps lower, against 103 fps for the engine alone
(docs/performance.md). Linux gives each thread its own niceness and a new
thread inherits its creator's: an encoder opened on a lowered thread starts
its worker threads lowered. Elsewhere these helpers do nothing.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

from rtsr.threads import call_on_thread

ENCODER_NICENESS = 19  # steps below the process's priority (the lowest Linux has)

T = TypeVar("T")


def lower_this_thread(steps: int = ENCODER_NICENESS) -> None:
    """Lower the calling thread's priority by ``steps`` niceness (Linux; no-op elsewhere or when refused)."""
    if not sys.platform.startswith("linux"):
        return
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + steps))
    except OSError:
        pass


def call_lowered(function: Callable[[], T], steps: int = ENCODER_NICENESS) -> T:
    """``function()`` on a short-lived thread of lowered priority; its result, or its exception, here.

    Threads that ``function`` starts (an encoder's worker threads, opened
    there) keep the lowered priority after it returns.
    """
    return call_on_thread(function, "rtsr-encoder-open", setup=lambda: lower_this_thread(steps))
