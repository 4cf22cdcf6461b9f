"""Errors meant for the user: each message says what happened, to which file, and what to do."""

from __future__ import annotations

from collections.abc import Iterator


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what it was raised from or during (``__cause__``, else ``__context__``), and so on;
    libraries often wrap the error that says what really happened."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


class ChunkyError(Exception):
    """Base class for errors shown to the user as they are (no traceback needed)."""


class ModelNotFoundError(ChunkyError):
    pass


class ModelArchiveError(ChunkyError):
    """A .nemo archive is corrupt, truncated or unsafe."""


class FileLockedError(ChunkyError):
    """A file stayed locked by another program after every retry (Windows WinError 32/33)."""


class AudioError(ChunkyError):
    """A recording cannot be decoded or holds no usable audio."""


class DownloadError(ChunkyError):
    pass


class InvalidNameError(ChunkyError):
    pass


class CancelledError(ChunkyError):
    """A job was cancelled by the user; work finished before the cancel is kept."""


class NotEnoughSpaceError(ChunkyError):
    """The disk filled up (or would) while writing a model."""
