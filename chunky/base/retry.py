"""Retry file operations that fail because another program holds the file (Windows WinError 32/33).

Virus scanners, OneDrive and the search indexer open fresh files for a moment; Windows then refuses to
open, rename or delete them ("The process cannot access the file because it is being used by another
process"). Such errors clear by themselves within seconds, so they are retried with backoff; any other
error is raised at once. Standard library only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from chunky.base.errors import FileLockedError, exception_chain

log = logging.getLogger("chunky.base.retry")

T = TypeVar("T")

DEFAULT_DELAYS: tuple[float, ...] = (0.5, 1, 2, 4, 8)
_delays: tuple[float, ...] = DEFAULT_DELAYS
# ERROR_SHARING_VIOLATION, ERROR_LOCK_VIOLATION
LOCK_WINERRORS = frozenset({32, 33})
WINDOWS_DOC_HINT = "see docs/windows.md, section 'WinError 32: file in use'"


def is_lock_error(exc: BaseException) -> bool:
    """True for an OSError whose ``winerror`` is 32 or 33 (the file is open in another program)."""
    return isinstance(exc, OSError) and getattr(exc, "winerror", None) in LOCK_WINERRORS


def _find_lock_error(exc: BaseException) -> OSError | None:
    """The lock error itself, or one it was raised from (libraries sometimes wrap it)."""
    return next((e for e in exception_chain(exc) if is_lock_error(e)), None)  # type: ignore[return-value]


def configure(delays: Sequence[float]) -> None:
    """Set the process's retry delays (seconds); the entry points pass ``Settings.lock_retry_delays``."""
    global _delays
    _delays = tuple(float(d) for d in delays)


def default_delays() -> tuple[float, ...]:
    """The retry delays in seconds: those :func:`configure` set, else :data:`DEFAULT_DELAYS`."""
    return _delays


def locked_file_message(filename: str | None, what: str, attempts: int, waited: float) -> str:
    target = f"The file {filename}" if filename else "A file"
    return (
        f"{target} stayed locked by another program while {what} "
        f"({attempts} attempts over {waited:g} s). Close programs that may hold it open (another Chunky, "
        "an editor, a file browser preview), and exclude Chunky's model_cache and local_models folders from "
        "antivirus scanning, OneDrive/cloud sync and Windows Search indexing; then try again "
        f"({WINDOWS_DOC_HINT})."
    )


def retry_on_lock(
    fn: Callable[[], T],
    *,
    what: str,
    delays: Sequence[float] | None = None,
    sleep: Callable[[float], object] = time.sleep,
    between: Callable[[], object] | None = None,
) -> T:
    """Run ``fn``; while it fails with a lock error, call ``between``, sleep the next delay and retry.

    ``what`` completes "while ..." in messages, e.g. ``"extracting parakeet.nemo"``. ``delays`` defaults to
    :func:`default_delays`; after the last one a :class:`FileLockedError` is raised from the lock error.
    """
    waits = tuple(default_delays() if delays is None else delays)
    attempt = 0
    while True:
        attempt += 1
        try:
            return fn()
        except Exception as exc:
            lock = _find_lock_error(exc)
            if lock is None:
                raise
            filename = lock.filename or getattr(lock, "filename2", None)
            if attempt > len(waits):
                message = locked_file_message(str(filename) if filename else None, what, attempt, sum(waits))
                raise FileLockedError(message) from exc
            delay = waits[attempt - 1]
            log.warning(
                "%s is locked by another program while %s (attempt %d of %d); retrying in %g s",
                filename or "A file",
                what,
                attempt,
                len(waits) + 1,
                delay,
            )
            if between is not None:
                try:
                    between()
                except Exception:  # freeing memory is best effort; never hide the retry
                    log.debug("between() failed during a lock retry", exc_info=True)
            sleep(delay)
