"""Saving a transcript's outputs: laid out once, every format rendered first, then each file written
atomically."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from chunky.base.fs import atomic_write
from chunky.export.base import Document, ExportOptions, render
from chunky.export.registry import get_writer, parse_formats
from chunky.transcript.model import Transcript


@dataclass(frozen=True)
class Exported:
    """What :func:`export_files` wrote, and how many subtitle cues broke which layout rule."""

    paths: list[Path]
    broken: dict[str, int] = field(default_factory=dict)
    report: list[str] = field(default_factory=list)  # the same as sentences


def export_files(transcript: Transcript | Document, out_dir: Path, stem: str, formats: Iterable[str] | str,
                 options: ExportOptions | None = None) -> Exported:
    """Write ``<out_dir>/<stem>.<ext>`` for each format (in the order of ``formats``).

    Every file is formatted before any is written, so a failing writer leaves no file of this call;
    each file is written atomically and an error leaves no ``.partial`` file behind. A bad start timecode
    is a TimecodeError (a ChunkyError) before anything is written.
    """
    if not stem.strip() or "/" in stem or "\\" in stem or stem in (".", ".."):
        raise ValueError(f"Invalid output file stem {stem!r}: it must be a plain file name.")
    out_dir = Path(out_dir)
    items = formats.split(",") if isinstance(formats, str) else list(formats)
    names = parse_formats(items) if any(f.strip() for f in items) else ()
    writers = [get_writer(n) for n in names]
    doc = transcript if isinstance(transcript, Document) else render(transcript, options)
    rendered = [(w, w.format(doc)) for w in writers]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for writer, content in rendered:
        path = out_dir / f"{stem}.{writer.extension}"
        atomic_write(path, content)
        paths.append(path)
    layout = doc.cue_layout
    return Exported(paths, dict(layout.broken), layout.report())


def write_outputs(transcript: Transcript, out_dir: Path, stem: str, formats: Iterable[str] | str,
                  options: ExportOptions | None = None) -> list[Path]:
    """:func:`export_files`, returning only the paths."""
    return export_files(transcript, out_dir, stem, formats, options).paths


def taken_stems(folder: Path, extensions: Iterable[str]) -> set[str]:
    """Lower-cased stems of the files in ``folder`` named ``<stem>.<ext>`` for one of ``extensions`` (which
    may hold dots: ``resolve.edl``): the names an output of this run must not take, or it would replace an
    earlier result."""
    wanted = sorted({e.lower().lstrip(".") for e in extensions}, key=len, reverse=True)
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return set()
    found = set()
    for entry in entries:
        name = entry.name.lower()
        for ext in wanted:
            if name.endswith("." + ext) and len(name) > len(ext) + 1:
                found.add(name[: -len(ext) - 1])
    return found
