"""Transcript data model, cue segmentation and line wrapping (pure Python, milliseconds)."""

from __future__ import annotations

import json
import random

import pytest

from chunky.transcript.cues import (
    SubtitleLimits,
    _sentence_break,
    build_transcript,
    segment_words,
    wrap_lines,
)
from chunky.transcript.model import Segment, Transcript, Word

VOCAB = ["a", "I", "the", "cat", "sat", "on", "mat", "whether", "extraordinary", "internationalisation",
         "hello,", "world.", "why?", "yes!", "okay", "Dr.", "e.g.", "well;", "data", "x" * 50, "naïve",
         "café"]


def random_words(rng: random.Random, n: int, start: float = 0.0) -> list[Word]:
    words, t = [], start
    for _ in range(n):
        text = rng.choice(VOCAB)
        t += rng.choice([0.0, 0.0, 0.05, 0.1, 0.3, 0.7, 1.5, 4.0])  # gap before the word
        length = rng.uniform(0.05, 1.2) if rng.random() > 0.02 else 9.0  # now and then a very long word
        conf = round(rng.random(), 3) if rng.random() < 0.5 else None
        words.append(Word(text, round(t, 3), round(t + length, 3), conf))
        t += length
    return words


def check_limits(segments: list[Segment], words: list[Word], limits: SubtitleLimits) -> None:
    assert [w for s in segments for w in s.words] == words  # nothing lost, doubled or reordered
    for seg in segments:
        assert seg.words, "empty cue"
        assert seg.text == " ".join(w.text for w in seg.words)
        assert seg.start == seg.words[0].start and seg.end == max(w.end for w in seg.words)
        for prev, nxt in zip(seg.words, seg.words[1:], strict=False):
            assert nxt.start - prev.end <= limits.pause_seconds
            assert not _sentence_break(prev.text, nxt.text)
        if len(seg.words) == 1:
            continue  # a single word forms a cue whatever its length
        assert len(seg.text) <= limits.max_cue_chars
        assert seg.end - seg.start <= limits.max_cue_seconds
        lines = wrap_lines(seg.text, limits.max_line_chars, limits.max_lines)
        assert len(lines) <= limits.max_lines
        assert " ".join(lines) == seg.text
        assert all(len(line) <= limits.max_line_chars for line in lines)


@pytest.mark.parametrize("seed", range(40))
def test_segmentation_limits_hold_for_random_word_streams(seed):
    rng = random.Random(seed)
    limits = SubtitleLimits(
        max_line_chars=rng.choice([16, 32, 42, 60]),
        max_lines=rng.choice([1, 2, 3]),
        max_cue_seconds=rng.choice([2.0, 5.0, 7.0]),
        pause_seconds=rng.choice([0.2, 0.6, 1.0]),
    )
    words = random_words(rng, rng.randint(0, 300))
    check_limits(segment_words(words, limits), words, limits)


def test_splits_on_sentence_end_and_pause():
    words = [Word("Hello", 0.0, 0.4), Word("world.", 0.5, 0.9), Word("How", 1.0, 1.2), Word("are", 1.3, 1.4),
             Word("you?", 1.5, 1.8), Word("Fine", 2.0, 2.3), Word("thanks", 3.5, 3.9)]
    texts = [s.text for s in segment_words(words, SubtitleLimits())]
    assert texts == ["Hello world.", "How are you?", "Fine", "thanks"]


def test_sentence_end_with_closing_quote_and_abbreviation():
    words = [Word('"Stop!"', 0.0, 0.4), Word("he", 0.5, 0.6), Word("said,", 0.6, 0.8), Word("e.g.", 0.9, 1.0),
             Word("this", 1.0, 1.1), Word("one.", 1.1, 1.3), Word("Next", 1.4, 1.6)]
    texts = [s.text for s in segment_words(words)]
    assert texts == ['"Stop!"', "he said, e.g. this one.", "Next"]


def test_char_limit_and_long_word():
    limits = SubtitleLimits(max_line_chars=10, max_lines=1, max_cue_seconds=100, pause_seconds=100)
    words = [Word(t, i, i + 0.5) for i, t in enumerate(["one", "two", "three", "supercalifragilistic", "x"])]
    assert [s.text for s in segment_words(words, limits)] == ["one two", "three", "supercalifragilistic", "x"]


def test_duration_limit():
    limits = SubtitleLimits(max_cue_seconds=2.0, pause_seconds=1.0)
    words = [Word(f"w{i}", i * 0.5, i * 0.5 + 0.4) for i in range(10)]
    segs = segment_words(words, limits)
    assert [len(s.words) for s in segs] == [4, 4, 2]
    assert all(s.end - s.start <= 2.0 for s in segs)


def test_overflowing_cue_splits_after_a_clause_end():
    text = "we went down to the river, and then we walked along it for a very long time until dusk"
    words = [Word(t, i * 0.2, i * 0.2 + 0.15) for i, t in enumerate(text.split())]
    limits = SubtitleLimits(max_line_chars=42, max_lines=1, max_cue_seconds=60)
    segs = segment_words(words, limits)
    assert segs[0].text == "we went down to the river,"
    check_limits(segs, words, limits)


def test_wrap_lines_basics():
    assert wrap_lines("", 42, 2) == []
    assert wrap_lines("  short  text ", 42, 2) == ["short text"]
    lines = wrap_lines("the quick brown fox jumps over the lazy dog again and again", 42, 2)
    assert len(lines) == 2 and abs(len(lines[0]) - len(lines[1])) <= 6
    assert all(len(line) <= 42 for line in lines)
    # a shorter top line on a tie
    assert wrap_lines("aaaa bbbb cccc", 9, 2) == ["aaaa", "bbbb cccc"]
    # a word longer than a line gets its own line
    assert wrap_lines("tiny " + "x" * 50 + " end", 10, 3) == ["tiny", "x" * 50, "end"]


def test_wrap_lines_prefers_a_break_after_a_comma():
    lines = wrap_lines("I went there yesterday, and then we all went home together", 42, 2)
    assert lines == ["I went there yesterday,", "and then we all went home together"]


def test_wrap_lines_never_drops_text_beyond_max_lines():
    text = " ".join(["word"] * 5000)  # a text-only model's hour-long "cue": fast, greedy, complete
    lines = wrap_lines(text, 42, 2)
    assert " ".join(lines) == text and all(len(line) <= 42 for line in lines) and len(lines) > 2


def test_build_transcript_cleans_and_segments():
    words = [Word("world.", 0.5, 0.9, 0.8), Word(" ", 0.1, 0.2), Word("Hello", 0.0, -1.0),
             Word("Bye", 2, 2.4)]
    t = build_transcript(words, 3.0, "m", "/a.wav")
    assert t.text == "Hello world. Bye"
    assert [w.text for w in t.words] == ["Hello", "world.", "Bye"]
    assert t.words[0].end == 0.0  # end never before start
    assert [s.text for s in t.segments] == ["Hello world.", "Bye"]
    assert (t.model, t.source, t.duration) == ("m", "/a.wav", 3.0)


def test_build_transcript_text_only_and_empty():
    t = build_transcript([], 12.5, "m", "s", text="  hello   world ")
    assert t.text == "hello world" and t.words == []
    assert t.segments == [Segment(0.0, 12.5, "hello world", [])]
    empty = build_transcript([], 4.0, "m", "s", text="")
    assert empty.text == "" and empty.segments == [] and empty.words == []


def test_dict_round_trip():
    rng = random.Random(7)
    words = random_words(rng, 200, start=3600 * 2)  # hours in
    t = build_transcript(words, 3 * 3600.25, "parakeet", "/x/talk.wav")
    d = json.loads(json.dumps(t.to_dict()))
    assert Transcript.from_dict(d) == t
    assert Transcript.from_dict(d).to_dict() == d
    assert set(d) == {"text", "duration", "model", "source", "segments", "words"}
    assert set(d["segments"][0]) == {"start", "end", "text", "words"}
    for w, dw in zip(t.words, d["words"], strict=True):
        assert dw["word"] == w.text and dw["start"] == w.start and dw["end"] == w.end
        assert ("confidence" in dw) == (w.confidence is not None)


def test_to_dict_rounds_times_to_the_millisecond():
    t = build_transcript([Word("a", 0.1 + 0.2, 1 / 3)], 1.0)
    d = t.to_dict()
    assert d["words"][0] == {"word": "a", "start": 0.3, "end": 0.333}
    assert Transcript.from_dict(d).to_dict() == d
