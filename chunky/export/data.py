"""Data: JSON (every word with its times, confidence and speaker; schema in docs/output-formats.md), CSV
(one row per cue) and Audacity labels."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from chunky.export.base import Document, Writer, to_ms
from chunky.export.markers import one_line
from chunky.transcript.model import SCHEMA_VERSION, _t


def transcript_json(doc: Document) -> dict[str, Any]:
    """The JSON form of a document: ``Transcript.to_dict()`` with the segments being the cues laid out by
    the job's rules, one speaker each (:attr:`Document.segments`: display times; each with its lines and
    words), plus the rules and how many subtitle cues broke each (``layout``) and the timeline
    (``timecode``)."""
    d = doc.transcript.to_dict()
    assert d["schema_version"] == SCHEMA_VERSION
    layout = doc.cue_layout
    segments = []
    for cue in doc.segments:
        seg: dict[str, Any] = {"start": _t(cue.start), "end": _t(cue.end), "text": cue.text,
                               "lines": list(cue.lines)}
        if cue.speaker is not None:
            seg["speaker"] = cue.speaker
        seg["words"] = [w.to_dict() for w in cue.words]
        segments.append(seg)
    d["segments"] = segments
    timing = doc.timing
    d["timecode"] = {"fps": timing.rate.label, "start": timing.start_timecode,
                     "media_start": timing.media_timecode}
    d["layout"] = {
        "preset": layout.rules.preset,
        "rules": layout.rules.to_dict(),
        "broken": dict(layout.broken),
        "estimated": layout.estimated,
    }
    words = d.pop("words")
    d["words"] = words  # last: the longest part
    return d


class JsonWriter(Writer):
    """:func:`transcript_json`; read back with ``Transcript.from_dict``."""

    name = "json"
    extension = "json"
    label = "every word with times, confidence and speaker"

    def write(self, doc: Document) -> str:
        return json.dumps(transcript_json(doc), ensure_ascii=False, indent=2) + "\n"


class CsvWriter(Writer):
    """``start,end,start_timecode,end_timecode,speaker,text``: one row per cue of one speaker
    (:attr:`Document.segments`), times in seconds from the start of the recording with three decimals,
    timecodes on the timeline."""

    name = "csv"
    extension = "csv"
    label = "one row per cue"

    def write(self, doc: Document) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["start", "end", "start_timecode", "end_timecode", "speaker", "text"])
        for cue in doc.segments:
            start = to_ms(cue.start)
            end = max(start, to_ms(cue.end))
            out.writerow([f"{start / 1000:.3f}", f"{end / 1000:.3f}", doc.timing.timecode_of(cue.start),
                          doc.timing.timecode_of(cue.end), cue.speaker or "", cue.text])
        return buf.getvalue()


class AudacityWriter(Writer):
    """Audacity's label track (File > Import > Labels): ``start<TAB>end<TAB>text`` per cue of one speaker
    (:attr:`Document.segments`), seconds from the start of the audio (labels sit on the audio itself, so
    no start timecode is added)."""

    name = "audacity"
    extension = "labels.txt"
    label = "label track for Audacity"

    def write(self, doc: Document) -> str:
        rows = []
        for cue in doc.segments:
            start = cue.start
            end = max(start, cue.end)
            rows.append(f"{start:.6f}\t{end:.6f}\t{one_line(cue.text).replace(chr(9), ' ')}\n")
        return "".join(rows)
