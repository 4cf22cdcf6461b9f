"""Pauses found by energy: silences of a recording measured against its own levels. numpy only.

The VAD (:mod:`chunky.audio.vad`) hears gaps between words under steady loud background that hides them
from energy; this finder is its fallback and what a quiet recording needs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# find_pauses: frames quieter than floor + THRESHOLD_FRACTION * (speech level - floor) are silent.
FLOOR_PERCENTILE = 5.0
SPEECH_PERCENTILE = 98.0
THRESHOLD_FRACTION = 0.3
MAX_RANGE_DB = 50.0  # the floor is taken no lower than this far below the speech level
MIN_RANGE_DB = 6.0  # a recording whose levels span less than this has no detectable pauses
SILENT_DBFS = -70.0  # a recording whose speech level is below this is silent throughout
BLIP_SECONDS = 0.05  # a sound this short between silent frames (a click) does not end a pause
BLOCK_FRAMES = 1 << 12  # frames measured per numpy block (bounds memory for hours of audio)


def _frame_levels(samples: np.ndarray, frame_len: int) -> np.ndarray:
    """Level of each whole frame in dBFS (DC removed); a last partial frame counts when over half full."""
    n = len(samples)
    n_frames = n // frame_len + (1 if n % frame_len > frame_len // 2 else 0)
    levels = np.empty(n_frames, dtype=np.float64)
    for first in range(0, n_frames, BLOCK_FRAMES):
        last = min(n_frames, first + BLOCK_FRAMES)
        block = np.asarray(samples[first * frame_len : last * frame_len], dtype=np.float64)
        whole = len(block) // frame_len
        if whole:
            frames = block[: whole * frame_len].reshape(whole, frame_len)
            levels[first : first + whole] = frames.var(axis=1)
        if first + whole < last:  # the partial last frame
            levels[first + whole] = block[whole * frame_len :].var()
    return 10.0 * np.log10(levels + 1e-12)


def find_pauses(
    samples: np.ndarray, sample_rate: int, min_pause: float = 0.3, frame: float = 0.02
) -> list[tuple[float, float]]:
    """Silences of at least ``min_pause`` seconds as ``(start, end)`` seconds, in order.

    Energy per ``frame`` seconds, against a threshold set by the recording's own levels: the floor is
    a low percentile of the frame levels (background noise, room tone), the speech level a high one,
    and frames below ``floor + 30% of the range`` are silent. So a constant noise floor or a quiet
    recording does not hide the pauses. Integer samples are scaled to [-1, 1]; several channels are
    averaged.
    """
    return energy_pauses(samples, sample_rate, min_pause, frame).pauses


@dataclass(frozen=True)
class EnergyPauses:
    """What :func:`energy_pauses` found."""

    pauses: list[tuple[float, float]]
    # Speech level minus floor level (dB) of the audio: how far the background lies under the speech.
    # math.inf when the audio is silent throughout (below SILENT_DBFS), 0.0 when it is empty.
    range_db: float


def energy_pauses(
    samples: np.ndarray, sample_rate: int, min_pause: float = 0.3, frame: float = 0.02
) -> EnergyPauses:
    """:func:`find_pauses`, and the level range the threshold came from."""
    x = np.asarray(samples)
    if x.ndim == 2:  # (samples, channels) as soundfile gives it, or (channels, samples)
        x = x.mean(axis=1 if x.shape[0] >= x.shape[1] else 0)
    if x.ndim != 1:
        raise ValueError(f"expected mono or (samples, channels) audio, got shape {np.shape(samples)}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    if sample_rate <= 0 or len(x) == 0:
        return EnergyPauses([], 0.0)
    frame_len = max(1, round(frame * sample_rate))
    return pauses_from_levels(_frame_levels(x, frame_len), frame_len / sample_rate, len(x) / sample_rate,
                              min_pause)


def pauses_from_levels(levels: np.ndarray, hop: float, duration: float,
                       min_pause: float = 0.3) -> EnergyPauses:
    """:func:`energy_pauses` from the frame levels (dBFS, one per ``hop`` seconds) of ``duration``
    seconds of audio."""
    if len(levels) == 0:
        return EnergyPauses([], 0.0)
    speech = float(np.percentile(levels, SPEECH_PERCENTILE))
    if speech < SILENT_DBFS:
        return EnergyPauses([(0.0, duration)] if duration >= min_pause else [], math.inf)
    floor = max(float(np.percentile(levels, FLOOR_PERCENTILE)), speech - MAX_RANGE_DB)
    if speech - floor < MIN_RANGE_DB:
        return EnergyPauses([], speech - floor)
    silent = levels < floor + THRESHOLD_FRACTION * (speech - floor)

    spans = runs(silent)
    blip = max(1, int(BLIP_SECONDS / hop))
    # Fill short sounds between two silent runs (clicks, breath bursts).
    for i in range(1, len(spans) - 1):
        value, a, b = spans[i]
        if not value and b - a <= blip:
            silent[a:b] = True
    pauses = []
    min_frames = min_pause / hop
    for value, a, b in runs(silent):
        if value and b - a >= min_frames - 1e-9:
            pauses.append((a * hop, min(duration, b * hop)))
    return EnergyPauses(pauses, speech - floor)


class FrameLevels:
    """The frame levels of a recording that arrives block by block, as :func:`find_pauses` measures them
    (frames of ``frame`` seconds from the recording's start), kept from a chosen frame on: a stretch of
    them gives :func:`pauses_from_levels` without measuring the samples again."""

    def __init__(self, sample_rate: int, frame: float = 0.02):
        from chunky.audio.buffer import SampleBuffer

        self.frame_len = max(1, round(frame * sample_rate))
        self.hop = self.frame_len / sample_rate
        self._levels = SampleBuffer(dtype=np.float64, capacity=4096)
        self._tail = np.zeros(0, np.float32)  # samples of the frame not complete yet

    @property
    def frames(self) -> int:
        """Frames measured so far."""
        return self._levels.end

    def add(self, block: np.ndarray) -> None:
        x = np.concatenate([self._tail, block]) if len(self._tail) else np.asarray(block)
        whole = len(x) // self.frame_len
        if whole:
            self._levels.append(_frame_levels(x[: whole * self.frame_len], self.frame_len))
        self._tail = x[whole * self.frame_len :].copy()

    def finish(self) -> None:
        """The recording ended: its last, partial frame counts when over half full."""
        if len(self._tail) > self.frame_len // 2:
            self._levels.append(_frame_levels(self._tail, self.frame_len))
        self._tail = self._tail[:0]

    def levels(self, first: int, last: int) -> np.ndarray:
        """Levels of frames ``[first, last)`` (read-only; valid until the next add or drop)."""
        return self._levels.view(first, last)

    def drop_before(self, frame: int) -> None:
        self._levels.drop_before(frame)


def runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    """(value, first, end) of each run of equal values."""
    if len(mask) == 0:
        return []
    change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(mask)]))
    return [(bool(mask[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
