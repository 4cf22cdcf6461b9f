"""Names that become file and folder names on every OS: model names (``<name>.nemo``, ``extracted/<name>/``)
and the stems of output files."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from chunky.base.errors import InvalidNameError

MAX_NAME_LENGTH = 100
_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"COM{i}" for i in "123456789¹²³"}
    | {f"LPT{i}" for i in "123456789¹²³"}
)
_FORBIDDEN_CHARS = '<>:"|?*'
MAX_STEM = 80
PARTIAL_MARK = ".partial"  # outputs of a file cancelled midway: "<stem>.partial.txt", ...
_EXAMPLE = "Use letters, digits, '-', '_' and '.', e.g. parakeet-tdt-0.6b-v2."


def validate_model_name(name: str) -> str:
    """Return ``name`` if it is safe as a file and folder name everywhere, else raise InvalidNameError."""
    if not isinstance(name, str) or not name.strip():
        raise InvalidNameError(f"A model name cannot be empty. {_EXAMPLE}")
    shown = repr(name) if len(name) <= 120 else repr(name[:120] + "...")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"The model name {shown} is too long ({len(name)} characters, at most {MAX_NAME_LENGTH})."
        )
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise InvalidNameError(f"The model name {shown} contains control characters. {_EXAMPLE}")
    if "/" in name or "\\" in name:
        raise InvalidNameError(
            f"The model name {shown} contains a path separator ('/' or '\\'); a name is not a path. "
            + _EXAMPLE
        )
    if ".." in name:
        raise InvalidNameError(f"The model name {shown} must not contain '..'. {_EXAMPLE}")
    if len(name) >= 2 and name[1] == ":" and name[0].isalpha():
        raise InvalidNameError(f"The model name {shown} looks like a drive letter; a name is not a path.")
    bad = sorted({c for c in name if c in _FORBIDDEN_CHARS})
    if bad:
        raise InvalidNameError(
            f"The model name {shown} contains characters Windows does not allow in file names "
            f"({' '.join(bad)}). {_EXAMPLE}"
        )
    if name.startswith("."):
        raise InvalidNameError(f"The model name {shown} must not start with '.' (hidden files). {_EXAMPLE}")
    if name != name.strip() or name.endswith("."):
        raise InvalidNameError(
            f"The model name {shown} must not start or end with a space, or end with '.' "
            "(Windows drops them silently)."
        )
    base = name.split(".")[0].rstrip(" ").upper()
    if is_reserved_windows_name(name):
        raise InvalidNameError(
            f"The model name {shown} is a reserved device name on Windows ({base}); choose another name."
        )
    return name


def is_reserved_windows_name(part: str) -> bool:
    """``CON``, ``nul.txt``, ``COM1.yaml``...: names Windows maps to devices, whatever the extension."""
    return part.split(".")[0].rstrip(" ").upper() in _RESERVED


def name_from_repo_id(repo_id: str) -> str:
    """``"nvidia/parakeet-tdt-0.6b-v2"`` -> ``"parakeet-tdt-0.6b-v2"``."""
    return validate_model_name(repo_id.strip().rstrip("/").rsplit("/", 1)[-1])


def name_from_path(path: Path) -> str:
    """``.../parakeet-tdt-0.6b-v2.nemo`` -> ``"parakeet-tdt-0.6b-v2"``."""
    return validate_model_name(Path(path).stem)


def is_valid_model_name(name: str) -> bool:
    try:
        validate_model_name(name)
    except InvalidNameError:
        return False
    return True


# --- output file names ----------------------------------------------------------------------------

_WIN_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')


def safe_stem(name: str) -> str:
    """A file stem from a display name (extension dropped) that Windows, macOS and Linux all accept."""
    base = re.split(r"[/\\]", name)[-1]
    stem, dot, _ext = base.rpartition(".")
    if not dot or not stem.strip(" ."):
        stem = base
    stem = _WIN_BAD_CHARS.sub("_", stem).strip().strip(".").strip()
    stem = stem[:MAX_STEM].rstrip(" .")
    if not stem:
        stem = "recording"
    if is_reserved_windows_name(stem):  # "CON.txt" and "con.x.txt" are reserved too
        stem = "_" + stem
    if stem.lower().endswith(PARTIAL_MARK):  # "<stem>.partial.*" are the outputs of a cancelled file
        stem = stem[: -len(PARTIAL_MARK)] + "_partial"
    return stem


def unique_stems(names: Sequence[str], reserved: Iterable[str] = ()) -> list[str]:
    """Safe stems (:func:`safe_stem`), unique among themselves and ``reserved`` without regard to case
    (Windows and macOS file systems): a repeated name gets ``-2``, ``-3``, ..."""
    taken = {r.lower() for r in reserved}
    out: list[str] = []
    for name in names:
        stem = safe_stem(name)
        candidate, n = stem, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out
