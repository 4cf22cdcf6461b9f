"""Removing what killed runs left behind: staging and trash folders in ``extracted/``, stale ``.partial``
files in ``local_models/``. Whatever another live Chunky process still uses (its lock is held) stays."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

from chunky.base.fs import PARTIAL_SUFFIX, lock_is_held
from chunky.models.extract import LOCK_SUFFIX, STAGING_PREFIX, TRASH_PREFIX

log = logging.getLogger(__name__)

# A ``.partial`` file written without a lock, untouched for this long, belongs to a run that was killed.
PARTIAL_GRACE_SECONDS = 600.0


def clean_leftovers(extracted_root: Path, local_models: Path) -> list[Path]:
    """Remove leftovers of killed runs; return what was removed."""
    removed = _clean_extractions(extracted_root) + _clean_partials(local_models)
    if removed:
        log.info("Removed %d leftover(s) of interrupted runs: %s", len(removed),
                 ", ".join(p.name for p in removed))
    return removed


def _clean_extractions(root: Path) -> list[Path]:
    """Trash folders always; staging folders (and lock files) whose lock nobody holds."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if name.startswith(TRASH_PREFIX):
            pass
        elif name.startswith(STAGING_PREFIX) and name.endswith(LOCK_SUFFIX):
            folder = entry.with_name(name[: -len(LOCK_SUFFIX)])
            if os.path.lexists(folder) or lock_is_held(entry):
                continue
        elif name.startswith(STAGING_PREFIX):
            if lock_is_held(entry.with_name(name + LOCK_SUFFIX)):
                continue
        else:
            continue
        if _remove_quietly(entry):
            removed.append(entry)
            lock = entry.with_name(name + LOCK_SUFFIX)
            if name.startswith(STAGING_PREFIX) and lock.exists() and not lock_is_held(lock):
                _remove_quietly(lock)
    return removed


def _clean_partials(folder: Path) -> list[Path]:
    """``*.partial`` files of killed runs. An import holds ``<file>.partial.lock`` while it works; small
    files written without a lock (the sources record) are left alone for a grace period."""
    removed: list[Path] = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        if entry.name.endswith(PARTIAL_SUFFIX + LOCK_SUFFIX):
            partial = entry.with_name(entry.name[: -len(LOCK_SUFFIX)])
            if not os.path.lexists(partial) and not lock_is_held(entry) and _remove_quietly(entry):
                removed.append(entry)
            continue
        if not entry.name.endswith(PARTIAL_SUFFIX) or not entry.is_file():
            continue
        lock = entry.with_name(entry.name + LOCK_SUFFIX)
        if lock.exists():
            if lock_is_held(lock):
                continue
        else:
            try:
                if now - entry.stat().st_mtime <= PARTIAL_GRACE_SECONDS:
                    continue
            except OSError:
                continue
        if _remove_quietly(entry):
            removed.append(entry)
            if lock.exists() and not lock_is_held(lock):
                _remove_quietly(lock)
    return removed


def _remove_quietly(path: Path) -> bool:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        return True
    except FileNotFoundError:
        return True
    except OSError as exc:
        log.info("Could not remove %s yet (%s); trying again at the next start", path, exc)
        return False
