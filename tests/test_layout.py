"""The subtitle layout rules (chunky/transcript/layout.py): presets, breaks, lines, timing, the report of
broken rules; property tests with hypothesis on random word streams. Pure Python, no NeMo."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chunky.transcript.layout import (
    PRESETS,
    RULES,
    LayoutRules,
    clean_words,
    layout,
    preset,
    report_lines,
    wrap,
)
from chunky.transcript.model import Word

EPS = 1e-6
FPS = (23.976, 24.0, 25.0, 29.97, 30.0, 50.0, 59.94, 60.0)


def words_of(text: str, start: float = 0.0, word: float = 0.3, gap: float = 0.1,
             speaker: str | None = None) -> list[Word]:
    out, t = [], start
    for token in text.split():
        out.append(Word(token, t, t + word, None, speaker))
        t += word + gap
    return out


def violations(cue, rules: LayoutRules, fps: float, next_start: float | None) -> set[str]:
    """The rules a laid-out cue breaks, worked out here from its lines and times alone."""
    found = set()
    if rules.max_chars is not None and any(len(line) > rules.max_chars for line in cue.lines):
        found.add("max_chars")
    if rules.max_lines is not None and len(cue.lines) > rules.max_lines:
        found.add("max_lines")
    d = cue.end - cue.start
    chars = len(" ".join(cue.lines))
    if rules.max_cps and (d <= 0 or chars / d > rules.max_cps + EPS):
        found.add("max_cps")
    if d < rules.min_duration - EPS:
        found.add("min_duration")
    if rules.max_duration is not None and d > rules.max_duration + EPS:
        found.add("max_duration")
    gap = rules.min_gap_frames / fps
    if next_start is not None and rules.min_gap_frames and next_start - cue.end < gap - EPS:
        found.add("min_gap")
    return found


def check_invariants(words: list[Word], rules: LayoutRules, fps: float) -> None:
    result = layout(words, rules, fps)
    clean = clean_words(words)
    # No word lost, duplicated or reordered.
    assert [w for c in result.cues for w in c.words] == clean
    counts: dict[str, int] = {}
    for k, cue in enumerate(result.cues):
        assert cue.words and cue.lines
        speakers = {w.speaker for w in cue.words}
        if cue.line_speakers:  # a dialogue cue: two speakers, a line each starting with the dash
            dash = rules.dialogue_dash
            assert dash and len(cue.lines) == 2 and len(speakers) == 2 and None not in speakers
            runs = [[w.text for w in cue.words if w.speaker == s] for s in cue.line_speakers]
            assert [w.speaker for w in cue.words] == sorted((w.speaker for w in cue.words),
                                                           key=cue.line_speakers.index)  # one turn a line
            assert cue.lines == [dash + " ".join(run) for run in runs]
            assert cue.speaker is None
            assert not {"max_chars", "max_lines", "max_cps", "max_duration"} & set(cue.broken)
        else:
            assert " ".join(cue.lines) == " ".join(w.text for w in cue.words)
        assert cue.start == cue.words[0].start  # a cue starts with its first word
        assert cue.end >= cue.start  # times never run backwards
        nxt = result.cues[k + 1] if k + 1 < len(result.cues) else None
        if nxt is not None:
            assert cue.end <= nxt.start + EPS  # cues never overlap
            assert nxt.start >= cue.start
        # The cue names exactly the rules it breaks.
        assert set(cue.broken) == violations(cue, rules, fps, nxt.start if nxt else None), cue
        for r in cue.broken:
            counts[r] = counts.get(r, 0) + 1
        if rules.max_words is not None:
            assert len(cue.words) <= rules.max_words
        if not cue.line_speakers:
            assert len(speakers) == 1  # a speaker change ends a cue, but for a dialogue cue
            assert cue.speaker == speakers.pop()
    assert result.broken == counts


# --- strategies ------------------------------------------------------------------------------------

TOKENS = st.sampled_from(["a", "the", "cat", "sat", "on", "mat.", "Hello,", "world!", "and", "of", "John",
                          "Smith", "extraordinary", "x" * 45, "naïve", "café?", "2", "it's", "—", "«oui»"])


@st.composite
def word_streams(draw, max_words: int = 60):
    """Any word stream: overlapping words, zero-length words, equal starts, long words, bursts."""
    n = draw(st.integers(0, max_words))
    words, t = [], draw(st.floats(0, 5))
    for _ in range(n):
        t += draw(st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.2, 0.6, 1.6, 3.0]))
        length = draw(st.sampled_from([0.0, 0.02, 0.1, 0.3, 0.8, 2.0, 9.0]))
        speaker = draw(st.sampled_from([None, None, None, "A", "B"]))
        words.append(Word(draw(TOKENS), round(t, 3), round(t + length, 3), None, speaker))
        t += length if draw(st.booleans()) else 0.0
    return words


@st.composite
def comfortable_speech(draw):
    """Speech that every rule allows: short words, said at most as fast as the reading speed, with gaps
    of at least the minimum gap, and now and then a pause."""
    n = draw(st.integers(1, 80))
    words, t = [], draw(st.floats(0, 3))
    for _ in range(n):
        text = draw(st.sampled_from(["a", "the", "cat", "sat", "on", "mat.", "Hello,", "world!", "and",
                                     "river", "because", "tomorrow"]))
        length = (len(text) + 1) / 20.0 * draw(st.floats(1.05, 2.0))
        words.append(Word(text, round(t, 3), round(t + length, 3)))
        t += length + draw(st.sampled_from([0.1, 0.15, 0.3, 0.5, 2.0]))
    return words


RULE_SETS = st.one_of(
    st.sampled_from(list(PRESETS.values())),
    st.builds(LayoutRules, max_chars=st.sampled_from([None, 12, 32, 42]),
              max_lines=st.sampled_from([None, 1, 2, 3]),
              max_cps=st.sampled_from([None, 12.0, 20.0]), min_duration=st.sampled_from([0.0, 5 / 6, 1.5]),
              max_duration=st.sampled_from([None, 3.0, 7.0]), min_gap_frames=st.sampled_from([0, 2, 5]),
              max_words=st.sampled_from([None, 1, 4]), pause=st.sampled_from([0.0, 0.5, 1.5]),
              dialogue_dash=st.sampled_from(["- ", "-", ""])),
)


@settings(max_examples=200, deadline=None)
@given(word_streams(), RULE_SETS, st.sampled_from(FPS))
def test_any_word_stream_keeps_every_word_once_in_order_without_overlaps(words, rules, fps):
    check_invariants(words, rules, fps)


@settings(max_examples=150, deadline=None)
@given(comfortable_speech(), st.sampled_from(["streaming", "broadcast", "social"]), st.sampled_from(FPS))
def test_no_rule_is_broken_when_the_words_allow_it(words, name, fps):
    result = layout(words, PRESETS[name], fps)
    assert result.broken == {}, [(c.text, c.start, c.end, c.broken) for c in result.cues if c.broken]
    check_invariants(words, PRESETS[name], fps)


# --- presets and rules -----------------------------------------------------------------------------


def test_presets_are_the_documented_ones():
    s = PRESETS["streaming"]
    assert (s.max_chars, s.max_lines, s.max_cps, s.max_duration, s.min_gap_frames) == (42, 2, 20.0, 7.0, 2)
    assert s.min_duration == pytest.approx(5 / 6)
    assert PRESETS["broadcast"].max_chars == 37 and PRESETS["broadcast"].max_lines == 2
    assert (PRESETS["social"].max_chars, PRESETS["social"].max_lines) == (32, 1)
    assert PRESETS["word"].max_words == 1
    assert PRESETS["paragraph"].paragraph_chars and PRESETS["paragraph"].max_chars is None
    assert preset(" Streaming ") is s
    with pytest.raises(ValueError, match="streaming, broadcast, social, word, paragraph"):
        preset("cinema")


def test_changed_values_make_custom_rules():
    rules = PRESETS["streaming"].with_values(max_chars=30, max_cps=None)
    assert rules.max_chars == 30 and rules.max_cps == 20.0 and rules.preset == "streaming (changed)"
    assert PRESETS["streaming"].with_values(max_chars=42) is PRESETS["streaming"]
    assert LayoutRules.from_dict(rules.to_dict()) == rules


def test_breaks_at_sentence_ends_and_clauses_not_after_articles():
    text = ("Well, I think the most important thing about the project is that we started early. "
            "We had a plan, and the plan worked because everyone in the team knew what to do.")
    result = layout(words_of(text, word=0.25, gap=0.08), PRESETS["streaming"], 25)
    assert result.broken == {}
    ends = [c.words[-1].text for c in result.cues]
    assert "early." in ends  # a sentence end ends a cue
    for cue in result.cues:
        for line in cue.lines:
            assert line.split()[-1].lower() not in ("the", "a", "an"), cue.lines
        assert cue.words[-1].text.lower() not in ("the", "a", "an")


def test_two_lines_are_balanced_with_the_break_before_a_preposition():
    text = "the quick brown fox jumped over the lazy dog in the garden"
    [cue] = layout(words_of(text, word=0.2, gap=0.05), PRESETS["streaming"], 25).cues
    assert len(cue.lines) == 2
    top, bottom = (len(line) for line in cue.lines)
    assert abs(top - bottom) <= 12 and top <= bottom + 2
    assert cue.lines[1].split()[0] in ("over", "in"), cue.lines


def test_wrap_prefers_a_comma_and_fills_text_that_cannot_fit():
    ws = words_of("I went there yesterday, and then we all went home together")
    assert wrap(ws, 42, 2) == ["I went there yesterday,", "and then we all went home together"]
    long = words_of(" ".join(["word"] * 30))
    lines = wrap(long, 42, 2)
    assert " ".join(lines) == " ".join(["word"] * 30) and len(lines) > 2
    assert wrap(words_of("tiny " + "x" * 50 + " end"), 10, 3) == ["tiny", "x" * 50, "end"]
    assert wrap([], 42, 2) == []


def test_a_word_longer_than_a_line_stands_alone_and_is_reported():
    ws = [*words_of("one two", word=0.5, gap=0.2), Word("x" * 50, 1.4, 4.0),
          *words_of("three four", 4.2, 0.5, 0.2)]
    result = layout(ws, PRESETS["streaming"], 25)
    alone = [c for c in result.cues if "x" * 50 in c.text]
    assert len(alone) == 1 and alone[0].lines == ["x" * 50] and alone[0].broken == ("max_chars",)
    assert result.broken == {"max_chars": 1}
    assert result.report() == ["1 cue has a line longer than 42 characters"]


def test_speech_faster_than_the_reading_speed_breaks_only_that_rule():
    # 40 words in 4 seconds, then silence: ~60 characters per second.
    ws = [Word(f"word{i}", i * 0.1, i * 0.1 + 0.09) for i in range(40)]
    result = layout(ws, PRESETS["streaming"], 25, end_limit=4.0)
    assert set(result.broken) == {"max_cps"}
    assert all(len(c.lines) <= 2 and all(len(x) <= 42 for x in c.lines) for c in result.cues)
    # As few cues over the limit as the text allows: every cue uses (nearly) the 84 characters it may.
    assert len(result.cues) == math.ceil(sum(len(w.text) + 1 for w in ws) / 84)
    assert "read faster than 20 characters per second" in report_lines(result.broken, result.rules)[0]


def test_timing_minimum_duration_reading_time_and_gap_in_frames():
    ws = [Word("Hi.", 1.0, 1.2), Word("Another", 1.35, 1.6), Word("sentence", 1.65, 2.0),
          Word("here.", 2.05, 2.3)]
    result = layout(ws, PRESETS["streaming"], 25)
    first = result.cues[0]
    assert first.end - first.start >= 5 / 6 - EPS or first.words[-1].text == "here."
    for a, b in zip(result.cues, result.cues[1:], strict=False):
        assert b.start - a.end >= 2 / 25 - EPS  # two frames at 25 fps
    # A lone word before a long silence shows for 5/6 s and long enough to be read.
    [cue] = layout([Word("Absolutely!", 0.0, 0.3)], PRESETS["streaming"], 25).cues
    assert cue.end == pytest.approx(max(5 / 6, len("Absolutely!") / 20))
    # The gap to a close next cue is closed down to the minimum gap.
    two = layout([Word("One.", 0.0, 1.0), Word("Two.", 1.5, 2.5)], PRESETS["streaming"], 25).cues
    assert len(two) == 2 and two[0].end == pytest.approx(1.5 - 2 / 25)


def test_max_duration_splits_long_speech():
    ws = [Word(f"w{i}", i * 0.5, i * 0.5 + 0.45) for i in range(40)]  # 20 s without a pause
    result = layout(ws, PRESETS["streaming"], 25)
    assert result.broken == {}
    assert all(c.end - c.start <= 7.0 + EPS for c in result.cues)


def test_speaker_change_ends_a_cue_and_a_paragraph():
    ws = words_of("so what do you think", speaker="Ann") + words_of("I think it works", start=1.9,
                                                                     speaker="Bob")
    for rules in (PRESETS["streaming"].with_values(dialogue_dash=""), PRESETS["paragraph"]):
        cues = layout(ws, rules, 25).cues
        assert [c.speaker for c in cues] == ["Ann", "Bob"], rules


def test_word_preset_is_one_word_per_cue_while_it_is_said():
    ws = words_of("one two three four", word=0.3, gap=0.1)
    cues = layout(ws, PRESETS["word"], 25).cues
    assert [c.text for c in cues] == ["one", "two", "three", "four"]
    for cue, w in zip(cues, ws, strict=True):
        assert cue.start == w.start and cue.end == pytest.approx(w.end)


def test_paragraphs_end_at_sentences_after_the_target_length_and_at_long_pauses():
    sentence = "This is a sentence of about fifty characters here."
    ws = words_of(" ".join([sentence] * 20), word=0.2, gap=0.05)
    paras = layout(ws, PRESETS["paragraph"], 25).cues
    assert len(paras) > 1
    for p in paras[:-1]:
        assert p.words[-1].text.endswith(".") and len(p.text) >= 400
        assert len(p.lines) == 1
    pause = words_of("first part", speaker=None) + words_of("second part", start=10.0)
    assert [p.text for p in layout(pause, PRESETS["paragraph"], 25).cues] == ["first part", "second part"]


def test_every_rule_has_a_report_sentence():
    rules = PRESETS["streaming"]
    lines = report_lines({r: 2 for r in RULES}, rules)
    assert len(lines) == len(RULES) and all(line.startswith("2 cues ") for line in lines)
    assert report_lines({"min_gap": 1}, rules) == ["1 cue follows the cue before it by less than 2 frames"]


def test_a_three_hour_transcript_keeps_every_word():
    ws = [Word(f"w{i % 97}", i * 0.35, i * 0.35 + 0.3) for i in range(30000)]  # ~3 h of speech
    result = layout(ws, PRESETS["streaming"], 25)
    assert sum(len(c.words) for c in result.cues) == 30000


def test_paragraphs_of_speech_without_punctuation_or_long_pauses():
    ws = words_of(" ".join(["seven", "four", "nine", "zero"] * 150), word=0.3, gap=0.2)
    paras = layout(ws, PRESETS["paragraph"], 25).cues
    assert [w for p in paras for w in p.words] == ws
    assert len(paras) > 2 and all(400 <= len(p.text) <= 2 * 400 + len(" seven") for p in paras[:-1])
