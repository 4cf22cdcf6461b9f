"""Saved corrections of one transcribed file: revisions of its outputs, the model's original kept beside.

For a file whose transcript is ``<job>/<base>.json`` (``base`` is its stem, ``talk`` or ``talk.partial``):

- ``<base>.json`` and every other output (``<base>.srt``, ..., and the files of each "export again") always
  hold the latest revision. Saving renders every output first, then replaces each file atomically, the
  JSON last (it is what the page, exporting again and the next save read).
- ``<base>.original.json`` is the model's transcript, byte for byte: copied before the first correction is
  written and never changed after. Restoring it is a new revision.
- ``<base>.revisions.json`` is the history: for every revision its number, the revision it was made from,
  when, a summary and the corrections in exact form (:func:`chunky.transcript.edits.apply_ops`), so every
  revision can be rebuilt from the original. It is rewritten atomically after every save.

Revision 0 is the model's transcript. A save names the revision it was made on (its base); when another
tab saved a newer one meanwhile, the corrections still apply to the words they were made on and the save
becomes the latest revision: the later save wins, the one it replaced stays in the history.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chunky.base.errors import ChunkyError
from chunky.base.fs import atomic_write, atomic_write_json
from chunky.export import get_writer, render
from chunky.jobs.state import OutputGroup
from chunky.transcript.edits import Applied, EditError, apply_ops
from chunky.transcript.model import Transcript, Word

log = logging.getLogger(__name__)

ORIGINAL = ".original.json"
HISTORY = ".revisions.json"
HISTORY_VERSION = 1


@dataclass(frozen=True)
class RevisionInfo:
    revision: int
    base: int
    saved: float  # time.time()
    summary: str

    def to_dict(self) -> dict[str, Any]:
        return {"revision": self.revision, "base": self.base, "saved": self.saved, "summary": self.summary}


@dataclass(frozen=True)
class Saved:
    """What :func:`save_revision` did."""

    revision: int
    base: int
    replaced: int | None  # the latest revision before this save, when it was not the base (another tab's)
    summary: str
    paths: tuple[Path, ...]
    transcript: Transcript


def base_of(json_path: Path) -> str:
    return json_path.name[: -len(".json")]


def original_path(json_path: Path) -> Path:
    return json_path.with_name(base_of(json_path) + ORIGINAL)


def history_path(json_path: Path) -> Path:
    return json_path.with_name(base_of(json_path) + HISTORY)


def read_transcript(path: Path) -> Transcript:
    try:
        return Transcript.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChunkyError(f"The transcript {Path(path).name} cannot be read: {exc}") from exc


def read_history(json_path: Path) -> list[dict[str, Any]]:
    """The saved revisions of the transcript ``json_path`` (oldest first); [] when it was never corrected.
    A history that cannot be read is an error: nothing may be saved over it."""
    path = history_path(json_path)
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["revisions"]
        if not isinstance(entries, list) or any(not isinstance(e, dict) for e in entries):
            raise ValueError("revisions is not a list of objects")
        for k, e in enumerate(entries, start=1):
            if e.get("revision") != k or not isinstance(e.get("ops"), list):
                raise ValueError(f"revision {k} is missing or out of order")
        return entries
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ChunkyError(f"The correction history {path.name} cannot be read ({exc}); move it away to "
                          "save new corrections.") from exc


def revisions(json_path: Path) -> list[RevisionInfo]:
    """Every revision of the transcript, 0 (the model's) first; [] when the file was never corrected."""
    try:
        mtime = history_path(json_path).stat().st_mtime_ns
    except OSError:
        return []
    return list(_revisions_cached(str(json_path), mtime))


@lru_cache(maxsize=128)
def _revisions_cached(json_path: str, mtime_ns: int) -> tuple[RevisionInfo, ...]:
    try:
        entries = read_history(Path(json_path))
    except ChunkyError as exc:
        log.warning("%s", exc)
        return ()
    original = original_path(Path(json_path))
    first = original.stat().st_mtime if original.is_file() else 0.0
    out = [RevisionInfo(0, 0, first, "the model's transcript")]
    out += [RevisionInfo(int(e["revision"]), int(e.get("base", 0)), float(e.get("saved", 0.0)),
                         str(e.get("summary", ""))) for e in entries]
    return tuple(out)


class _Words:
    """The words of every revision, rebuilt from the original and the history (each one once)."""

    def __init__(self, json_path: Path, current: Transcript, entries: list[dict[str, Any]]):
        self.json_path = json_path
        self.current = current
        self.entries = entries
        self._cache: dict[int, list[Word]] = {len(entries): list(current.words)}

    def __call__(self, n: int) -> list[Word]:
        if n in self._cache:
            return self._cache[n]
        if not 0 <= n <= len(self.entries):
            raise KeyError(n)
        if n == 0:
            words = list(read_transcript(original_path(self.json_path)).words)
        else:
            entry = self.entries[n - 1]
            base = int(entry.get("base", n - 1))
            if not 0 <= base < n:
                raise ChunkyError(f"Revision {n} of {self.json_path.name} names a bad base revision {base}.")
            words = apply_ops(self(base), entry["ops"], self.current.duration, self).words
        self._cache[n] = words
        return words


def save_revision(json_path: Path, groups: Sequence[OutputGroup], base: int, ops: Sequence[Any],
                  ) -> Saved:
    """Apply ``ops`` (made on revision ``base``) to the transcript ``json_path`` and write the result as
    the next revision: every output of ``groups`` (the group whose stem is the transcript's own holds
    ``json_path``) and the history. ChunkyError for a correction that cannot be applied or saved; nothing
    is written then."""
    current = read_transcript(json_path)
    entries = read_history(json_path)
    latest = len(entries)
    if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base <= latest:
        raise ChunkyError(f"The corrections were made on revision {base} of {json_path.name}, which does "
                          f"not exist (the latest is {latest}). Reload the page.")
    if current.revision != latest:
        log.warning("%s says revision %s, its history %s", json_path.name, current.revision, latest)
    words = _Words(json_path, current, entries)
    try:
        applied: Applied = apply_ops(words(base), ops, current.duration, words)
    except EditError as exc:
        raise ChunkyError(f"The corrections of {json_path.name} cannot be applied: {exc}") from None
    if not applied.exact:
        raise ChunkyError("There is nothing to save: no correction was made.")
    transcript = corrected(current, applied.words, latest + 1)
    rendered = _render(transcript, groups, json_path)
    original = original_path(json_path)
    if not original.exists():  # the model's transcript, byte for byte, before anything replaces it
        atomic_write(original, json_path.read_bytes())
    entry = {"revision": latest + 1, "base": base, "saved": time.time(), "summary": applied.summary(),
             "ops": applied.exact}
    written: list[Path] = []
    for path, content in rendered:
        atomic_write(path, content)
        written.append(path)
    atomic_write_json(history_path(json_path), {"version": HISTORY_VERSION, "file": json_path.name,
                                                "revisions": [*entries, entry]}, indent=1)
    log.info("%s: revision %d saved (%s)", json_path.name, latest + 1, applied.summary())
    return Saved(latest + 1, base, latest if base != latest else None, applied.summary(), tuple(written),
                 transcript)


def corrected(current: Transcript, words: list[Word], revision: int) -> Transcript:
    """The transcript with ``words`` (its text the words joined; the cues are laid out again by every
    writer)."""
    text = " ".join(w.text for w in words)
    return Transcript(text, list(words), [], current.duration, current.model, current.source,
                      dict(current.media) if current.media else None, revision)


def _render(transcript: Transcript, groups: Sequence[OutputGroup], json_path: Path,
            ) -> list[tuple[Path, str | bytes]]:
    """Every file of every group, formatted before any is written; ``json_path`` last."""
    folder = json_path.parent
    out: list[tuple[Path, str | bytes]] = []
    last: list[tuple[Path, str | bytes]] = []
    for group in groups:
        doc = render(transcript, group.options)
        names = group.formats if "json" in group.formats or group.stem != base_of(json_path) \
            else (*group.formats, "json")
        for name in names:
            writer = get_writer(name)
            path = folder / f"{group.stem}.{writer.extension}"
            (last if path == json_path else out).append((path, writer.format(doc)))
    if not last:
        raise ChunkyError(f"{json_path.name} is not one of the outputs to write.")
    return out + last
