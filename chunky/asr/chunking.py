"""Long recordings in chunks: the plan of chunk windows, cut in pauses where there are any. No torch.

A chunk is the audio window ``[start, end)`` given to the model and the part of it whose words are
kept, ``[keep_start, keep_end)``. Keep ranges tile the recording exactly. Where a cut falls in a pause
the windows just meet; where no pause is near, the cut is hard and both windows reach ``overlap``
seconds past it, so a word across the cut is heard whole by at least one chunk and is kept by the
chunk whose keep range holds its centre. :func:`chunky.asr.stitching.stitch` accepts any subset of
finished chunks, in any order.

Two ways to the same plan: :func:`plan_chunks` from the recording's length and all its pauses, and
:class:`ChunkPlanner` one chunk at a time while the recording is still being decoded: it says which
stretch of audio it needs (:meth:`ChunkPlanner.audio_needed`) and where a pause cut may go
(:meth:`ChunkPlanner.search_band`), so pauses are only looked for there. Both run :func:`_next_chunk`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# plan_chunks: a pause cut is looked for in this last part of the window.
SEARCH_FRACTION = 0.3


@dataclass(frozen=True)
class Chunk:
    index: int
    start: float
    end: float
    keep_start: float
    keep_end: float

    @property
    def duration(self) -> float:
        return self.end - self.start

    def sample_range(self, sample_rate: int, total_samples: int | None = None) -> tuple[int, int]:
        """``[first, last)`` sample indices of the window."""
        first = max(0, int(math.floor(self.start * sample_rate)))
        last = int(math.ceil(self.end * sample_rate))
        if total_samples is not None:
            last = min(last, total_samples)
        return first, max(first, last)


@dataclass(frozen=True)
class _Limits:
    chunk: float
    overlap: float
    min_chunk: float

    @classmethod
    def of(cls, chunk_seconds: float, overlap_seconds: float, min_chunk_seconds: float) -> _Limits:
        if not chunk_seconds > 0:
            raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
        return cls(float(chunk_seconds), min(max(0.0, overlap_seconds), chunk_seconds / 4),
                   min(max(0.0, min_chunk_seconds), SEARCH_FRACTION * chunk_seconds))


def _search_band(window_start: float, duration: float, limits: _Limits) -> tuple[float, float] | None:
    """Where the cut after the window starting at ``window_start`` may fall in a pause, or None when that
    window is the last (it reaches the end). ``duration`` may be ``math.inf`` (not known yet)."""
    window_end = window_start + limits.chunk
    if window_end >= duration:
        return None
    return window_start + (1 - SEARCH_FRACTION) * limits.chunk, min(window_end, duration - limits.min_chunk)


def _next_chunk(index: int, window_start: float, keep_start: float, duration: float,
                spans: Sequence[tuple[float, float]], limits: _Limits,
                first: int = 0) -> tuple[Chunk, float, float]:
    """The chunk whose window starts at ``window_start``, and the next (window start, keep start).

    ``spans``: pauses as sorted, non-empty (start, end) within the recording, looked at from index
    ``first``; only those overlapping the search band matter. The cut goes in the middle of the longest
    pause (its part inside the band; the later one of equal length); without one the cut is hard,
    ``overlap`` before the window's end."""
    band = _search_band(window_start, duration, limits)
    if band is None:
        return Chunk(index, window_start, duration, keep_start, duration), duration, duration
    lo, hi = band
    cut = None
    best = 0.0
    for i in range(first, len(spans)):
        a, b = spans[i]
        if a >= hi:
            break
        a, b = max(a, lo), min(b, hi)
        if b - a > 0 and b - a >= best:
            best, cut = b - a, (a + b) / 2
    if cut is not None:
        return Chunk(index, window_start, cut, keep_start, cut), cut, cut
    cut = min(window_start + limits.chunk - limits.overlap, duration - limits.min_chunk)
    return Chunk(index, window_start, cut + limits.overlap, keep_start, cut), cut - limits.overlap, cut


def _spans(pauses: Iterable[tuple[float, float]], duration: float) -> list[tuple[float, float]]:
    spans = sorted((max(0.0, float(a)), min(duration, float(b))) for a, b in pauses)
    return [(a, b) for a, b in spans if b > a]


def plan_chunks(
    duration: float,
    pauses: Iterable[tuple[float, float]],
    chunk_seconds: float = 30.0,
    overlap_seconds: float = 2.0,
    min_chunk_seconds: float = 5.0,
) -> list[Chunk]:
    """Windows of at most ``chunk_seconds`` covering ``[0, duration)``.

    Each cut goes in the middle of the longest pause (the part of it inside the window) found in the
    last ``SEARCH_FRACTION`` of the window; without one the cut is hard, ``overlap_seconds`` before the
    window's end, and the next window starts ``overlap_seconds`` before the cut. When there are several
    chunks, the last keeps at least ``min_chunk_seconds`` (it is not left tiny). ``overlap_seconds`` is
    capped at a quarter of ``chunk_seconds``, ``min_chunk_seconds`` at ``SEARCH_FRACTION`` of it.
    """
    limits = _Limits.of(chunk_seconds, overlap_seconds, min_chunk_seconds)
    duration = float(duration)
    if not duration > 0:
        return []
    spans = _spans(pauses, duration)
    chunks: list[Chunk] = []
    window_start = keep_start = 0.0
    first_pause = 0  # pauses ending before the current window are never looked at again
    while True:
        while first_pause < len(spans) and spans[first_pause][1] <= window_start:
            first_pause += 1
        chunk, window_start, keep_start = _next_chunk(len(chunks), window_start, keep_start, duration,
                                                      spans, limits, first_pause)
        chunks.append(chunk)
        if chunk.end >= duration:
            return chunks


class ChunkPlanner:
    """:func:`plan_chunks` one chunk at a time, for a recording still being decoded.

    For each chunk: decode at least up to :meth:`audio_needed` seconds (or to the end), ask
    :meth:`search_band` where a pause cut may go (None: this chunk is the last), find the pauses there
    and hand them to :meth:`next_chunk`. Given the same pauses, the chunks are those of
    :func:`plan_chunks` over the whole recording.
    """

    def __init__(self, chunk_seconds: float = 30.0, overlap_seconds: float = 2.0,
                 min_chunk_seconds: float = 5.0):
        self.limits = _Limits.of(chunk_seconds, overlap_seconds, min_chunk_seconds)
        self.window_start = 0.0  # of the next chunk
        self._keep_start = 0.0
        self.count = 0  # chunks planned so far
        self.finished = False

    def audio_needed(self) -> float:
        """Seconds from the start of the recording that must be decoded before the next chunk can be
        planned: its longest window plus the shortest last chunk (or the end of the recording, if
        sooner)."""
        return self.window_start + self.limits.chunk + self.limits.min_chunk

    def search_band(self, duration: float | None) -> tuple[float, float] | None:
        """Where the next cut may fall in a pause; None if the next chunk is the last. ``duration``: the
        recording's length once decoding reached its end, None before (then :meth:`audio_needed` must
        have been decoded)."""
        return _search_band(self.window_start, math.inf if duration is None else duration, self.limits)

    def next_chunk(self, duration: float | None, pauses: Iterable[tuple[float, float]] = ()) -> Chunk:
        """The next chunk, cut in the longest of ``pauses`` inside :meth:`search_band` (absolute seconds;
        others are ignored)."""
        if self.finished:
            raise RuntimeError("the plan is complete: the last chunk was already planned")
        end = math.inf if duration is None else float(duration)
        spans = _spans(pauses, end)
        chunk, self.window_start, self._keep_start = _next_chunk(
            self.count, self.window_start, self._keep_start, end, spans, self.limits)
        self.count += 1
        self.finished = chunk.end >= end
        return chunk
