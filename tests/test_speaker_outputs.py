"""Speakers in the outputs: a style per speaker in ASS (read back by pysubs2), the speakers table and
which streams were used in JSON (read back by Transcript.from_dict), the page's speaker choices, and
renaming "Speaker 1" to "Host" when exporting again (every format rewritten; VTT voices, SRT names).
No NeMo. The other formats' speakers are read back by their parsers in test_editing_formats.py."""

from __future__ import annotations

import json

import pysubs2
import pytest

from chunky.export import get_writer
from chunky.settings import parse_renames, parse_speaker_choices
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Transcript, Word
from chunky.transcript.speakers import rename_speakers
from tests.test_export_settings import run_cli


def conversation() -> Transcript:
    words, t = [], 0.5
    for turn in range(6):
        who = ("Speaker 1", "Speaker 2", "Smith, Bob")[turn % 3]
        for k in range(6):
            words.append(Word(f"w{turn}{k}", round(t, 3), round(t + 0.3, 3), 0.9, who))
            t += 0.4
        t += 1.0
    transcript = build_transcript(words, t + 1, "m", "/rec/talk.mkv")
    transcript.speakers = [{"name": n, "source": f"stream {i + 1}"}
                           for i, n in enumerate(("Speaker 1", "Speaker 2", "Smith, Bob"))]
    transcript.audio = {"mode": "tracks", "used": ["stream 1", "stream 2", "stream 3"],
                        "notes": ["One speaker per audio stream: ..."]}
    return transcript


def test_ass_has_a_style_per_speaker():
    subs = pysubs2.SSAFile.from_string(get_writer("ass").format(conversation()))
    assert list(subs.styles) == ["Default", "Speaker 1", "Speaker 2", "Smith  Bob"]
    colours = {str(subs.styles[s].primarycolor) for s in list(subs.styles)[1:]}
    assert len(colours) == 3  # each speaker has a colour of their own
    # An event's style is its (first) speaker's; a dialogue cue names both (tests/test_dialogue_outputs.py).
    assert {(e.name.split(" / ")[0], e.style) for e in subs} == {
        ("Speaker 1", "Speaker 1"), ("Speaker 2", "Speaker 2"), ("Smith  Bob", "Smith  Bob")}


def test_json_has_the_speakers_table_and_the_streams_used():
    t = conversation()
    data = json.loads(get_writer("json").format(t))
    assert [s["name"] for s in data["speakers"]] == ["Speaker 1", "Speaker 2", "Smith, Bob"]
    assert data["audio"]["used"] == ["stream 1", "stream 2", "stream 3"]
    assert all("speaker" in w for w in data["words"]) and all("speaker" in s for s in data["segments"])
    back = Transcript.from_dict(data)
    assert back.speakers == t.speakers and back.audio == t.audio


def test_rename_speakers_everywhere_and_refuse_a_typo():
    t = rename_speakers(conversation(), parse_renames("Speaker 1=Host, Speaker 2=Guest"))
    assert {w.speaker for w in t.words} == {"Host", "Guest", "Smith, Bob"}
    assert {w.speaker for s in t.segments for w in s.words} == {"Host", "Guest", "Smith, Bob"}
    assert [s["name"] for s in t.speakers] == ["Host", "Guest", "Smith, Bob"]
    with pytest.raises(ValueError, match="no speaker named 'Speaker 9'.*its speakers: Smith, Bob, Speaker 1"):
        rename_speakers(conversation(), [("Speaker 9", "X")])
    swapped = rename_speakers(conversation(), [("Speaker 1", "Speaker 2"), ("Speaker 2", "Speaker 1")])
    assert [w.speaker for w in swapped.words][:7] == ["Speaker 2"] * 6 + ["Speaker 1"]
    lenient = rename_speakers(conversation(), [("Speaker 9", "X"), ("Speaker 1", "Host")], strict=False)
    assert lenient.words[0].speaker == "Host"
    with pytest.raises(ValueError, match="is not OLD=NEW"):
        parse_renames("Speaker 1")


def test_page_speaker_choices():
    assert parse_speaker_choices({"speakers": "tracks", "track": 0, "num_speakers": 0}).mode == "tracks"
    chosen = parse_speaker_choices({"speakers": "diarize", "track": 2.0, "num_speakers": 3.0})
    assert (chosen.mode, chosen.track, chosen.num_speakers) == ("diarize", 2, 3)
    with pytest.raises(ValueError, match="Who spoke: 'everyone'"):
        parse_speaker_choices({"speakers": "everyone"})


def test_export_again_with_renamed_speakers_rewrites_every_format(tmp_path):
    source = tmp_path / "talk.json"
    source.write_text(get_writer("json").format(conversation()), encoding="utf-8")
    result = run_cli(tmp_path, "export", str(source), "--format", "srt,vtt,ass,csv,txt,json",
                     "--rename-speakers", "Speaker 1=Host,Speaker 2=Guest")
    assert result.returncode == 0, result.stderr
    for ext in ("srt", "vtt", "ass", "csv", "txt", "json"):
        text = (tmp_path / f"talk-2.{ext}").read_text(encoding="utf-8")
        assert "Host" in text and "Guest" in text and "Speaker 1" not in text, ext
    assert "<v Host>" in (tmp_path / "talk-2.vtt").read_text(encoding="utf-8")
    result = run_cli(tmp_path, "export", str(source), "--rename-speakers", "Speaker 7=Host")
    assert result.returncode == 1 and "no speaker named 'Speaker 7'" in result.stderr
