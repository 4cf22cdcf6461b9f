"""Output writers: parsed back with the srt, webvtt-py, json and csv readers; atomic writes."""

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

import pytest
import srt
import webvtt

from chunky import export
from chunky.export import FORMATS, format_timestamp, get_writer, parse_formats, write_outputs
from chunky.transcript.cues import SubtitleLimits, build_transcript, wrap_lines
from chunky.transcript.model import Segment, Transcript, Word

TIMING = re.compile(r"\d{2,}:\d{2}:\d{2}\.\d{3} --> \d{2,}:\d{2}:\d{2}\.\d{3}")
TRICKY = ['He said, "no"', "fish & chips", "a < b > c", "naïve café —", "x" * 60, "3,5 €", "-->"]


def make_transcript(seed: int = 0, n: int = 400, start: float = 3 * 3600 - 60) -> Transcript:
    """Words from just before the 3rd hour on, with punctuation, quotes, markup characters, unicode."""
    rng = random.Random(seed)
    words, t = [], start
    for _ in range(n):
        tricky = TRICKY[rng.randrange(len(TRICKY))].split()
        text = rng.choice(["hello", "world.", "why?", "yes,", "okay", *tricky])
        t += rng.choice([0.0, 0.1, 0.8])
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


def test_srt_parses_back_with_matching_times_and_texts():
    t = make_transcript()
    cues = list(srt.parse(get_writer("srt").format(t)))
    assert len(cues) == len(t.segments)
    for cue, seg in zip(cues, t.segments, strict=True):
        assert cue.start == ms(seg.start) and cue.end == ms(seg.end)
        assert cue.content == "\n".join(wrap_lines(seg.text, 42, 2))
    assert cues[-1].start >= timedelta(hours=3)


def test_vtt_parses_back_with_matching_times_and_texts(tmp_path):
    t = make_transcript(seed=1)
    text = get_writer("vtt").format(t)
    assert text.startswith("WEBVTT\n\n")
    arrows = [line for line in text.splitlines() if "-->" in line]
    assert len(arrows) == len(t.segments) and all(TIMING.fullmatch(line) for line in arrows)
    [path] = write_outputs(t, tmp_path, "talk", ["vtt"])
    for captions in (webvtt.from_string(text), webvtt.read(str(path))):
        assert len(captions) == len(t.segments)
        for cap, seg in zip(captions, t.segments, strict=True):
            assert cap.start == format_timestamp(seg.start) and cap.end == format_timestamp(seg.end)
            assert html.unescape(cap.text) == "\n".join(wrap_lines(seg.text, 42, 2))


def test_subtitle_rounding_never_puts_end_before_start():
    t = Transcript("a b", [], [Segment(2.0006, 2.0004, "a"), Segment(3.0, 3.0, "b")], 4.0)
    [one, two] = srt.parse(get_writer("srt").format(t))
    assert one.start == one.end == ms(2.001) and two.start == two.end == ms(3.0)
    caps = webvtt.from_string(get_writer("vtt").format(t))
    assert caps[0].start == caps[0].end == "00:00:02.001"
    rows = list(csv.DictReader(io.StringIO(get_writer("csv").format(t))))
    assert rows[0]["start"] == rows[0]["end"] == "2.001"


def test_subtitle_limits_set_the_line_width():
    words = [Word(w, i, i + 0.5) for i, w in enumerate("one two three four five six".split())]
    t = build_transcript(words, 7, limits=SubtitleLimits(max_line_chars=60, max_cue_seconds=60))
    assert get_writer("srt").format(t).splitlines()[2] == "one two three four five six"
    narrow = get_writer("srt", SubtitleLimits(max_line_chars=10, max_lines=3)).format(t)
    assert narrow.splitlines()[2:5] == ["one two", "three four", "five six"]


def test_json_round_trips_through_transcript_from_dict():
    t = make_transcript(seed=2)
    d = json.loads(get_writer("json").format(t))
    assert Transcript.from_dict(d).to_dict() == d
    back = Transcript.from_dict(d)
    assert back.text == t.text and len(back.words) == len(t.words) and len(back.segments) == len(t.segments)
    for a, b in zip(back.words, t.words, strict=True):
        assert a.text == b.text and abs(a.start - b.start) <= 0.0005 and abs(a.end - b.end) <= 0.0005
    assert d["words"][0].keys() >= {"word", "start", "end"}
    assert "naïve" in get_writer("json").format(Transcript("naïve", [], [], 1.0))  # not \u-escaped


def test_csv_round_trips_through_the_csv_module():
    t = make_transcript(seed=3)
    t.segments.append(Segment(t.duration - 0.5, t.duration, 'line one\nline "two", three'))
    rows = list(csv.reader(io.StringIO(get_writer("csv").format(t), newline="")))
    assert rows[0] == ["start", "end", "text"]
    assert len(rows) == len(t.segments) + 1
    for row, seg in zip(rows[1:], t.segments, strict=True):
        assert row == [f"{seg.start:.3f}", f"{seg.end:.3f}", seg.text]


def test_txt_is_one_segment_per_line():
    t = make_transcript(seed=4)
    assert get_writer("txt").format(t).splitlines() == [s.text for s in t.segments]


def test_text_only_transcript_gives_sensible_outputs():
    t = build_transcript([], 3725.5, "ctc", "a.wav", text="hello world, this model has no timestamps")
    assert get_writer("txt").format(t) == "hello world, this model has no timestamps\n"
    [cue] = srt.parse(get_writer("srt").format(t))
    assert (cue.start, cue.end) == (timedelta(0), ms(3725.5))
    assert cue.content == "hello world, this model has no timestamps"
    [cap] = webvtt.from_string(get_writer("vtt").format(t))
    assert (cap.start, cap.end) == ("00:00:00.000", "01:02:05.500")
    rows = list(csv.reader(io.StringIO(get_writer("csv").format(t))))
    assert rows[1] == ["0.000", "3725.500", "hello world, this model has no timestamps"]
    d = json.loads(get_writer("json").format(t))
    assert d["words"] == [] and d["segments"][0]["end"] == 3725.5 and d["text"] == t.text


def test_empty_transcript():
    t = build_transcript([], 10.0, text="")
    assert get_writer("txt").format(t) == ""
    assert list(srt.parse(get_writer("srt").format(t))) == []
    assert len(webvtt.from_string(get_writer("vtt").format(t))) == 0
    assert get_writer("csv").format(t) == "start,end,text\n"
    assert Transcript.from_dict(json.loads(get_writer("json").format(t))) == t


def test_get_writer_and_parse_formats():
    for name in FORMATS:
        w = get_writer(name)
        assert w.name == name and w.extension == name
    assert get_writer(" .SRT ").name == "srt"
    with pytest.raises(ValueError) as err:
        get_writer("docx")
    assert all(name in str(err.value) for name in FORMATS)
    assert parse_formats("txt,srt") == ("txt", "srt")
    assert parse_formats(" SRT, txt ,srt,") == ("srt", "txt")
    assert parse_formats("all") == FORMATS
    assert parse_formats(["vtt", "json"]) == ("vtt", "json")
    for bad in ("", " , ", "txt,pdf"):
        with pytest.raises(ValueError):
            parse_formats(bad)


def test_write_outputs_writes_utf8_files(tmp_path):
    t = make_transcript(seed=5)
    out = tmp_path / "new" / "folder"
    paths = write_outputs(t, out, "Long talk.partial", "all")
    assert paths == [out / f"Long talk.partial.{ext}" for ext in FORMATS]
    for path in paths:
        assert path.read_bytes() == get_writer(path.suffix[1:]).format(t).encode("utf-8")
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in paths)
    assert write_outputs(t, out, "x", []) == []
    assert write_outputs(t, out, "x", ["SRT", "srt"]) == [out / "x.srt"]
    for stem in ("", "../up", "a/b", "a\\b"):
        with pytest.raises(ValueError):
            write_outputs(t, out, stem, ["txt"])


class Boom(RuntimeError):
    pass


def test_failing_writer_leaves_no_partial_and_no_files(tmp_path, monkeypatch):
    def boom(self, transcript):
        raise Boom("writer bug")

    monkeypatch.setattr(export.data.CsvWriter, "format", boom)
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
    assert len(calls) == 2 and path.read_text(encoding="utf-8").startswith("start,end,text\n")
    assert [p.name for p in tmp_path.iterdir()] == ["talk.csv"]


def test_write_outputs_accepts_a_path_like_folder(tmp_path):
    [path] = write_outputs(make_transcript(n=5), Path(str(tmp_path)), "a", "txt")
    assert path.is_file()
