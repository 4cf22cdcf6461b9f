"""Long recordings in chunks: find pauses (energy), plan chunk windows, stitch the chunks' words back.

numpy only (no torch). The plan is made up front from the pauses alone, so the engine may transcribe the
chunks in any order and in batches; :func:`stitch` accepts any subset of finished chunks.

A chunk is the audio window ``[start, end)`` given to the model and the part of it whose words are
kept, ``[keep_start, keep_end)``. Keep ranges tile the recording exactly. Where a cut falls in a pause
the windows just meet; where no pause is near, the cut is hard and both windows reach ``overlap``
seconds past it, so a word across the cut is heard whole by at least one chunk and is kept by the
chunk whose keep range holds its centre (:func:`stitch` also copes with chunks that place it
differently).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from chunky.transcript.model import Word

# find_pauses: frames quieter than floor + THRESHOLD_FRACTION * (speech level - floor) are silent.
FLOOR_PERCENTILE = 5.0
SPEECH_PERCENTILE = 98.0
THRESHOLD_FRACTION = 0.3
MAX_RANGE_DB = 50.0  # the floor is taken no lower than this far below the speech level
MIN_RANGE_DB = 6.0  # a recording whose levels span less than this has no detectable pauses
SILENT_DBFS = -70.0  # a recording whose speech level is below this is silent throughout
BLIP_SECONDS = 0.05  # a sound this short between silent frames (a click) does not end a pause
BLOCK_FRAMES = 1 << 12  # frames measured per numpy block (bounds memory for hours of audio)

# stitch: how far back (seconds of word starts) a word is compared with earlier ones for duplicates.
DEDUP_LOOKBACK_SECONDS = 10.0

# stitch: words from two chunks whose centres are this close may be one word (even if they do not overlap).
MATCH_SECONDS = 0.1
# stitch: a word dropped this close to its chunk's keep range may be kept after all (see stitch()).
RESCUE_SECONDS = 0.3

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
    x = np.asarray(samples)
    if x.ndim == 2:  # (samples, channels) as soundfile gives it, or (channels, samples)
        x = x.mean(axis=1 if x.shape[0] >= x.shape[1] else 0)
    if x.ndim != 1:
        raise ValueError(f"expected mono or (samples, channels) audio, got shape {np.shape(samples)}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    if sample_rate <= 0 or len(x) == 0:
        return []
    frame_len = max(1, round(frame * sample_rate))
    hop = frame_len / sample_rate
    duration = len(x) / sample_rate
    levels = _frame_levels(x, frame_len)
    if len(levels) == 0:
        return []
    speech = float(np.percentile(levels, SPEECH_PERCENTILE))
    if speech < SILENT_DBFS:
        return [(0.0, duration)] if duration >= min_pause else []
    floor = max(float(np.percentile(levels, FLOOR_PERCENTILE)), speech - MAX_RANGE_DB)
    if speech - floor < MIN_RANGE_DB:
        return []
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
    return pauses


def runs(mask: np.ndarray) -> list[tuple[bool, int, int]]:
    """(value, first, end) of each run of equal values."""
    if len(mask) == 0:
        return []
    change = np.flatnonzero(mask[1:] != mask[:-1]) + 1
    bounds = np.concatenate(([0], change, [len(mask)]))
    return [(bool(mask[a]), int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


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


_PUNCT = re.compile(r"[^\w]+", re.UNICODE)


def _norm(text: str) -> str:
    return _PUNCT.sub("", text.casefold()) or text.casefold()


def _centre(word: Word) -> float:
    return (word.start + word.end) / 2


def _kept(chunk: Chunk, word: Word) -> bool:
    """Is the word's centre in the chunk's keep range? A side of the keep range that is also the
    window's edge is open: no other chunk heard audio past it, so a word placed there (by a timestamp
    shift) belongs here."""
    lo = chunk.keep_start if chunk.keep_start > chunk.start else -math.inf
    hi = chunk.keep_end if chunk.keep_end < chunk.end else math.inf
    return lo <= _centre(word) < hi


@dataclass
class _Entry:
    word: Word
    chunk: Chunk
    rescued: bool = False

    @property
    def start(self) -> float:
        return self.word.start

    @property
    def end(self) -> float:
        return self.word.end

    @property
    def margin(self) -> float:
        """How far from its window's edges the chunk heard the word (more context: more trusted)."""
        c = _centre(self.word)
        return min(c - self.chunk.start, self.chunk.end - c)


def _overlap(a: Word, b: Word) -> float:
    """Seconds the two words overlap; a zero-length word inside (or touching) the other counts as 1e-9."""
    both = min(a.end, b.end) - max(a.start, b.start)
    if (a.start == a.end or b.start == b.end) and both >= 0:
        return max(both, 1e-9)
    return both


class _Heard:
    """Every word one chunk heard (kept or not), sorted, to find the one that best matches a time span."""

    def __init__(self, words: Iterable[Word]):
        self.words = sorted(words, key=lambda w: w.start)
        self.starts = [w.start for w in self.words]

    def best_match(self, word: Word) -> Word | None:
        """The word heard nearest to ``word`` (same text first, then the nearest centre) among those
        that overlap it or whose centre is within ``MATCH_SECONDS`` of its centre."""
        best, best_key = None, None
        key = _norm(word.text)
        centre = _centre(word)
        first = bisect.bisect_left(self.starts, word.start - DEDUP_LOOKBACK_SECONDS)
        for w in self.words[first:]:
            if w.start > word.end + MATCH_SECONDS:
                break
            if not _close(w, word):
                continue
            rank = (_norm(w.text) != key, abs(_centre(w) - centre))
            if best_key is None or rank < best_key:
                best, best_key = w, rank
        return best


def _close(a: Word, b: Word) -> bool:
    return _overlap(a, b) > 0 or abs(_centre(a) - _centre(b)) <= MATCH_SECONDS


def stitch(chunk_words: Sequence[tuple[Chunk, Sequence[Word]]]) -> list[Word]:
    """The words of all chunks (times already absolute) as one list sorted by start.

    A chunk's word is kept iff its centre lies in the chunk's keep range. Near a hard cut, two chunks
    heard the same words and may place one that straddles the cut a little differently:

    * both keep it: two words from different chunks that are each other's best match (overlapping or
      close, same text first, then nearest centre) and have the same text are one word, kept from the
      chunk that heard it farther from its window's edges;
    * both drop it: a word dropped less than ``RESCUE_SECONDS`` outside its chunk's keep range is kept
      after all when the chunk owning that time is among ``chunk_words`` and did not keep its best
      match there; two such rescued copies that are each other's best match are one word.

    Repeated words ("so so") stay apart, within one chunk or across a cut. ``chunk_words`` may hold any
    subset of the plan's chunks, in any order (a transcript that grows as batches finish).
    """
    heard = {chunk.index: _Heard(words) for chunk, words in chunk_words}
    entries: list[_Entry] = []
    dropped: list[_Entry] = []
    for chunk, words in chunk_words:
        for w in words:
            c = _centre(w)
            if _kept(chunk, w):
                entries.append(_Entry(w, chunk))
            elif chunk.keep_start - RESCUE_SECONDS <= c < chunk.keep_end + RESCUE_SECONDS:
                dropped.append(_Entry(w, chunk))
    if dropped:
        entries += _rescue(dropped, [c for c, _ in chunk_words], heard)
    entries.sort(key=lambda e: (e.start, e.end))
    kept: list[_Entry] = []
    for entry in entries:
        dup = None
        for j in range(len(kept) - 1, -1, -1):
            other = kept[j]
            if other.start < entry.start - DEDUP_LOOKBACK_SECONDS:
                break
            if _duplicates(other, entry, heard):
                dup = j
                break
        if dup is None:
            kept.append(entry)
        elif entry.margin > kept[dup].margin:
            kept[dup] = entry
    kept.sort(key=lambda e: (e.start, e.end))
    return [e.word for e in kept]


def _duplicates(a: _Entry, b: _Entry, heard: dict[int, _Heard]) -> bool:
    if a.chunk.index == b.chunk.index or not _close(a.word, b.word):
        return False
    if not (a.rescued and b.rescued) and _norm(a.word.text) != _norm(b.word.text):
        return False
    return (heard[b.chunk.index].best_match(a.word) is b.word
            and heard[a.chunk.index].best_match(b.word) is a.word)


def _rescue(dropped: list[_Entry], chunks: list[Chunk], heard: dict[int, _Heard]) -> list[_Entry]:
    owners = sorted({c.index: c for c in chunks}.values(), key=lambda c: c.keep_start)
    owner_starts = [c.keep_start for c in owners]
    rescued = []
    for d in dropped:
        c = _centre(d.word)
        i = bisect.bisect_right(owner_starts, c) - 1
        if i < 0 or not owners[i].keep_start <= c < owners[i].keep_end or owners[i].index == d.chunk.index:
            continue  # the chunk owning this time is not finished yet (or the plan is not a tiling)
        match = heard[owners[i].index].best_match(d.word)
        if match is None or not _kept(owners[i], match):
            rescued.append(_Entry(d.word, d.chunk, rescued=True))
    return rescued
