"""Edit decision lists (CMX 3600): one event per marker for Avid, Premiere and Resolve, and DaVinci
Resolve's own timeline-marker EDL.

Timecodes are the timeline's (start timecode + time in the recording) for the record side and the
recording's own for the source side; drop-frame timecode is written with ``;`` before the frames and
``FCM: DROP FRAME`` in the header.
"""

from __future__ import annotations

import re

from chunky.export.base import Document, Writer
from chunky.export.markers import frame_spans, one_line, speaker_index
from chunky.transcript.timecode import frames_to_timecode

# Avid locator colours (the CMX 3600 "* LOC:" comment), by speaker.
LOCATOR_COLOURS = ("YELLOW", "CYAN", "GREEN", "MAGENTA", "BLUE", "RED", "WHITE", "BLACK")
# DaVinci Resolve's marker colours, by speaker.
RESOLVE_COLOURS = ("Blue", "Cyan", "Green", "Yellow", "Red", "Pink", "Purple", "Fuchsia", "Rose", "Lavender",
                   "Sky", "Mint", "Lemon", "Sand", "Cocoa", "Cream")


def _header(doc: Document) -> list[str]:
    drop = "DROP FRAME" if doc.timing.rate.drop_frame else "NON-DROP FRAME"
    return [f"TITLE: {_edl_text(doc.title)[:70]}", f"FCM: {drop}", ""]


def reel_name(name: str) -> str:
    """An 8-character CMX reel name from a file name ("AX" when nothing is left)."""
    stem = name.rsplit(".", 1)[0]
    reel = re.sub(r"[^A-Za-z0-9_]", "", stem.replace(" ", "_")).upper()[:8]
    return reel or "AX"


def _edl_text(text: str) -> str:
    """EDL comments are plain ASCII-safe single lines in most readers."""
    return one_line(text)


class EdlWriter(Writer):
    """CMX 3600: an event per marker (a cut of the recording over the marker's span, so the EDL also
    imports as a sequence of the spoken parts), the recording's name in ``* FROM CLIP NAME:``, and the
    marker text in an Avid locator ``* LOC: <timecode> <colour> <text>`` at the event's start."""

    name = "edl"
    extension = "edl"
    label = "CMX 3600 EDL with a locator per marker"

    def write(self, doc: Document) -> str:
        timing, rate = doc.timing, doc.timing.rate
        colours = speaker_index(doc)
        reel = reel_name(doc.source_name)
        channels = "AA/V" if (doc.transcript.media or {}).get("fps") else "AA"  # a video, or audio only
        lines = _header(doc)
        for number, span in enumerate(frame_spans(doc, doc.markers), 1):
            src_in = frames_to_timecode(timing.media_frames + span.start, rate)
            src_out = frames_to_timecode(timing.media_frames + span.end, rate)
            rec_in = frames_to_timecode(timing.start_frames + span.start, rate)
            rec_out = frames_to_timecode(timing.start_frames + span.end, rate)
            # Event numbers past 999 (beyond CMX 3600's three digits) simply grow; readers take them.
            lines.append(f"{number:03d}  {reel:<8} {channels:<5} C        "
                         f"{src_in} {src_out} {rec_in} {rec_out}")
            if doc.source_name:
                lines.append(f"* FROM CLIP NAME: {_edl_text(doc.source_name)}")
            colour = LOCATOR_COLOURS[colours.get(span.speaker, 0) % len(LOCATOR_COLOURS)]
            who = f"{_edl_text(span.speaker)}: " if span.speaker else ""
            lines.append(f"* LOC: {rec_in} {colour:<7} {who}{_edl_text(span.text)}")
            lines.append("")
        return "\n".join(lines) + "\n"


class ResolveEdlWriter(Writer):
    """DaVinci Resolve's timeline markers EDL (what Resolve writes with Timelines > Export > Timeline
    Markers to EDL, and reads with Timelines > Import > Timeline Markers from EDL): a one-frame event per
    marker at the timeline's timecode and under it ``<note> |C:ResolveColor<colour> |M:<name> |D:<frames>``.
    The note is the marker's text, the name its first words. A note that begins with a digit would read as
    an event line, so such a marker is written with the tags first and the text as its name."""

    name = "resolve-edl"
    extension = "resolve.edl"
    label = "DaVinci Resolve timeline markers (EDL)"
    NAME_CHARS = 40

    def write(self, doc: Document) -> str:
        timing, rate = doc.timing, doc.timing.rate
        colours = speaker_index(doc)
        lines = _header(doc)
        for number, span in enumerate(frame_spans(doc, doc.markers), 1):
            rec_in = frames_to_timecode(timing.start_frames + span.start, rate)
            rec_out = frames_to_timecode(timing.start_frames + span.start + 1, rate)
            lines.append(f"{number:03d}  001      V     C        {rec_in} {rec_out} {rec_in} {rec_out}  ")
            colour = RESOLVE_COLOURS[colours.get(span.speaker, 0) % len(RESOLVE_COLOURS)]
            text = _edl_text(f"{span.speaker}: {span.text}" if span.speaker else span.text)
            duration = max(1, span.duration)
            if text[:1].isdigit():
                lines.append(f" |C:ResolveColor{colour} |M:{text} |D:{duration}")
            else:
                name = _short(text, self.NAME_CHARS)
                lines.append(f"{text} |C:ResolveColor{colour} |M:{name} |D:{duration}")
            lines.append("")
        return "\n".join(lines) + "\n"


def _short(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] or text[:limit]
    return cut + "…"
