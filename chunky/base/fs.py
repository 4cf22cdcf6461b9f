"""File-system helpers for every layer: the one atomic writer, fsync, inter-process locks, hashing, sizes,
disk-full detection and a writability probe.

Standard library and ``filelock`` only (both run under a bare Windows CPython). Every file Chunky writes
for the user or for itself (outputs, manifests, job history, settings, zips) goes through
:func:`atomic_file`: ``<name>.partial`` in the same folder, flushed to disk, then ``os.replace``d over the
real name, so a crash or a full disk never leaves a half-written file under the real name.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import hashlib
import json
import logging
import os
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from chunky.base.retry import retry_on_lock

log = logging.getLogger(__name__)

PARTIAL_SUFFIX = ".partial"
HASH_BLOCK = 1 << 20
COPY_BLOCK = 8 << 20


# --- writing ------------------------------------------------------------------------------------------


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file to write ``path``'s new content into.

    On a clean exit the content is flushed to disk and replaces ``path`` (retried while another program,
    e.g. a spreadsheet showing a CSV or a virus scanner, holds ``path`` open). On any error the partial
    file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        retry_on_lock(lambda: os.replace(partial, path), what=f"saving {path}", between=gc.collect)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def atomic_write(path: Path, data: bytes | str) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8, lines as given) atomically."""
    with atomic_file(path) as f:
        f.write(data.encode("utf-8") if isinstance(data, str) else data)


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 2, sort_keys: bool = False) -> None:
    """``data`` as UTF-8 JSON (non-ASCII kept as it is, a final newline) through :func:`atomic_write`."""
    text = json.dumps(data, ensure_ascii=False, indent=indent, sort_keys=sort_keys) + "\n"
    atomic_write(path, text)


@contextlib.contextmanager
def resumable_file(path: Path, keep: int) -> Iterator[IO[bytes]]:
    """``path`` (a download's ``.incomplete`` file, never a real name) open for appending after its first
    ``keep`` bytes (the rest, if any, cut off). On exit, clean or not, what was written is flushed to disk
    and kept: the next try continues from there. Moved into place with :func:`finish_partial`."""
    path = Path(path)
    mode = "r+b" if keep and path.is_file() else "wb"
    with open(path, mode) as f:
        try:
            f.seek(keep if mode == "r+b" else 0)
            f.truncate()
            yield f
        finally:
            with contextlib.suppress(OSError):
                f.flush()
                os.fsync(f.fileno())


def finish_partial(partial: Path, dest: Path) -> None:
    """Move a complete ``partial`` (written by :func:`resumable_file`) over ``dest`` atomically."""
    retry_on_lock(lambda: os.replace(partial, dest), what=f"moving {Path(partial).name} into {dest}",
                  between=gc.collect)
    fsync_dir(Path(dest).parent)


def read_json(path: Path) -> Any:
    """The parsed file, or None when it is missing or unreadable (the latter is logged)."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable %s: %s", path, exc)
        return None


def copy_file(src: Path, dest: Path) -> None:
    """Copy in large blocks and flush the copy to disk."""
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        while block := fin.read(COPY_BLOCK):
            fout.write(block)
        fout.flush()
        os.fsync(fout.fileno())


def fsync_dir(folder: Path) -> None:
    """Make a rename inside ``folder`` durable (POSIX); Windows cannot open a folder, NTFS journals it."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- facts about files and folders -------------------------------------------------------------------


def sha256_file(path: Path, stop: threading.Event | None = None) -> str:
    """Streaming sha256 in 1 MiB blocks (hashlib releases the GIL, so this runs well in a thread)."""
    h = hashlib.sha256()
    buf = bytearray(HASH_BLOCK)
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while True:
            if stop is not None and stop.is_set():
                raise InterruptedError("hashing cancelled")
            n = f.readinto(buf)
            if not n:
                break
            h.update(view[:n])
    return h.hexdigest()


def human_size(n: float) -> str:
    """``"2.47 GB"``, ``"12.0 GB"``, ``"1.2 MB"``: decimal units (as the Hub and disk makers count), three
    significant digits or so."""
    if n >= 1e10:
        return f"{n / 1e9:,.1f} GB"
    return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def is_writable(folder: Path) -> bool:
    """True when a file can be created (and deleted) in ``folder``, which is created if missing."""
    try:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


# --- locks between processes -------------------------------------------------------------------------


class ProcessLock:
    """An exclusive OS lock on a lock file, taken at once or not at all (another Chunky process holding
    it raises :class:`OSError`). ``release`` unlocks and, with ``remove``, deletes the lock file."""

    def __init__(self, path: Path):
        from filelock import FileLock, Timeout

        self.path = Path(path)
        self._lock = FileLock(str(self.path), timeout=0)
        try:
            self._lock.acquire()
        except Timeout as exc:
            raise BlockingIOError(errno.EAGAIN, "locked by another process", str(self.path)) from exc

    def release(self, remove: bool = True) -> None:
        if not self._lock.is_locked:
            return
        self._lock.release()
        if remove:
            with contextlib.suppress(OSError):
                self.path.unlink()


def lock_is_held(path: Path) -> bool:
    """True while a live process (this one included) holds the lock file ``path``; a missing file is free."""
    if not os.path.lexists(path):
        return False
    try:
        ProcessLock(path).release(remove=False)
    except BlockingIOError:
        return True
    except OSError:
        return True  # cannot tell: treat it as held, leave it alone
    return False
