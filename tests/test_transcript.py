"""The transcript data model (Word / Segment / Transcript, the JSON form) and build_transcript (pure
Python, milliseconds). The layout rules themselves: tests/test_layout.py."""

from __future__ import annotations

import json
import random

import pytest

from chunky.transcript.cues import build_transcript
from chunky.transcript.model import SCHEMA_VERSION, Segment, Transcript, Word

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
        speaker = rng.choice([None, "Ann", "Bob"]) if rng.random() < 0.3 else None
        words.append(Word(text, round(t, 3), round(t + length, 3), conf, speaker))
        t += length
    return words


def test_build_transcript_cleans_and_lays_out():
    words = [Word("world.", 0.5, 0.9, 0.8), Word(" ", 0.1, 0.2), Word("Hello", 0.0, -1.0),
             Word("Bye", 4, 4.4)]
    t = build_transcript(words, 5.0, "m", "/a.wav")
    assert t.text == "Hello world. Bye"
    assert [w.text for w in t.words] == ["Hello", "world.", "Bye"]
    assert t.words[0].end == 0.0  # end never before start
    assert [s.text for s in t.segments] == ["Hello world.", "Bye"]  # a 3 s silence ends a cue
    assert [w for s in t.segments for w in s.words] == t.words
    assert (t.model, t.source, t.duration) == ("m", "/a.wav", 5.0)


def test_build_transcript_text_only_and_empty():
    t = build_transcript([], 12.5, "m", "s", text="  hello   world ")
    assert t.text == "hello world" and t.words == []
    assert t.segments == [Segment(0.0, 12.5, "hello world", [])]
    empty = build_transcript([], 4.0, "m", "s", text="")
    assert empty.text == "" and empty.segments == [] and empty.words == []


def test_dict_round_trip_with_speakers_and_media():
    rng = random.Random(7)
    words = random_words(rng, 200, start=3600 * 2)  # hours in
    t = build_transcript(words, 3 * 3600.25, "parakeet", "/x/talk.wav")
    t.media = {"fps": "29.97", "start_timecode": "01:00:00;00"}
    d = json.loads(json.dumps(t.to_dict()))
    assert d["schema_version"] == SCHEMA_VERSION
    assert Transcript.from_dict(d).words == t.words  # word times are whole milliseconds already
    assert Transcript.from_dict(d).to_dict() == d
    assert set(d) == {"schema_version", "text", "duration", "model", "source", "media", "segments", "words"}
    assert set(d["segments"][0]) == {"start", "end", "text", "words"}
    for w, dw in zip(t.words, d["words"], strict=True):
        assert dw["word"] == w.text and dw["start"] == w.start and dw["end"] == w.end
        assert ("confidence" in dw) == (w.confidence is not None)
        assert dw.get("speaker") == w.speaker
    assert any("speaker" in dw for dw in d["words"]) and any("speaker" not in dw for dw in d["words"])


def test_reads_the_first_json_form_and_refuses_a_newer_one():
    v1 = {"text": "hi", "duration": 1.0, "model": "m", "source": "s",
          "segments": [{"start": 0, "end": 1, "text": "hi", "words": []}],
          "words": [{"word": "hi", "start": 0.1, "end": 0.5, "confidence": 0.9}]}
    t = Transcript.from_dict(v1)
    assert t.words == [Word("hi", 0.1, 0.5, 0.9, None)] and t.media is None
    with pytest.raises(ValueError, match="newer"):
        Transcript.from_dict({**v1, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ValueError, match="not a Chunky transcript"):
        Transcript.from_dict({"words": "nope"})


def test_to_dict_rounds_times_to_the_millisecond():
    t = build_transcript([Word("a", 0.1 + 0.2, 1 / 3)], 1.0)
    d = t.to_dict()
    assert d["words"][0] == {"word": "a", "start": 0.3, "end": 0.333}
    assert Transcript.from_dict(d).to_dict() == d
