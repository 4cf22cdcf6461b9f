"""Markers on a timeline, in frames: what the EDL, FCPXML and FCP7 XML writers place, one per paragraph,
speaker turn or cue (``ExportOptions.markers``)."""

from __future__ import annotations

from dataclasses import dataclass

from chunky.export.base import Document
from chunky.transcript.layout import Cue
from chunky.transcript.timecode import seconds_to_frames


@dataclass(frozen=True)
class FrameSpan:
    """A cue or marker in frames from the recording's first frame: ``[start, end)``."""

    start: int
    end: int
    text: str
    speaker: str | None = None
    lines: tuple[str, ...] = ()  # the cue's lines (those of merged cues one after the other)

    @property
    def duration(self) -> int:
        return self.end - self.start


def frame_spans(doc: Document, cues: list[Cue], *, min_frames: int = 1) -> list[FrameSpan]:
    """The cues in whole frames, in order and never overlapping: each at least ``min_frames`` long where
    the next one leaves room; cues that round to the same first frame are one span (their texts joined,
    nothing is lost)."""
    rate = doc.timing.rate
    spans: list[FrameSpan] = []
    for cue in cues:
        text = " ".join(cue.text.split())
        if not text:
            continue
        start = seconds_to_frames(cue.start, rate)
        end = max(start, seconds_to_frames(cue.end, rate))
        if spans and start <= spans[-1].start:
            last = spans[-1]
            spans[-1] = FrameSpan(last.start, max(last.end, end), f"{last.text} {text}",
                                  last.speaker if last.speaker == cue.speaker else None,
                                  last.lines + tuple(cue.lines))
            continue
        spans.append(FrameSpan(start, end, text, cue.speaker, tuple(cue.lines)))
    out: list[FrameSpan] = []
    for k, span in enumerate(spans):
        end = max(span.end, span.start + min_frames)
        if k + 1 < len(spans):
            end = min(end, spans[k + 1].start)
        start = max(span.start, out[-1].end) if out else span.start
        out.append(FrameSpan(start, max(start, end), span.text, span.speaker, span.lines))
    return out


def speaker_index(doc: Document) -> dict[str | None, int]:
    """Speakers in order of first appearance -> 0, 1, ... (None -> 0): for marker colours."""
    order: dict[str | None, int] = {None: 0}
    for w in doc.transcript.words:
        if w.speaker is not None and w.speaker not in order:
            order[w.speaker] = len(order) - 1
    return order


def one_line(text: str) -> str:
    """Text on one line, without the characters marker formats use as separators."""
    return " ".join(text.replace("|", "/").split())
