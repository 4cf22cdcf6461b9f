"""How long a cue shows, and which timing rules it breaks: shared by the layout (chunky/transcript/layout.py)
and the dialogue cues (chunky/transcript/dialogue.py).

Pure module (standard library only).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from chunky.transcript.layout import LayoutRules

CLOSE_GAP = 0.5  # a gap shorter than this (seconds) is closed down to the minimum gap
EPS = 1e-6


def display_end(start: float, speech_end: float, chars: int, next_start: float, rules: LayoutRules,
                fps: float) -> float:
    """When a cue of ``chars`` characters, said from ``start`` to ``speech_end``, stops showing: at least
    until its speech ends and, where the next cue (at ``next_start``) leaves room, until it has been up
    for ``min_duration`` and long enough to be read at ``max_cps``, never beyond ``max_duration``."""
    want = max(speech_end, start + rules.min_duration)
    if rules.max_cps:
        want = max(want, start + chars / rules.max_cps)
    if rules.max_duration is not None:
        want = min(want, max(speech_end, start + rules.max_duration))
    cap = next_start - rules.min_gap(fps)
    if want < cap and cap - want < CLOSE_GAP and rules.min_gap_frames:
        want = cap  # close a short gap
    end = min(want, cap)
    if end <= start:  # the next cue starts (almost) at once: show this one a frame, or until the next
        end = min(next_start, start + 1.0 / fps if fps > 0 else start)
    return end


def timing_breaks(start: float, end: float, chars: int, rules: LayoutRules) -> list[str]:
    """The timing rules (``max_cps``, ``min_duration``, ``max_duration``) a cue of ``chars`` characters
    shown from ``start`` to ``end`` breaks."""
    d = end - start
    out = []
    if rules.max_cps and (d <= 0 or chars / d > rules.max_cps + EPS):
        out.append("max_cps")
    if d < rules.min_duration - EPS:
        out.append("min_duration")
    if rules.max_duration is not None and d > rules.max_duration + EPS:
        out.append("max_duration")
    return out
