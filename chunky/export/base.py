"""What every writer shares: the Writer interface and the millisecond timestamps of SRT/VTT/CSV."""

from __future__ import annotations

from typing import ClassVar

from chunky.base.errors import ChunkyError
from chunky.transcript.model import Segment, Transcript


class UnknownFormatError(ChunkyError, ValueError):
    """An output format name that is not one of :data:`chunky.export.FORMATS`."""


def format_timestamp(seconds: float, *, decimal_marker: str = ".", always_include_hours: bool = True) -> str:
    """``HH:MM:SS.mmm`` (``HH:MM:SS,mmm`` for SRT), rounded to the millisecond; hours past 99 just grow."""
    return format_ms(to_ms(seconds), decimal_marker=decimal_marker, always_include_hours=always_include_hours)


def to_ms(seconds: float) -> int:
    return max(0, round(float(seconds) * 1000))


def format_ms(ms: int, *, decimal_marker: str = ".", always_include_hours: bool = True) -> str:
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


def spoken_segments(transcript: Transcript) -> list[Segment]:
    """The segments that hold any text."""
    return [s for s in transcript.segments if s.text.strip()]
