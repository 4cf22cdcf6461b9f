"""How loud a recording is between two times: the per-word level that decides which microphone a word
picked up by several of them belongs to (:func:`chunky.transcript.speakers.merge_tracks`). numpy only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SILENCE_DB = -120.0  # the level of digital silence (and of an empty span)


def level_db(samples: np.ndarray, rate: int, start: float, end: float) -> float:
    """RMS level in dB relative to full scale of ``samples`` between ``start`` and ``end`` seconds."""
    a = max(0, int(start * rate))
    b = min(len(samples), max(a + 1, int(np.ceil(end * rate))))
    if b <= a:
        return SILENCE_DB
    piece = np.asarray(samples[a:b], dtype=np.float64)
    rms = float(np.sqrt(np.mean(piece * piece)))
    return max(SILENCE_DB, 20.0 * np.log10(rms)) if rms > 0 else SILENCE_DB


def track_level(samples: np.ndarray, rate: int) -> Callable[[float, float], float]:
    """``level(start, end)`` of one track (one microphone: a stream or a channel)."""
    return lambda start, end: level_db(samples, rate, start, end)
