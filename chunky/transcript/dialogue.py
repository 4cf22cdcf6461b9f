"""Dialogue cues: two short turns of different speakers in one two-line cue, each line starting with a
dash (the broadcast and streaming convention for a quick exchange: "- Yes." / "- No, I don't think so.").

Pure module (standard library only). :func:`chunky.transcript.layout.layout` first lays out every turn on
its own (a speaker change ends a cue); :func:`pair_turns` then joins two neighbouring cues into one when

- the dialogue rule is on (``rules.dialogue_dash`` is not empty), a cue may have two lines, and the rules
  are not the paragraph or one-word rules;
- each cue is a whole turn of one known speaker (not a piece of a longer turn), and the speakers differ;
- the silence between them is shorter than ``rules.pause`` (a long silence always ends a cue);
- each turn fits on one line with its dash (``max_chars``), and the two together (dashes and the space
  between the lines counted, as every cue's characters are) neither read faster than ``max_cps`` nor show
  longer than ``max_duration``, timed like any other cue.

Pairs are taken from the start: of three quick turns, the first two share a cue and the third stays on
its own, so a cue never has more than two speakers. The lines are the dash and the turn's words; the cue
names its lines' speakers in ``line_speakers``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from chunky.transcript.cue_timing import display_end, timing_breaks
from chunky.transcript.model import Word

if TYPE_CHECKING:
    from chunky.transcript.layout import LayoutRules

Span = tuple[int, int]  # words[a:b]


def dialogue_on(rules: LayoutRules) -> bool:
    """The rules allow dialogue cues: a dash is set, a cue may have two lines, not paragraphs or words."""
    return (bool(rules.dialogue_dash) and not rules.paragraph_chars
            and (rules.max_lines is None or rules.max_lines >= 2)
            and (rules.max_words is None or rules.max_words >= 2))


def dialogue_lines(words: Sequence[Word], dash: str) -> list[str]:
    """The lines of a dialogue cue: one per speaker, in order, each starting with ``dash``."""
    lines: list[list[str]] = []
    previous: object = object()
    for w in words:
        if w.speaker != previous:
            lines.append([])
            previous = w.speaker
        lines[-1].append(w.text)
    return [dash + " ".join(line) for line in lines]


def _speaker(words: Sequence[Word], span: Span) -> str | None:
    speakers = {w.speaker for w in words[span[0]:span[1]]}
    return speakers.pop() if len(speakers) == 1 else None


def can_pair(words: Sequence[Word], first: Span, second: Span, rules: LayoutRules, fps: float,
             next_start: float) -> bool:
    """Whether the whole turns ``first`` and ``second`` (consecutive spans of ``words``) fit one dialogue
    cue that the next cue, starting at ``next_start``, leaves room for (see the module docstring)."""
    (a, m), (m2, b) = first, second
    if m != m2 or not (a < m < b):
        return False
    one, two = _speaker(words, first), _speaker(words, second)
    if one is None or two is None or one == two:
        return False
    if rules.pause > 0 and words[m].start - max(w.end for w in words[a:m]) >= rules.pause:
        return False
    if rules.max_words is not None and b - a > rules.max_words:
        return False
    lines = dialogue_lines(words[a:b], rules.dialogue_dash)
    if len(lines) != 2:
        return False
    if rules.max_chars is not None and any(len(line) > rules.max_chars for line in lines):
        return False
    start = words[a].start
    speech_end = max(w.end for w in words[a:b])
    if rules.max_duration is not None and speech_end - start > rules.max_duration:
        return False
    chars = len(" ".join(lines))
    end = display_end(start, speech_end, chars, next_start, rules, fps)
    broken = timing_breaks(start, end, chars, rules)
    return "max_cps" not in broken and "max_duration" not in broken


def pair_turns(words: Sequence[Word], spans: Sequence[Span], turns: set[Span], rules: LayoutRules,
               fps: float, end_start: float = math.inf) -> list[tuple[int, int, bool]]:
    """The cues ``spans`` (consecutive, covering ``words``) with neighbouring whole turns (members of
    ``turns``) joined where they fit one dialogue cue: ``(a, b, dialogue)`` per cue. ``end_start``: where
    the last cue must end by (the end of the recording plus the minimum gap; inf: no limit)."""
    if not dialogue_on(rules):
        return [(a, b, False) for a, b in spans]
    out: list[tuple[int, int, bool]] = []
    k = 0
    while k < len(spans):
        if k + 1 < len(spans) and spans[k] in turns and spans[k + 1] in turns:
            a, b = spans[k][0], spans[k + 1][1]
            next_start = words[b].start if b < len(words) else max(end_start, max(w.end for w in words[a:b]))
            if can_pair(words, spans[k], spans[k + 1], rules, fps, next_start):
                out.append((a, b, True))
                k += 2
                continue
        out.append((*spans[k], False))
        k += 1
    return out
