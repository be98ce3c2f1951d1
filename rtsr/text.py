"""Small helpers for the words in messages (torch-free: rtsr.io uses them too)."""

from __future__ import annotations


def counted(count: int, noun: str) -> str:
    """"1 frame", "12 frames", "0 frames": the count and the noun, plural unless the count is one."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
