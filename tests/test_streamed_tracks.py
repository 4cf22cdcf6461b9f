"""One speaker per track, each track streamed from the file into the engine's feed (no track held in
memory): the same words and speakers as transcribing each track's full samples and merging them with
the exact levels; a stream that breaks while decoding is left out and named, the others used. Real
files (tests/multitrack.py), the digits test model."""

from __future__ import annotations

import pytest

from chunky.asr.options import EngineOptions, SpeakerOptions
from chunky.audio import decode
from chunky.audio.levels import track_level
from chunky.transcript.speakers import TrackWords, merge_tracks
from tests.conversations import RATE
from tests.multitrack import damaged_second_stream, write_streams
from tests.test_cancel_tracks import engine  # noqa: F401  (the module's engine fixture)
from tests.test_speaker_files import conversation, renamed

pytestmark = pytest.mark.slow


def test_streamed_tracks_give_what_the_full_samples_give(engine, tmp_path):  # noqa: F811
    conv = renamed(conversation(2, 60, seed=58), ["Host", "Guest"])
    path = write_streams(tmp_path / "talk.mkv", [conv.tracks["Host"], conv.tracks["Guest"]], RATE,
                         titles=["Host", "Guest"])
    streamed = engine.transcribe(path, "digits-ctc", options=EngineOptions(speakers=SpeakerOptions("tracks")))
    expected = []
    for k, name in enumerate(["Host", "Guest"]):
        alone = EngineOptions(speakers=SpeakerOptions("mix", track=k + 1))
        one = engine.transcribe(path, "digits-ctc", options=alone)
        samples = decode.load_audio(path, RATE, stream=k)
        expected.append(TrackWords(name, one.words, track_level(samples, RATE)))
    merged = merge_tracks(expected)
    assert [(w.text, w.start, w.end, w.speaker) for w in streamed.words] == \
        [(w.text, w.start, w.end, w.speaker) for w in merged]
    assert {w.speaker for w in streamed.words} == {"Host", "Guest"}
    assert streamed.audio["used"] == ["Host (stream 1)", "Guest (stream 2)"]
    assert streamed.duration == pytest.approx(len(conv.tracks["Host"]) / RATE, abs=0.05)


def test_a_stream_that_breaks_while_streamed_is_named_and_the_other_used(engine, tmp_path):  # noqa: F811
    conv = renamed(conversation(2, 30, seed=59), ["Host", "Guest"])
    good = write_streams(tmp_path / "good.mkv", [conv.tracks["Host"], conv.tracks["Guest"]], RATE,
                         codec="mp3", titles=["Host", "Guest"])
    path = damaged_second_stream(tmp_path / "bad.mkv", good)
    t = engine.transcribe(path, "digits-ctc", options=EngineOptions(speakers=SpeakerOptions("tracks")))
    # (The copy has no stream titles: the speakers are "Speaker 1" and "Speaker 2".)
    assert t.words and {w.speaker for w in t.words} == {"Speaker 1"}
    assert t.audio["used"] == ["Speaker 1 (stream 1)"]
    assert t.audio["notes"][-1].startswith("Speaker 2 (stream 2) could not be decoded and was left out: "
                                           "bad.mkv")
    assert t.speakers == [{"name": "Speaker 1", "source": "Speaker 1 (stream 1)"}]
