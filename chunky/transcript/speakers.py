"""Who said each word: speaker turns onto words, and the words of several microphones merged into one list.

Pure module: no torch, nemo, gradio or numpy. Times are seconds from the start of the recording.

- :func:`assign_speakers`: each word gets the speaker whose turns cover most of it, so a turn change in the
  middle of a sentence splits the sentence there (:func:`split_at_speaker_changes` splits the cues).
- :func:`rename_speakers`: "Speaker 1" -> "Host" everywhere, for exporting again.
- :func:`merge_tracks`: one transcript per microphone (track or channel), each track's words belonging to
  its speaker, merged in time order. A word that one microphone picked up from another speaker (bleed) is
  kept once, on the track where it is loudest; a word said by two people at once is kept twice.
"""

from __future__ import annotations

import bisect
import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from chunky.transcript.model import Segment, Transcript, Word

MIN_WORD_SECONDS = 0.02  # a word without length still counts as this long when turns are matched


@dataclass(frozen=True)
class SpeakerTurn:
    """A stretch of time in which ``speaker`` talks (turns of different speakers may overlap)."""

    start: float
    end: float
    speaker: str

    def __post_init__(self) -> None:
        if not self.end >= self.start:
            raise ValueError(f"a speaker turn cannot end ({self.end}) before it starts ({self.start})")


def speaker_names(turns: Sequence[SpeakerTurn]) -> list[str]:
    """The speakers of ``turns`` in the order they first speak."""
    seen: dict[str, float] = {}
    for t in turns:
        if t.speaker not in seen or t.start < seen[t.speaker]:
            seen[t.speaker] = t.start
    return sorted(seen, key=lambda s: (seen[s], s))


def _span(word: Word) -> tuple[float, float]:
    return word.start, max(word.end, word.start + MIN_WORD_SECONDS)


def assign_speakers(words: Sequence[Word], turns: Sequence[SpeakerTurn], *,
                    max_gap: float = 1.0) -> list[Word]:
    """Copies of ``words``, each with the speaker whose turns overlap it the most.

    A word that no turn overlaps gets the speaker of the nearest turn when that turn is at most
    ``max_gap`` seconds away, else no speaker (None). Ties go to the turn that started first.
    """
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    starts = [t.start for t in ordered]
    reach: list[float] = []  # reach[i]: the latest end among ordered[: i + 1]
    for t in ordered:
        reach.append(max(t.end, reach[-1]) if reach else t.end)
    out: list[Word] = []
    for word in words:
        lo, hi = _span(word)
        i = bisect.bisect_left(starts, hi + max_gap)
        overlap: dict[str, float] = {}
        first: dict[str, float] = {}
        nearest: tuple[float, float, str] | None = None  # (distance, turn start, speaker)
        while i > 0 and reach[i - 1] > lo - max_gap:
            i -= 1
            t = ordered[i]
            shared = min(hi, t.end) - max(lo, t.start)
            if shared > 0:
                overlap[t.speaker] = overlap.get(t.speaker, 0.0) + shared
                first[t.speaker] = min(first.get(t.speaker, t.start), t.start)
            else:
                distance = max(t.start - hi, lo - t.end, 0.0)
                if distance <= max_gap and (nearest is None or (distance, t.start) < nearest[:2]):
                    nearest = (distance, t.start, t.speaker)
        if overlap:
            speaker: str | None = max(overlap, key=lambda s: (overlap[s], -first[s]))
        else:
            speaker = nearest[2] if nearest else None
        out.append(replace(word, speaker=speaker))
    return out


def speaker_runs(words: Sequence[Word]) -> list[list[Word]]:
    """Consecutive words of the same speaker, in order (one run per turn in the transcript)."""
    runs: list[list[Word]] = []
    for w in words:
        if runs and runs[-1][-1].speaker == w.speaker:
            runs[-1].append(w)
        else:
            runs.append([w])
    return runs


def split_at_speaker_changes(segments: Sequence[Segment]) -> list[Segment]:
    """Segments cut wherever the speaker changes between two of their words (text-only segments stay)."""
    out: list[Segment] = []
    for seg in segments:
        runs = speaker_runs(seg.words)
        if len(runs) <= 1:
            out.append(seg)
            continue
        for run in runs:
            out.append(Segment(run[0].start, max(w.end for w in run), " ".join(w.text for w in run), run))
    return out


# --- several microphones ------------------------------------------------------------------------------

LevelFn = Callable[[float, float], float]  # a track's level in dB between two times (seconds)


@dataclass(frozen=True)
class TrackWords:
    """The words transcribed from one track (or channel) and how loud that track is at any time."""

    speaker: str
    words: Sequence[Word]
    level: LevelFn


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def _norm(text: str) -> str:
    return _NON_WORD.sub("", text.casefold())


def same_word(a: str, b: str, threshold: float = 0.6) -> bool:
    """The texts are the same word, as two recognitions of one sound may spell it ("two"/"to": yes)."""
    x, y = _norm(a), _norm(b)
    if not x or not y:
        return x == y
    return x == y or difflib.SequenceMatcher(None, x, y).ratio() >= threshold


def _shared_fraction(a: Word, b: Word) -> float:
    (a0, a1), (b0, b1) = _span(a), _span(b)
    return max(0.0, min(a1, b1) - max(a0, b0)) / min(a1 - a0, b1 - b0)


def merge_tracks(tracks: Sequence[TrackWords], *, same_word_margin_db: float = 10.0,
                 bleed_db: float = 15.0, min_shared: float = 0.5) -> list[Word]:
    """The words of all tracks in time order, each with its track's speaker, bleed removed.

    Two words on different tracks that share at least ``min_shared`` of the shorter one's time are one
    sound heard twice when their texts are the same word: the copy on the track that is loudest over
    them is kept, and another copy only if its track is within ``same_word_margin_db`` of that (two
    people saying the same word at once, each into their own microphone). Words whose texts differ are
    different words (two people talking at once), unless one track is louder than the other over the two
    words, or over one word's own span, by ``bleed_db`` or more: then the quieter one is bleed that was
    recognized as something else, and it is dropped.
    """
    items = [(ti, w) for ti, track in enumerate(tracks) for w in track.words]
    items.sort(key=lambda it: (it[1].start, it[1].end, it[0]))
    parent = list(range(len(items)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    dropped: set[int] = set()
    active: list[int] = []  # items whose span may still overlap the next ones
    for i, (ti, w) in enumerate(items):
        lo, _ = _span(w)
        active = [j for j in active if _span(items[j][1])[1] > lo]
        for j in active:
            tj, v = items[j]
            if tj == ti or _shared_fraction(v, w) < min_shared:
                continue
            if same_word(v.text, w.text):
                parent[root(i)] = root(j)
                continue
            # Different words at the same time: two speakers, unless one is only bleed. Judged over both
            # words' span, and over each word's own span (a fragment of bleed recognized just before the
            # other track's speaker starts a word of their own: loud over the union, quiet over itself).
            lo_ij = min(_span(v)[0], _span(w)[0])
            hi_ij = max(_span(v)[1], _span(w)[1])
            gap = tracks[tj].level(lo_ij, hi_ij) - tracks[ti].level(lo_ij, hi_ij)
            gap_w = tracks[tj].level(*_span(w)) - tracks[ti].level(*_span(w))  # w (track ti) the bleed?
            gap_v = tracks[ti].level(*_span(v)) - tracks[tj].level(*_span(v))  # v (track tj) the bleed?
            drop_w = gap >= bleed_db or gap_w >= bleed_db
            drop_v = -gap >= bleed_db or gap_v >= bleed_db
            if drop_w and drop_v:  # never both: the one whose track is the quieter by more
                drop_w, drop_v = max(gap, gap_w) >= max(-gap, gap_v), max(gap, gap_w) < max(-gap, gap_v)
            if drop_w:
                dropped.add(i)
            elif drop_v:
                dropped.add(j)
        active.append(i)

    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(root(i), []).append(i)
    kept: list[tuple[int, Word]] = []
    for members in groups.values():
        members = [m for m in members if m not in dropped]
        if len({items[m][0] for m in members}) > 1:
            lo = min(_span(items[m][1])[0] for m in members)
            hi = max(_span(items[m][1])[1] for m in members)
            loud = {ti: tracks[ti].level(lo, hi) for ti in {items[m][0] for m in members}}
            best = max(loud.values())
            members = [m for m in members if loud[items[m][0]] >= best - same_word_margin_db]
        for m in members:
            ti, w = items[m]
            kept.append((ti, replace(w, speaker=tracks[ti].speaker)))
    kept.sort(key=lambda it: (it[1].start, it[1].end, it[0]))
    return [w for _, w in kept]


def rename_speakers(transcript: Transcript, renames: Sequence[tuple[str, str]], *,
                    strict: bool = True) -> Transcript:
    """The transcript with speakers renamed (``[("Speaker 1", "Host")]``, all at once: a swap works):
    every word, and the speakers table. ``strict``: ValueError naming a speaker the transcript does not
    have (a typo must not pass silently); otherwise such a name is ignored (a job's other files)."""
    mapping = dict(renames)
    known = {w.speaker for w in transcript.words if w.speaker} | {s.get("name") for s in transcript.speakers}
    unknown = [old for old in mapping if old not in known]
    if not mapping:
        return transcript
    if unknown and strict:
        have = ", ".join(sorted(n for n in known if n)) or "none"
        raise ValueError(f"no speaker named {unknown[0]!r} in {transcript.source or 'the transcript'} "
                         f"(its speakers: {have})")

    def new(name: str | None) -> str | None:
        return mapping.get(name, name) if name is not None else None

    words = [replace(w, speaker=new(w.speaker)) for w in transcript.words]
    by_id = {id(w): n for w, n in zip(transcript.words, words, strict=True)}
    segments = [replace(s, words=[by_id.get(id(w), replace(w, speaker=new(w.speaker))) for w in s.words])
                for s in transcript.segments]
    speakers = [{**s, "name": new(s.get("name")) or ""} for s in transcript.speakers]
    return replace(transcript, words=words, segments=segments, speakers=speakers)
