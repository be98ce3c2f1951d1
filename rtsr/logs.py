"""rtsr's messages on stderr: 'rtsr: warning: ...' lines, like the CLI's error lines.

Set up by the CLI and by every segment worker process (rtsr.segments.pool),
so a worker's warning reads like the driver's.
"""

from __future__ import annotations

import logging
import sys


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"rtsr: {record.levelname.lower()}: {record.getMessage()}"


def log_to_stderr(level: int) -> None:
    """Send the "rtsr" logger's records at ``level`` and above to stderr, and nowhere else."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger = logging.getLogger("rtsr")
    logger.handlers[:] = [handler]
    logger.setLevel(level)
    logger.propagate = False
