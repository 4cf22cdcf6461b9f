"""Long recordings in chunks: the plan of chunk windows, cut in pauses where there are any. No torch.

The plan is made up front from the pauses alone, so the engine may transcribe the chunks in any order and
in batches; :func:`chunky.asr.stitching.stitch` accepts any subset of finished chunks.

A chunk is the audio window ``[start, end)`` given to the model and the part of it whose words are
kept, ``[keep_start, keep_end)``. Keep ranges tile the recording exactly. Where a cut falls in a pause
the windows just meet; where no pause is near, the cut is hard and both windows reach ``overlap``
seconds past it, so a word across the cut is heard whole by at least one chunk and is kept by the
chunk whose keep range holds its centre.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
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
    if chunk_seconds <= 0:
        raise ValueError(f"chunk_seconds must be positive, got {chunk_seconds}")
    duration = float(duration)
    if not duration > 0:
        return []
    if duration <= chunk_seconds:
        return [Chunk(0, 0.0, duration, 0.0, duration)]
    overlap = min(max(0.0, overlap_seconds), chunk_seconds / 4)
    min_chunk = min(max(0.0, min_chunk_seconds), SEARCH_FRACTION * chunk_seconds)
    spans = sorted((max(0.0, float(a)), min(duration, float(b))) for a, b in pauses)
    spans = [(a, b) for a, b in spans if b > a]

    chunks: list[Chunk] = []
    keep_start, window_start = 0.0, 0.0
    first_pause = 0  # pauses ending before the current window are never looked at again
    while True:
        window_end = window_start + chunk_seconds
        if window_end >= duration:
            chunks.append(Chunk(len(chunks), window_start, duration, keep_start, duration))
            return chunks
        lo = window_start + (1 - SEARCH_FRACTION) * chunk_seconds
        hi = min(window_end, duration - min_chunk)
        cut = None
        best = 0.0
        while first_pause < len(spans) and spans[first_pause][1] <= window_start:
            first_pause += 1
        for a, b in spans[first_pause:]:
            if a >= hi:
                break
            a, b = max(a, lo), min(b, hi)
            if b - a > 0 and b - a >= best:
                best, cut = b - a, (a + b) / 2
        if cut is not None:
            chunks.append(Chunk(len(chunks), window_start, cut, keep_start, cut))
            keep_start = window_start = cut
        else:
            cut = min(window_end - overlap, duration - min_chunk)
            chunks.append(Chunk(len(chunks), window_start, cut + overlap, keep_start, cut))
            keep_start, window_start = cut, cut - overlap
