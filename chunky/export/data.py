"""Data: JSON (every word with its times) and CSV (one row per segment).

JSON schema (``transcript.to_dict()``; times in seconds, rounded to the millisecond)::

    {
      "text": "Hello world. How are you?",
      "duration": 12.5,                 # of the recording
      "model": "parakeet-tdt-0.6b-v2",
      "source": "/abs/path/talk.wav",
      "segments": [                     # subtitle cues, as in the SRT/VTT files
        {"start": 0.32, "end": 1.1, "text": "Hello world.",
         "words": [{"word": "Hello", "start": 0.32, "end": 0.6}, ...]},
        ...
      ],
      "words": [                        # every word; "confidence" only when the model gives one
        {"word": "Hello", "start": 0.32, "end": 0.6, "confidence": 0.97}, ...
      ]
    }

A model without timestamps gives ``"words": []`` and one segment spanning the whole recording.
"""

from __future__ import annotations

import csv
import io
import json

from chunky.export.base import Writer, spoken_segments, to_ms
from chunky.transcript.model import Transcript


class JsonWriter(Writer):
    """``transcript.to_dict()``, schema in this module's docstring and docs/output-formats.md."""

    name = "json"
    extension = "json"

    def format(self, transcript: Transcript) -> str:
        return json.dumps(transcript.to_dict(), ensure_ascii=False, indent=2) + "\n"


class CsvWriter(Writer):
    """``start,end,text``: one row per segment, times in seconds with three decimals."""

    name = "csv"
    extension = "csv"

    def format(self, transcript: Transcript) -> str:
        buf = io.StringIO()
        out = csv.writer(buf, lineterminator="\n")
        out.writerow(["start", "end", "text"])
        for seg in spoken_segments(transcript):
            start = to_ms(seg.start)
            end = max(start, to_ms(seg.end))
            out.writerow([f"{start / 1000:.3f}", f"{end / 1000:.3f}", seg.text])
        return buf.getvalue()
