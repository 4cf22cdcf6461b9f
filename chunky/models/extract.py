"""Unpacking a ``.nemo`` archive into ``extracted/<name>/`` so that a crash never leaves half a folder.

The archive is unpacked into a staging folder beside its final place (same volume), member by member,
hashed at the same time, described by a manifest, flushed to disk, and only then renamed into place. The
old folder is renamed away first. A staging folder is held under an OS lock while in use, so another
Chunky process starting meanwhile does not clean it away (:mod:`chunky.models.leftovers`).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chunky.base.errors import ChunkyError, ModelArchiveError, NotEnoughSpaceError
from chunky.base.fs import (
    PARTIAL_SUFFIX,
    ProcessLock,
    atomic_write_json,
    fsync_dir,
    human_size,
    is_disk_full,
)
from chunky.models.archive import (
    ArchiveReader,
    HashThread,
    corrupt_archive_error,
    is_data_error,
    resolve_inside,
    safe_member_path,
    write_member,
)
from chunky.models.manifest import MANIFEST_NAME, Manifest, new_manifest, read_manifest

log = logging.getLogger(__name__)

STAGING_PREFIX = ".staging-"
TRASH_PREFIX = ".trash-"
LOCK_SUFFIX = ".lock"
# Room kept free beside an extraction (the manifest, file system overhead).
SPACE_MARGIN = 64 << 20

Retry = Callable[[Callable[[], Any], str], Any]  # (fn, what) -> fn's result, retrying lock errors


class Extractor:
    """Extracts archives into folders under ``root``; ``retry`` wraps every file operation a scanner may
    block."""

    def __init__(self, root: Path, retry: Retry):
        self.root = root
        self.retry = retry

    def extract(self, name: str, archive: Path, *, known_sha: str | None = None,
                expected_sha: str | None = None, display: Path | None = None) -> Path:
        """Unpack ``archive`` into ``root/<name>`` and return it. ``known_sha``: the archive's sha256 when
        already computed; ``expected_sha``: the one it must have (a download's); ``display``: the path named
        in messages (an import's source rather than its ``.partial`` copy)."""
        staging, lock = self._new_staging(name)
        shown = display or archive
        try:
            manifest = self.retry(lambda: unpack(self, name, archive, staging, known_sha, shown),
                                  f"extracting {shown.name} into {staging}")
            got = manifest["archive"]["sha256"]
            if expected_sha and expected_sha != got:
                raise ModelArchiveError(
                    f"{shown} is not the file that was downloaded (sha256 {got[:12]}..., expected "
                    f"{expected_sha[:12]}...). It was damaged on disk; download it again."
                )
            atomic_write_json(staging / MANIFEST_NAME, manifest, sort_keys=True)
            fsync_dir(staging)
            return self._install(name, staging, manifest)
        except BaseException as exc:
            self.remove_tree(staging, what=f"removing the unfinished extraction {staging}", best_effort=True)
            if is_disk_full(exc):
                raise NotEnoughSpaceError(
                    f"The disk holding {self.root} is full: extracting {shown.name} needs about "
                    f"{human_size(shown.stat().st_size if shown.exists() else 0)}. Free some space (or set "
                    "CHUNKY_HOME to a folder on a larger disk) and try again; nothing was changed."
                ) from exc
            raise
        finally:
            lock.release()

    def _new_staging(self, name: str) -> tuple[Path, ProcessLock]:
        staging = self.root / f"{STAGING_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
        lock = ProcessLock(staging.with_name(staging.name + LOCK_SUFFIX))
        try:
            staging.mkdir()
        except BaseException:
            lock.release()
            raise
        return staging, lock

    def check_space(self, needed: int, shown: Path) -> None:
        try:
            free = shutil.disk_usage(self.root).free
        except OSError:
            return
        if free < needed + SPACE_MARGIN:
            raise NotEnoughSpaceError(
                f"Not enough disk space to extract {shown.name}: it needs {human_size(needed)} in "
                f"{self.root}, but only {human_size(free)} is free. Free some space (or set "
                "CHUNKY_HOME to a folder on a larger disk) and try again."
            )

    def _install(self, name: str, staging: Path, manifest: Manifest) -> Path:
        final = self.root / name
        trash = None
        if os.path.lexists(final):
            trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
            self.retry(lambda: os.replace(final, trash), f"moving the old folder {final} aside")
        try:
            self.retry(lambda: os.replace(staging, final), f"moving the extracted model into {final}")
        except OSError:
            # Another process may have installed the same extraction meanwhile.
            other = read_manifest(final) if final.is_dir() else None
            if other is not None and other["archive"].get("sha256") == manifest["archive"]["sha256"]:
                self.remove_tree(staging, what=f"removing {staging}", best_effort=True)
                return final
            raise
        fsync_dir(self.root)
        if trash is not None:
            self.remove_tree(trash, what=f"removing the old folder {trash}", best_effort=True)
        log.info("Extracted %s into %s", name, final)
        return final

    def move_aside(self, folder: Path, name: str, what: str) -> None:
        """Rename ``folder`` to a trash name (one atomic step), then delete it as far as locks allow."""
        trash = self.root / f"{TRASH_PREFIX}{name}-{uuid.uuid4().hex[:12]}"
        self.retry(lambda: os.replace(folder, trash), what)
        self.remove_tree(trash, what=f"removing {trash}", best_effort=True)

    def remove_tree(self, path: Path, *, what: str, best_effort: bool = False) -> None:
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
            self.retry(remove, what)
        except (OSError, ChunkyError) as exc:
            if not best_effort:
                raise
            log.warning("Could not remove %s (%s); it is removed at the next start", path, exc)


def unpack(extractor: Extractor, name: str, archive: Path, staging: Path, known_sha: str | None,
           shown: Path) -> Manifest:
    """Write every member of ``archive`` into ``staging`` (emptied first: a lock retry starts over) and
    return its manifest."""
    for leftover in list(staging.iterdir()):
        extractor.remove_tree(leftover, what=f"clearing {staging}")
    before = archive.stat()
    hasher = None if known_sha else HashThread(archive)
    files: dict[str, int] = {}
    try:
        if hasher is not None:
            hasher.start()
        try:
            with ArchiveReader(archive, shown) as reader:
                extractor.check_space(reader.data_bytes, shown)
                links: list[tuple[str, str]] = []
                for member, rel in reader.members:
                    target = staging.joinpath(*rel.split("/"))
                    if member.isdir():
                        target.mkdir(parents=True, exist_ok=True)
                    elif member.issym():
                        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                        links.append((rel, resolve_inside(parent, member.linkname.replace("\\", "/")) or ""))
                    elif member.islnk():
                        links.append((rel, safe_member_path(member.linkname, shown) or ""))
                    else:
                        write_member(reader, member, target)
                        files[rel] = member.size
                if not reader.plain:
                    reader.check_end()
        except Exception as exc:
            if is_data_error(exc):
                raise corrupt_archive_error(shown, str(exc)) from exc
            raise
        for rel, target_rel in links:  # links become plain copies (Windows needs no symlink rights)
            source = staging.joinpath(*target_rel.split("/")) if target_rel else None
            if source is None or target_rel not in files:
                raise ModelArchiveError(f"{shown} has a link {rel!r} to something that is not a file of the "
                                        "archive.")
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
    return new_manifest(name, archive.name.removesuffix(PARTIAL_SUFFIX), before, digest, files)
