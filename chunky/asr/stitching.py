"""Putting the words of overlapping chunks back together: each word once, in order. No torch."""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from chunky.asr.chunking import Chunk
from chunky.transcript.model import Word

# stitch: how far back (seconds of word starts) a word is compared with earlier ones for duplicates.
DEDUP_LOOKBACK_SECONDS = 10.0

# stitch: words from two chunks whose centres are this close may be one word (even if they do not overlap).
MATCH_SECONDS = 0.1
# stitch: a word dropped this close to its chunk's keep range may be kept after all (see stitch()).
RESCUE_SECONDS = 0.3


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


class Stitcher:
    """:func:`stitch` for chunks that finish in plan order: a transcript that grows chunk by chunk.

    :meth:`words` always equals ``stitch`` of every chunk added so far, but each :meth:`add` only
    stitches the chunks near the newest one. A word's place in the result depends only on the words
    that overlap it or lie within ``MATCH_SECONDS`` of it (and on their chunks), so once a chunk is
    added, the words that start more than ``guard`` seconds before its keep range are final: no later
    chunk hears anything near them. ``guard`` must exceed the longest word plus any timestamp shift
    (10 s by default).
    """

    def __init__(self, guard: float = DEDUP_LOOKBACK_SECONDS):
        self.guard = float(guard)
        self._pairs: list[tuple[Chunk, list[Word]]] = []
        self._final: list[Word] = []  # stitched words that start before self._final_until
        self._final_until = -math.inf
        self._open: list[Word] = []  # the other stitched words, recomputed at every add
        self._first_open_pair = 0  # earlier pairs' windows end long before any open word

    def add(self, chunk: Chunk, words: Iterable[Word]) -> None:
        """Add the next chunk of the plan (its keep range starts where the previous one's ended)."""
        if self._pairs and chunk.keep_start != self._pairs[-1][0].keep_end:
            raise ValueError(f"chunk {chunk.index} is not the next one of the plan (its keep range "
                             f"starts at {chunk.keep_start}, expected {self._pairs[-1][0].keep_end})")
        self._pairs.append((chunk, list(words)))
        # Every chunk that may hold an open word, or a word close to one, has a window reaching past
        # self._final_until - guard.
        while (self._first_open_pair < len(self._pairs)
               and self._pairs[self._first_open_pair][0].end <= self._final_until - self.guard):
            self._first_open_pair += 1
        stitched = stitch(self._pairs[self._first_open_pair:])
        fresh = stitched[bisect.bisect_left([w.start for w in stitched], self._final_until):]
        until = chunk.keep_start - self.guard
        if until > self._final_until:
            cut = bisect.bisect_left([w.start for w in fresh], until)
            self._final += fresh[:cut]
            fresh = fresh[cut:]
            self._final_until = until
        self._open = fresh

    def words(self) -> list[Word]:
        """``stitch`` of every chunk added so far."""
        return self._final + self._open

    @property
    def pairs(self) -> list[tuple[Chunk, list[Word]]]:
        """Every (chunk, words) added, in order."""
        return self._pairs
