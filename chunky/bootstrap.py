"""First import of every entry point: resolve Chunky's folders and redirect temp files.

Windows scanners and sync clients lock fresh files in ``%TEMP%``; NeMo and Gradio write there on
every model load, transcription and upload. Importing this module, before torch, nemo or gradio,
points ``TMPDIR``/``TEMP``/``TMP``/``GRADIO_TEMP_DIR`` and ``tempfile.tempdir`` at a per-process
folder under ``model_cache/tmp`` that the user can exclude from scanning once.

Standard library only (plus ``chunky.base``, filelock and platformdirs: pure Python, nothing heavy).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from chunky.base.fs import ProcessLock, is_writable, lock_is_held

log = logging.getLogger("chunky.bootstrap")

APP_ROOT = Path(__file__).resolve().parent.parent
HEAVY_MODULES = ("torch", "nemo", "gradio")
TEMP_VARS = ("TMPDIR", "TEMP", "TMP")
LOCK_NAME = ".chunky-session.lock"
# A session folder without a lock file is left alone for this long (its owner may be starting).
_GRACE_SECONDS = 120.0


@dataclass(frozen=True)
class AppPaths:
    app_root: Path
    local_models: Path
    model_cache: Path
    tmp_root: Path  # model_cache/tmp: one session folder per running process
    tmp: Path  # this process's temp folder, inside tmp_root
    extracted: Path
    outputs: Path
    gradio_tmp: Path
    fallback: bool  # True when the default location was not writable

    @property
    def system_temp_redirected(self) -> bool:
        return Path(tempfile.gettempdir()).resolve().is_relative_to(self.tmp_root.resolve())


def resolve_folders(environ: os._Environ | dict = os.environ) -> tuple[Path, Path, bool]:
    """Return (local_models, model_cache, fell_back)."""
    home = environ.get("CHUNKY_HOME", "").strip()
    if home:
        base = Path(home).expanduser().resolve()
        return base / "local_models", base / "model_cache", False
    local_models, model_cache = APP_ROOT / "local_models", APP_ROOT / "model_cache"
    if is_writable(model_cache) and is_writable(local_models):
        return local_models, model_cache, False
    import platformdirs

    data = Path(platformdirs.user_data_dir("Chunky", appauthor=False)).resolve()
    cache = Path(platformdirs.user_cache_dir("Chunky", appauthor=False)).resolve()
    return data / "local_models", cache / "model_cache", True


def _session_is_dead(folder: Path) -> bool:
    """A session folder's owner holds its lock file for as long as it lives; a folder without one is given
    a grace period (its owner may be starting)."""
    lock = folder / LOCK_NAME
    if not lock.exists():
        try:
            age = time.time() - folder.stat().st_mtime
        except OSError:
            return False
        return age > _GRACE_SECONDS
    return not lock_is_held(lock)


def _remove_tree_best_effort(path: Path) -> list[str]:
    skipped: list[str] = []

    def on_error(func, p, exc):  # a locked file is skipped, never fatal
        skipped.append(str(p))

    if path.is_dir() and not path.is_symlink():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=on_error)
        else:
            shutil.rmtree(path, onerror=on_error)
    else:
        try:
            path.unlink()
        except OSError:
            skipped.append(str(path))
    return skipped


def clean_stale_temp(tmp_root: Path, keep: Path | None = None) -> list[str]:
    """Delete what crashed runs left in ``tmp_root``; return the paths that could not be deleted."""
    skipped: list[str] = []
    try:
        entries = list(tmp_root.iterdir())
    except OSError:
        return skipped
    for entry in entries:
        if keep is not None and entry == keep:
            continue
        if entry.is_dir() and not entry.is_symlink():
            if _session_is_dead(entry):
                skipped += _remove_tree_best_effort(entry)
        else:
            try:
                old = time.time() - entry.lstat().st_mtime > _GRACE_SECONDS
            except OSError:
                continue
            if old:
                skipped += _remove_tree_best_effort(entry)
    if skipped:
        log.info("Left %d locked file(s) in %s; they are retried at the next start", len(skipped), tmp_root)
    return skipped


def _redirect_temp(tmp: Path, gradio_tmp: Path) -> None:
    for var in TEMP_VARS:
        os.environ[var] = str(tmp)
    os.environ["GRADIO_TEMP_DIR"] = str(gradio_tmp)
    tempfile.tempdir = str(tmp)


def _init() -> AppPaths:
    already = [m for m in HEAVY_MODULES if m in sys.modules]
    if already:
        log.warning(
            "chunky.bootstrap was imported after %s; temp files of those modules may still go to "
            "the system temp folder. Import chunky.bootstrap first.",
            ", ".join(already),
        )
    local_models, model_cache, fallback = resolve_folders()
    if fallback:
        log.warning(
            "The folder beside app.py (%s) is not writable; using %s and %s instead. "
            "Set CHUNKY_HOME to choose another place.",
            APP_ROOT,
            local_models,
            model_cache,
        )
    tmp_root = model_cache / "tmp"
    for folder in (local_models, model_cache, tmp_root):
        folder.mkdir(parents=True, exist_ok=True)
    tmp = tmp_root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    global _session_lock
    _session_lock = ProcessLock(tmp / LOCK_NAME)  # held (never released) while this process lives
    clean_stale_temp(tmp_root, keep=tmp)
    gradio_tmp = tmp / "gradio"
    gradio_tmp.mkdir()
    _redirect_temp(tmp, gradio_tmp)
    extracted = model_cache / "extracted"
    outputs = model_cache / "outputs"
    for folder in (extracted, outputs):
        folder.mkdir(parents=True, exist_ok=True)
    return AppPaths(
        app_root=APP_ROOT,
        local_models=local_models,
        model_cache=model_cache,
        tmp_root=tmp_root,
        tmp=tmp,
        extracted=extracted,
        outputs=outputs,
        gradio_tmp=gradio_tmp,
        fallback=fallback,
    )


_session_lock: ProcessLock | None = None
PATHS: AppPaths = _init()


def paths() -> AppPaths:
    """The folders resolved at first import (importing again, or calling this, changes nothing)."""
    _redirect_temp(PATHS.tmp, PATHS.gradio_tmp)  # re-assert, in case something reset them
    return PATHS
