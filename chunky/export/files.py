"""Saving a transcript's outputs: every format rendered first, then each file written atomically."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from chunky.base.fs import atomic_write
from chunky.export.registry import get_writer, parse_formats
from chunky.transcript.cues import SubtitleLimits
from chunky.transcript.model import Transcript


def write_outputs(transcript: Transcript, out_dir: Path, stem: str, formats: Iterable[str],
                  limits: SubtitleLimits | None = None) -> list[Path]:
    """Write ``<out_dir>/<stem>.<ext>`` for each format; returns the paths in the order of ``formats``.
    ``limits`` should be those the transcript was segmented with (line width of SRT/VTT cues).

    Every file is formatted before any is written, so a failing writer leaves no file of this call;
    each file is written atomically and an error leaves no ``.partial`` file behind.
    """
    if not stem.strip() or "/" in stem or "\\" in stem or stem in (".", ".."):
        raise ValueError(f"Invalid output file stem {stem!r}: it must be a plain file name.")
    out_dir = Path(out_dir)
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = parse_formats(items) if any(f.strip() for f in items) else ()
    writers = [get_writer(n, limits) for n in names]
    rendered = [(w, w.format(transcript)) for w in writers]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for writer, content in rendered:
        path = out_dir / f"{stem}.{writer.extension}"
        atomic_write(path, content)
        paths.append(path)
    return paths


def taken_stems(folder: Path, extensions: Iterable[str]) -> set[str]:
    """Lower-cased stems of the files in ``folder`` named ``<stem>.<ext>`` for one of ``extensions``: the
    names an output of this run must not take, or it would replace an earlier result."""
    wanted = {e.lower().lstrip(".") for e in extensions}
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return set()
    found = set()
    for entry in entries:
        stem, dot, ext = entry.name.rpartition(".")
        if dot and ext.lower() in wanted:
            found.add(stem.lower())
    return found
