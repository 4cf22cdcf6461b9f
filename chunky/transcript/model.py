"""The transcript data model: Word / Segment / Transcript and their JSON form.

Pure module: no torch, nemo or gradio. Times are seconds from the start of the recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TIME_DECIMALS = 3  # times in the JSON form are rounded to the millisecond


@dataclass
class Word:
    text: str
    start: float
    end: float
    confidence: float | None = None
    speaker: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"word": self.text, "start": _t(self.start), "end": _t(self.end)}
        if self.confidence is not None and math.isfinite(self.confidence):
            d["confidence"] = round(float(self.confidence), 4)
        if self.speaker is not None:
            d["speaker"] = self.speaker
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Word:
        conf = d.get("confidence")
        speaker = d.get("speaker")
        return cls(str(d["word"]), float(d["start"]), float(d["end"]), None if conf is None else float(conf),
                   None if speaker is None else str(speaker))


@dataclass
class Segment:
    """One subtitle cue: consecutive words shown together (``words`` is empty for text-only models)."""

    start: float
    end: float
    text: str
    words: list[Word] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": _t(self.start),
            "end": _t(self.end),
            "text": self.text,
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Segment:
        return cls(float(d["start"]), float(d["end"]), str(d["text"]),
                   [Word.from_dict(w) for w in d.get("words") or []])


@dataclass
class Transcript:
    """A finished (or partial) transcription of one recording.

    ``to_dict()`` gives the JSON form (see docs/output-formats.md); times are rounded to the millisecond,
    so ``Transcript.from_dict(t.to_dict())`` equals ``t`` whenever its times already are whole
    milliseconds, and ``to_dict(from_dict(d)) == d`` for any dict that ``to_dict`` produced.
    """

    text: str
    words: list[Word]
    segments: list[Segment]
    duration: float
    model: str = ""
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "duration": _t(self.duration),
            "model": self.model,
            "source": self.source,
            "segments": [s.to_dict() for s in self.segments],
            "words": [w.to_dict() for w in self.words],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        return cls(
            text=str(d.get("text", "")),
            words=[Word.from_dict(w) for w in d.get("words") or []],
            segments=[Segment.from_dict(s) for s in d.get("segments") or []],
            duration=float(d.get("duration", 0.0)),
            model=str(d.get("model", "")),
            source=str(d.get("source", "")),
        )


def _t(seconds: float) -> float:
    return round(float(seconds), TIME_DECIMALS)
