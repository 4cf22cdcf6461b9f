"""How loud a recording is between two times: the per-word level that decides which microphone a word
picked up by several of them belongs to (:func:`chunky.transcript.speakers.merge_tracks`). numpy only."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

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


HOP = 0.005  # seconds: a LevelTrace keeps the energy of every 5 ms


class LevelTrace:
    """A track's level kept while it is decoded, without its samples: the energy of every ``HOP`` seconds
    (an hour of a track: 2.9 MB instead of 230 MB of samples). :meth:`level` is :func:`level_db` with the
    loudest window moved in steps of ``HOP`` instead of one sample: on speech within 1.5 dB of it over any
    span of 20 ms or more (a word's, ``speakers.MIN_WORD_SECONDS``; tests/test_speakers.py)."""

    def __init__(self, rate: int, hop: float = HOP) -> None:
        self.rate = int(rate)
        self.hop = max(1, round(hop * self.rate))  # samples per frame
        self._parts: list[np.ndarray] = []
        self._rest = np.empty(0, np.float64)
        self._frames: np.ndarray | None = None  # the parts joined, made on the first level()
        self.samples = 0  # samples seen

    def add(self, block: np.ndarray) -> None:
        """Take the next decoded block (no copy of it is made or kept: the energy is summed in place)."""
        b = np.asarray(block, dtype=np.float32)
        self.samples += len(b)
        i = 0
        if len(self._rest):  # complete the frame the last block left open
            i = min(len(b), self.hop - len(self._rest))
            self._rest = np.concatenate([self._rest, b[:i].astype(np.float64)])
            if len(self._rest) < self.hop:
                return
            self._parts.append(np.array([np.square(self._rest).sum()], np.float32))
            self._rest = np.empty(0, np.float64)
        n = (len(b) - i) // self.hop * self.hop
        if n:
            frames = b[i:i + n].reshape(-1, self.hop)
            self._parts.append(np.einsum("ij,ij->i", frames, frames, dtype=np.float64).astype(np.float32))
        self._rest = b[i + n:].astype(np.float64)
        self._frames = None

    def _energy(self) -> np.ndarray:
        if self._frames is None:
            parts = list(self._parts)
            if len(self._rest):  # the last, shorter frame
                parts.append(np.array([np.square(self._rest).sum()], np.float32))
            self._frames = np.concatenate(parts) if parts else np.empty(0, np.float32)
        return self._frames

    def level(self, start: float, end: float, window: float = WINDOW) -> float:
        """The level between ``start`` and ``end`` seconds (dB relative to full scale), as level_db: the
        RMS of the loudest ``window``, the frames at the span's edges counted for the part of them inside
        it (their energy taken as even within the frame)."""
        frames = self._energy()
        s = max(0.0, start * self.rate / self.hop)
        e = min(float(len(frames)), end * self.rate / self.hop)
        a = int(s)
        b = min(len(frames), max(a + 1, math.ceil(e)))
        if b <= a:
            return SILENCE_DB
        piece = frames[a:b].astype(np.float64)
        span = max(e - s, 1.0 / self.hop)  # frames inside the span (at least one sample's worth)
        if b - a == 1:
            piece[0] *= min(1.0, span)
        else:
            piece[0] *= a + 1 - s
            piece[-1] *= min(1.0, e - (b - 1))
        width = max(1, round(window * self.rate / self.hop))
        if width >= len(piece):  # the whole span is within one window
            loudest = float(piece.sum()) / (min(width, span) * self.hop)
        else:
            energy = np.concatenate([[0.0], np.cumsum(piece)])
            loudest = float(np.max(energy[width:] - energy[:-width])) / (width * self.hop)
        return max(SILENCE_DB, 10.0 * np.log10(loudest)) if loudest > 0 else SILENCE_DB


class LevelBlocks(Iterator[np.ndarray]):
    """The blocks of a decoder (e.g. :func:`chunky.audio.decode.iter_blocks`), passed on unchanged while
    their level goes into ``trace``; :meth:`close` closes the decoder."""

    def __init__(self, blocks: Iterator[np.ndarray], rate: int) -> None:
        self._blocks = blocks
        self.trace = LevelTrace(rate)
        self._closed = False

    def __next__(self) -> np.ndarray:
        block = next(self._blocks)
        self.trace.add(block)
        return block

    def close(self) -> None:
        """Close the decoder (once; a second call does nothing)."""
        if self._closed:
            return
        self._closed = True
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
