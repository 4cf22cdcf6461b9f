"""Dialogue cues in the outputs, read back by parsers nobody here wrote: srt (SRT), webvtt-py and pysubs2
(WebVTT), pysubs2 (ASS), pycaption (TTML); and in JSON/CSV. Two short turns share a cue, a dashed line
each; SRT names each turn after its dash, VTT gives each line its own voice span, ASS switches the second
line to the second speaker's style. Pure Python (no NeMo)."""

from __future__ import annotations

import csv
import html
import io
import json
import xml.etree.ElementTree as ET

import pycaption
import pysubs2
import pytest
import srt
import webvtt

from chunky.export import ExportOptions, get_writer, render
from chunky.transcript.cues import build_transcript
from chunky.transcript.layout import PRESETS
from chunky.transcript.model import Transcript, Word

TTM = "{http://www.w3.org/ns/ttml#metadata}"


def turn(speaker: str, text: str, start: float, word: float = 0.3) -> list[Word]:
    return [Word(t, start + k * (word + 0.05), start + k * (word + 0.05) + word, 0.9, speaker)
            for k, t in enumerate(text.split())]


def talk() -> Transcript:
    """A long turn, a quick exchange (one dialogue cue), then a turn after a pause (a cue of its own)."""
    words = (turn("Host", "So tell me what you thought of the first draft of the plan.", 0.0)
             + turn("Host", "Yes.", 6.0) + turn("Guest", "No, I don't think so.", 6.5)
             + turn("Guest", "It was far too long for the time we had.", 10.0))
    t = build_transcript(words, 14.0, "m", "/rec/talk.mkv")
    t.speakers = [{"name": "Host", "source": "stream 1"}, {"name": "Guest", "source": "stream 2"}]
    return t


def dialogue_index(doc) -> int:
    [k] = [k for k, c in enumerate(doc.cues) if c.line_speakers]
    return k


def test_the_layout_makes_one_dialogue_cue():
    doc = render(talk())
    k = dialogue_index(doc)
    assert doc.cues[k].lines == ["- Yes.", "- No, I don't think so."]
    assert doc.cues[k].line_speakers == ("Host", "Guest")
    assert doc.cue_layout.broken == {}


def test_srt_dialogue_cue_names_each_turn_after_its_dash():
    doc = render(talk())
    subs = list(srt.parse(get_writer("srt").format(doc)))
    assert len(subs) == len(doc.cues)
    k = dialogue_index(doc)
    # "Host" spoke the cue before: the first line needs no name; "Guest" is a new turn.
    assert subs[k].content == "- Yes.\n- Guest: No, I don't think so."
    assert subs[k].start.total_seconds() == pytest.approx(doc.cues[k].start, abs=1e-3)
    assert subs[k].end.total_seconds() == pytest.approx(doc.cues[k].end, abs=1e-3)
    assert subs[0].content.startswith("Host: So tell me")
    assert subs[k + 1].content.startswith("It was far")  # Guest again: no name
    # Both names when the turn before the dialogue cue was someone else's.
    words = turn("Guest", "Hello.", 0.0) + turn("Host", "Hi.", 3.0) + turn("Guest", "Ready?", 3.5)
    subs = list(srt.parse(get_writer("srt").format(build_transcript(words, 5.0))))
    assert [s.content for s in subs] == ["Guest: Hello.", "- Host: Hi.\n- Guest: Ready?"]


def test_srt_tight_dash_for_netflix_english():
    opts = ExportOptions(rules=PRESETS["streaming"].with_values(dialogue_dash="-"))
    doc = render(talk(), opts)
    subs = list(srt.parse(get_writer("srt").format(doc)))
    assert subs[dialogue_index(doc)].content == "-Yes.\n-Guest: No, I don't think so."


def test_vtt_dialogue_cue_has_a_voice_span_per_line():
    doc = render(talk())
    text = get_writer("vtt").format(doc)
    k = dialogue_index(doc)
    assert "\n<v Host>- Yes.</v>\n<v Guest>- No, I don't think so.</v>\n" in text
    captions = webvtt.from_string(text)
    assert len(captions) == len(doc.cues)
    cap = captions[k]
    assert cap.text == "- Yes.\n- No, I don't think so."  # the tags are not text
    assert cap.voice == "Host"
    # Each raw line is one voice span, by webvtt-py's own voice pattern.
    voices = [webvtt.Caption.VOICE_SPAN_PATTERN.match(line) for line in cap.raw_text.split("\n")]
    assert [m.group(1) for m in voices] == ["Host", "Guest"]
    assert [c.voice for c in captions] == ["Host", "Host", "Guest"]
    subs = pysubs2.SSAFile.from_string(text, format_="vtt")
    assert [html.unescape(e.plaintext) for e in subs] == ["\n".join(c.lines) for c in doc.cues]


def test_ass_dialogue_cue_switches_to_the_second_speakers_style():
    doc = render(talk())
    k = dialogue_index(doc)
    subs = pysubs2.SSAFile.from_string(get_writer("ass").format(doc))
    event = subs[k]
    assert event.style == "Host" and event.name == "Host / Guest"
    assert event.text == "- Yes.\\N{\\rGuest}- No, I don't think so."
    assert event.plaintext == "- Yes.\n- No, I don't think so."
    assert "Guest" in subs.styles and subs.styles["Guest"].primarycolor != subs.styles["Host"].primarycolor
    assert abs(event.start / 1000 - doc.cues[k].start) <= 0.01
    sung = render(talk(), ExportOptions(karaoke=True))
    karaoke = pysubs2.SSAFile.from_string(get_writer("ass").format(sung))
    event = karaoke[k]
    assert event.plaintext == "- Yes.\n- No, I don't think so."
    durations = [int(part.split("}")[0]) for part in event.text.split("{\\k")[1:]]
    assert len(durations) == len(doc.cues[k].words)
    assert sum(durations) * 10 == pytest.approx(event.end - event.start, abs=10)
    assert "\\N{\\rGuest}- {\\k" in event.text


def test_ttml_dialogue_cue_has_a_span_per_speaker():
    doc = render(talk())
    k = dialogue_index(doc)
    text = get_writer("ttml").format(doc)
    caps = pycaption.DFXPReader().read(text)
    [lang] = caps.get_languages()
    got = caps.get_captions(lang)
    assert [c.get_text() for c in got] == ["\n".join(c.lines) for c in doc.cues]
    root = ET.fromstring(text)
    agents = {a.get("{http://www.w3.org/XML/1998/namespace}id"): a.find(f"{TTM}name").text
              for a in root.iter(f"{TTM}agent")}
    ps = root.findall(".//{http://www.w3.org/ns/ttml}p")
    spans = ps[k].findall("{http://www.w3.org/ns/ttml}span")
    assert [(agents[s.get(f"{TTM}agent")], s.text) for s in spans] == [
        ("Host", "- Yes."), ("Guest", "- No, I don't think so.")]


def test_json_csv_and_audacity_keep_one_speaker_a_segment():
    """The data formats list the cues of one speaker each (what the page's transcript and the review view
    read back): the dialogue cue of the subtitles is two segments there."""
    doc = render(talk())
    k = dialogue_index(doc)
    data = json.loads(get_writer("json").format(doc))
    assert len(data["segments"]) == len(doc.cues) + 1
    assert all("speaker" in s for s in data["segments"])
    two = data["segments"][k:k + 2]
    assert [(s["speaker"], s["text"]) for s in two] == [("Host", "Yes."), ("Guest", "No, I don't think so.")]
    assert data["layout"]["rules"]["dialogue_dash"] == "- "
    assert data["layout"]["broken"] == {}
    back = Transcript.from_dict(data)
    assert [w.text for w in back.words] == [w.text for w in doc.transcript.words]
    assert [{w.speaker for w in s.words} for s in back.segments][k:k + 2] == [{"Host"}, {"Guest"}]
    rows = list(csv.DictReader(io.StringIO(get_writer("csv").format(doc))))
    assert [(r["speaker"], r["text"]) for r in rows[k:k + 2]] == [("Host", "Yes."),
                                                                   ("Guest", "No, I don't think so.")]
    labels = list(csv.reader(io.StringIO(get_writer("audacity").format(doc)), delimiter="\t"))
    assert [row[2] for row in labels[k:k + 2]] == ["Yes.", "No, I don't think so."]


def test_the_page_transcript_names_both_speakers_of_a_quick_exchange():
    from chunky.app.html import timestamped_lines

    doc = render(talk())
    back = Transcript.from_dict(json.loads(get_writer("json").format(doc)))
    lines = timestamped_lines(back)
    assert lines[1:3] == ["[00:00:06] Yes.", "[00:00:06] Guest: No, I don't think so."]
    assert lines[0].startswith("[00:00:00] Host: So tell me")


def test_dialogue_off_gives_a_cue_per_turn():
    opts = ExportOptions(rules=PRESETS["streaming"].with_values(dialogue_dash=""))
    subs = list(srt.parse(get_writer("srt").format(render(talk(), opts))))
    assert [s.content for s in subs[1:3]] == ["Yes.", "Guest: No, I don't think so."]


def test_the_dash_is_a_setting_from_the_environment_settings_json_or_the_command_line(tmp_path):
    from chunky.cli.main import build_parser
    from chunky.settings import SavedSettings, Settings, flags_from, load_settings

    assert Settings().export_options().rules.dialogue_dash == "- "
    s = load_settings({"CHUNKY_DIALOGUE_DASH": "tight"})
    assert s.dialogue_dash == "-" and s.export_options().rules.dialogue_dash == "-"
    assert dict((n, v) for n, v, _ in s.describe())["dialogue_dash"] == "tight"
    saved = SavedSettings(tmp_path)
    saved.save(dialogue_dash="off")
    s = load_settings({}, None, saved.load())
    assert s.export_options().rules.dialogue_dash == "" and s.origin("dialogue_dash") == "settings.json"
    args = build_parser().parse_args(["transcribe", "a.wav", "--dialogue-dash", "– "])
    s = load_settings({}, flags_from(args), saved.load())
    assert s.export_options().rules.dialogue_dash == "– "
    args = build_parser().parse_args(["transcribe", "a.wav", "--dialogue-dash", "- "])
    assert load_settings({}, flags_from(args)).export_options().rules.dialogue_dash == "- "
    # A variable's value is trimmed: "spaced" says "- " there.
    for raw, dash in (("off", ""), ("spaced", "- "), ("-", "-"), ("Tight", "-"), ("none", "")):
        assert load_settings({"CHUNKY_DIALOGUE_DASH": raw}).export_options().rules.dialogue_dash == dash
    bad = load_settings({"CHUNKY_DIALOGUE_DASH": "dash"})
    assert "dialogue_dash" in bad.rejected and bad.export_options().rules.dialogue_dash == "- "


def test_editing_formats_carry_the_dialogue_cue():
    """FCPXML captions (read by OpenTimelineIO, the caption by the XML parser), Avid SubCap (by the rules
    of Avid's sample), a marker per cue in the CMX EDL (read by OpenTimelineIO): the two dashed lines."""
    import xml.etree.ElementTree as ET  # noqa: N817

    import opentimelineio as otio

    from tests.test_editing_formats import read_subcap

    doc = render(talk(), ExportOptions(fps="25", fcpxml="captions", markers="cue"))
    k = dialogue_index(doc)
    text = get_writer("fcpxml").format(doc)
    [timeline] = otio.adapters.read_from_string(text, adapter_name="fcpx_xml")
    assert list(timeline.find_clips())
    captions = ET.fromstring(text).findall(".//asset-clip/caption")
    assert captions[k].find("./text/text-style").text == "- Yes.\n- No, I don't think so."
    titles = read_subcap(get_writer("avid").format(doc))
    assert titles[k][2] == ["- Yes.", "- No, I don't think so."]
    edl = otio.adapters.read_from_string(get_writer("edl").format(doc), adapter_name="cmx_3600", rate=25)
    names = [m.name for clip in edl.find_clips() for m in clip.markers] + [
        m.name for m in edl.tracks.markers] + [m.name for t in edl.tracks for m in t.markers]
    assert any("- Yes. - No, I don't think so." in (n or "") for n in names), names
