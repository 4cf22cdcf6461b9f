"""The model store: ``.nemo`` archives in ``local_models/``, unpacked once into ``extracted/<name>/``.

Listing, the extraction on first use (or when the archive changed or the folder was damaged), verify,
remove and import. How an archive is read (:mod:`~chunky.models.archive`), unpacked
(:mod:`~chunky.models.extract`) and described (:mod:`~chunky.models.manifest`) lives beside it. Every
file operation a Windows scanner may block goes through the lock retry.

Standard library only (no torch, nemo or numpy): it also runs under a bare Windows CPython.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunky.base.errors import ChunkyError, ModelNotFoundError, NotEnoughSpaceError
from chunky.base.fs import (
    PARTIAL_SUFFIX,
    ProcessLock,
    atomic_write_json,
    copy_file,
    human_size,
    is_disk_full,
    sha256_file,
)
from chunky.base.names import is_valid_model_name, name_from_path, validate_model_name
from chunky.base.retry import retry_on_lock
from chunky.models.archive import check_nemo_file
from chunky.models.extract import LOCK_SUFFIX, SPACE_MARGIN, Extractor
from chunky.models.kinds import ASR, archive_kind, folder_kind
from chunky.models.leftovers import clean_leftovers
from chunky.models.manifest import MANIFEST_NAME, damage, matches_quick, read_manifest
from chunky.models.sources import SourceRegistry, now_iso
from chunky.models.verify import VerifyResult, check_archive

log = logging.getLogger(__name__)

__all__ = ["MANIFEST_NAME", "ModelInfo", "ModelStore", "NotEnoughSpaceError", "VerifyResult"]


@dataclass(frozen=True)
class ModelInfo:
    name: str
    archive: Path | None  # local_models/<name>.nemo, None when only the extracted folder is left
    source: str  # "hub:<repo id>", "imported" or "local" (dropped into local_models by hand)
    size: int  # archive bytes (extracted bytes when there is no archive)
    extracted: bool  # an up-to-date, complete extracted folder exists
    verified: bool | None  # result of the last verify() of this extraction; None: never verified
    kind: str = ASR  # what the model is for: chunky.models.kinds.ASR, DIARIZATION or SPEAKER


class ModelStore:
    """``.nemo`` archives in ``local_models`` and their extracted folders under ``extracted_root``."""

    def __init__(
        self,
        local_models: Path,
        extracted_root: Path,
        *,
        retry_delays: Sequence[float] | None = None,
        sleep: Callable[[float], object] = time.sleep,
    ):
        self.local_models = Path(local_models).expanduser().resolve()
        self.extracted_root = Path(extracted_root).expanduser().resolve()
        self.retry_delays = retry_delays
        self._sleep = sleep
        self.sources = SourceRegistry(self.local_models)
        self.extractor = Extractor(self.extracted_root, self._retry)
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self.local_models.mkdir(parents=True, exist_ok=True)
        self.extracted_root.mkdir(parents=True, exist_ok=True)
        self.clean_staging()

    # -- paths

    def archive_path(self, name: str) -> Path:
        """The model's archive: ``local_models/<name>.nemo`` (an existing ``.NEMO`` spelling is kept)."""
        name = validate_model_name(name)
        found = self._find_archive(name)
        return found if found is not None else self.local_models / f"{name}.nemo"

    def extracted_dir(self, name: str) -> Path:
        return self.extracted_root / validate_model_name(name)

    def _find_archive(self, name: str) -> Path | None:
        exact = self.local_models / f"{name}.nemo"
        if exact.is_file():
            return exact
        for entry in self._archive_files():
            if entry.stem == name:
                return entry
        return None

    def _archive_files(self) -> list[Path]:
        try:
            entries = list(self.local_models.iterdir())
        except OSError:
            return []
        return [
            e for e in entries if e.suffix.lower() == ".nemo" and not e.name.startswith(".") and e.is_file()
        ]

    def _retry(self, fn: Callable[[], Any], what: str) -> Any:
        return retry_on_lock(fn, what=what, delays=self.retry_delays, sleep=self._sleep, between=gc.collect)

    def _name_lock(self, name: str) -> threading.RLock:
        with self._locks_guard:
            return self._locks.setdefault(name, threading.RLock())

    def clean_staging(self) -> list[Path]:
        """Remove what killed runs left behind (see :mod:`chunky.models.leftovers`)."""
        return clean_leftovers(self.extracted_root, self.local_models)

    # -- listing

    def list_models(self) -> list[ModelInfo]:
        archives: dict[str, Path] = {}
        for path in self._archive_files():
            if is_valid_model_name(path.stem):
                archives.setdefault(path.stem, path)
            else:
                log.warning("Ignoring %s: %r is not a usable model name; rename the file", path, path.stem)
        extracted_only: dict[str, dict[str, Any]] = {}
        try:
            folders = [d for d in self.extracted_root.iterdir() if not d.name.startswith(".") and d.is_dir()]
        except OSError:
            folders = []
        for folder in folders:
            if folder.name in archives or not is_valid_model_name(folder.name):
                continue
            manifest = read_manifest(folder)
            if manifest is not None:
                extracted_only[folder.name] = manifest
        sources = self.sources.all()
        out: list[ModelInfo] = []
        for name in sorted(set(archives) | set(extracted_only), key=str.lower):
            archive = archives.get(name)
            folder = self.extracted_root / name
            manifest = extracted_only.get(name) or read_manifest(folder)
            extracted = False
            verified: bool | None = None
            size = 0
            st = None
            if archive is not None:
                try:
                    st = archive.stat()
                    size = st.st_size
                except OSError:
                    continue
            if manifest is not None and damage(folder, manifest) is None:
                extracted = st is None or matches_quick(manifest, st)
                v = manifest.get("verified")
                if extracted and isinstance(v, dict):
                    verified = bool(v.get("ok"))
                if st is None:
                    size = sum(int(f.get("size", 0)) for f in manifest["files"])
            elif manifest is not None:
                v = manifest.get("verified")
                if isinstance(v, dict) and v.get("ok") is False:
                    verified = False
            entry = sources.get(name)
            source = "local"
            if entry and (entry.get("size") is None or st is None or entry.get("size") == size):
                source = str(entry.get("source") or "local")
            kind = folder_kind(folder) if extracted or archive is None else archive_kind(archive)
            out.append(ModelInfo(name, archive, source, size, extracted, verified, kind))
        return out

    def kind(self, name: str) -> str:
        """What the model is for (chunky.models.kinds), read from its config; extracts it on first use."""
        return folder_kind(self.ensure_extracted(name))

    # -- extraction

    def ensure_extracted(self, name: str) -> Path:
        """The model's extracted folder, extracting first if it is missing, out of date or damaged."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            manifest = read_manifest(folder) if folder.is_dir() else None
            broken = damage(folder, manifest) if manifest is not None else None
            if archive is None:
                if manifest is not None and broken is None:
                    return folder
                raise self._not_found(name)
            st = self._retry(archive.stat, f"checking {archive}")
            known_sha: str | None = None
            if manifest is None:
                why = (
                    "not extracted yet"
                    if not os.path.lexists(folder)
                    else "the extracted folder has no manifest"
                )
            elif broken is not None:
                why = f"the extracted folder is damaged ({broken})"
            elif matches_quick(manifest, st):
                return folder
            elif manifest["archive"].get("size") == st.st_size:
                known_sha = self._retry(lambda: sha256_file(archive), f"checking {archive}")
                if known_sha == manifest["archive"].get("sha256"):
                    manifest["archive"]["mtime_ns"] = st.st_mtime_ns
                    atomic_write_json(folder / MANIFEST_NAME, manifest, sort_keys=True)
                    return folder
                why = "the archive changed since it was extracted"
            else:
                why = "the archive changed since it was extracted"
            log.info("Extracting %s (%s, %s) into %s ...", archive.name, why, human_size(st.st_size), folder)
            return self.extractor.extract(name, archive, known_sha=known_sha,
                                          expected_sha=self._expected_sha(name, st))

    def _expected_sha(self, name: str, st: os.stat_result) -> str | None:
        """The sha256 published on the Hub for a downloaded archive that is still the downloaded file."""
        entry = self.sources.get(name) or {}
        if entry.get("size") == st.st_size and isinstance(entry.get("sha256"), str):
            return entry["sha256"]
        return None

    def _not_found(self, name: str) -> ModelNotFoundError:
        return ModelNotFoundError(
            f"No model named {name!r}: {self.local_models / (name + '.nemo')} does not exist. "
            "Get it with: python setup_local_models.py REPO_ID, or import a .nemo file with: "
            "python setup_local_models.py --import PATH.nemo"
        )

    # -- verify, remove, import

    def verify(self, name: str) -> VerifyResult:
        """Full check: the archive's sha256 and structure, and every extracted file byte for byte."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            manifest = read_manifest(folder) if folder.is_dir() else None
            if archive is None and manifest is None:
                raise self._not_found(name)
            result = VerifyResult(name, ok=True)
            record = manifest is not None
            if archive is None:
                assert manifest is not None
                result.notes.append(f"{name}.nemo is not in {self.local_models}; only file sizes were "
                                    "checked")
                why = damage(folder, {**manifest, "verified": None})
                if why:
                    result.problems.append(f"extracted folder {folder}: {why}")
            else:
                expected = self._expected_sha(name, archive.stat())

                def check() -> tuple[VerifyResult, bool]:  # from the start again after a lock retry
                    fresh = VerifyResult(name, ok=True)
                    return fresh, check_archive(archive, folder, manifest, expected, fresh, self._retry)

                result, compared = self._retry(check, f"verifying {archive.name}")
                record = compared and record
            result.ok = not result.problems
            if record and manifest is not None:
                manifest["verified"] = {"ok": result.ok, "at": now_iso(), "problems": result.problems[:20]}
                with contextlib.suppress(OSError):
                    atomic_write_json(folder / MANIFEST_NAME, manifest, sort_keys=True)
            return result

    def remove(self, name: str) -> None:
        """Delete the archive, the extracted folder and the source record of a model."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            if archive is None and not os.path.lexists(folder):
                raise self._not_found(name)
            if os.path.lexists(folder):
                self.extractor.move_aside(folder, name, f"removing {folder}")
            if archive is not None:
                self._retry(archive.unlink, f"removing {archive}")
            self.sources.remove(name)
            log.info("Removed model %s", name)

    def import_archive(self, src: Path, name: str | None = None, *, replace: bool = False) -> str:
        """Copy a .nemo into local_models as ``<name>.nemo`` (default: the file's stem) and extract it.

        The copy is checked and extracted before it appears under its final name, so a failure leaves
        nothing in local_models.
        """
        src = Path(src).expanduser().resolve()
        if not src.is_file():
            raise ModelNotFoundError(f"Cannot import {src}: no such file.")
        if name is not None:
            name = name.strip()
            if name.lower().endswith(".nemo"):
                name = name[: -len(".nemo")]
            name = validate_model_name(name)
        else:
            name = name_from_path(src)
        check_nemo_file(src)
        with self._name_lock(name):
            existing = self._find_archive(name)
            if existing is not None and existing.resolve() == src:
                self.ensure_extracted(name)
                if self.sources.get(name) is None:
                    self.sources.set(name, "imported", size=src.stat().st_size, original=str(src))
                return name
            if existing is not None and not replace:
                raise ChunkyError(
                    f"A model named {name!r} already exists ({existing}). Choose another name with "
                    f"--name NAME, or remove it first: python setup_local_models.py --remove {name}"
                )
            dest = self.local_models / f"{name}.nemo"
            partial = dest.with_name(dest.name + PARTIAL_SUFFIX)
            size = src.stat().st_size
            try:
                free = shutil.disk_usage(self.local_models).free
            except OSError:
                free = None
            if free is not None and free < size + SPACE_MARGIN:
                raise NotEnoughSpaceError(
                    f"Not enough disk space to import {src.name}: it needs {human_size(size)} in "
                    f"{self.local_models}, but only {human_size(free)} is free."
                )
            try:
                busy = ProcessLock(partial.with_name(partial.name + LOCK_SUFFIX))
            except OSError as exc:
                raise ChunkyError(
                    f"Another Chunky process is importing a model named {name!r} right now; wait for it to "
                    "finish, or choose another name with --name NAME."
                ) from exc
            try:
                self._retry(lambda: copy_file(src, partial), f"copying {src} to {partial}")
                self.extractor.extract(name, partial, display=src)
                if existing is not None and existing != dest:
                    self._retry(existing.unlink, f"replacing {existing}")
                self._retry(lambda: os.replace(partial, dest), f"moving {partial} to {dest}")
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    partial.unlink()
                busy.release()
                if is_disk_full(exc):
                    raise NotEnoughSpaceError(
                        f"The disk filled up while importing {src.name} into {self.local_models}; "
                        "nothing was kept. Free some space and try again."
                    ) from exc
                raise
            busy.release()
            self.sources.set(name, "imported", size=size, original=str(src))
            log.debug("Imported %s as %s", src, name)
            return name
