"""Building the Transcript the engine returns: clean words, segments laid out by the layout rules.

Pure module: no torch, nemo or gradio. The rules themselves live in :mod:`chunky.transcript.layout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from chunky.transcript.layout import DEFAULT_PRESET, PRESETS, LayoutRules, clean_words, layout
from chunky.transcript.model import Segment, Transcript, Word


def build_transcript(
    words: Sequence[Word],
    duration: float,
    model: str = "",
    source: str = "",
    limits: LayoutRules | None = None,
    text: str | None = None,
) -> Transcript:
    """The one way the engine makes a Transcript.

    With words: they are cleaned (blank ones dropped, ``end >= start``, sorted by start) and laid out into
    segments by ``limits`` (the streaming preset by default; the outputs are laid out again with the job's
    own rules); ``text`` defaults to the words joined by spaces. Without words (a model that gives no
    timestamps), ``text`` is the transcript and forms one segment spanning the whole recording.
    """
    duration = max(0.0, float(duration))
    clean = clean_words(words)
    if clean:
        given = " ".join((text or "").split())
        full = given or " ".join(w.text for w in clean)
        # One speaker per segment: no dialogue cues here (the outputs get them, laid out again).
        rules = replace(limits or PRESETS[DEFAULT_PRESET], dialogue_dash="")
        segments = [c.to_segment() for c in layout(clean, rules, end_limit=duration or None).cues]
    else:
        full = " ".join((text or "").split())
        segments = [Segment(0.0, duration, full, [])] if full else []
    return Transcript(full, clean, segments, duration, model, source)
