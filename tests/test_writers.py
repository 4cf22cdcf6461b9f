"""The everyday outputs (TXT, SRT, VTT, JSON, CSV) read back with the srt, webvtt-py, pysubs2, json and csv
readers; atomic writes. The editing formats: tests/test_editing_formats.py."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import random
import re
from datetime import timedelta
from pathlib import Path

import pysubs2
import pytest
import srt
import webvtt

from chunky import export
from chunky.export import (
    DEFAULT_FORMATS,
    FORMATS,
    ExportOptions,
    format_timestamp,
    get_writer,
    parse_formats,
    render,
    write_outputs,
)
from chunky.transcript.cues import build_transcript
from chunky.transcript.layout import PRESETS
from chunky.transcript.model import Transcript, Word

TIMING = re.compile(r"\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}")
TRICKY = ['He said, "no"', "fish & chips", "a < b > c", "naïve café —", "x" * 60, "3,5 €", "-->"]


def make_transcript(seed: int = 0, n: int = 400, start: float = 3 * 3600 - 60) -> Transcript:
    """Words from just before the 3rd hour on, with punctuation, quotes, markup characters, unicode."""
    rng = random.Random(seed)
    words, t = [], start
    for _ in range(n):
        tricky = TRICKY[rng.randrange(len(TRICKY))].split()
        text = rng.choice(["hello", "world.", "why?", "yes,", "okay", *tricky])
        t += rng.choice([0.0, 0.1, 0.8, 2.0])
        length = rng.uniform(0.1, 0.9)
        words.append(Word(text, t, t + length, rng.random() if rng.random() < 0.5 else None))
        t += length
    return build_transcript(words, t + 1.0, "test-model", "/recordings/talk.wav")


def ms(seconds: float) -> timedelta:
    return timedelta(milliseconds=round(seconds * 1000))


def test_format_timestamp_hours_and_rounding():
    assert format_timestamp(3723.456, decimal_marker=",") == "01:02:03,456"
    assert format_timestamp(3723.456) == "01:02:03.456"
    assert format_timestamp(0.0) == "00:00:00.000"
    assert format_timestamp(59.9996) == "00:01:00.000"
    assert format_timestamp(100 * 3600 + 0.5) == "100:00:00.500"
    assert format_timestamp(-0.2) == "00:00:00.000"
    assert format_timestamp(61.5, always_include_hours=False) == "01:01.500"


@pytest.mark.parametrize("start", [None, "01:00:00:00"])
def test_srt_parses_back_with_the_cues_times_and_lines(start):
    t = make_transcript()
    doc = render(t, ExportOptions(start_timecode=start))
    offset = 3600.0 if start else 0.0
    text = get_writer("srt").format(doc)
    cues = list(srt.parse(text))
    assert len(cues) == len(doc.cues) > 50
    for cue, c in zip(cues, doc.cues, strict=True):
        assert cue.start == ms(c.start + offset)
        assert abs((cue.end - ms(c.end + offset)).total_seconds()) <= 0.001
        assert cue.content == "\n".join(c.lines)
    assert cues[-1].start >= timedelta(hours=3)
    subs = pysubs2.SSAFile.from_string(text, format_="srt")
    assert len(subs) == len(doc.cues)
    assert [e.start for e in subs] == [round((c.start + offset) * 1000) for c in doc.cues]


def test_vtt_parses_back_with_the_cues_times_and_lines(tmp_path):
    t = make_transcript(seed=1)
    doc = render(t)
    text = get_writer("vtt").format(doc)
    assert text.startswith("WEBVTT\n\n")
    arrows = [line for line in text.splitlines() if "-->" in line]
    assert len(arrows) == len(doc.cues) and all(TIMING.fullmatch(line) for line in arrows)
    [path] = write_outputs(t, tmp_path, "talk", ["vtt"])
    for captions in (webvtt.from_string(text), webvtt.read(str(path))):
        assert len(captions) == len(doc.cues)
        for cap, c in zip(captions, doc.cues, strict=True):
            assert cap.start == format_timestamp(c.start)
            assert html.unescape(cap.text) == "\n".join(c.lines)
    subs = pysubs2.SSAFile.from_string(text, format_="vtt")
    assert [html.unescape(e.plaintext) for e in subs] == ["\n".join(c.lines) for c in doc.cues]


def test_vtt_with_a_start_timecode_keeps_milliseconds_with_the_offset():
    t = make_transcript(seed=2)
    doc = render(t, ExportOptions(start_timecode="01:00:00:00", fps="25"))
    text = get_writer("vtt").format(doc)
    captions = webvtt.from_string(text)
    assert len(captions) == len(doc.cues) > 50
    for cap, c in zip(captions, doc.cues, strict=True):
        assert abs(cap.start_in_seconds + cap.start_time.milliseconds / 1000 - (c.start + 3600)) <= 0.001
        assert cap.start == format_timestamp(c.start + 3600) and cap.end == format_timestamp(c.end + 3600)
    subs = pysubs2.SSAFile.from_string(text, format_="vtt")
    assert [e.start for e in subs] == [round((c.start + 3600) * 1000) for c in doc.cues]


def test_vtt_voice_tags_for_speakers():
    words = [Word("Hello", 0.0, 0.4, None, "Ann"), Word("there.", 0.5, 0.9, None, "Ann"),
             Word("Hi!", 2.6, 2.9, None, "Bob <2>")]  # after a pause: a cue each (no dialogue cue)
    text = get_writer("vtt").format(build_transcript(words, 3.5))
    assert "<v Ann>Hello there." in text and "<v Bob &lt;2&gt;>Hi!" in text
    assert [html.unescape(c.voice) for c in webvtt.from_string(text)] == ["Ann", "Bob <2>"]


def test_subtitle_rounding_never_puts_end_before_start_or_after_the_next_start():
    t = build_transcript([Word("a", 2.0006, 2.0004), Word("b", 2.0009, 2.0009), Word("c", 9.0, 9.5)], 10.0,
                         limits=PRESETS["word"])
    for start, end, _ in export.subtitles.timed_cues(render(t, ExportOptions(rules=PRESETS["word"]))):
        assert end >= start
    cues = list(srt.parse(get_writer("srt").format(render(t, ExportOptions(rules=PRESETS["word"])))))
    assert all(a.end <= b.start for a, b in zip(cues, cues[1:], strict=False))


def test_the_rules_set_the_line_width():
    words = [Word(w, i * 0.4, i * 0.4 + 0.35) for i, w in enumerate("one two three four five six".split())]
    t = build_transcript(words, 7)
    wide = ExportOptions(rules=PRESETS["streaming"].with_values(max_chars=60))
    assert get_writer("srt").format(render(t, wide)).splitlines()[2] == "one two three four five six"
    narrow = ExportOptions(rules=PRESETS["streaming"].with_values(max_chars=10, max_lines=3))
    assert get_writer("srt").format(render(t, narrow)).splitlines()[2:5] == ["one two", "three four",
                                                                           "five six"]


def test_json_keeps_every_word_and_documents_its_layout():
    t = make_transcript(seed=2)
    t.words[3].speaker = "Ann"
    doc = render(t, ExportOptions(start_timecode="01:00:00:00", fps="25"))
    d = json.loads(get_writer("json").format(doc))
    back = Transcript.from_dict(d)
    assert back.text == t.text and len(back.words) == len(t.words)
    for a, b in zip(back.words, t.words, strict=True):
        assert a.text == b.text and abs(a.start - b.start) <= 0.0005 and abs(a.end - b.end) <= 0.0005
        assert a.speaker == b.speaker and (a.confidence is None) == (b.confidence is None)
    assert d["schema_version"] == 2 and d["words"][0].keys() >= {"word", "start", "end"}
    assert [s["text"] for s in d["segments"]] == [c.text for c in doc.cues]
    assert [s["lines"] for s in d["segments"]] == [c.lines for c in doc.cues]
    assert d["timecode"] == {"fps": "25", "start": "01:00:00:00", "media_start": "00:00:00:00"}
    assert d["layout"]["preset"] == "streaming" and d["layout"]["broken"] == doc.cue_layout.broken
    assert d["layout"]["rules"]["max_chars"] == 42
    assert "naïve" in get_writer("json").format(Transcript("naïve", [], [], 1.0))  # not \u-escaped


def test_csv_round_trips_through_the_csv_module():
    t = make_transcript(seed=3)
    doc = render(t, ExportOptions(start_timecode="10:00:00:00", fps="25"))
    rows = list(csv.reader(io.StringIO(get_writer("csv").format(doc), newline="")))
    assert rows[0] == ["start", "end", "start_timecode", "end_timecode", "speaker", "text"]
    assert len(rows) == len(doc.cues) + 1
    for row, c in zip(rows[1:], doc.cues, strict=True):
        assert row[0] == f"{round(c.start * 1000) / 1000:.3f}" and row[5] == c.text
        assert row[2] == doc.timing.timecode_of(c.start) and row[2].startswith(("12:", "13:"))


def test_txt_is_paragraphs():
    t = make_transcript(seed=4)
    doc = render(t)
    paragraphs = get_writer("txt").format(doc).split("\n\n")
    assert [p.strip() for p in paragraphs] == [p.text for p in doc.paragraphs]
    assert " ".join(paragraphs).split() == t.text.split()


def test_text_only_transcript_gives_sensible_outputs():
    text = "hello world, this model has no timestamps"
    t = build_transcript([], 3725.5, "ctc", "a.wav", text=text)
    assert get_writer("txt").format(t) == text + "\n"
    cues = list(srt.parse(get_writer("srt").format(t)))
    assert " ".join(c.content.replace("\n", " ") for c in cues) == text  # times spread over the segment
    assert cues[0].start == timedelta(0)
    d = json.loads(get_writer("json").format(t))
    assert d["words"] == [] and d["text"] == t.text and d["layout"]["estimated"] is True


def test_empty_transcript():
    t = build_transcript([], 10.0, text="")
    assert get_writer("txt").format(t) == ""
    assert list(srt.parse(get_writer("srt").format(t))) == []
    assert len(webvtt.from_string(get_writer("vtt").format(t))) == 0
    assert get_writer("csv").format(t) == "start,end,start_timecode,end_timecode,speaker,text\n"
    assert Transcript.from_dict(json.loads(get_writer("json").format(t))) == t


def test_get_writer_and_parse_formats():
    for name in FORMATS:
        assert get_writer(name).name == name
    assert get_writer(" .SRT ").name == "srt" and get_writer("dfxp").name == "ttml"
    with pytest.raises(ValueError) as err:
        get_writer("pdf")
    assert all(name in str(err.value) for name in FORMATS)
    assert parse_formats("txt,srt") == ("txt", "srt")
    assert parse_formats(" SRT, txt ,srt,") == ("srt", "txt")
    assert parse_formats("all") == FORMATS and len(FORMATS) == 14
    assert parse_formats(["vtt", "json"]) == ("vtt", "json")
    assert parse_formats("ass,ttml,edl,resolve-edl,fcpxml,xmeml,avid,audacity,docx") == (
        "ass", "ttml", "edl", "resolve-edl", "fcpxml", "xmeml", "avid", "audacity", "docx")
    assert DEFAULT_FORMATS == ("txt", "srt", "vtt", "json", "csv")
    assert len({get_writer(n).extension for n in FORMATS}) == len(FORMATS)  # no two formats share a name
    for bad in ("", " , ", "txt,pdf"):
        with pytest.raises(ValueError):
            parse_formats(bad)


def test_write_outputs_writes_utf8_files(tmp_path):
    t = make_transcript(seed=5)
    out = tmp_path / "new" / "folder"
    paths = write_outputs(t, out, "Long talk.partial", "all")
    assert paths == [out / f"Long talk.partial.{get_writer(name).extension}" for name in FORMATS]
    for name, path in zip(FORMATS, paths, strict=True):
        content = get_writer(name).format(t)
        if name == "docx":
            assert path.read_bytes()[:2] == b"PK"  # a zip; its creation time differs from run to run
        else:
            assert path.read_bytes() == content.encode("utf-8")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert write_outputs(t, out, "x", []) == []
    assert write_outputs(t, out, "x", ["SRT", "srt"]) == [out / "x.srt"]
    for stem in ("", "../up", "a/b", "a\\b"):
        with pytest.raises(ValueError):
            write_outputs(t, out, stem, ["txt"])


class Boom(RuntimeError):
    pass


def test_failing_writer_leaves_no_partial_and_no_files(tmp_path, monkeypatch):
    def boom(self, doc):
        raise Boom("writer bug")

    monkeypatch.setattr(export.data.CsvWriter, "write", boom)
    with pytest.raises(Boom):
        write_outputs(make_transcript(), tmp_path, "talk", FORMATS)
    assert list(tmp_path.iterdir()) == []


def test_failed_write_or_replace_leaves_no_partial_and_keeps_the_old_file(tmp_path, monkeypatch):
    t = make_transcript()
    (tmp_path / "talk.srt").write_text("old", encoding="utf-8")

    def failing_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        write_outputs(t, tmp_path, "talk", ["srt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.srt"]
    assert (tmp_path / "talk.srt").read_text(encoding="utf-8") == "old"

    monkeypatch.undo()

    def failing_fsync(fd):
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        write_outputs(t, tmp_path, "talk", ["txt"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.srt"]


def test_replace_is_retried_while_the_file_is_locked(tmp_path, monkeypatch):
    real_replace = os.replace
    calls = []

    def locked_once(src, dst):
        calls.append(dst)
        if len(calls) == 1:
            exc = PermissionError(13, "The process cannot access the file", str(dst))
            exc.winerror = 32
            raise exc
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", locked_once)
    [path] = write_outputs(make_transcript(), tmp_path, "talk", ["csv"])
    assert len(calls) == 2 and path.read_text(encoding="utf-8").startswith("start,end,start_timecode")
    assert [p.name for p in tmp_path.iterdir()] == ["talk.csv"]


def test_write_outputs_accepts_a_path_like_folder(tmp_path):
    [path] = write_outputs(make_transcript(n=5), Path(str(tmp_path)), "a", "txt")
    assert path.is_file()
