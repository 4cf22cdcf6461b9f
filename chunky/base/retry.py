"""Retry file operations that fail because another program holds the file (Windows sharing violations).

Virus scanners, OneDrive and the search indexer open fresh files for a moment; Windows then refuses to
open, rename or delete them ("The process cannot access the file because it is being used by another
process"). Such errors clear by themselves within seconds, so they are retried with backoff; any other
error is raised at once. Standard library only.

A sharing violation takes two forms in Python on Windows: ``os.remove``, ``os.replace``, ``rmtree`` and
the like raise ``OSError`` with ``winerror`` 32 (or 33 for a locked range), but ``open()`` goes through
the C runtime, which turns the same violation into ``PermissionError: [Errno 13]`` with ``winerror``
None, exactly as it reports a real permission problem (a read-only file, a folder the user may not
write). For that form the file is asked directly (``CreateFileW``) whether another program holds it, so
a read-only file still fails at once instead of being retried for seconds. ``os.replace`` onto a file
another program holds (a CSV open in a spreadsheet), and renaming a folder while a file inside it is
held, fail with ``[WinError 5] Access is denied``; that too counts as a lock when the file (or one in the
folder) is held by another program right then.
"""

from __future__ import annotations

import errno
import logging
import os
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
ERROR_ACCESS_DENIED = 5
WINDOWS_DOC_HINT = "see docs/windows.md, section 'WinError 32: file in use'"


def is_lock_error(exc: BaseException) -> bool:
    """True when the file is open in another program: ``winerror`` 32 or 33, or (Windows) the EACCES that
    ``open()`` reports for a file another process holds without sharing."""
    if not isinstance(exc, OSError):
        return False
    winerror = getattr(exc, "winerror", None)
    if winerror in LOCK_WINERRORS:
        return True
    if os.name != "nt":
        return False
    names = [n for n in (exc.filename, exc.filename2) if isinstance(n, str)]
    if exc.errno == errno.EACCES and winerror is None:  # open(): the C runtime's form of both
        return any(held_by_another_program(n) for n in names)
    if winerror == ERROR_ACCESS_DENIED:  # a replaced target, or a folder with a file inside, is held
        return any(held_by_another_program(f) for n in names for f in _files_at(n))
    return False


def _files_at(path: str, limit: int = 1000) -> list[str]:
    """``path`` itself when it is a file; the files inside when it is a folder (at most ``limit``)."""
    if not os.path.isdir(path):
        return [path] if os.path.lexists(path) else []
    found: list[str] = []
    for root, _dirs, files in os.walk(path):
        found += [os.path.join(root, f) for f in files]
        if len(found) >= limit:
            break
    return found[:limit]


def held_by_another_program(path: str) -> bool:
    """Windows: does opening ``path`` to read, to write or to delete (rename) fail with a sharing violation
    right now? False elsewhere, and for a missing file or a real permission problem (access denied)."""
    if os.name != "nt":
        return False
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    create = kernel32.CreateFileW
    create.argtypes = [wintypes.LPCWSTR, wintypes.DWORD, wintypes.DWORD, wintypes.LPVOID, wintypes.DWORD,
                       wintypes.DWORD, wintypes.HANDLE]
    create.restype = wintypes.HANDLE
    kernel32.CloseHandle.argtypes = [wintypes.HANDLE]
    invalid = wintypes.HANDLE(-1).value
    share_all, open_existing, backup_semantics = 0x7, 3, 0x02000000  # backup semantics: folders too
    for access in (0x80000000, 0x40000000, 0x00010000):  # GENERIC_READ, GENERIC_WRITE, DELETE
        handle = create(os.fspath(path), access, share_all, None, open_existing, backup_semantics, None)
        if handle == invalid:
            if ctypes.get_last_error() in LOCK_WINERRORS:
                return True
            continue
        kernel32.CloseHandle(handle)
    return False


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
