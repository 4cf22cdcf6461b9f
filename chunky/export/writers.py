"""Output writers, one small class per format behind :func:`get_writer` (after openai/whisper's utils.py).

Every writer turns a :class:`~chunky.transcript.model.Transcript` into text; :func:`write_outputs` saves them
as UTF-8 files, each written atomically (``<file>.partial`` in the same folder, then ``os.replace``).
Lines end with ``\\n`` on every platform.

JSON schema (``transcript.to_dict()``; times in seconds, rounded to the millisecond)::

    {
      "text": "Hello world. How are you?",
      "duration": 12.5,                 # of the recording
      "model": "parakeet-tdt-0.6b-v2",
      "source": "/abs/path/talk.wav",
      "segments": [                     # subtitle cues, as in the SRT/VTT files
        {"start": 0.32, "end": 1.1, "text": "Hello world.",
         "words": [{"word": "Hello", "start": 0.32, "end": 0.6}, ...]},
        ...
      ],
      "words": [                        # every word; "confidence" only when the model gives one
        {"word": "Hello", "start": 0.32, "end": 0.6, "confidence": 0.97}, ...
      ]
    }

A model without timestamps gives ``"words": []`` and one segment spanning the whole recording.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from chunky.base.errors import ChunkyError
from chunky.base.retry import retry_on_lock
from chunky.transcript.model import Segment, SubtitleLimits, Transcript, wrap_lines

FORMATS: tuple[str, ...] = ("txt", "srt", "vtt", "json", "csv")


class UnknownFormatError(ChunkyError, ValueError):
    """An output format name that is not one of :data:`FORMATS`."""


def format_timestamp(seconds: float, *, decimal_marker: str = ".", always_include_hours: bool = True) -> str:
    """``HH:MM:SS.mmm`` (``HH:MM:SS,mmm`` for SRT), rounded to the millisecond; hours past 99 just grow."""
    return _format_ms(_ms(seconds), decimal_marker=decimal_marker, always_include_hours=always_include_hours)


def _ms(seconds: float) -> int:
    return max(0, round(float(seconds) * 1000))


def _format_ms(ms: int, *, decimal_marker: str = ".", always_include_hours: bool = True) -> str:
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    head = f"{hours:02d}:" if always_include_hours or hours else ""
    return f"{head}{minutes:02d}:{secs:02d}{decimal_marker}{ms:03d}"


class Writer:
    name: ClassVar[str]
    extension: ClassVar[str]

    def format(self, transcript: Transcript) -> str:
        raise NotImplementedError


class TxtWriter(Writer):
    """The text, one segment (cue) per line."""

    name = "txt"
    extension = "txt"

    def format(self, transcript: Transcript) -> str:
        lines = [s.text for s in transcript.segments if s.text.strip()]
        if not lines and transcript.text.strip():
            lines = [transcript.text]
        return "".join(line + "\n" for line in lines)


class SubtitlesWriter(Writer):
    """Cues from the transcript's segments, text wrapped with :func:`wrap_lines`."""

    decimal_marker: ClassVar[str] = "."

    def __init__(self, limits: SubtitleLimits | None = None):
        self.limits = limits or SubtitleLimits()

    def cues(self, transcript: Transcript) -> Iterable[tuple[str, str, list[str]]]:
        """(start, end, lines) of each cue; rounding never puts the end before the start."""
        for seg in transcript.segments:
            lines = wrap_lines(seg.text, self.limits.max_line_chars, self.limits.max_lines)
            if not lines:
                continue
            start = _ms(seg.start)
            end = max(start, _ms(seg.end))
            yield (_format_ms(start, decimal_marker=self.decimal_marker),
                   _format_ms(end, decimal_marker=self.decimal_marker), lines)


class SrtWriter(SubtitlesWriter):
    name = "srt"
    extension = "srt"
    decimal_marker = ","

    def format(self, transcript: Transcript) -> str:
        out = []
        for number, (start, end, lines) in enumerate(self.cues(transcript), 1):
            out.append(f"{number}\n{start} --> {end}\n" + "\n".join(lines) + "\n\n")
        return "".join(out)


class VttWriter(SubtitlesWriter):
    """WebVTT; ``&``, ``<`` and ``>`` in cue text are written as character references, as the format
    requires."""

    name = "vtt"
    extension = "vtt"
    decimal_marker = "."

    def format(self, transcript: Transcript) -> str:
        out = ["WEBVTT\n\n"]
        for start, end, lines in self.cues(transcript):
            out.append(f"{start} --> {end}\n" + "\n".join(_vtt_escape(line) for line in lines) + "\n\n")
        return "".join(out)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class JsonWriter(Writer):
    """``transcript.to_dict()``, schema in this module's docstring and docs/output-formats.md."""

    name = "json"
    extension = "json"

    def format(self, transcript: Transcript) -> str:
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"


class CsvWriter(Writer):
    """``start,end,text``: one row per segment, times in seconds with three decimals."""

    name = "csv"
    extension = "csv"

    def format(self, transcript: Transcript) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["start", "end", "text"])
        for seg in _segments(transcript):
            start = _ms(seg.start)
            end = max(start, _ms(seg.end))
            out.writerow([f"{start / 1000:.3f}", f"{end / 1000:.3f}", seg.text])
        return buf.getvalue()


def _segments(transcript: Transcript) -> list[Segment]:
    return [s for s in transcript.segments if s.text.strip()]


WRITERS: dict[str, type[Writer]] = {
    w.name: w for w in (TxtWriter, SrtWriter, VttWriter, JsonWriter, CsvWriter)
}


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
        write_atomic(path, content.encode("utf-8"))
        paths.append(path)
    return paths


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``path.partial`` next to ``path``, then replace ``path`` with it (retrying while another
    program, e.g. a spreadsheet showing the CSV, holds the file open)."""
    tmp = path.with_name(path.name + ".partial")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        retry_on_lock(lambda: os.replace(tmp, path), what=f"saving {path.name}")
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise
