"""Subtitle layout: the words of a transcript (with their times and speakers) -> cues of one or more lines.

Pure module (standard library only). The one place the layout rules live; writers only format the cues.

Rules (:class:`LayoutRules`; presets in :data:`PRESETS`): characters per line, lines per cue, reading speed
(characters per second, spaces and punctuation included), minimum and maximum cue duration, and a minimum
gap between cues in frames. How a cue is chosen:

- A speaker change, and a silence of at least ``rules.pause`` seconds, always end a cue; then two short
  neighbouring turns of different speakers may share one cue, a line each starting with a dash
  (``rules.dialogue_dash``; the rule is in :mod:`chunky.transcript.dialogue`).
- Between those, the cue breaks are chosen together (dynamic programming) so that the fewest and most
  harmless rules are broken: first no cue needs more lines or longer lines than allowed or lasts longer than
  allowed (splitting always avoids that, except for one word that is longer than a line or a cue), then
  the fewest cues read faster than ``max_cps``, then the fewest cues shorter than ``min_duration``. Among
  layouts that break the same rules, breaks go where they read best: after a sentence end, after a comma
  or other clause end, at a pause (the longer the better), before a conjunction or a preposition; never
  after an article ("the | house") and not between two capitalised words (a name).
- Lines are broken the same way, with the fewest lines that fit, preferring balanced lines and, when they
  cannot be equal, a shorter top line.
- A cue starts with its first word. It stays up at least until its last word ends and, where the next cue
  leaves room (``min_gap_frames`` before it), until it has been up for ``min_duration`` and long enough to
  be read at ``max_cps``, but not beyond ``max_duration``. A gap to the next cue shorter than half a second
  is closed down to ``min_gap_frames`` (no flicker between cues).

A cue that still breaks a rule (one very long word, speech faster than the reading speed) names the rules
in ``Cue.broken``; :attr:`Layout.broken` counts them per rule for the job's report.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from chunky.transcript.cue_timing import EPS, display_end, timing_breaks
from chunky.transcript.dialogue import dialogue_lines, pair_turns
from chunky.transcript.model import Segment, Word

# Characters that end a sentence, and closing characters that may follow them ('"Stop!"', 'end.)').
SENTENCE_END = ".?!…。？！"
CLOSERS = "\"'”’»)]}」』"
# A break after one of these is a natural place to end a cue or a line.
CLAUSE_END = SENTENCE_END + ",;:，、；：—–"
ARTICLES = frozenset("a an the this that these those my your his her its our their".split())
CONJUNCTIONS = frozenset("and but or nor so yet because although though while whereas if unless until "
                         "when whenever where whether since than that which who whom whose".split())
PREPOSITIONS = frozenset("of in on at to for with from by about into onto over under after before "
                         "between through during without within across against along among around "
                         "behind beyond near off toward towards upon via per".split())

RULES = ("max_chars", "max_lines", "max_cps", "min_duration", "max_duration", "min_gap")
# What a cue that breaks each rule does: (one cue, several cues).
RULE_TEXT = {
    "max_chars": ("has a line longer than {max_chars} characters",
                  "have a line longer than {max_chars} characters"),
    "max_lines": ("needs more than {max_lines} lines", "need more than {max_lines} lines"),
    "max_cps": ("reads faster than {max_cps:g} characters per second",
                "read faster than {max_cps:g} characters per second"),
    "min_duration": ("shows for less than {min_duration:.2f} s", "show for less than {min_duration:.2f} s"),
    "max_duration": ("shows for more than {max_duration:g} s", "show for more than {max_duration:g} s"),
    "min_gap": ("follows the cue before it by less than {min_gap_frames} frames",
                "follow the cue before them by less than {min_gap_frames} frames"),
}
# What breaking each rule costs the layout: a higher number is a worse break (see the module docstring).
DIALOGUE_DASH = "- "  # the dialogue dash most style guides use (Netflix's English guide: "-", no space)
_WEIGHT = {"max_chars": 1e6, "max_lines": 1e6, "max_duration": 1e5, "max_cps": 1e3, "min_duration": 3e2}
_CUE_COST = 3.0  # every cue costs this much: fewer, fuller cues unless a good break pays for another


@dataclass(frozen=True)
class LayoutRules:
    """The rules cues are laid out by. ``None``: no limit of that kind."""

    max_chars: int | None = 42  # characters per line
    max_lines: int | None = 2  # lines per cue
    max_cps: float | None = 20.0  # reading speed, characters per second
    min_duration: float = 5 / 6  # seconds a cue shows at least (where the next cue leaves room)
    max_duration: float | None = 7.0  # seconds a cue shows at most (one word said for longer stays longer)
    min_gap_frames: int = 2  # frames between two cues
    max_words: int | None = None  # words per cue (1: the word preset)
    pause: float = 1.5  # a silence at least this long (seconds) always ends a cue
    paragraph_chars: int | None = None  # paragraphs: end at the first sentence end after this many characters
    # Two short turns of different speakers share a two-line cue, each line starting with this dash
    # (chunky/transcript/dialogue.py); "": a speaker change always ends a cue.
    dialogue_dash: str = DIALOGUE_DASH
    preset: str = "custom"  # the preset these rules came from (for reports)

    def with_values(self, **values: Any) -> LayoutRules:
        """These rules with the given values replaced (None values are ignored); ``preset`` becomes
        "custom" when a value differs from the preset's."""
        given = {k: v for k, v in values.items() if v is not None and k != "preset"}
        changed = {k: v for k, v in given.items() if getattr(self, k) != v}
        if not changed:
            return self
        return replace(self, **changed, preset=f"{self.preset} (changed)" if self.preset in PRESETS
                       else self.preset)

    def min_gap(self, fps: float) -> float:
        return self.min_gap_frames / fps if fps > 0 else 0.0

    @property
    def max_cue_chars(self) -> int | None:
        if self.max_chars is None or self.max_lines is None:
            return None
        return self.max_chars * self.max_lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LayoutRules:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})

    def describe(self, rule: str, count: int = 2) -> str:
        """What ``count`` cues that break ``rule`` do, e.g. "read faster than 20 characters per second"."""
        return RULE_TEXT[rule][0 if count == 1 else 1].format(**asdict(self))


PRESETS: dict[str, LayoutRules] = {
    # Netflix's English timed-text style guide: 42 characters, 2 lines, 20 cps (adult programmes), a cue
    # 5/6 s to 7 s, at least 2 frames between cues.
    "streaming": LayoutRules(42, 2, 20.0, 5 / 6, 7.0, 2, preset="streaming"),
    # Broadcast television (teletext heritage): 37 characters a line.
    "broadcast": LayoutRules(37, 2, 20.0, 5 / 6, 7.0, 2, preset="broadcast"),
    # Vertical / social video: one short line.
    "social": LayoutRules(32, 1, 20.0, 5 / 6, 7.0, 2, preset="social"),
    # One word per cue, shown while it is said.
    "word": LayoutRules(None, 1, None, 0.0, None, 0, max_words=1, pause=0.0, preset="word"),
    # Paragraphs for reading (TXT, DOCX) and for markers: a speaker change or a 2 s silence ends one, and so
    # does the first sentence end after about 400 characters.
    "paragraph": LayoutRules(None, None, None, 0.0, None, 0, pause=2.0, paragraph_chars=400,
                             preset="paragraph"),
}
DEFAULT_PRESET = "streaming"


def preset(name: str) -> LayoutRules:
    """The rules of a preset by name (case-insensitive); ValueError names the presets."""
    key = str(name).strip().lower()
    if key not in PRESETS:
        raise ValueError(f"Unknown subtitle preset {name!r}: choose one of {', '.join(PRESETS)}.")
    return PRESETS[key]


@dataclass
class Cue:
    """One subtitle (or paragraph): shown from ``start`` to ``end`` seconds, as ``lines``."""

    start: float
    end: float
    lines: list[str]
    words: list[Word] = field(default_factory=list)
    speaker: str | None = None  # the speaker of every word of the cue, when they all have the same one
    line_speakers: tuple[str, ...] = ()  # a dialogue cue (two speakers): the speaker of each line
    broken: tuple[str, ...] = ()  # the rules this cue breaks

    @property
    def text(self) -> str:
        return " ".join(self.lines)

    def to_segment(self) -> Segment:
        return Segment(self.start, self.end, self.text, list(self.words))


@dataclass
class Layout:
    cues: list[Cue]
    rules: LayoutRules
    fps: float = 25.0
    broken: dict[str, int] = field(default_factory=dict)  # rule -> cues that break it
    estimated: bool = False  # the transcript had no word times: they were spread over each segment

    def report(self) -> list[str]:
        """One sentence per broken rule, e.g. "3 cues read faster than 20 characters per second"."""
        return report_lines(self.broken, self.rules)


def report_lines(broken: dict[str, int], rules: LayoutRules) -> list[str]:
    """``{"max_cps": 3}`` -> ["3 cues read faster than 20 characters per second"], in the order of RULES."""
    out = []
    for rule in RULES:
        n = int(broken.get(rule, 0))
        if n:
            out.append(f"{n} {'cue' if n == 1 else 'cues'} {rules.describe(rule, n)}")
    return out


# --- words -------------------------------------------------------------------------------------------


def _core(text: str) -> str:
    return text.rstrip(CLOSERS)


def ends_sentence(text: str) -> bool:
    core = _core(text)
    return bool(core) and core[-1] in SENTENCE_END


def ends_clause(text: str) -> bool:
    core = _core(text)
    return bool(core) and core[-1] in CLAUSE_END


def _bare(text: str) -> str:
    return text.strip("\"'“”‘’«»()[]{}¿¡").lower()


def _capitalised(text: str) -> bool:
    for ch in text:
        if ch.isalpha():
            return ch.isupper()
    return False


def break_cost(before: Word, after: Word, *, pauses: bool = True, grammar: float = 1.0) -> float:
    """How good a break between two words is: negative is good (a sentence end -3, a clause end -2, before
    a conjunction -1 or a preposition -0.7, each times ``grammar``; up to -3 more for a pause of a second
    or longer), positive is bad (after an article +6, between two capitalised words +1.5)."""
    cost = 0.0
    if ends_sentence(before.text):
        cost -= 3.0
    elif ends_clause(before.text):
        cost -= 2.0
    else:
        if _bare(before.text) in ARTICLES:
            cost += 6.0
        if _capitalised(before.text) and _capitalised(after.text):
            cost += 1.5
    nxt = _bare(after.text)
    if nxt in CONJUNCTIONS:
        cost -= 1.0 * grammar
    elif nxt in PREPOSITIONS:
        cost -= 0.7 * grammar
    if pauses:
        cost -= 3.0 * min(1.0, max(0.0, after.start - before.end))
    return cost


def clean_words(words: Iterable[Word]) -> list[Word]:
    """Words with text, ``end >= start >= 0``, sorted by start (a stable sort: equal starts keep order)."""
    out = []
    for w in words:
        text = " ".join(str(w.text).split())
        if not text:
            continue
        start = max(0.0, float(w.start))
        end = max(start, float(w.end))
        if (text, start, end) != (w.text, w.start, w.end):
            w = replace(w, text=text, start=start, end=end)
        out.append(w)
    out.sort(key=lambda w: w.start)
    return out


def estimated_words(segments: Sequence[Segment]) -> list[Word]:
    """Words for a transcript without word times: each segment's words spread over its span by length."""
    out: list[Word] = []
    for seg in segments:
        tokens = seg.text.split()
        if not tokens:
            continue
        total = sum(len(t) + 1 for t in tokens)
        span = max(0.0, seg.end - seg.start)
        pos = 0
        for t in tokens:  # each word gets its share of the span, the space after it included: no gaps
            start = seg.start + span * pos / total
            pos += len(t) + 1
            out.append(Word(t, start, seg.start + span * pos / total))
    return out


# --- lines -------------------------------------------------------------------------------------------


def _greedy_lines(lengths: Sequence[int], max_chars: int) -> int:
    """Lines needed when words of these lengths are filled greedily (the fewest possible)."""
    lines, width = 0, -1
    for n in lengths:
        if width >= 0 and width + 1 + n <= max_chars:
            width += 1 + n
        else:
            lines += 1
            width = n
    return lines


def wrap(words: Sequence[Word], max_chars: int | None, max_lines: int | None = None) -> list[str]:
    """The words of one cue as lines of at most ``max_chars``: the fewest lines that fit, breaks where
    they read best (:func:`break_cost`), then balanced lines with the shorter one on top. A word longer
    than a line gets a line of its own; text that needs more than ``max_lines`` lines is filled greedily."""
    texts = [w.text for w in words]
    if not texts:
        return []
    joined = " ".join(texts)
    if max_chars is None or len(joined) <= max_chars:
        return [joined]
    lengths = [len(t) for t in texts]
    n_lines = _greedy_lines(lengths, max_chars)
    n = len(texts)
    if (max_lines is not None and n_lines > max_lines) or any(x > max_chars for x in lengths) or n > 200:
        return _fill(texts, max_chars)
    prefix = [0]
    for x in lengths:
        prefix.append(prefix[-1] + x)

    def width(i: int, j: int) -> int:
        return prefix[j] - prefix[i] + (j - i - 1)

    # Within a cue the grammar decides more (Netflix: break before conjunctions and prepositions).
    breaks = [break_cost(words[k - 1], words[k], pauses=False, grammar=2.0) for k in range(1, n)]
    target = len(joined) / n_lines
    inf = math.inf
    # best[k][j]: cost of the first j words in k lines; choice[k][j]: where the last of those lines starts.
    best = [[inf] * (n + 1) for _ in range(n_lines + 1)]
    choice = [[0] * (n + 1) for _ in range(n_lines + 1)]
    best[0][0] = 0.0
    for k in range(1, n_lines + 1):
        for j in range(1, n + 1):
            for i in range(j - 1, -1, -1):
                w = width(i, j)
                if w > max_chars:
                    break
                if best[k - 1][i] == inf:
                    continue
                cost = best[k - 1][i] + 0.08 * abs(w - target)
                if k < n_lines:
                    cost += 0.02 * max(0.0, w - target)  # a longer top line: slightly worse (pyramid)
                if j < n:
                    cost += breaks[j - 1]
                if cost < best[k][j]:
                    best[k][j], choice[k][j] = cost, i
    if best[n_lines][n] == inf:  # cannot happen: greedy filling found n_lines lines that fit
        return _fill(texts, max_chars)
    bounds = [n]
    for k in range(n_lines, 0, -1):
        bounds.append(choice[k][bounds[-1]])
    bounds.reverse()
    return [" ".join(texts[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]


def _fill(texts: Sequence[str], max_chars: int) -> list[str]:
    lines: list[list[str]] = []
    width = 0
    for t in texts:
        if lines and width + 1 + len(t) <= max_chars:
            lines[-1].append(t)
            width += 1 + len(t)
        else:
            lines.append([t])
            width = len(t)
    return [" ".join(line) for line in lines]


# --- cues --------------------------------------------------------------------------------------------


def _hard_break(a: Word, b: Word, rules: LayoutRules) -> bool:
    if a.speaker != b.speaker:
        return True
    return rules.pause > 0 and b.start - a.end >= rules.pause


def _blocks(words: Sequence[Word], rules: LayoutRules) -> list[tuple[int, int]]:
    bounds = [0] + [k for k in range(1, len(words)) if _hard_break(words[k - 1], words[k], rules)]
    bounds.append(len(words))
    return [(a, b) for a, b in zip(bounds, bounds[1:], strict=False) if b > a]


def _split_block(words: Sequence[Word], lo: int, hi: int, next_start: float, rules: LayoutRules,
                 fps: float) -> list[int]:
    """The cue boundaries (indexes into ``words``) within words[lo:hi] of least total cost."""
    n = hi - lo
    if rules.max_words == 1:
        return list(range(lo + 1, hi + 1))
    lengths = [len(words[lo + k].text) for k in range(n)]
    starts = [words[lo + k].start for k in range(n)]
    ends = [words[lo + k].end for k in range(n)]
    breaks = [break_cost(words[lo + k - 1], words[lo + k]) for k in range(1, n)]
    max_chars, max_lines = rules.max_chars, rules.max_lines
    inf = math.inf
    best = [inf] * (n + 1)
    back = [0] * (n + 1)
    best[0] = 0.0
    for i in range(n):
        if best[i] == inf:
            continue
        base = best[i]
        lines, width, chars, speech_end = 0, -1, -1, starts[i]
        for j in range(i + 1, n + 1):
            x = lengths[j - 1]
            chars += 1 + x
            speech_end = max(speech_end, ends[j - 1])
            count = j - i
            if max_chars is not None:
                if width >= 0 and width + 1 + x <= max_chars:
                    width += 1 + x
                else:
                    lines += 1
                    width = x
            if count > 1:
                if rules.max_words is not None and count > rules.max_words:
                    break
                if max_chars is not None and (x > max_chars or lengths[i] > max_chars):
                    break
                if max_lines is not None and lines > max_lines:
                    break
                if rules.max_duration is not None and speech_end - starts[i] > rules.max_duration:
                    break
            cost = base + _CUE_COST
            if count == 1:
                if max_chars is not None and x > max_chars:
                    cost += _WEIGHT["max_chars"]
                if max_lines is not None and lines > max_lines:
                    cost += _WEIGHT["max_lines"]
            nxt = starts[j] if j < n else next_start
            end = display_end(starts[i], speech_end, chars, nxt, rules, fps)
            for rule in timing_breaks(starts[i], end, chars, rules):
                cost += _WEIGHT[rule]
                if rule == "max_cps":  # the less over the limit, the better
                    cost += 10.0 * min(10.0, chars / max(end - starts[i], 1e-3) / rules.max_cps)
            if j < n:
                cost += breaks[j - 1]
            if cost < best[j]:
                best[j], back[j] = cost, i
    cuts = []
    j = n
    while j > 0:
        cuts.append(lo + j)
        j = back[j]
    return cuts[::-1]


def _paragraph_cuts(words: Sequence[Word], lo: int, hi: int, rules: LayoutRules) -> list[int]:
    """Paragraph ends within words[lo:hi]: the first sentence end after ``paragraph_chars`` characters;
    without one by twice that length, the best break since ``paragraph_chars`` (the later of equals)."""
    target = rules.paragraph_chars or 400
    cuts: list[int] = []
    start = lo
    while start < hi:
        chars, cut = -1, hi
        candidates: list[tuple[float, int]] = []  # (break cost, -cut) past the target
        for k in range(start, hi - 1):
            chars += 1 + len(words[k].text)
            if chars < target:
                continue
            if ends_sentence(words[k].text):
                cut = k + 1
                break
            candidates.append((break_cost(words[k], words[k + 1]), -(k + 1)))
            if chars >= 2 * target:
                cut = -min(candidates)[1]
                break
        cuts.append(cut)
        start = cut
    return cuts


def layout(words: Iterable[Word], rules: LayoutRules | None = None, fps: float = 25.0,
           end_limit: float | None = None) -> Layout:
    """Cues for ``words`` under ``rules`` (gaps counted in frames of ``fps``); no cue shows past
    ``end_limit`` (the end of the recording) unless its words do. Words are cleaned first
    (:func:`clean_words`); each word lands in exactly one cue, in order."""
    rules = rules or PRESETS[DEFAULT_PRESET]
    ws = clean_words(words)
    blocks = _blocks(ws, rules)
    cuts: list[int] = []
    for b, (lo, hi) in enumerate(blocks):
        next_start = ws[blocks[b + 1][0]].start if b + 1 < len(blocks) else math.inf
        if end_limit is not None and b + 1 == len(blocks):
            next_start = max(end_limit + rules.min_gap(fps), max(w.end for w in ws[lo:hi]))
        if rules.paragraph_chars:
            cuts += _paragraph_cuts(ws, lo, hi, rules)
        else:
            cuts += _split_block(ws, lo, hi, next_start, rules, fps)
    spans = list(zip([0, *cuts], cuts, strict=False))
    end_start = math.inf if end_limit is None else end_limit + rules.min_gap(fps)
    cue_spans = pair_turns(ws, spans, set(blocks), rules, fps, end_start)
    groups = [ws[a:b] for a, b, _ in cue_spans]
    cues: list[Cue] = []
    counts: dict[str, int] = {}
    for k, group in enumerate(groups):
        start = group[0].start
        speech_end = max(w.end for w in group)
        if k + 1 < len(groups):
            nxt = groups[k + 1][0].start
        else:
            nxt = math.inf if end_limit is None else max(end_limit + rules.min_gap(fps), speech_end)
        dialogue = cue_spans[k][2]
        lines = dialogue_lines(group, rules.dialogue_dash) if dialogue else \
            wrap(group, rules.max_chars, rules.max_lines)
        chars = len(" ".join(lines))
        end = display_end(start, speech_end, chars, nxt, rules, fps)
        broken = []
        if rules.max_chars is not None and any(len(line) > rules.max_chars for line in lines):
            broken.append("max_chars")
        if rules.max_lines is not None and len(lines) > rules.max_lines:
            broken.append("max_lines")
        broken += timing_breaks(start, end, chars, rules)
        if k + 1 < len(groups) and rules.min_gap_frames and nxt - end < rules.min_gap(fps) - EPS:
            broken.append("min_gap")
        speakers = {w.speaker for w in group}
        cue = Cue(start, end, lines, list(group), speakers.pop() if len(speakers) == 1 else None,
                  line_speakers=tuple(dict.fromkeys(str(w.speaker) for w in group)) if dialogue else (),
                  broken=tuple(r for r in RULES if r in broken))
        for rule in cue.broken:
            counts[rule] = counts.get(rule, 0) + 1
        cues.append(cue)
    return Layout(cues, rules, fps, counts)


def layout_transcript_words(words: Sequence[Word], segments: Sequence[Segment], rules: LayoutRules | None,
                            fps: float = 25.0, duration: float | None = None) -> Layout:
    """:func:`layout` of a transcript's words; a transcript without word times gets words spread over its
    segments (:func:`estimated_words`) and a layout marked ``estimated``."""
    if words:
        return layout(words, rules, fps, duration or None)
    result = layout(estimated_words(segments), rules, fps, duration or None)
    result.estimated = True
    return result
