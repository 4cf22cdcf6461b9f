"""The editing formats read back by libraries nobody here wrote: pysubs2 (ASS), pycaption (TTML/DFXP),
OpenTimelineIO with its CMX 3600, FCP X and FCP 7 adapters (EDL, Resolve marker EDL, FCPXML, xmeml) and
python-docx (DOCX); Avid SubCap by the rules of Avid's published sample, Audacity labels by the csv
module. Every cue's or marker's text and times match the layout within one frame, at several frame rates
and start timecodes. Pure Python (no NeMo)."""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from fractions import Fraction

import docx
import opentimelineio as otio
import pycaption
import pysubs2
import pytest

from chunky.export import ExportOptions, get_writer, render
from chunky.export.markers import frame_spans
from chunky.transcript.cues import build_transcript
from chunky.transcript.layout import PRESETS
from chunky.transcript.model import Transcript, Word
from chunky.transcript.timecode import RATES, frames_to_timecode, seconds_to_frames, timecode_to_frames

TEXT = ("Well, I think the most important thing about the project is that we started early. We had a plan, "
        "and the plan worked because everyone in the team knew what to do. Then the storm came in the middle "
        "of the night & the whole camp was flooded, so we moved to the village on the other side of the "
        "river. 2 days later John Smith, who led the second group, said it was the hardest week of his life. "
        "But we finished the film in time for the festival in Berlin.")
TIMINGS = [("25", "01:00:00:00"), ("23.976", None), ("24", "00:59:58:00"), ("29.97ndf", "10:00:00:00"),
           ("29.97", "00:59:59;00"), ("59.94", "01:00:00;00"), ("50", None), ("60", "23:00:00:00")]


def interview(speakers: bool = False, repeat: int = 3) -> Transcript:
    """A few minutes of speech with sentence pauses (and, with ``speakers``, two people taking turns)."""
    words, t = [], 0.4
    for r in range(repeat):
        for k, token in enumerate(TEXT.split()):
            length = 0.05 * len(token) + 0.08
            who = ("Ann" if (k // 25) % 2 == 0 else "Bob") if speakers else None
            words.append(Word(token, round(t, 3), round(t + length, 3), 0.9, who))
            t += length + (0.9 if token.endswith(".") else 0.12)
        t += 2.5 * (r + 1)  # a long pause between the takes: new paragraphs
    return build_transcript(words, t + 2.0, "test-model", "/recordings/the interview.mov")


def frame_tolerance(label: str) -> float:
    return 1.0 / RATES[label].fps + 1e-6


@pytest.fixture(params=TIMINGS, ids=[f"{r}@{s}" for r, s in TIMINGS])
def timing(request):
    return request.param


# --- ASS ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("karaoke", [False, True])
def test_ass_read_back_by_pysubs2(karaoke):
    t = interview(speakers=True)
    for w in t.words:
        if w.speaker == "Bob":
            w.speaker = "Smith, Bob"  # a comma in the Name field
    doc = render(t, ExportOptions(start_timecode="01:00:00:00", karaoke=karaoke))
    subs = pysubs2.SSAFile.from_string(get_writer("ass").format(doc), format_="ass")
    assert subs.info["PlayResX"] == "1920" and "Default" in subs.styles
    assert len(subs) == len(doc.cues)
    for event, cue in zip(subs, doc.cues, strict=True):
        assert event.plaintext == "\n".join(cue.lines)
        assert abs(event.start - (cue.start + 3600) * 1000) <= 10  # centiseconds
        assert abs(event.end - (cue.end + 3600) * 1000) <= 10
        assert event.name == (cue.speaker or "").replace(",", " ")
        if karaoke:
            ks = [int(k) for k in re.findall(r"\\k(\d+)", event.text)]
            assert len(ks) == len(cue.words)
            assert sum(ks) == round(event.duration / 10)  # the words fill the cue's time exactly
            assert abs(ks[0] - round(((cue.words[1].start if len(cue.words) > 1 else cue.end)
                                      - cue.words[0].start) * 100)) <= 2


# --- TTML --------------------------------------------------------------------------------------------


def test_ttml_read_back_by_pycaption(timing):
    fps, start = timing
    doc = render(interview(speakers=True), ExportOptions(fps=fps, start_timecode=start))
    text = get_writer("ttml").format(doc)
    assert pycaption.DFXPReader().detect(text)
    captions = pycaption.DFXPReader().read(text)
    [lang] = captions.get_languages()
    caps = captions.get_captions(lang)
    offset = doc.timing.clock_offset
    assert len(caps) == len(doc.cues)
    for cap, cue in zip(caps, doc.cues, strict=True):
        assert cap.get_text() == "\n".join(cue.lines)
        assert abs(cap.start / 1e6 - (cue.start + offset)) <= 0.001
        assert abs(cap.end / 1e6 - (cue.end + offset)) <= 0.001
    root = ET.fromstring(text)
    agents = root.findall(".//{http://www.w3.org/ns/ttml#metadata}agent")
    assert sorted(a.find("{http://www.w3.org/ns/ttml#metadata}name").text for a in agents) == ["Ann", "Bob"]


# --- EDL ---------------------------------------------------------------------------------------------


def test_cmx_edl_read_back_by_opentimelineio(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(), ExportOptions(fps=fps, start_timecode=start))
    text = get_writer("edl").format(doc)
    assert ("FCM: DROP FRAME" in text) == rate.drop_frame
    timeline = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=rate.fps)
    track = timeline.tracks[0]  # "AA": the same events on A1 and A2
    clips = list(track.find_clips())
    spans = frame_spans(doc, doc.markers)
    assert len(clips) == len(spans) == len(doc.paragraphs) > 2
    rec_start = timecode_to_frames(doc.timing.start_timecode, rate)
    for clip, span, para in zip(clips, spans, doc.paragraphs, strict=True):
        # The event sits where the paragraph is on the timeline (the start timecode included); OTIO keeps
        # the first record timecode as the track's (negative) start.
        rec = track.range_of_child(clip).start_time - track.source_range.start_time
        assert rec.to_frames() == rec_start + span.start
        assert abs(span.start - seconds_to_frames(para.start, rate)) <= 1
        assert clip.name == "the interview.mov"
        if rate.drop_frame:  # OTIO reads locators with ':' only; the text is still there
            assert f"* LOC: {frames_to_timecode(rec_start + span.start, rate)}" in text
        else:
            [marker] = clip.markers
            assert marker.name == para.text
            assert marker.marked_range.start_time.to_frames() == rec_start + span.start
    assert track.duration().to_frames() == spans[-1].end - spans[0].start


def test_cmx_edl_marks_speaker_turns_in_colours():
    doc = render(interview(speakers=True), ExportOptions(fps="25", markers="speaker"))
    timeline = otio.adapters.read_from_string(get_writer("edl").format(doc), adapter_name="cmx_3600", rate=25)
    markers = [m for clip in timeline.tracks[0].find_clips() for m in clip.markers]
    assert len(markers) == len(doc.markers) > 3
    assert {m.name.split(":")[0] for m in markers} == {"Ann", "Bob"}
    assert {m.color for m in markers} == {"YELLOW", "CYAN"}
    for a, b in zip(markers, markers[1:], strict=False):
        assert a.name.split(":")[0] != b.name.split(":")[0]  # turns alternate


def test_resolve_marker_edl_read_back_by_opentimelineio(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(), ExportOptions(fps=fps, start_timecode=start, markers="cue"))
    text = get_writer("resolve-edl").format(doc)
    timeline = otio.adapters.read_from_string(text, adapter_name="cmx_3600", rate=rate.fps)
    clips = list(timeline.tracks[0].find_clips())
    spans = frame_spans(doc, doc.markers)
    assert len(clips) == len(spans) == len(doc.cues)
    marker = re.compile(r"^(.*?) ?\|C:ResolveColor(\w+) \|M:(.*) \|D:(\d+)$")
    for clip, span in zip(clips, spans, strict=True):
        assert clip.duration().to_frames() == 1  # a one-frame event per marker, as Resolve writes
        [comment] = clip.metadata["cmx_3600"]["comments"]
        note, colour, name, duration = marker.match(comment).groups()
        assert colour == "Blue" and int(duration) == max(1, span.duration)
        assert (note or name) == span.text if not span.text[0].isdigit() else name == span.text
        track = timeline.tracks[0]
        rec = track.range_of_child(clip).start_time - track.source_range.start_time
        assert rec.to_frames() == doc.timing.start_frames + span.start
    assert any(re.match(r"^ \|C:ResolveColor\w+ \|M:2 days", line) for line in text.splitlines())


# --- FCPXML ------------------------------------------------------------------------------------------


def test_fcpxml_markers_read_back_by_opentimelineio(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(), ExportOptions(fps=fps, start_timecode=start, fcpxml="markers", markers="cue"))
    text = get_writer("fcpxml").format(doc)
    [timeline] = otio.adapters.read_from_string(text, adapter_name="fcpx_xml")
    [clip] = list(timeline.find_clips())
    spans = frame_spans(doc, doc.markers)
    assert len(clip.markers) == len(spans) == len(doc.cues)
    # The adapter counts frames at the whole-number rate below the real one (29 for 29.97): one of its
    # frames is the tolerance, and its own rounding down another.
    tolerance = 2.0 / int(rate.fps)
    origin = clip.source_range.start_time.to_seconds()
    for marker, cue in zip(clip.markers, doc.cues, strict=True):
        assert marker.name == cue.text
        assert abs(marker.marked_range.start_time.to_seconds() - origin - cue.start) <= tolerance
    root = ET.fromstring(text)
    sequence = root.find("./library/event/project/sequence")
    assert sequence.get("tcFormat") == ("DF" if rate.drop_frame else "NDF")
    assert Fraction(sequence.get("tcStart")[:-1]) == Fraction(doc.timing.start_frames * rate.denominator,
                                                             rate.numerator)
    assert root.find("./resources/format").get("frameDuration") == (
        f"{rate.denominator}/{rate.numerator}s" if rate.denominator > 1 else f"1/{rate.numerator}s")


def test_fcpxml_captions_parse_and_match_the_cues(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(), ExportOptions(fps=fps, start_timecode=start, fcpxml="captions"))
    text = get_writer("fcpxml").format(doc)
    [timeline] = otio.adapters.read_from_string(text, adapter_name="fcpx_xml")  # the timeline itself
    [clip] = list(timeline.find_clips())
    assert clip.name == "the interview"
    # OTIO does not read captions: their times and texts are checked with the XML parser.
    root = ET.fromstring(text)
    captions = root.findall(".//asset-clip/caption")
    assert len(captions) == len(doc.cues)
    frame = Fraction(rate.denominator, rate.numerator)
    for cap, cue in zip(captions, doc.cues, strict=True):
        offset = Fraction(cap.get("offset")[:-1]) / frame
        duration = Fraction(cap.get("duration")[:-1]) / frame
        assert offset.denominator == 1 and duration.denominator == 1  # whole frames
        assert abs(float(offset) - cue.start * rate.fps) <= 1 and duration >= 1
        assert cap.get("role").startswith("iTT") and cap.get("lane") == "1"
        assert cap.find("./text/text-style").text == "\n".join(cue.lines)


# --- FCP7 XML ----------------------------------------------------------------------------------------


def test_xmeml_markers_read_back_by_opentimelineio(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(speakers=True), ExportOptions(fps=fps, start_timecode=start, markers="speaker"))
    text = get_writer("xmeml").format(doc)
    timeline = otio.adapters.read_from_string(text, adapter_name="fcp_xml")
    markers = list(timeline.tracks.markers)
    assert len(markers) == len(doc.markers) > 3
    for marker, turn in zip(markers, doc.markers, strict=True):
        assert marker.name == f"{turn.speaker}: {turn.text}"
        assert abs(marker.marked_range.start_time.to_seconds() - turn.start) <= frame_tolerance(fps)
    assert timeline.tracks.duration().to_frames() >= seconds_to_frames(doc.transcript.duration, rate) - 1
    [clip] = list(timeline.find_clips())
    assert clip.name == "the interview.mov"
    assert clip.media_reference.target_url == "file:///recordings/the%20interview.mov"


# --- Avid SubCap -------------------------------------------------------------------------------------


def read_subcap(text: str) -> list[tuple[str, str, list[str]]]:
    """Avid SubCap as Avid's sample shows it: a header line starting with '@', '<begin subtitles>', per
    title a line 'HH:MM:SS:FF HH:MM:SS:FF' (one space) and its text lines, a blank line between titles,
    '<end subtitles>'."""
    lines = text.splitlines()
    assert lines[0].startswith("@ This file written with the Avid Caption plugin")
    begin, end = lines.index("<begin subtitles>"), lines.index("<end subtitles>")
    titles, current = [], None
    for line in lines[begin + 1 : end]:
        m = re.fullmatch(r"(\d\d:\d\d:\d\d:\d\d) (\d\d:\d\d:\d\d:\d\d)", line)
        if m:
            current = (m.group(1), m.group(2), [])
            titles.append(current)
        elif line.strip():
            assert current is not None, line
            current[2].append(line)
    return titles


def test_avid_subcap_follows_the_published_sample(timing):
    fps, start = timing
    rate = RATES[fps]
    doc = render(interview(), ExportOptions(fps=fps, start_timecode=start))
    titles = read_subcap(get_writer("avid").format(doc))
    assert len(titles) == len(doc.cues)
    previous_out = -1
    for (tc_in, tc_out, lines), cue in zip(titles, doc.cues, strict=True):
        assert lines == cue.lines
        f_in = timecode_to_frames(tc_in, rate)  # ':' before the frames at drop-frame rates too
        f_out = timecode_to_frames(tc_out, rate)
        assert f_in >= previous_out  # no overlaps: SubCap stops at the first
        assert f_out > f_in
        assert abs(f_in - doc.timing.frame_of(cue.start)) <= 1
        previous_out = f_out


# --- Audacity, DOCX ----------------------------------------------------------------------------------


def test_audacity_labels_read_by_the_csv_module():
    doc = render(interview(), ExportOptions(start_timecode="01:00:00:00"))
    rows = list(csv.reader(io.StringIO(get_writer("audacity").format(doc)), delimiter="\t"))
    assert len(rows) == len(doc.cues)
    for (start, end, label), cue in zip(rows, doc.cues, strict=True):
        assert float(start) == pytest.approx(cue.start, abs=1e-6)  # the audio's own time: no offset
        assert float(end) == pytest.approx(cue.end, abs=1e-6) and label == cue.text


def test_docx_read_back_by_python_docx():
    doc = render(interview(speakers=True), ExportOptions(fps="25", start_timecode="01:00:00:00"))
    document = docx.Document(io.BytesIO(get_writer("docx").format(doc)))
    paragraphs = [p for p in document.paragraphs if re.match(r"\d\d:\d\d:\d\d:\d\d\t", p.text)]
    assert document.paragraphs[0].text == document.core_properties.title == "the interview"
    assert "25 fps, starting at 01:00:00:00" in document.paragraphs[1].text
    assert len(paragraphs) == len(doc.paragraphs)
    for p, para in zip(paragraphs, doc.paragraphs, strict=True):
        stamp, body = p.text.split("\t", 1)
        assert stamp == doc.timing.timecode_of(para.start)
        assert body == f"{para.speaker}: {para.text}"
        assert p.runs[0].bold and p.runs[1].bold and not p.runs[2].bold


# --- every format ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["ass", "ttml", "edl", "resolve-edl", "fcpxml", "xmeml", "avid", "audacity",
                                  "docx"])
def test_empty_and_one_word_transcripts(name):
    writer = get_writer(name)
    for t in (build_transcript([], 5.0), build_transcript([Word("Hi", 0.2, 0.4)], 1.0),
              build_transcript([], 30.0, text="no timestamps here")):
        for rules in (PRESETS["streaming"], PRESETS["word"]):
            out = writer.format(render(t, ExportOptions(rules=rules, fps="29.97")))
            text = docx_text(out) if name == "docx" else out
            if t.text:
                assert t.text.split()[0] in text
            else:
                assert "Hi" not in text


def docx_text(data: bytes) -> str:
    return "\n".join(p.text for p in docx.Document(io.BytesIO(data)).paragraphs)
