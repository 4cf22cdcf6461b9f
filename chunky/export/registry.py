"""Every format by name: :func:`get_writer` (after openai/whisper's ``get_writer``) and format lists."""

from __future__ import annotations

from collections.abc import Iterable

from chunky.export.base import UnknownFormatError, Writer
from chunky.export.data import CsvWriter, JsonWriter
from chunky.export.subtitles import SrtWriter, SubtitlesWriter, VttWriter
from chunky.export.text import TxtWriter
from chunky.transcript.cues import SubtitleLimits

WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (TxtWriter, SrtWriter, VttWriter, JsonWriter, CsvWriter)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)


def get_writer(name: str, limits: SubtitleLimits | None = None) -> Writer:
    """The writer for a format name (case-insensitive); ``limits`` sets the line width of SRT/VTT cues."""
    key = name.strip().lower().lstrip(".")
    try:
        cls = WRITERS[key]
    except KeyError:
        raise UnknownFormatError(
            f"Unknown output format {name!r}: choose from {', '.join(FORMATS)} (or 'all')."
        ) from None
    return cls(limits) if issubclass(cls, SubtitlesWriter) else cls()


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"txt,srt"`` (or a list of names) -> ``("txt", "srt")``; ``"all"`` -> :data:`FORMATS`.
    Names are case-insensitive; duplicates are dropped, the order is kept."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [p.strip().lower().lstrip(".") for p in parts if p.strip()]
    if not names:
        raise UnknownFormatError(f"No output format given: choose from {', '.join(FORMATS)} (or 'all').")
    if "all" in names:
        return FORMATS
    for n in names:
        get_writer(n)
    return tuple(dict.fromkeys(names))
