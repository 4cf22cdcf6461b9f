"""Dialogue cues (chunky/transcript/dialogue.py): two short turns of different speakers share one two-line
cue, each line starting with a dash, when each fits one line and together they fit the cue's duration
and reading-speed limits. Pure Python, no NeMo."""

from __future__ import annotations

import pytest

from chunky.transcript.cues import build_transcript
from chunky.transcript.dialogue import can_pair, dialogue_on
from chunky.transcript.layout import PRESETS, LayoutRules, layout
from chunky.transcript.model import Word

STREAMING = PRESETS["streaming"]


def turn(speaker: str | None, text: str, start: float, word: float = 0.3, gap: float = 0.05) -> list[Word]:
    out, t = [], start
    for token in text.split():
        out.append(Word(token, t, t + word, None, speaker))
        t += word + gap
    return out


def exchange() -> list[Word]:
    """A quick "Yes." / "No, I don't think so." (2.1 s in all), then a long pause."""
    return turn("Host", "Yes.", 1.0) + turn("Guest", "No, I don't think so.", 1.5)


def test_two_short_turns_share_one_cue_a_dashed_line_each():
    cues = layout(exchange(), STREAMING, 25).cues
    assert len(cues) == 1
    cue = cues[0]
    assert cue.lines == ["- Yes.", "- No, I don't think so."]
    assert cue.line_speakers == ("Host", "Guest") and cue.speaker is None
    assert cue.broken == ()
    assert cue.start == 1.0 and cue.end >= cue.words[-1].end


def test_the_dash_is_a_rule_tight_for_netflix_english_or_off():
    tight = STREAMING.with_values(dialogue_dash="-")
    assert layout(exchange(), tight, 25).cues[0].lines == ["-Yes.", "-No, I don't think so."]
    off = layout(exchange(), STREAMING.with_values(dialogue_dash=""), 25).cues
    assert [c.lines for c in off] == [["Yes."], ["No, I don't think so."]]
    assert [c.speaker for c in off] == ["Host", "Guest"] and not any(c.line_speakers for c in off)


def test_a_turn_too_long_for_one_line_stays_on_its_own():
    long = "No, I really do not think that this is the way"  # 46 characters: two lines
    ws = turn("Host", "Yes.", 1.0) + turn("Guest", long, 1.5, word=0.25)
    cues = layout(ws, STREAMING, 25).cues
    assert not any(c.line_speakers for c in cues)
    assert [c.speaker for c in cues][0] == "Host"
    # With its dash a 41-character turn no longer fits a 42-character line.
    forty_one = "x" * 20 + " " + "y" * 20
    ws = turn("Host", "Yes.", 1.0) + turn("Guest", forty_one, 1.5, word=1.0)
    assert not any(c.line_speakers for c in layout(ws, STREAMING, 25).cues)
    assert any(c.line_speakers for c in layout(ws, STREAMING.with_values(dialogue_dash="-"), 25).cues)


def test_turns_that_together_read_too_fast_or_show_too_long_stay_apart():
    # Each fits one line, but 2 x 40 characters said in 1.6 s cannot be read at 20 cps before the next
    # cue starts (that one and the third turn, with room after them, do share a cue).
    a, b = "a" * 19 + " " + "b" * 19, "c" * 19 + " " + "d" * 19
    ws = turn("Host", a, 0.0, word=0.35) + turn("Guest", b, 0.75, word=0.35) + turn("Host", "Right.", 1.6)
    cues = layout(ws, STREAMING, 25).cues
    assert cues[0].lines == [a] and cues[0].speaker == "Host"
    assert cues[1].lines == ["- " + b, "- Right."] and cues[1].line_speakers == ("Guest", "Host")
    # Together longer than the longest cue (7 s).
    ws = turn("Host", "Well.", 0.0, word=3.0) + turn("Guest", "Indeed so.", 3.2, word=2.0)
    assert not any(c.line_speakers for c in layout(ws, STREAMING, 25).cues)
    assert any(c.line_speakers for c in layout(ws, STREAMING.with_values(max_duration=10.0), 25).cues)


def test_three_quick_turns_never_put_three_speakers_in_a_cue():
    ws = (turn("Ann", "Coffee?", 0.0) + turn("Bob", "Please.", 0.6) + turn("Cat", "Me too.", 1.6)
          + turn("Ann", "Three then.", 2.4))
    cues = layout(ws, STREAMING, 25).cues
    assert all(len({w.speaker for w in c.words}) <= 2 for c in cues)
    assert [c.line_speakers for c in cues] == [("Ann", "Bob"), ("Cat", "Ann")]
    assert [c.lines for c in cues] == [["- Coffee?", "- Please."], ["- Me too.", "- Three then."]]
    odd = turn("Ann", "Coffee?", 0.0) + turn("Bob", "Please.", 0.6) + turn("Cat", "Me too.", 1.6)
    cues = layout(odd, STREAMING, 25).cues
    assert [c.line_speakers for c in cues] == [("Ann", "Bob"), ()]
    assert cues[1].speaker == "Cat" and cues[1].lines == ["Me too."]
    # Three turns too quick for the first two to be read together: the second and third pair instead.
    quick = turn("Ann", "Coffee?", 0.0) + turn("Bob", "Please.", 0.5) + turn("Cat", "Me too.", 1.0)
    assert [c.line_speakers for c in layout(quick, STREAMING, 25).cues] == [(), ("Bob", "Cat")]


def test_the_same_speaker_twice_is_no_dialogue():
    ws = turn("Host", "Yes.", 1.0) + turn("Host", "No, I don't think so.", 1.5)
    cues = layout(ws, STREAMING, 25).cues
    assert [c.lines for c in cues] == [["Yes. No, I don't think so."]] and cues[0].speaker == "Host"
    # Unknown speakers are no dialogue either.
    ws = turn(None, "Yes.", 1.0) + turn("Guest", "No.", 1.5)
    assert not any(c.line_speakers for c in layout(ws, STREAMING, 25).cues)


def test_a_long_silence_between_the_turns_still_ends_the_cue():
    ws = turn("Host", "Yes.", 1.0) + turn("Guest", "No.", 1.3 + STREAMING.pause + 0.01)
    assert not any(c.line_speakers for c in layout(ws, STREAMING, 25).cues)


def test_a_piece_of_a_longer_turn_is_no_dialogue_line():
    """Only whole turns share a cue: the last cue of a long turn keeps to its speaker."""
    long = " ".join(["word"] * 30)  # 149 characters: several cues
    ws = turn("Host", long, 0.0, word=0.2) + turn("Guest", "Yes.", 11.0)
    cues = layout(ws, STREAMING, 25).cues
    assert not any(c.line_speakers for c in cues)
    assert cues[-1].speaker == "Guest"


@pytest.mark.parametrize("name", ["social", "word", "paragraph"])
def test_presets_without_two_line_cues_have_no_dialogue(name):
    rules = PRESETS[name]
    assert not dialogue_on(rules)
    assert not any(c.line_speakers for c in layout(exchange(), rules, 25).cues)


def test_lines_limits_of_the_rules_are_kept():
    assert not dialogue_on(STREAMING.with_values(max_lines=1))
    assert dialogue_on(STREAMING.with_values(max_lines=3))
    assert not dialogue_on(LayoutRules(max_words=1))
    ws = exchange()
    assert not can_pair(ws, (0, 1), (1, len(ws)), STREAMING.with_values(max_words=3), 25, 99.0)
    assert can_pair(ws, (0, 1), (1, len(ws)), STREAMING, 25, 99.0)
    # The next cue leaves too little room to read both lines: no dialogue cue.
    assert not can_pair(ws, (0, 1), (1, len(ws)), STREAMING.with_values(max_cps=10.0), 25,
                        ws[-1].end + 0.01)


def test_the_engine_segments_keep_one_speaker_each():
    """Dialogue cues are for the outputs: the transcript's own segments stay one speaker each."""
    t = build_transcript(exchange(), 5.0)
    assert [{w.speaker for w in s.words} for s in t.segments] == [{"Host"}, {"Guest"}]
    assert [s.text for s in t.segments] == ["Yes.", "No, I don't think so."]
