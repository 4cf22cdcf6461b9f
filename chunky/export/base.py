"""What every writer shares: :class:`ExportOptions` (layout rules, timecode, format choices), the
:class:`Document` a writer formats (the transcript laid out once for all formats), the Writer interface
and the millisecond timestamps of SRT/VTT/CSV."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, ClassVar

from chunky.base.errors import ChunkyError
from chunky.transcript.layout import PRESETS, Cue, Layout, LayoutRules, layout_transcript_words
from chunky.transcript.model import Transcript
from chunky.transcript.speakers import rename_speakers
from chunky.transcript.timecode import (
    DEFAULT_RATE,
    FrameRate,
    TimecodeError,
    Timing,
    parse_rate,
    timecode_to_frames,
)

FCPXML_KINDS = ("captions", "markers")  # what an FCPXML file carries
MARKER_UNITS = ("paragraph", "speaker", "cue")  # what one marker of EDL/FCPXML/xmeml covers


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


@dataclass(frozen=True)
class ExportOptions:
    """How a transcript becomes files: the subtitle rules, the timeline's frame rate and start timecode
    (None: the recording's own, else 25 fps and 00:00:00:00), and the choices of some formats."""

    rules: LayoutRules = PRESETS["streaming"]  # subtitle cues (SRT, VTT, ASS, TTML, FCPXML captions, ...)
    paragraph_rules: LayoutRules = PRESETS["paragraph"]  # TXT, DOCX and markers
    fps: str | None = None  # a frame rate name (chunky.transcript.timecode.RATES)
    start_timecode: str | None = None  # HH:MM:SS:FF
    karaoke: bool = False  # ASS: per-word \k timing
    fcpxml: str = "captions"  # FCPXML carries captions or markers
    markers: str = "paragraph"  # one marker per paragraph, speaker turn or cue
    speaker_names: tuple[tuple[str, str], ...] = ()  # speakers renamed: (("Speaker 1", "Host"), ...)

    def timing(self, media: Mapping[str, str] | None = None) -> Timing:
        """The timeline of a recording whose own timing is ``media`` (Transcript.media)."""
        media = media or {}
        rate = self._rate(media)
        media_start = 0
        if media.get("start_timecode"):
            try:
                media_start = timecode_to_frames(media["start_timecode"], rate)
            except TimecodeError:
                media_start = 0  # a tag that does not fit the chosen rate: the timeline starts at zero
        start = media_start
        if self.start_timecode:
            start = timecode_to_frames(self.start_timecode, rate)  # a clear error for a bad setting
        return Timing(rate, start, media_start)

    def _rate(self, media: Mapping[str, str]) -> FrameRate:
        if self.fps:
            return parse_rate(self.fps)
        if media.get("fps"):
            try:
                return parse_rate(media["fps"])
            except TimecodeError:
                pass
        return DEFAULT_RATE

    def to_dict(self) -> dict[str, Any]:
        return {"rules": self.rules.to_dict(), "fps": self.fps, "start_timecode": self.start_timecode,
                "karaoke": self.karaoke, "fcpxml": self.fcpxml, "markers": self.markers}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ExportOptions:
        rules = d.get("rules")
        return cls(
            rules=LayoutRules.from_dict(rules) if isinstance(rules, dict) else PRESETS["streaming"],
            fps=d.get("fps") or None,
            start_timecode=d.get("start_timecode") or None,
            karaoke=bool(d.get("karaoke", False)),
            fcpxml=str(d.get("fcpxml") or "captions"),
            markers=str(d.get("markers") or "paragraph"),
        )


@dataclass
class Document:
    """A transcript laid out for writing: its cues, paragraphs and markers on a timeline. Built once per
    transcript by :func:`render`; every writer formats it."""

    transcript: Transcript
    options: ExportOptions
    timing: Timing
    source_name: str = ""  # the recording's file name (titles, clip names)
    _layouts: dict[str, Layout] = field(default_factory=dict, repr=False)

    @property
    def cues(self) -> list[Cue]:
        return self.cue_layout.cues

    @cached_property
    def cue_layout(self) -> Layout:
        return self._layout(self.options.rules)

    @property
    def segments(self) -> list[Cue]:
        """The cues with one speaker each: the same rules without dialogue cues (two speakers' short turns
        are two segments here). What the data formats list (JSON, CSV, Audacity), and so what the page's
        transcript and the review view show, a speaker per segment."""
        rules = self.options.rules
        if not rules.dialogue_dash:
            return self.cues
        return self._layout(replace(rules, dialogue_dash="")).cues

    @property
    def paragraphs(self) -> list[Cue]:
        return self._layout(self.options.paragraph_rules).cues

    @property
    def markers(self) -> list[Cue]:
        """What one marker covers: a paragraph, a speaker turn (paragraphs when no speaker is known) or a
        cue (``options.markers``)."""
        unit = self.options.markers
        if unit == "cue":
            return self.cues
        if unit == "speaker" and any(w.speaker for w in self.transcript.words):
            rules = self.options.paragraph_rules.with_values(paragraph_chars=10**9, pause=10**9)
            return self._layout(rules).cues
        return self.paragraphs

    def _layout(self, rules: LayoutRules) -> Layout:
        key = repr(rules)
        if key not in self._layouts:
            t = self.transcript
            self._layouts[key] = layout_transcript_words(t.words, t.segments, rules, self.timing.rate.fps,
                                                         t.duration)
        return self._layouts[key]

    @property
    def title(self) -> str:
        return self.source_name.rsplit(".", 1)[0] if self.source_name else "Chunky transcript"


def render(transcript: Transcript, options: ExportOptions | None = None) -> Document:
    """The transcript laid out under ``options`` (TimecodeError for a start timecode that does not exist
    at the frame rate)."""
    options = options or ExportOptions()
    if options.speaker_names:  # every format gets the new names (a name the file lacks is ignored)
        transcript = rename_speakers(transcript, options.speaker_names, strict=False)
    source = transcript.source.replace("\\", "/").rsplit("/", 1)[-1]
    return Document(transcript, options, options.timing(transcript.media), source)


class Writer:
    """One output format: :meth:`format` turns a Document (or a Transcript, laid out with the default
    options) into the file's text (or bytes)."""

    name: ClassVar[str]
    extension: ClassVar[str]
    label: ClassVar[str] = ""  # what it is for, in the format list of the page and the docs

    def format(self, doc: Document | Transcript) -> str | bytes:
        return self.write(doc if isinstance(doc, Document) else render(doc))

    def write(self, doc: Document) -> str | bytes:
        raise NotImplementedError
