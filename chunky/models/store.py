"""The model store: ``.nemo`` archives in ``local_models/``, unpacked once into ``extracted/<name>/``.

A ``.nemo`` file is a tar archive (plain, or gzip for old models). It is unpacked into a staging folder
beside its final place (same volume), checked member by member, described by ``chunky-manifest.json``
(archive size, mtime and sha256, every file with its size), flushed to disk, and only then renamed into
place. The old folder is renamed away first, so a crash never leaves a half folder at the real name. Every
start does a quick check (archive size and mtime, file sizes); the full sha256 only runs when those changed
or on :meth:`ModelStore.verify`.

Pure module: no torch, nemo or gradio.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import gc
import gzip
import hashlib
import importlib.metadata
import json
import logging
import lzma
import os
import re
import shutil
import tarfile
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from chunky import __version__
from chunky.base.errors import ChunkyError, ModelArchiveError, ModelNotFoundError
from chunky.base.names import (
    is_reserved_windows_name,
    is_valid_model_name,
    name_from_path,
    validate_model_name,
)
from chunky.base.retry import retry_on_lock

log = logging.getLogger("chunky.models.store")

MANIFEST_NAME = "chunky-manifest.json"
FORMAT_VERSION = 1
SOURCES_FILE = ".chunky-sources.json"
STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
LOCK_SUFFIX = ".lock"
PARTIAL_SUFFIX = ".partial"
REQUIRED_MEMBER = "model_config.yaml"
HASH_BLOCK = 1 << 20
COPY_BLOCK = 8 << 20
# A ``.partial`` file untouched for this long belongs to a run that was killed.
PARTIAL_GRACE_SECONDS = 600.0
# Room kept free beside an extraction (the manifest, file system overhead).
SPACE_MARGIN = 64 << 20
_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSED_MAGICS = (_GZIP_MAGIC, b"BZh", b"\xfd7zXZ\x00")
_DATA_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


class NotEnoughSpaceError(ChunkyError):
    """The disk filled up (or would) while writing a model."""


@dataclass(frozen=True)
class ModelInfo:
    name: str
    archive: Path | None  # local_models/<name>.nemo, None when only the extracted folder is left
    source: str  # "hub:<repo id>", "imported" or "local" (dropped into local_models by hand)
    size: int  # archive bytes (extracted bytes when there is no archive)
    extracted: bool  # an up-to-date, complete extracted folder exists
    verified: bool | None  # result of the last verify() of this extraction; None: never verified


@dataclass
class VerifyResult:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts that are not failures (e.g. "not extracted yet")


# --- small helpers ------------------------------------------------------------------------------------


def nemo_version() -> str:
    try:
        return importlib.metadata.version("nemo_toolkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


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


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def human_size(n: int) -> str:
    return f"{n / 1e9:,.2f} GB" if n >= 1e8 else f"{n / 1e6:,.1f} MB"


def _is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))


def _is_data_error(exc: BaseException) -> bool:
    """A decoding error of the archive's bytes (not a system error such as a locked or missing file)."""
    if isinstance(exc, _DATA_ERRORS):
        return True
    return isinstance(exc, OSError) and exc.errno is None and getattr(exc, "winerror", None) is None


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # Windows cannot open a directory for fsync; NTFS journals the rename
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


def atomic_write_json(path: Path, data: Any) -> None:
    """Write ``<path>.partial``, flush it to disk, then ``os.replace`` it over ``path``."""
    partial = path.with_name(path.name + PARTIAL_SUFFIX)
    try:
        with open(partial, "w", encoding="utf-8", newline="\n") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        retry_on_lock(lambda: os.replace(partial, path), what=f"saving {path}", between=gc.collect)
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise


def _read_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Ignoring unreadable %s: %s", path, exc)
        return None


def _lock_handle(fh) -> None:
    """Take an exclusive, non-blocking OS lock on an open file; OSError if someone else holds it."""
    if os.name == "nt":
        import msvcrt

        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)


def _unlock_handle(fh) -> None:
    with contextlib.suppress(OSError):
        if os.name == "nt":
            import msvcrt

            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _lock_is_held(path: Path) -> bool:
    """True while a live process (this one included) holds the lock file ``path``."""
    try:
        fh = open(path, "a+b")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return False
    except OSError:
        return True  # cannot tell: leave it alone
    with fh:
        try:
            _lock_handle(fh)
        except OSError:
            return True
        _unlock_handle(fh)
        return False


class _StagingLock:
    """An OS lock on ``<staging>.lock`` held while a staging folder is in use, so that another Chunky
    process starting meanwhile does not clean it away."""

    def __init__(self, path: Path):
        self.path = path
        self.fh = open(path, "a+b")  # noqa: SIM115 - kept open while staging
        try:
            _lock_handle(self.fh)
        except OSError:
            self.fh.close()
            raise

    def release(self) -> None:
        if self.fh.closed:
            return
        _unlock_handle(self.fh)
        self.fh.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


# --- where each model came from ---------------------------------------------------------------------


class SourceRegistry:
    """``local_models/.chunky-sources.json``: name -> {"source": ..., "size": ..., "sha256": ...}.

    Models without an entry were dropped into the folder by hand ("local").
    """

    _lock = threading.RLock()

    def __init__(self, local_models: Path):
        self.path = Path(local_models) / SOURCES_FILE

    def _read(self) -> dict[str, dict[str, Any]]:
        data = _read_json(self.path)
        models = data.get("models") if isinstance(data, dict) else None
        return {k: v for k, v in (models or {}).items() if isinstance(v, dict)}

    def all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self._read()

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._read().get(name)

    def set(self, name: str, source: str, **details: Any) -> None:
        with self._lock:
            models = self._read()
            models[name] = {"source": source, "added_at": _now(), **details}
            atomic_write_json(self.path, {"format_version": 1, "models": models})

    def remove(self, name: str) -> None:
        with self._lock:
            models = self._read()
            if models.pop(name, None) is not None:
                atomic_write_json(self.path, {"format_version": 1, "models": models})


# --- reading an archive safely ----------------------------------------------------------------------


def corrupt_archive_error(path: Path, why: str) -> ModelArchiveError:
    return ModelArchiveError(
        f"{path} is truncated or damaged ({why}), probably by an interrupted download or copy; "
        "download or copy it again."
    )


def _safe_member_path(raw: str, archive: Path) -> str | None:
    """The member's path relative to the archive root ('/'-separated), None for the root itself."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ModelArchiveError(f"{archive} is unsafe: member {raw!r} has an absolute path. Not extracted.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        return None
    if ".." in parts:
        raise ModelArchiveError(
            f"{archive} is unsafe: member {raw!r} points outside the archive. Not extracted."
        )
    for part in parts:
        if ":" in part or any(ord(c) < 32 for c in part) or is_reserved_windows_name(part):
            raise ModelArchiveError(
                f"{archive} has a member with an invalid file name: {raw!r}. Not extracted."
            )
    return "/".join(parts)


def _resolve_inside(base: str, target: str) -> str | None:
    """Normalize ``base/target`` ('/'-separated); None if it leaves the archive root."""
    parts: list[str] = []
    for part in PurePosixPath(base, target).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class _ArchiveReader:
    """An opened, fully validated .nemo archive whose regular members can be streamed in large blocks.

    Plain tars (what NeMo writes) are copied straight from the file at each member's data offset; compressed
    ones go through ``tarfile``'s decompressing reader.
    """

    def __init__(self, path: Path, display: Path | None = None):
        self.path = path
        self.display = display or path
        self.size = path.stat().st_size
        self.raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.tar: tarfile.TarFile | None = None
        self.buf = bytearray(COPY_BLOCK)
        self.view = memoryview(self.buf)
        try:
            head = self.raw.read(6)
            self.plain = not any(head.startswith(m) for m in _COMPRESSED_MAGICS)
            try:
                self.tar = tarfile.open(name=str(path), mode="r:*")  # noqa: SIM115 - closed in close()
            except Exception as exc:
                if not _is_data_error(exc):
                    raise
                if not self.plain:
                    raise self._corrupt(f"its compressed data cannot be read: {exc}") from exc
                raise self._not_a_tar(exc) from exc
            try:
                members = self.tar.getmembers()
            except Exception as exc:
                if not _is_data_error(exc):
                    raise
                raise self._corrupt(str(exc)) from exc
            if self.plain:  # before the member checks: a cut-off archive is "truncated", not "not a NeMo"
                self.check_end()
            self.members = self._validate(members)
        except BaseException:
            self.close()
            raise

    def _not_a_tar(self, exc: BaseException) -> ModelArchiveError:
        return ModelArchiveError(
            f"{self.display} is not a NeMo model archive: a .nemo file is a tar archive and this one is not "
            f"({exc}). If it was downloaded, the download may have failed; download it again."
        )

    def _corrupt(self, why: str) -> ModelArchiveError:
        return corrupt_archive_error(self.display, why)

    def _validate(self, members: list[tarfile.TarInfo]) -> list[tuple[tarfile.TarInfo, str]]:
        out: list[tuple[tarfile.TarInfo, str]] = []
        seen: set[str] = set()
        data_filter = getattr(tarfile, "data_filter", None)
        fake_dest = os.path.abspath(os.path.join(os.sep, "chunky-extract-check"))
        for m in members:
            rel = _safe_member_path(m.name, self.display)
            if rel is None:
                if m.isdir():
                    continue
                raise ModelArchiveError(
                    f"{self.display} has a member without a name; it is not a valid .nemo."
                )
            if m.issym():
                target = m.linkname.replace("\\", "/")
                parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                if target.startswith("/") or _resolve_inside(parent, target) is None:
                    raise ModelArchiveError(
                        f"{self.display} is unsafe: {m.name!r} links to {m.linkname!r}, outside the archive. "
                        "Not extracted."
                    )
            elif m.islnk():
                try:
                    target = _safe_member_path(m.linkname, self.display)
                except ModelArchiveError:
                    target = None
                if target is None or target not in seen:
                    raise ModelArchiveError(
                        f"{self.display} is unsafe: {m.name!r} is a hard link to {m.linkname!r}, which is "
                        "not an earlier file of the archive. Not extracted."
                    )
            elif not (m.isreg() or m.isdir()):
                raise ModelArchiveError(
                    f"{self.display} is unsafe: {m.name!r} is a device, pipe or other special file. "
                    "Not extracted."
                )
            if data_filter is not None:
                try:
                    data_filter(m, fake_dest)
                except tarfile.FilterError as exc:
                    raise ModelArchiveError(f"{self.display} is unsafe: {exc}. Not extracted.") from exc
            if self.plain and m.isreg() and not m.issparse() and m.offset_data + m.size > self.size:
                raise self._corrupt(f"the member {rel} ends after the end of the file")
            seen.add(rel)
            out.append((m, rel))
        if REQUIRED_MEMBER not in seen:
            raise ModelArchiveError(
                f"{self.display} is a tar archive but not a NeMo model: it has no {REQUIRED_MEMBER}."
            )
        return out

    @property
    def data_bytes(self) -> int:
        return sum(m.size for m, _ in self.members if m.isreg())

    def chunks(self, member: tarfile.TarInfo) -> Iterator[memoryview]:
        """The member's bytes in blocks of up to 8 MiB (the same buffer each time: use it before the next)."""
        assert self.tar is not None
        left = member.size
        if self.plain and not member.issparse():
            self.raw.seek(member.offset_data)
            read = self.raw.readinto
        else:
            src = self.tar.extractfile(member)
            assert src is not None
            read = src.readinto  # type: ignore[attr-defined]
        while left:
            n = read(self.view[: min(left, COPY_BLOCK)])
            if not n:
                raise self._corrupt(f"the data of {member.name} ends early")
            left -= n
            yield self.view[:n]

    def check_end(self) -> None:
        """A tar ends with a zero block; without one the file was cut off at a member boundary. For
        compressed archives reading to the end also checks the compressed stream's own checksum."""
        assert self.tar is not None
        f = self.tar.fileobj
        f.seek(self.tar.offset)
        block = f.read(tarfile.BLOCKSIZE)
        if len(block) < tarfile.BLOCKSIZE or block.count(0) != len(block):
            raise self._corrupt("no end-of-archive marker after the last readable member")
        if not self.plain:
            while f.read(COPY_BLOCK):
                pass

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
        self.raw.close()

    def __enter__(self) -> _ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _HashThread(threading.Thread):
    """sha256 of the archive computed beside the extraction (same bytes, mostly from the OS cache)."""

    def __init__(self, path: Path):
        super().__init__(name="chunky-sha256", daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.digest: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.digest = sha256_file(self.path, self.stop)
        except BaseException as exc:  # handed to the caller in result()
            self.error = exc

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.digest is not None
        return self.digest

    def cancel(self) -> None:
        self.stop.set()
        self.join()


def _write_member(reader: _ArchiveReader, member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in reader.chunks(member):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def _same_content(reader: _ArchiveReader, member: tarfile.TarInfo, path: Path) -> bool:
    with open(path, "rb", buffering=0) as f:
        for chunk in reader.chunks(member):
            if f.read(len(chunk)) != chunk:
                return False
        return f.read(1) == b""


# --- the store ----------------------------------------------------------------------------------------


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

    # -- manifest

    def _read_manifest(self, folder: Path) -> dict[str, Any] | None:
        data = _read_json(folder / MANIFEST_NAME)
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            return None
        if not isinstance(data.get("archive"), dict) or not isinstance(data.get("files"), list):
            return None
        return data

    def _damage(self, folder: Path, manifest: dict[str, Any]) -> str | None:
        """Why the extracted folder does not match its manifest (a missing file, a wrong size), or None."""
        for entry in manifest["files"]:
            path = folder.joinpath(*str(entry.get("path", "")).split("/"))
            try:
                st = path.stat()
            except OSError:
                return f"{entry.get('path')} is missing"
            if not path.is_file() or st.st_size != entry.get("size"):
                return f"{entry.get('path')} has the wrong size"
        if not (folder / REQUIRED_MEMBER).is_file():
            return f"{REQUIRED_MEMBER} is missing"
        verified = manifest.get("verified")
        if isinstance(verified, dict) and verified.get("ok") is False:
            return "the last verify found problems"
        return None

    @staticmethod
    def _matches_quick(manifest: dict[str, Any], st: os.stat_result) -> bool:
        a = manifest["archive"]
        return a.get("size") == st.st_size and a.get("mtime_ns") == st.st_mtime_ns

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
            manifest = self._read_manifest(folder)
            if manifest is not None:
                extracted_only[folder.name] = manifest
        sources = self.sources.all()
        out: list[ModelInfo] = []
        for name in sorted(set(archives) | set(extracted_only), key=str.lower):
            archive = archives.get(name)
            folder = self.extracted_root / name
            manifest = extracted_only.get(name) or self._read_manifest(folder)
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
            if manifest is not None and self._damage(folder, manifest) is None:
                extracted = st is None or self._matches_quick(manifest, st)
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
            out.append(ModelInfo(name, archive, source, size, extracted, verified))
        return out

    # -- extraction

    def ensure_extracted(self, name: str) -> Path:
        """The model's extracted folder, extracting first if it is missing, out of date or damaged."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            manifest = self._read_manifest(folder) if folder.is_dir() else None
            damage = self._damage(folder, manifest) if manifest is not None else None
            if archive is None:
                if manifest is not None and damage is None:
                    return folder
                raise self._not_found(name)
            st = self._retry(archive.stat, what=f"checking {archive}")
            known_sha: str | None = None
            if manifest is None:
                why = (
                    "not extracted yet"
                    if not os.path.lexists(folder)
                    else "the extracted folder has no manifest"
                )
            elif damage is not None:
                why = f"the extracted folder is damaged ({damage})"
            elif self._matches_quick(manifest, st):
                return folder
            elif manifest["archive"].get("size") == st.st_size:
                known_sha = self._retry(lambda: sha256_file(archive), what=f"checking {archive}")
                if known_sha == manifest["archive"].get("sha256"):
                    manifest["archive"]["mtime_ns"] = st.st_mtime_ns
                    atomic_write_json(folder / MANIFEST_NAME, manifest)
                    return folder
                why = "the archive changed since it was extracted"
            else:
                why = "the archive changed since it was extracted"
            log.info("Extracting %s (%s, %s) into %s ...", archive.name, why, human_size(st.st_size), folder)
            return self._extract(
                name, archive, known_sha=known_sha, expected_sha=self._expected_sha(name, st)
            )

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

    def _new_staging(self, name: str) -> tuple[Path, _StagingLock]:
        staging = self.extracted_root / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
        lock = _StagingLock(staging.with_name(staging.name + LOCK_SUFFIX))
        try:
            staging.mkdir()
        except BaseException:
            lock.release()
            raise
        return staging, lock

    def _extract(
        self,
        name: str,
        archive: Path,
        *,
        known_sha: str | None = None,
        expected_sha: str | None = None,
        display: Path | None = None,
    ) -> Path:
        staging, lock = self._new_staging(name)
        shown = display or archive
        try:
            manifest = self._retry(
                lambda: self._unpack(name, archive, staging, known_sha, shown),
                what=f"extracting {shown.name} into {staging}",
            )
            got = manifest["archive"]["sha256"]
            if expected_sha and expected_sha != got:
                raise ModelArchiveError(
                    f"{shown} is not the file that was downloaded (sha256 {got[:12]}..., expected "
                    f"{expected_sha[:12]}...). It was damaged on disk; download it again."
                )
            atomic_write_json(staging / MANIFEST_NAME, manifest)
            _fsync_dir(staging)
            return self._install(name, staging, manifest)
        except BaseException as exc:
            self._remove_tree(staging, what=f"removing the unfinished extraction {staging}", best_effort=True)
            if _is_disk_full(exc):
                raise NotEnoughSpaceError(
                    f"The disk holding {self.extracted_root} is full: extracting {shown.name} needs about "
                    f"{human_size(shown.stat().st_size if shown.exists() else 0)}. Free some space (or set "
                    "CHUNKY_HOME to a folder on a larger disk) and try again; nothing was changed."
                ) from exc
            raise
        finally:
            lock.release()

    def _unpack(
        self, name: str, archive: Path, staging: Path, known_sha: str | None, shown: Path
    ) -> dict[str, Any]:
        for leftover in list(staging.iterdir()):  # an earlier attempt of this extraction (lock retry)
            self._remove_tree(leftover, what=f"clearing {staging}")
        before = archive.stat()
        hasher = None if known_sha else _HashThread(archive)
        files: dict[str, int] = {}
        try:
            if hasher is not None:
                hasher.start()
            try:
                with _ArchiveReader(archive, shown) as reader:
                    self._check_space(reader.data_bytes, shown)
                    links: list[tuple[str, str]] = []
                    for member, rel in reader.members:
                        target = staging.joinpath(*rel.split("/"))
                        if member.isdir():
                            target.mkdir(parents=True, exist_ok=True)
                        elif member.issym():
                            parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                            links.append(
                                (rel, _resolve_inside(parent, member.linkname.replace("\\", "/")) or "")
                            )
                        elif member.islnk():
                            links.append((rel, _safe_member_path(member.linkname, shown) or ""))
                        else:
                            _write_member(reader, member, target)
                            files[rel] = member.size
                    if not reader.plain:
                        reader.check_end()
            except Exception as exc:
                if _is_data_error(exc):
                    raise corrupt_archive_error(shown, str(exc)) from exc
                raise
            for rel, target_rel in links:  # links become plain copies (Windows needs no symlink rights)
                source = staging.joinpath(*target_rel.split("/")) if target_rel else None
                if source is None or target_rel not in files:
                    raise ModelArchiveError(
                        f"{shown} has a link {rel!r} to something that is not a file of the archive."
                    )
                target = staging.joinpath(*rel.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)
                files[rel] = files[target_rel]
            digest = known_sha or (hasher.result() if hasher else "")
        except BaseException:
            if hasher is not None and hasher.is_alive():
                hasher.cancel()
            raise
        after = archive.stat()
        if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
            raise ModelArchiveError(f"{shown} changed while it was being extracted; try again.")
        return {
            "format_version": FORMAT_VERSION,
            "name": name,
            "archive": {
                "file": archive.name.removesuffix(PARTIAL_SUFFIX),
                "size": before.st_size,
                "mtime_ns": before.st_mtime_ns,
                "sha256": digest,
            },
            "files": [{"path": rel, "size": size} for rel, size in sorted(files.items())],
            "nemo_version": nemo_version(),
            "chunky_version": __version__,
            "extracted_at": _now(),
            "verified": None,
        }

    def _check_space(self, needed: int, shown: Path) -> None:
        try:
            free = shutil.disk_usage(self.extracted_root).free
        except OSError:
            return
        if free < needed + SPACE_MARGIN:
            raise NotEnoughSpaceError(
                f"Not enough disk space to extract {shown.name}: it needs {human_size(needed)} in "
                f"{self.extracted_root}, but only {human_size(free)} is free. Free some space (or set "
                "CHUNKY_HOME to a folder on a larger disk) and try again."
            )

    def _install(self, name: str, staging: Path, manifest: dict[str, Any]) -> Path:
        final = self.extracted_root / name
        if os.path.lexists(final):
            trash = self.extracted_root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
            self._retry(lambda: os.replace(final, trash), what=f"moving the old folder {final} aside")
        else:
            trash = None
        try:
            self._retry(lambda: os.replace(staging, final), what=f"moving the extracted model into {final}")
        except OSError:
            # Another process may have installed the same extraction meanwhile.
            other = self._read_manifest(final) if final.is_dir() else None
            if other is not None and other["archive"].get("sha256") == manifest["archive"]["sha256"]:
                self._remove_tree(staging, what=f"removing {staging}", best_effort=True)
                return final
            raise
        _fsync_dir(self.extracted_root)
        if trash is not None:
            self._remove_tree(trash, what=f"removing the old folder {trash}", best_effort=True)
        log.info("Extracted %s into %s", name, final)
        return final

    def _remove_tree(self, path: Path, *, what: str, best_effort: bool = False) -> None:
        def remove() -> None:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except FileNotFoundError:
                pass

        if not os.path.lexists(path):
            return
        try:
            self._retry(remove, what=what)
        except (OSError, ChunkyError) as exc:
            if not best_effort:
                raise
            log.warning("Could not remove %s (%s); it is removed at the next start", path, exc)

    def clean_staging(self) -> list[Path]:
        """Remove what killed runs left behind: staging and trash folders, stale ``.partial`` files.

        A staging folder whose lock is held belongs to a live extraction (maybe another process) and stays.
        """
        removed: list[Path] = []
        try:
            entries = list(self.extracted_root.iterdir())
        except OSError:
            entries = []
        for entry in entries:
            entry_name = entry.name
            if entry_name.startswith(TRASH_PREFIX):
                pass
            elif entry_name.startswith(STAGING_PREFIX) and entry_name.endswith(LOCK_SUFFIX):
                folder = entry.with_name(entry_name[: -len(LOCK_SUFFIX)])
                if os.path.lexists(folder) or _lock_is_held(entry):
                    continue
            elif entry_name.startswith(STAGING_PREFIX):
                if _lock_is_held(entry.with_name(entry_name + LOCK_SUFFIX)):
                    continue
            else:
                continue
            if self._remove_quietly(entry):
                removed.append(entry)
                lock = entry.with_name(entry_name + LOCK_SUFFIX)
                if entry_name.startswith(STAGING_PREFIX) and lock.exists() and not _lock_is_held(lock):
                    self._remove_quietly(lock)
        removed += self._clean_partials(self.local_models)
        if removed:
            log.info(
                "Removed %d leftover(s) of interrupted runs: %s",
                len(removed),
                ", ".join(p.name for p in removed),
            )
        return removed

    def _clean_partials(self, folder: Path) -> list[Path]:
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
                if not os.path.lexists(partial) and not _lock_is_held(entry) and self._remove_quietly(entry):
                    removed.append(entry)
                continue
            if not entry.name.endswith(PARTIAL_SUFFIX) or not entry.is_file():
                continue
            lock = entry.with_name(entry.name + LOCK_SUFFIX)
            if lock.exists():
                if _lock_is_held(lock):
                    continue
            else:
                try:
                    if now - entry.stat().st_mtime <= PARTIAL_GRACE_SECONDS:
                        continue
                except OSError:
                    continue
            if self._remove_quietly(entry):
                removed.append(entry)
                if lock.exists() and not _lock_is_held(lock):
                    self._remove_quietly(lock)
        return removed

    @staticmethod
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

    # -- verify, remove, import

    def verify(self, name: str) -> VerifyResult:
        """Full check: the archive's sha256 and structure, and every extracted file byte for byte."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            manifest = self._read_manifest(folder) if folder.is_dir() else None
            if archive is None and manifest is None:
                raise self._not_found(name)
            result = VerifyResult(name, ok=True)
            record = manifest is not None
            if archive is None:
                assert manifest is not None
                result.notes.append(
                    f"{name}.nemo is not in {self.local_models}; only file sizes were checked"
                )
                damage = self._damage(folder, {**manifest, "verified": None})
                if damage:
                    result.problems.append(f"extracted folder {folder}: {damage}")
            else:
                record = self._verify_archive(name, archive, folder, manifest, result) and record
            result.ok = not result.problems
            if record and manifest is not None:
                manifest["verified"] = {"ok": result.ok, "at": _now(), "problems": result.problems[:20]}
                with contextlib.suppress(OSError):
                    atomic_write_json(folder / MANIFEST_NAME, manifest)
            return result

    def _verify_archive(
        self, name: str, archive: Path, folder: Path, manifest: dict[str, Any] | None, result: VerifyResult
    ) -> bool:
        """Check the archive (and the extracted folder when it belongs to this archive: returns True then)."""
        st = archive.stat()
        compare = manifest is not None and self._matches_quick(manifest, st)
        if manifest is None:
            result.notes.append("not extracted yet (it is extracted on first use)")
        elif not compare:
            result.notes.append("the extracted folder is out of date; it is extracted again on first use")
        hasher = _HashThread(archive)
        hasher.start()
        seen: set[str] = set()
        try:
            with _ArchiveReader(archive) as reader:
                for member, rel in reader.members:
                    if not member.isreg():
                        continue
                    seen.add(rel)
                    if not compare:
                        continue
                    path = folder.joinpath(*rel.split("/"))
                    if not path.is_file():
                        result.problems.append(f"extracted file {path} is missing")
                    elif path.stat().st_size != member.size:
                        result.problems.append(f"extracted file {path} has the wrong size")
                    elif not _same_content(reader, member, path):
                        result.problems.append(f"extracted file {path} differs from the archive")
                if not reader.plain:
                    reader.check_end()
        except Exception as exc:
            hasher.cancel()
            if isinstance(exc, ModelArchiveError):
                result.problems.append(str(exc))
                return compare
            if _is_data_error(exc):
                result.problems.append(str(corrupt_archive_error(archive, str(exc))))
                return compare
            raise
        digest = self._retry(hasher.result, what=f"verifying {archive}")
        if compare and manifest is not None:
            if manifest["archive"].get("sha256") != digest:
                result.problems.append(
                    f"{archive} changed although its size and date did not (a disk error?); "
                    "download or copy it again"
                )
            for entry in manifest["files"]:
                if entry.get("path") not in seen and not (folder / str(entry.get("path"))).is_file():
                    result.problems.append(f"extracted file {entry.get('path')} is missing")
        expected = self._expected_sha(name, st)
        if expected and expected != digest:
            result.problems.append(
                f"{archive} is not the file that was downloaded (sha256 differs); download it again"
            )
        if any(p.startswith("extracted file") for p in result.problems):
            result.notes.append("the damaged extracted folder is replaced on next use")
        return compare

    def remove(self, name: str) -> None:
        """Delete the archive, the extracted folder and the source record of a model."""
        name = validate_model_name(name)
        with self._name_lock(name):
            archive = self._find_archive(name)
            folder = self.extracted_root / name
            if archive is None and not os.path.lexists(folder):
                raise self._not_found(name)
            if os.path.lexists(folder):
                trash = self.extracted_root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
                self._retry(lambda: os.replace(folder, trash), what=f"removing {folder}")
                self._remove_tree(trash, what=f"removing {trash}", best_effort=True)
            if archive is not None:
                self._retry(archive.unlink, what=f"removing {archive}")
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
        _check_tar(src)
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
                busy = _StagingLock(partial.with_name(partial.name + LOCK_SUFFIX))
            except OSError as exc:
                raise ChunkyError(
                    f"Another Chunky process is importing a model named {name!r} right now; wait for it to "
                    "finish, or choose another name with --name NAME."
                ) from exc
            try:
                self._retry(lambda: _copy_file(src, partial), what=f"copying {src} to {partial}")
                self._extract(name, partial, display=src)
                if existing is not None and existing != dest:
                    self._retry(existing.unlink, what=f"replacing {existing}")
                self._retry(lambda: os.replace(partial, dest), what=f"moving {partial} to {dest}")
            except BaseException as exc:
                with contextlib.suppress(OSError):
                    partial.unlink()
                busy.release()
                if _is_disk_full(exc):
                    raise NotEnoughSpaceError(
                        f"The disk filled up while importing {src.name} into {self.local_models}; "
                        "nothing was kept. Free some space and try again."
                    ) from exc
                raise
            busy.release()
            self.sources.set(name, "imported", size=size, original=str(src))
            log.debug("Imported %s as %s", src, name)
            return name


def _copy_file(src: Path, dest: Path) -> None:
    with open(src, "rb") as fin, open(dest, "wb") as fout:
        shutil.copyfileobj(fin, fout, COPY_BLOCK)
        fout.flush()
        os.fsync(fout.fileno())


def _check_tar(path: Path) -> None:
    """Refuse, before copying gigabytes, a file that is not a tar archive at all."""
    try:
        with tarfile.open(name=str(path), mode="r:*") as tar:
            first = tar.next()
    except Exception as exc:
        if not _is_data_error(exc):
            raise
        first = None
    if first is None:
        raise ModelArchiveError(
            f"{path} is not a NeMo model archive: a .nemo file is a tar archive and this one is not "
            "(or it is empty). Check that you picked the right file and that its download finished."
        )


def check_nemo_file(path: Path) -> None:
    """Public form of the quick "is this a tar at all" check (used by downloads before moving a file in)."""
    _check_tar(path)
