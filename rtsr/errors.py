"""The library's one error family.

Everything rtsr raises on purpose is an :class:`RtsrError`; the CLI turns it
into a one-line message and exit code 1. Subclasses say which concern failed,
so callers of the Python API can catch narrowly.
"""


class RtsrError(Exception):
    """Base class: a problem the user can act on (bad input, missing weights...)."""


class InputError(RtsrError):
    """The input file or the requested output cannot be used."""


class WeightsError(RtsrError):
    """A weights file is missing, unreadable, or for another architecture/scale."""


class EngineUnavailable(RtsrError):
    """The requested inference engine cannot run on this machine."""


class DecodeError(RtsrError):
    """The input stopped being readable part-way (an I/O error, an unsupported feature).

    A single corrupt packet is not an error: it is skipped, logged and counted
    in the report.
    """


class EncodeError(RtsrError):
    """The encoder or muxer failed: it rejected the output settings, or writing failed part-way."""
