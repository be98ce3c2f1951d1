"""Running one call on a helper thread and handing its result, or its exception, back to the caller."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_WAIT_SECONDS = 0.1  # the caller waits in slices, so Ctrl-C reaches it at once


def call_on_thread(function: Callable[[], T], name: str, *, setup: Callable[[], None] | None = None,
                   daemon: bool = False) -> T:
    """``function()`` on a new thread (``setup()`` first, there); its result, or its exception, here.

    Two uses: threads that ``function`` starts inherit the helper's
    lowered priority (rtsr.io.priority), and a call that FFmpeg blocks in
    leaves the caller's thread free to take Ctrl-C (rtsr.live.sources). A
    ``daemon`` helper is left to finish on its own if the caller is interrupted.
    """
    outcome: list = []

    def run() -> None:
        try:
            if setup is not None:
                setup()
            outcome.append((True, function()))
        except BaseException as err:  # noqa: BLE001  (re-raised in the caller's thread just below)
            outcome.append((False, err))

    helper = threading.Thread(target=run, name=name, daemon=daemon)
    helper.start()
    while helper.is_alive():
        helper.join(_WAIT_SECONDS)
    succeeded, value = outcome[0]
    if not succeeded:
        raise value
    return value
