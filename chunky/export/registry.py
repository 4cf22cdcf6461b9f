"""Every format by name: :func:`get_writer` (after openai/whisper's ``get_writer``) and format lists."""

from __future__ import annotations

from collections.abc import Iterable

from chunky.export.avid import AvidSubCapWriter
from chunky.export.base import UnknownFormatError, Writer
from chunky.export.data import AudacityWriter, CsvWriter, JsonWriter
from chunky.export.edl import EdlWriter, ResolveEdlWriter
from chunky.export.fcp import FcpxmlWriter, XmemlWriter
from chunky.export.subtitles import AssWriter, SrtWriter, VttWriter
from chunky.export.text import DocxWriter, TxtWriter
from chunky.export.ttml import TtmlWriter

WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (TxtWriter, SrtWriter, VttWriter, JsonWriter, CsvWriter, AssWriter, TtmlWriter,
                        EdlWriter, ResolveEdlWriter, FcpxmlWriter, XmemlWriter, AvidSubCapWriter,
                        AudacityWriter, DocxWriter)
}
FORMATS: tuple[str, ...] = tuple(WRITERS)
# What a job writes when no formats are chosen: the everyday ones.
DEFAULT_FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json", "csv")
ALIASES = {"dfxp": "ttml", "fcp7": "xmeml", "premiere": "xmeml", "subcap": "avid", "resolve": "resolve-edl",
           "labels": "audacity", "resolveedl": "resolve-edl", "resolve_edl": "resolve-edl"}


def get_writer(name: str) -> Writer:
    """The writer for a format name (case-insensitive; a few aliases such as ``dfxp``)."""
    key = name.strip().lower().lstrip(".")
    key = ALIASES.get(key, key)
    try:
        cls = WRITERS[key]
    except KeyError:
        raise UnknownFormatError(
            f"Unknown output format {name!r}: choose from {', '.join(FORMATS)} (or 'all')."
        ) from None
    return cls()


def parse_formats(spec: str | Iterable[str]) -> tuple[str, ...]:
    """``"txt,srt"`` (or a list of names) -> ``("txt", "srt")``; ``"all"`` -> :data:`FORMATS`.
    Names are case-insensitive; duplicates are dropped, the order is kept."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    names = [p.strip().lower().lstrip(".") for p in parts if p.strip()]
    if not names:
        raise UnknownFormatError(f"No output format given: choose from {', '.join(FORMATS)} (or 'all').")
    if "all" in names:
        return FORMATS
    return tuple(dict.fromkeys(get_writer(n).name for n in names))
