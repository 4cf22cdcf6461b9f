"""Subtitles: SRT and WebVTT cues from the transcript's segments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from chunky.export.base import Writer, format_ms, to_ms
from chunky.transcript.cues import SubtitleLimits, wrap_lines
from chunky.transcript.model import Transcript


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
            start = to_ms(seg.start)
            end = max(start, to_ms(seg.end))
            yield (format_ms(start, decimal_marker=self.decimal_marker),
                   format_ms(end, decimal_marker=self.decimal_marker), lines)


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
