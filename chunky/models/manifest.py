"""``chunky-manifest.json`` inside each extracted model folder: which archive it came from (size, mtime,
sha256), every file with its size, the NeMo and Chunky versions, and the last verify's result.

Every start does the quick check (:func:`matches_quick`, :func:`damage`); the full sha256 runs only when
those disagree or on verify.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from chunky import __version__
from chunky.base.fs import read_json
from chunky.models.archive import REQUIRED_MEMBER
from chunky.models.sources import now_iso

MANIFEST_NAME = "chunky-manifest.json"
FORMAT_VERSION = 1

Manifest = dict[str, Any]


def nemo_version() -> str:
    try:
        return importlib.metadata.version("nemo_toolkit")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def new_manifest(name: str, archive_name: str, st: os.stat_result, sha256: str,
                 files: dict[str, int]) -> Manifest:
    return {
        "format_version": FORMAT_VERSION,
        "name": name,
        "archive": {"file": archive_name, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "sha256": sha256},
        "files": [{"path": rel, "size": size} for rel, size in sorted(files.items())],
        "nemo_version": nemo_version(),
        "chunky_version": __version__,
        "extracted_at": now_iso(),
        "verified": None,
    }


def read_manifest(folder: Path) -> Manifest | None:
    """The folder's manifest, or None when it is missing, unreadable or of another format."""
    data = read_json(folder / MANIFEST_NAME)
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        return None
    if not isinstance(data.get("archive"), dict) or not isinstance(data.get("files"), list):
        return None
    return data


def damage(folder: Path, manifest: Manifest) -> str | None:
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


def matches_quick(manifest: Manifest, st: os.stat_result) -> bool:
    """The archive still has the size and modification time it was extracted from."""
    a = manifest["archive"]
    return a.get("size") == st.st_size and a.get("mtime_ns") == st.st_mtime_ns
