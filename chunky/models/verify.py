"""The full check of a model (``setup_local_models.py --verify``): the archive's sha256 and structure,
and every extracted file byte for byte against the archive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chunky.base.errors import ModelArchiveError
from chunky.models.archive import (
    ArchiveReader,
    HashThread,
    corrupt_archive_error,
    is_data_error,
    same_content,
)
from chunky.models.manifest import Manifest, matches_quick


@dataclass
class VerifyResult:
    name: str
    ok: bool
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # facts that are not failures (e.g. "not extracted yet")


def check_archive(archive: Path, folder: Path, manifest: Manifest | None, expected_sha: str | None,
                  result: VerifyResult, retry: Callable[[Callable[[], Any], str], Any]) -> bool:
    """Check ``archive`` (and ``folder`` when it was extracted from this very archive, which is then
    returned as True), adding what is wrong to ``result``."""
    st = archive.stat()
    compare = manifest is not None and matches_quick(manifest, st)
    if manifest is None:
        result.notes.append("not extracted yet (it is extracted on first use)")
    elif not compare:
        result.notes.append("the extracted folder is out of date; it is extracted again on first use")
    hasher = HashThread(archive)
    hasher.start()
    seen: set[str] = set()
    try:
        with ArchiveReader(archive) as reader:
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
                elif not same_content(reader, member, path):
                    result.problems.append(f"extracted file {path} differs from the archive")
            if not reader.plain:
                reader.check_end()
    except Exception as exc:
        hasher.cancel()
        if isinstance(exc, ModelArchiveError):
            result.problems.append(str(exc))
            return compare
        if is_data_error(exc):
            result.problems.append(str(corrupt_archive_error(archive, str(exc))))
            return compare
        raise
    digest = retry(hasher.result, f"verifying {archive}")
    if compare and manifest is not None:
        if manifest["archive"].get("sha256") != digest:
            result.problems.append(f"{archive} changed although its size and date did not (a disk error?); "
                                   "download or copy it again")
        for entry in manifest["files"]:
            if entry.get("path") not in seen and not (folder / str(entry.get("path"))).is_file():
                result.problems.append(f"extracted file {entry.get('path')} is missing")
    if expected_sha and expected_sha != digest:
        result.problems.append(f"{archive} is not the file that was downloaded (sha256 differs); download "
                               "it again")
    if any(p.startswith("extracted file") for p in result.problems):
        result.notes.append("the damaged extracted folder is replaced on next use")
    return compare
