"""Subtitles timed in milliseconds: SRT, WebVTT and ASS (Advanced SubStation Alpha).

Every cue is shown from its start to its end as laid out by the job's rules; times are seconds from the
start of the recording plus the start timecode read as a clock (01:00:00:00 -> one hour), rounded to the
millisecond (to the centisecond in ASS).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import ClassVar

from chunky.export.base import Document, Writer, format_ms, to_ms
from chunky.transcript.layout import Cue

# ASS primary colours (&HAABBGGRR) of the speakers' styles, in the order they first speak: white, yellow,
# cyan, green, pink, orange (the usual colours of speaker-coloured subtitles).
SPEAKER_COLOURS = ("&H00FFFFFF", "&H0000FFFF", "&H00FFFF00", "&H0080FF80", "&H00C080FF", "&H000080FF")


def timed_cues(doc: Document) -> Iterator[tuple[int, int, Cue]]:
    """(start ms, end ms, cue) of each cue with text, the start timecode's offset added; rounding never
    puts an end before its start or after the next cue's start."""
    offset = doc.timing.clock_offset
    cues = [c for c in doc.cues if c.lines]
    starts = [to_ms(c.start + offset) for c in cues]
    for k, cue in enumerate(cues):
        start = starts[k]
        end = max(start, to_ms(cue.end + offset))
        if k + 1 < len(cues) and starts[k + 1] >= start:
            end = min(end, starts[k + 1])
        yield start, end, cue


class SrtWriter(Writer):
    """SubRip; when the speakers are known, the first cue of each turn starts with the speaker's name
    (``Host: ...``; SRT has no voice field, and this is how subtitlers mark a change of speaker). In a
    dialogue cue (two speakers, a line each, each line starting with the dash) the name follows the dash
    of each line whose speaker differs from the one before it: ``- Host: Yes.`` / ``- Guest: No.``."""

    name = "srt"
    extension = "srt"
    label = "SubRip subtitles"

    def write(self, doc: Document) -> str:
        out = []
        previous: str | None = None
        dash = doc.cue_layout.rules.dialogue_dash
        for number, (start, end, cue) in enumerate(timed_cues(doc), 1):
            lines = list(cue.lines)
            if cue.line_speakers:
                for k, speaker in enumerate(cue.line_speakers):
                    if speaker != previous and lines[k].startswith(dash):
                        lines[k] = f"{dash}{speaker}: {lines[k][len(dash):]}"
                    previous = speaker
            else:
                if cue.speaker and cue.speaker != previous:
                    lines[0] = f"{cue.speaker}: {lines[0]}"
                previous = cue.speaker or previous
            out.append(f"{number}\n{format_ms(start, decimal_marker=',')} --> "
                       f"{format_ms(end, decimal_marker=',')}\n" + "\n".join(lines) + "\n\n")
        return "".join(out)


class VttWriter(Writer):
    """WebVTT; ``&``, ``<`` and ``>`` in cue text are written as character references, as the format
    requires; a cue of one known speaker carries a ``<v Speaker>`` voice tag; in a dialogue cue each line
    is its own voice span, closed at the line's end (``<v Host>- Yes.</v>`` / ``<v Guest>- No.</v>``)."""

    name = "vtt"
    extension = "vtt"
    label = "WebVTT subtitles"

    def write(self, doc: Document) -> str:
        out = ["WEBVTT\n\n"]
        for start, end, cue in timed_cues(doc):
            lines = [vtt_escape(line) for line in cue.lines]
            if cue.line_speakers:
                lines = [f"<v {vtt_escape(who)}>{line}</v>" for who, line in zip(cue.line_speakers, lines,
                                                                                 strict=True)]
            elif cue.speaker:
                lines[0] = f"<v {vtt_escape(cue.speaker)}>{lines[0]}"
            out.append(f"{format_ms(start)} --> {format_ms(end)}\n" + "\n".join(lines) + "\n\n")
        return "".join(out)


def vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class AssWriter(Writer):
    """Advanced SubStation Alpha (Aegisub, players, social-video tools): a style per speaker (its own
    colour; "Default" for cues without one), the speaker in the Name field, lines broken with ``\\N``.
    With karaoke timing every word carries a ``{\\kNN}`` tag: the centiseconds from its start to the next
    word's (the last word: to the cue's end). A dialogue cue (two speakers) is one event in the first
    speaker's style, its second line switched to the second speaker's style (``{\\rGuest}``), the Name
    field naming both (``Host / Guest``)."""

    name = "ass"
    extension = "ass"
    label = "styled subtitles, karaoke timing optional"
    RES: ClassVar[tuple[int, int]] = (1920, 1080)

    def write(self, doc: Document) -> str:
        width, height = self.RES
        head = [
            "[Script Info]",
            f"; Written by Chunky from {_ass_text(doc.source_name) or 'a recording'}",
            f"Title: {_ass_text(doc.title)}",
            "ScriptType: v4.00+",
            "WrapStyle: 2",  # no automatic wrapping: the lines are broken by the layout rules
            "ScaledBorderAndShadow: yes",
            f"PlayResX: {width}",
            f"PlayResY: {height}",
            "",
            "[V4+ Styles]",
            "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
            "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, "
            "Shadow, Alignment, MarginL, MarginR, MarginV, Encoding",
            *[f"Style: {style},Arial,64,{colour},&H0000D7FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,3,1,"
              "2,96,96,64,1" for style, colour in self._styles(doc).values()],
            "",
            "[Events]",
            "Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text",
        ]
        offset = doc.timing.clock_offset
        styles = self._styles(doc)
        dash = doc.cue_layout.rules.dialogue_dash
        events = []
        for start_ms, end_ms, cue in timed_cues(doc):
            start, end = _cs(start_ms), max(_cs(start_ms), _cs(end_ms))
            who = cue.line_speakers or (cue.speaker,)
            line_styles = [styles.get(s, styles[None])[0] for s in who]
            if doc.options.karaoke and cue.words:
                text = self._karaoke(cue, offset, start, end, line_styles, dash)
            else:
                text = "\\N".join(_style_switch(line_styles, k) + _ass_text(line)
                                   for k, line in enumerate(cue.lines))
            name = " / ".join(_ass_text(s or "").replace(",", " ") for s in who)  # fields are comma-separated
            style = line_styles[0]
            events.append(f"Dialogue: 0,{_ass_time(start)},{_ass_time(end)},{style},{name},0,0,0,,{text}")
        return "\n".join(head + events) + "\n"

    @staticmethod
    def _styles(doc: Document) -> dict[str | None, tuple[str, str]]:
        """speaker (None: no speaker) -> (style name, primary colour), in the order they first speak."""
        out: dict[str | None, tuple[str, str]] = {None: ("Default", SPEAKER_COLOURS[0])}
        taken = {"default"}
        for w in doc.transcript.words:
            if w.speaker is None or w.speaker in out:
                continue
            base = re.sub(r"[,\\{}]", " ", w.speaker).strip() or "Speaker"
            name, n = base, 1
            while name.lower() in taken:
                n += 1
                name = f"{base} {n}"
            taken.add(name.lower())
            out[w.speaker] = (name, SPEAKER_COLOURS[(len(out) - 1) % len(SPEAKER_COLOURS)])
        return out

    @staticmethod
    def _karaoke(cue: Cue, offset: float, start: int, end: int, line_styles: list[str], dash: str) -> str:
        """``{\\k..}word`` for every word; line breaks where the layout put them (in a dialogue cue, each
        line's dash before its first word and the second speaker's style from the second line on). The \\k
        values add up to the cue's duration."""
        marks = [max(start, min(end, _cs(to_ms(w.start + offset)))) for w in cue.words] + [end]
        marks[0] = start
        parts: list[str] = []
        line_ends = _line_ends(cue)
        heads: dict[int, str] = {}
        if cue.line_speakers:  # each line's dash before its first word, the line's style from line 2 on
            firsts = [0, *sorted(k + 1 for k in line_ends)]
            heads = {w: _style_switch(line_styles, n) + _ass_keep(dash) for n, w in enumerate(firsts)}
        for k, word in enumerate(cue.words):
            marks[k + 1] = max(marks[k + 1], marks[k])
            parts.append(f"{heads.get(k, '')}{{\\k{marks[k + 1] - marks[k]}}}{_ass_text(word.text)}")
            if k + 1 < len(cue.words):
                parts.append("\\N" if k in line_ends else " ")
        return "".join(parts)


def _style_switch(line_styles: list[str], k: int) -> str:
    """``{\\rStyle}`` before line ``k`` of a cue whose style differs from the event's (its first line's)."""
    if k == 0 or k >= len(line_styles) or line_styles[k] == line_styles[0]:
        return ""
    return f"{{\\r{line_styles[k]}}}"


def _line_ends(cue: Cue) -> set[int]:
    """Indexes of the words that end a line of the cue (the last line's excluded)."""
    if cue.line_speakers:  # a dialogue cue: a line per speaker (its dash is no word)
        return {k for k in range(len(cue.words) - 1) if cue.words[k].speaker != cue.words[k + 1].speaker}
    ends, k = set(), -1
    for line in cue.lines[:-1]:
        k += len(line.split())
        ends.add(k)
    return ends


def _cs(ms: int) -> int:
    return (ms + 5) // 10


def _ass_time(cs: int) -> str:
    h, rest = divmod(cs, 360000)
    m, rest = divmod(rest, 6000)
    s, c = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{c:02d}"


def _ass_keep(text: str) -> str:
    """:func:`_ass_text` keeping the spaces (a dialogue dash's)."""
    return text.replace("\\", "⧵").replace("{", "(").replace("}", ")")


def _ass_text(text: str) -> str:
    """Text that ASS shows as it is: braces open override blocks and a backslash starts a tag, so they are
    replaced by look-alikes; line breaks and commas are fine in the last field."""
    return " ".join(text.split()).replace("\\", "⧵").replace("{", "(").replace("}", ")")
