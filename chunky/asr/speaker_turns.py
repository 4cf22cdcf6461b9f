"""From a diarization model's speaker activity (one probability per frame and speaker slot) to speaker turns.

numpy only (no torch): the binarization and filtering rules are NeMo's diarization post-processing
(``nemo.collections.asr.parts.utils.vad_utils``: ``binarization`` then ``filtering``, short speech
removed first) with the same parameter names, so the values NVIDIA tuned for its models apply unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chunky.transcript.speakers import SpeakerTurn

SPEAKER_NAME = "Speaker {n}"  # speakers are named in the order they first speak


@dataclass(frozen=True)
class TurnRules:
    """NeMo's ``PostProcessingParams``: thresholds and durations in seconds."""

    onset: float = 0.5  # a turn starts where the probability rises above this
    offset: float = 0.5  # ... and ends where it falls below this
    pad_onset: float = 0.0  # seconds added before each turn
    pad_offset: float = 0.0  # seconds added after each turn
    min_duration_on: float = 0.0  # turns shorter than this are dropped
    min_duration_off: float = 0.0  # pauses shorter than this within one speaker's speech are filled

    def __post_init__(self) -> None:
        for name in ("onset", "offset"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must lie between 0 and 1, not {value}")
        for name in ("pad_onset", "pad_offset", "min_duration_on", "min_duration_off"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")


def activity_segments(probs: np.ndarray, frame_seconds: float,
                      rules: TurnRules | None = None) -> list[tuple[float, float]]:
    """(start, end) in seconds of the stretches where one speaker slot is active."""
    rules = rules or TurnRules()
    p = np.asarray(probs, dtype=np.float64).reshape(-1)
    raw: list[tuple[float, float]] = []
    speaking, start = False, 0
    for i, value in enumerate(p):
        if speaking and value < rules.offset:
            raw.append((start * frame_seconds, i * frame_seconds))
            speaking = False
        elif not speaking and value > rules.onset:
            start, speaking = i, True
    if speaking:
        raw.append((start * frame_seconds, len(p) * frame_seconds))
    padded = [(max(0.0, a - rules.pad_onset), b + rules.pad_offset) for a, b in raw]
    segments = [s for s in _merge(padded) if s[1] > s[0]]
    if rules.min_duration_on > 0:
        segments = [s for s in segments if s[1] - s[0] >= rules.min_duration_on]
    if rules.min_duration_off > 0 and segments:
        filled = [segments[0]]
        for a, b in segments[1:]:
            if a - filled[-1][1] < rules.min_duration_off:
                filled[-1] = (filled[-1][0], max(filled[-1][1], b))
            else:
                filled.append((a, b))
        segments = filled
    return segments


def _merge(segments: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for a, b in sorted(segments):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def keep_speakers(probs: np.ndarray, count: int, threshold: float = 0.5) -> np.ndarray:
    """The activity of the ``count`` busiest speaker slots; every other slot is merged into the kept slot
    that is most active while it speaks (the model's second guess for that voice).

    ``probs``: (frames, slots). Returns (frames, min(count, slots)), slots in their original order.
    """
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"speaker activity must be (frames, speakers), not shape {p.shape}")
    if count < 1:
        raise ValueError(f"the number of speakers must be at least 1, not {count}")
    slots = p.shape[1]
    if count >= slots:
        return p.copy()
    busy = (p > threshold).sum(axis=0)
    order = sorted(range(slots), key=lambda k: (-int(busy[k]), k))
    kept = sorted(order[:count])
    out = p[:, kept].copy()
    for d in order[count:]:
        speaking = p[:, d] > threshold
        if not speaking.any():
            continue
        target = int(np.argmax(p[speaking][:, kept].sum(axis=0)))
        out[:, target] = np.maximum(out[:, target], p[:, d])
    return out


def turns_from_activity(probs: np.ndarray, frame_seconds: float, rules: TurnRules | None = None, *,
                        num_speakers: int | None = None, offset: float = 0.0) -> list[SpeakerTurn]:
    """Speaker turns from (frames, slots) activity, speakers named "Speaker 1", "Speaker 2", ... in the
    order they first speak. ``num_speakers``: keep only that many (see :func:`keep_speakers`);
    ``offset``: seconds added to every time."""
    p = np.asarray(probs, dtype=np.float32)
    if p.ndim != 2:
        raise ValueError(f"speaker activity must be (frames, speakers), not shape {p.shape}")
    if num_speakers is not None:
        p = keep_speakers(p, num_speakers)
    per_slot = [activity_segments(p[:, k], frame_seconds, rules) for k in range(p.shape[1])]
    firsts = sorted((segs[0][0], k) for k, segs in enumerate(per_slot) if segs)
    names = {k: SPEAKER_NAME.format(n=n) for n, (_, k) in enumerate(firsts, start=1)}
    turns = [SpeakerTurn(a + offset, b + offset, names[k])
             for k, segs in enumerate(per_slot) for a, b in segs]
    return sorted(turns, key=lambda t: (t.start, t.end, t.speaker))
