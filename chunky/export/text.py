"""Plain text."""

from __future__ import annotations

from chunky.export.base import Writer
from chunky.transcript.model import Transcript


class TxtWriter(Writer):
    """The text, one segment (cue) per line."""

    name = "txt"
    extension = "txt"

    def format(self, transcript: Transcript) -> str:
        lines = [s.text for s in transcript.segments if s.text.strip()]
        if not lines and transcript.text.strip():
            lines = [transcript.text]
        return "".join(line + "\n" for line in lines)
