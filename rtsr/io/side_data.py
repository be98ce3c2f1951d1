"""A decoded frame's side data, read so that a kind PyAV does not know never stops a run.

PyAV builds ``frame.side_data`` from an enum of the side-data kinds it was
built with; a newer FFmpeg attaching a newer kind (a 16-bit TIFF carries
kind 31 with FFmpeg 7.1) makes the whole container raise ``ValueError``. The
kinds rtsr reads (display matrix, encoder parameters, HDR metadata) are then
unreadable on that frame; it is treated as carrying none of them.
"""

from __future__ import annotations

import logging

import av

log = logging.getLogger(__name__)


def side_data(frame: av.VideoFrame | None) -> dict[str, bytes]:
    """The frame's side data as {kind name: payload bytes} (``"DISPLAYMATRIX"``, ``"VIDEO_ENC_PARAMS"``,
    ``"MASTERING_DISPLAY_METADATA"``...); {} for None or a frame whose side data PyAV cannot list."""
    if frame is None:
        return {}
    try:
        return {entry.type.name: bytes(entry) for entry in frame.side_data}
    except ValueError as err:  # a kind newer than PyAV's enum
        log.debug("the frame's side data cannot be listed by this PyAV (%s): read as none", err)
        return {}
