"""Grouping words into subtitle cues (segments) and cue text into lines; building the Transcript.

Pure module: no torch, nemo or gradio.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chunky.transcript.model import Segment, Transcript, Word

# Characters that end a sentence, and closing characters that may follow them ('"Stop!"', 'end.)').
SENTENCE_END = ".?!…。？！"
CLOSERS = "\"'”’»)]}」』"
# A break after one of these is a natural place to split a cue or a line that is too long.
CLAUSE_END = SENTENCE_END + ",;:，、；：—–"

# wrap_lines: a line break after a clause end may make the longest line this many characters longer
# than the most even break; beyond this many ways to place the breaks, lines are filled greedily.
CLAUSE_BREAK_BONUS = 6
MAX_BREAK_CHOICES = 5000


@dataclass
class SubtitleLimits:
    max_line_chars: int = 42
    max_lines: int = 2
    max_cue_seconds: float = 7.0
    pause_seconds: float = 0.6  # a silence longer than this between two words starts a new cue

    @property
    def max_cue_chars(self) -> int:
        return self.max_line_chars * self.max_lines


def _core(text: str) -> str:
    return text.rstrip(CLOSERS)


def ends_sentence(text: str) -> bool:
    core = _core(text)
    return bool(core) and core[-1] in SENTENCE_END


def ends_clause(text: str) -> bool:
    core = _core(text)
    return bool(core) and core[-1] in CLAUSE_END


def _line_count(lengths: Sequence[int], max_line_chars: int) -> int:
    """Lines needed when words of these lengths are filled greedily (the fewest possible)."""
    lines, current = 0, -1
    for n in lengths:
        if current >= 0 and current + 1 + n <= max_line_chars:
            current += 1 + n
        else:
            lines += 1
            current = n
    return lines


def _fits(texts: Sequence[str], limits: SubtitleLimits) -> bool:
    if len(texts) <= 1:
        return True  # a single word always forms a cue, however long
    if any(len(t) > limits.max_line_chars for t in texts):
        return False  # a word longer than a line stays on its own
    if sum(len(t) for t in texts) + len(texts) - 1 > limits.max_cue_chars:
        return False
    return _line_count([len(t) for t in texts], limits.max_line_chars) <= limits.max_lines


def _within_limits(words: Sequence[Word], limits: SubtitleLimits) -> bool:
    if len(words) <= 1:
        return True
    if max(w.end for w in words) - words[0].start > limits.max_cue_seconds:
        return False
    return _fits([w.text for w in words], limits)


def _segment(words: Sequence[Word]) -> Segment:
    return Segment(words[0].start, max(w.end for w in words), " ".join(w.text for w in words), list(words))


def _starts_lowercase(text: str) -> bool:
    for ch in text:
        if ch.isalpha():
            return ch.islower()
    return False


def _sentence_break(prev: str, nxt: str) -> bool:
    """A sentence ends between these two words ("Mr. smith", "e.g. this": a "." before a lowercase word
    is taken for an abbreviation)."""
    if not ends_sentence(prev):
        return False
    return not (_core(prev).endswith(".") and _starts_lowercase(nxt))


def segment_words(words: Iterable[Word], limits: SubtitleLimits | None = None) -> list[Segment]:
    """Group words (sorted by time) into subtitle cues.

    A new cue starts after a sentence end (. ? ! …; a "." followed by a lowercase word is taken for an
    abbreviation), after a silence longer than ``limits.pause_seconds``, and before a word that would
    make the cue need more than ``max_lines`` lines of ``max_line_chars`` or last longer than
    ``max_cue_seconds``. When a cue overflows, it is split after its last clause end (a comma and the
    like) in its second half when that leaves a valid cue. Words are never split; one word longer than
    a line forms a cue by itself.
    """
    limits = limits or SubtitleLimits()
    segments: list[Segment] = []
    cue: list[Word] = []
    for word in words:
        if not cue:
            cue = [word]
            continue
        prev = cue[-1]
        if _sentence_break(prev.text, word.text) or word.start - prev.end > limits.pause_seconds:
            segments.append(_segment(cue))
            cue = [word]
            continue
        candidate = [*cue, word]
        if _within_limits(candidate, limits):
            cue = candidate
            continue
        # Too long: prefer splitting after a clause end in the second half of the cue.
        split = next((i for i in range(len(cue) - 1, len(cue) // 2 - 1, -1)
                      if i > 0 and ends_clause(cue[i - 1].text)), None)
        if split is not None and _within_limits(cue[split:] + [word], limits):
            segments.append(_segment(cue[:split]))
            cue = [*cue[split:], word]
        else:
            segments.append(_segment(cue))
            cue = [word]
    if cue:
        segments.append(_segment(cue))
    return segments


def wrap_lines(text: str, max_line_chars: int = 42, max_lines: int = 2) -> list[str]:
    """Break cue text into balanced lines of at most ``max_line_chars`` (words are never split).

    Uses the fewest lines that fit, then picks the breaks that keep the longest line short, preferring a
    break after a clause end (worth ``CLAUSE_BREAK_BONUS`` characters), then even lines, then a shorter
    top line (the usual subtitle "pyramid"). Text that does not fit in ``max_lines`` lines is not cut: it
    is filled greedily into as many lines as it needs. A word longer than a line gets a line of its own.
    """
    words = text.split()
    if not words:
        return []
    joined = " ".join(words)
    if len(joined) <= max_line_chars:
        return [joined]
    lengths = [len(w) for w in words]
    n_lines = _line_count(lengths, max_line_chars)
    if n_lines > max_lines or math.comb(len(words) - 1, n_lines - 1) > MAX_BREAK_CHOICES:
        return _greedy_lines(words, max_line_chars)
    best: tuple | None = None
    best_breaks: tuple[int, ...] = ()
    for breaks in itertools.combinations(range(1, len(words)), n_lines - 1):
        bounds = (0, *breaks, len(words))
        widths = [sum(lengths[i:j]) + (j - i - 1) for i, j in itertools.pairwise(bounds)]
        if any(w > max_line_chars and j - i > 1 for w, (i, j) in zip(widths, itertools.pairwise(bounds),
                                                                         strict=True)):
            continue
        plain = sum(1 for b in breaks if not ends_clause(words[b - 1]))
        key = (max(widths) + CLAUSE_BREAK_BONUS * plain, sum(w * w for w in widths), widths)
        if best is None or key < best:
            best, best_breaks = key, breaks
    if best is None:  # cannot happen: greedy filling found n_lines lines that fit
        return _greedy_lines(words, max_line_chars)
    bounds = (0, *best_breaks, len(words))
    return [" ".join(words[i:j]) for i, j in itertools.pairwise(bounds)]


def _greedy_lines(words: Sequence[str], max_line_chars: int) -> list[str]:
    lines: list[list[str]] = []
    width = 0
    for w in words:
        if lines and width + 1 + len(w) <= max_line_chars:
            lines[-1].append(w)
            width += 1 + len(w)
        else:
            lines.append([w])
            width = len(w)
    return [" ".join(line) for line in lines]


def build_transcript(
    words: Sequence[Word],
    duration: float,
    model: str = "",
    source: str = "",
    limits: SubtitleLimits | None = None,
    text: str | None = None,
) -> Transcript:
    """The one way the engine makes a Transcript.

    With words: they are cleaned (blank ones dropped, ``end >= start``, sorted by start) and segmented
    into cues; ``text`` defaults to the words joined by spaces. Without words (a model that gives no
    timestamps), ``text`` is the transcript and forms one segment spanning the whole recording.
    """
    limits = limits or SubtitleLimits()
    duration = max(0.0, float(duration))
    clean = []
    for w in words:
        t = " ".join(w.text.split())
        if not t:
            continue
        start = max(0.0, float(w.start))
        clean.append(Word(t, start, max(start, float(w.end)), w.confidence))
    clean.sort(key=lambda w: w.start)
    if clean:
        given = " ".join((text or "").split())
        full = given or " ".join(w.text for w in clean)
        segments = segment_words(clean, limits)
    else:
        full = " ".join((text or "").split())
        segments = [Segment(0.0, duration, full, [])] if full else []
    return Transcript(full, clean, segments, duration, model, source)
