"""Avid Media Composer's SubCap caption text (what the SubCap effect imports and exports)."""

from __future__ import annotations

from chunky.export.base import Document, Writer
from chunky.export.markers import frame_spans
from chunky.transcript.timecode import frames_to_timecode

HEADER = "@ This file written with the Avid Caption plugin, version 1"


class AvidSubCapWriter(Writer):
    """The header line, ``<begin subtitles>``, then per cue ``HH:MM:SS:FF HH:MM:SS:FF`` (in and out at the
    timeline's timecode, one space between) and its lines, a blank line between cues, ``<end subtitles>``.
    Cues never overlap (SubCap stops importing at the first overlap). Timecodes are written with ``:``
    only, drop-frame ones too (SubCap's own files do)."""

    name = "avid"
    extension = "avid.txt"
    label = "Avid SubCap captions"

    def write(self, doc: Document) -> str:
        timing, rate = doc.timing, doc.timing.rate
        out = [HEADER, "", "<begin subtitles>", ""]
        for span in frame_spans(doc, doc.cues):
            tc_in = frames_to_timecode(timing.start_frames + span.start, rate).replace(";", ":")
            tc_out = frames_to_timecode(timing.start_frames + span.end, rate).replace(";", ":")
            out.append(f"{tc_in} {tc_out}")
            out += span.lines
            out.append("")
        out.append("<end subtitles>")
        return "\n".join(out) + "\n"
