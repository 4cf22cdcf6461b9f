"""The transcript data model: Word / Segment / Transcript and their JSON form.

Pure module: no torch, nemo or gradio. Times are seconds from the start of the recording.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TIME_DECIMALS = 3  # times in the JSON form are rounded to the millisecond
# The version of the JSON form (docs/output-formats.md). 1: no version field; 2: "schema_version", word
# "speaker", "media", and the "layout" and "timecode" the cues were made with; optional in 2: "revision" (a
# corrected transcript), "speakers" (the speakers table) and "audio" (which streams were transcribed).
SCHEMA_VERSION = 2


@dataclass
class Word:
    text: str
    start: float
    end: float
    confidence: float | None = None
    speaker: str | None = None  # who said it, when the speakers are known; a change is a preferred break

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
    # The recording's own video timing when it has one: {"fps": "29.97", "start_timecode": "01:00:00;00"}
    # (either may be missing); the timed formats use it unless a frame rate or start timecode is given.
    media: dict[str, str] | None = None
    # 0: the model's transcript; n: the n-th saved correction of it (chunky.jobs.revisions).
    revision: int = 0
    # Who speaks, in order: [{"name": "Host", "source": "stream 1"}] ("source": the track a speaker was
    # recorded on, or "diarization"); empty when the speakers are not known.
    speakers: list[dict[str, str]] = field(default_factory=list)
    # Which audio was transcribed: {"mode": "tracks", "used": ["Host (stream 1)", ...], "notes": [...]};
    # the notes name every stream that was not used, and why.
    audio: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "text": self.text,
            "duration": _t(self.duration),
            "model": self.model,
            "source": self.source,
        }
        if self.media:
            d["media"] = dict(self.media)
        if self.revision:
            d["revision"] = self.revision
        if self.audio:
            d["audio"] = {k: list(v) if isinstance(v, list | tuple) else v for k, v in self.audio.items()}
        if self.speakers:
            d["speakers"] = [dict(s) for s in self.speakers]
        d["segments"] = [s.to_dict() for s in self.segments]
        d["words"] = [w.to_dict() for w in self.words]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Transcript:
        """The transcript of a JSON form of any version (keys it does not know are ignored); ValueError when
        ``d`` is no transcript, or one written by a newer Chunky."""
        if not isinstance(d, dict) or not isinstance(d.get("words", []), list):
            raise ValueError("not a Chunky transcript (a JSON object with words and segments)")
        version = d.get("schema_version", 1)
        if not isinstance(version, int) or version > SCHEMA_VERSION:
            raise ValueError(f"transcript schema version {version!r} is newer than this Chunky reads "
                             f"({SCHEMA_VERSION}): update Chunky")
        media = d.get("media")
        revision = d.get("revision", 0)
        speakers = d.get("speakers")
        audio = d.get("audio")
        return cls(
            text=str(d.get("text", "")),
            words=[Word.from_dict(w) for w in d.get("words") or []],
            segments=[Segment.from_dict(s) for s in d.get("segments") or []],
            duration=float(d.get("duration", 0.0)),
            model=str(d.get("model", "")),
            source=str(d.get("source", "")),
            media={str(k): str(v) for k, v in media.items() if v is not None} if isinstance(media, dict)
            else None,
            revision=revision if isinstance(revision, int) and not isinstance(revision, bool) and revision > 0
            else 0,
            speakers=[{str(k): str(v) for k, v in s.items()} for s in speakers if isinstance(s, dict)]
            if isinstance(speakers, list) else [],
            audio=dict(audio) if isinstance(audio, dict) else None,
        )


def _t(seconds: float) -> float:
    return round(float(seconds), TIME_DECIMALS)
