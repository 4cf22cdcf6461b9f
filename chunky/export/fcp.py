"""Final Cut Pro timelines: FCPXML (Final Cut Pro 10.5+, DaVinci Resolve) with captions or markers, and
FCP7 XML ("xmeml", what Premiere Pro imports) with sequence markers.

Both describe one timeline holding the recording from its first frame at the start timecode; every time is
a whole number of frames.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import PurePosixPath, PureWindowsPath
from xml.sax.saxutils import escape, quoteattr

from chunky.export.base import Document, Writer
from chunky.export.markers import frame_spans, one_line
from chunky.transcript.timecode import FrameRate, seconds_to_frames

FCPXML_VERSION = "1.9"


def file_url(source: str) -> str:
    """A file:// URL of the recording's path (Windows or POSIX), or "" when there is none."""
    if not source:
        return ""
    if len(source) > 2 and source[1] == ":" or source.startswith("\\\\"):
        return PureWindowsPath(source).as_uri()
    path = PurePosixPath(source)
    return path.as_uri() if path.is_absolute() else ""


def recording_frames(doc: Document) -> int:
    """The recording's length in whole frames (at least the end of its last cue)."""
    rate = doc.timing.rate
    frames = math.ceil(doc.transcript.duration * rate.numerator / rate.denominator - 1e-6)
    ends = [seconds_to_frames(c.end, rate) for c in doc.cues + doc.markers]
    return max([frames, 1, *ends])


def _rational(frames: int, rate: FrameRate) -> str:
    """``frames`` as FCPXML rational seconds (``1001/30000s``, ``3600s``)."""
    value = Fraction(frames * rate.denominator, rate.numerator)
    return f"{value.numerator}s" if value.denominator == 1 else f"{value.numerator}/{value.denominator}s"


def _format_name(rate: FrameRate) -> str:
    label = rate.label.removesuffix("ndf")
    digits = {"23.976": "2398", "29.97": "2997", "59.94": "5994"}.get(label, label)
    return f"FFVideoFormat1080p{digits}"


class FcpxmlWriter(Writer):
    """FCPXML 1.9: a library with one event and one project whose timeline holds the recording as an
    asset clip. Captions mode anchors one iTT caption per cue above the clip (Final Cut Pro shows them in
    its captions lane, role "iTT"); markers mode puts one marker per paragraph, speaker turn or cue on the
    clip."""

    name = "fcpxml"
    extension = "fcpxml"
    label = "Final Cut Pro XML (captions or markers)"

    def write(self, doc: Document) -> str:
        timing, rate = doc.timing, doc.timing.rate
        total = recording_frames(doc)
        has_video = "1" if (doc.transcript.media or {}).get("fps") else "0"
        tc_format = "DF" if rate.drop_frame else "NDF"
        title = doc.title
        url = file_url(doc.transcript.source)
        media_start = timing.media_frames

        def t(frames: int) -> str:
            return _rational(frames, rate)

        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            "<!DOCTYPE fcpxml>",
            f'<fcpxml version="{FCPXML_VERSION}">',
            "  <resources>",
            f'    <format id="r1" name="{_format_name(rate)}" frameDuration="{t(1)}" width="1920" '
            'height="1080"/>',
            f'    <asset id="r2" name={quoteattr(title)} start="{t(media_start)}" duration="{t(total)}" '
            f'hasVideo="{has_video}" hasAudio="1" format="r1" audioSources="1" audioChannels="2">',
        ]
        if url:
            out.append(f'      <media-rep kind="original-media" src={quoteattr(url)}/>')
        out += [
            "    </asset>",
            "  </resources>",
            "  <library>",
            '    <event name="Chunky">',
            f"      <project name={quoteattr(title)}>",
            f'        <sequence format="r1" duration="{t(total)}" tcStart="{t(timing.start_frames)}" '
            f'tcFormat="{tc_format}" audioLayout="stereo" audioRate="48k">',
            "          <spine>",
            f'            <asset-clip ref="r2" name={quoteattr(title)} offset="{t(timing.start_frames)}" '
            f'start="{t(media_start)}" duration="{t(total)}" tcFormat="{tc_format}">',
        ]
        if doc.options.fcpxml == "markers":
            for span in frame_spans(doc, doc.markers):
                text = one_line(f"{span.speaker}: {span.text}" if span.speaker else span.text)
                out.append(f'              <marker start="{t(media_start + span.start)}" '
                           f'duration="{t(max(1, span.duration))}" value={quoteattr(text)}/>')
        else:
            for k, span in enumerate(frame_spans(doc, doc.cues), 1):
                text = "&#10;".join(escape(line) for line in span.lines)
                out += [
                    f'              <caption lane="1" offset="{t(media_start + span.start)}" '
                    f'name={quoteattr(one_line(span.text)[:80])} start="3600s" duration="{t(span.duration)}" '
                    'role="iTT?captionFormat=ITT.en">',
                    f'                <text placement="bottom"><text-style ref="ts{k}">{text}</text-style>'
                    "</text>",
                    f'                <text-style-def id="ts{k}"><text-style font=".AppleSystemUIFont" '
                    'fontSize="13" fontFace="Regular" fontColor="1 1 1 1" backgroundColor="0 0 0 1"/>'
                    "</text-style-def>",
                    "              </caption>",
                ]
        out += [
            "            </asset-clip>",
            "          </spine>",
            "        </sequence>",
            "      </project>",
            "    </event>",
            "  </library>",
            "</fcpxml>",
            "",
        ]
        return "\n".join(out)


class XmemlWriter(Writer):
    """FCP7 XML (xmeml version 4), as Premiere Pro imports it: one sequence with the recording on an
    audio track and one sequence marker per paragraph/speaker turn/cue (in/out in frames, the text as the
    marker's name and comment)."""

    name = "xmeml"
    extension = "xml"
    label = "FCP7 XML markers for Premiere Pro"

    def write(self, doc: Document) -> str:
        timing, rate = doc.timing, doc.timing.rate
        total = recording_frames(doc)
        ntsc = "TRUE" if rate.ntsc else "FALSE"
        rate_xml = f"<rate><timebase>{rate.nominal}</timebase><ntsc>{ntsc}</ntsc></rate>"
        display = "DF" if rate.drop_frame else "NDF"
        title = escape(doc.title)
        name = escape(doc.source_name or doc.title)
        url = file_url(doc.transcript.source)
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            "<!DOCTYPE xmeml>",
            '<xmeml version="4">',
            '  <sequence id="sequence-1">',
            f"    <name>{title}</name>",
            f"    <duration>{total}</duration>",
            f"    {rate_xml}",
            f"    <timecode>{rate_xml}<string>{timing.start_timecode}</string><frame>{timing.start_frames}"
            f"</frame><displayformat>{display}</displayformat></timecode>",
            "    <media>",
            "      <video><format><samplecharacteristics>"
            f"{rate_xml}<width>1920</width><height>1080</height>"
            "</samplecharacteristics></format><track/></video>",
            "      <audio>",
            "        <track>",
            '          <clipitem id="clipitem-1">',
            f"            <name>{name}</name>",
            f"            <duration>{total}</duration>",
            f"            {rate_xml}",
            f"            <start>0</start><end>{total}</end><in>0</in><out>{total}</out>",
            '            <file id="file-1">',
            f"              <name>{name}</name>",
        ]
        if url:
            out.append(f"              <pathurl>{escape(url)}</pathurl>")
        out += [
            f"              {rate_xml}",
            f"              <duration>{total}</duration>",
            f"              <timecode>{rate_xml}<string>{timing.media_timecode}</string>"
            f"<frame>{timing.media_frames}</frame><displayformat>{display}</displayformat></timecode>",
            "              <media><audio><channelcount>2</channelcount></audio></media>",
            "            </file>",
            "            <sourcetrack><mediatype>audio</mediatype><trackindex>1</trackindex></sourcetrack>",
            "          </clipitem>",
            "        </track>",
            "      </audio>",
            "    </media>",
        ]
        for span in frame_spans(doc, doc.markers):
            text = escape(one_line(f"{span.speaker}: {span.text}" if span.speaker else span.text))
            out += [
                "    <marker>",
                f"      <name>{text}</name>",
                f"      <comment>{text}</comment>",
                f"      <in>{span.start}</in>",
                f"      <out>{max(span.end, span.start + 1)}</out>",
                "    </marker>",
            ]
        out += ["  </sequence>", "</xmeml>", ""]
        return "\n".join(out)
