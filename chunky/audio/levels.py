"""How loud a recording is between two times: the per-word level that decides which microphone a word
picked up by several of them belongs to (:func:`chunky.transcript.speakers.merge_tracks`). numpy only."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

SILENCE_DB = -120.0  # the level of digital silence (and of an empty span)
WINDOW = 0.05  # seconds: a word's level is that of its loudest 50 ms


def level_db(samples: np.ndarray, rate: int, start: float, end: float, window: float = WINDOW) -> float:
    """The level of ``samples`` between ``start`` and ``end`` seconds: the RMS of its loudest ``window``
    (dB relative to full scale). The loudest window, not the whole span, so that a word's level barely
    depends on how much silence its (never exact) timestamps include."""
    a = max(0, int(start * rate))
    b = min(len(samples), max(a + 1, int(np.ceil(end * rate))))
    if b <= a:
        return SILENCE_DB
    piece = np.asarray(samples[a:b], dtype=np.float64)
    width = max(1, min(len(piece), int(window * rate)))
    energy = np.concatenate([[0.0], np.cumsum(piece * piece)])
    loudest = float(np.max(energy[width:] - energy[:-width])) / width
    return max(SILENCE_DB, 10.0 * np.log10(loudest)) if loudest > 0 else SILENCE_DB


def track_level(samples: np.ndarray, rate: int) -> Callable[[float, float], float]:
    """``level(start, end)`` of one track (one microphone: a stream or a channel)."""
    return lambda start, end: level_db(samples, rate, start, end)
