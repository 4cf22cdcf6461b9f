"""TTML / DFXP (W3C Timed Text; the IMSC1 text profile's subset): broadcast, Premiere Pro, streaming
platforms. Times are media time in milliseconds, the start timecode's clock offset included, as in SRT."""

from __future__ import annotations

from xml.sax.saxutils import escape

from chunky.export.base import Document, Writer, format_ms
from chunky.export.subtitles import timed_cues

IMSC1_TEXT = "http://www.w3.org/ns/ttml/profile/imsc1/text"


class TtmlWriter(Writer):
    """One ``<p>`` per cue in a bottom region, lines joined by ``<br/>``; a cue's speaker (when known) is a
    ``ttm:agent`` of the head, referenced by the cue (in a dialogue cue of two speakers, each line is a
    ``<span>`` referencing its own speaker)."""

    name = "ttml"
    extension = "ttml"
    label = "DFXP subtitles for broadcast and platforms"

    def write(self, doc: Document) -> str:
        agents: dict[str, int] = {}
        for cue in doc.cues:
            for who in cue.line_speakers or (cue.speaker,):
                if who and who not in agents:
                    agents[who] = len(agents) + 1
        out = [
            '<?xml version="1.0" encoding="UTF-8"?>',
            '<tt xmlns="http://www.w3.org/ns/ttml" xmlns:ttp="http://www.w3.org/ns/ttml#parameter" '
            'xmlns:tts="http://www.w3.org/ns/ttml#styling" xmlns:ttm="http://www.w3.org/ns/ttml#metadata" '
            f'ttp:timeBase="media" ttp:profile="{IMSC1_TEXT}" xml:lang="en">',
            "  <head>",
            "    <metadata>",
            f"      <ttm:title>{escape(doc.title)}</ttm:title>",
            *[f'      <ttm:agent xml:id="speaker{n}" type="person"><ttm:name type="full">{escape(name)}'
              "</ttm:name></ttm:agent>" for name, n in agents.items()],
            "    </metadata>",
            "    <styling>",
            '      <style xml:id="s1" tts:color="white" tts:fontFamily="proportionalSansSerif" '
            'tts:fontSize="100%" tts:textAlign="center"/>',
            "    </styling>",
            "    <layout>",
            '      <region xml:id="bottom" tts:origin="10% 80%" tts:extent="80% 15%" '
            'tts:displayAlign="after" tts:textAlign="center"/>',
            "    </layout>",
            "  </head>",
            '  <body region="bottom" style="s1">',
            "    <div>",
        ]
        for number, (start, end, cue) in enumerate(timed_cues(doc), 1):
            agent = f' ttm:agent="speaker{agents[cue.speaker]}"' if cue.speaker else ""
            if cue.line_speakers:  # a dialogue cue: each line a span of its speaker
                text = "<br/>".join(f'<span ttm:agent="speaker{agents[who]}">{escape(line)}</span>'
                                    for who, line in zip(cue.line_speakers, cue.lines, strict=True))
            else:
                text = "<br/>".join(escape(line) for line in cue.lines)
            out.append(f'      <p xml:id="c{number}" begin="{format_ms(start)}" end="{format_ms(end)}"'
                       f"{agent}>{text}</p>")
        out += ["    </div>", "  </body>", "</tt>", ""]
        return "\n".join(out)
