"""Conversations with known speakers, built from clips of speech (numpy only).

A conversation is a sequence of turns of different voices (1-20 s each, log-uniform), each turn a few
clips of one voice with short pauses between them, sometimes starting before the previous turn ends
(overlapping speech). Besides the mixed recording it can give every speaker their own track, with the
other voices bleeding in at a set level (several microphones in one room).

The truth is known exactly: where each clip's sound starts and ends (the first and last sample reaching
1% of the clip's peak, the rule the committed word clips were cut with), and who said it. Used by the
diarization tests, the diarization benchmark and ``tools/train_diar_model.py`` (training and evaluation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

RATE = 16000
ONSET_THRESHOLD = 0.01  # a clip's sound: first/last sample with |x| >= 1% of its peak
MERGE_GAP = 0.5  # a speaker's pauses shorter than this are part of their turn in the reference


Clip = tuple[np.ndarray, str]  # float32 samples at RATE, the text spoken


@dataclass(frozen=True)
class SpokenPiece:
    """One clip placed in the conversation: its text, the span of its sound (seconds) and who said it."""

    text: str
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Turn:
    start: float
    end: float
    speaker: str


@dataclass
class Conversation:
    audio: np.ndarray  # the mix: float32, RATE, mono
    pieces: list[SpokenPiece]  # in the order they start
    speakers: list[str]  # in the order they first speak
    tracks: dict[str, np.ndarray] = field(default_factory=dict)  # speaker -> own microphone (with bleed)

    @property
    def duration(self) -> float:
        return len(self.audio) / RATE

    def turns(self, merge_gap: float = MERGE_GAP) -> list[Turn]:
        """The reference: each speaker's pieces, joined where they pause for less than ``merge_gap``."""
        return reference_turns(self.pieces, merge_gap)

    def overlap_seconds(self) -> float:
        """Seconds during which two or more speakers talk at once (by the reference turns)."""
        edges = sorted([(t.start, 1) for t in self.turns()] + [(t.end, -1) for t in self.turns()])
        total, active, last = 0.0, 0, 0.0
        for time, step in edges:
            if active >= 2:
                total += time - last
            active += step
            last = time
        return total


def reference_turns(pieces: Sequence[SpokenPiece], merge_gap: float = MERGE_GAP) -> list[Turn]:
    by_speaker: dict[str, list[SpokenPiece]] = {}
    for p in pieces:
        by_speaker.setdefault(p.speaker, []).append(p)
    turns: list[Turn] = []
    for speaker, own in by_speaker.items():
        own = sorted(own, key=lambda p: p.start)
        start, end = own[0].start, own[0].end
        for p in own[1:]:
            if p.start - end < merge_gap:
                end = max(end, p.end)
            else:
                turns.append(Turn(start, end, speaker))
                start, end = p.start, p.end
        turns.append(Turn(start, end, speaker))
    return sorted(turns, key=lambda t: (t.start, t.speaker))


def sound_bounds(audio: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample whose magnitude reaches ONSET_THRESHOLD of the peak."""
    mag = np.abs(audio)
    idx = np.nonzero(mag >= ONSET_THRESHOLD * mag.max())[0]
    return int(idx[0]), int(idx[-1]) + 1


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi))))


def build_conversation(
    voices: Mapping[str, Sequence[Clip]],
    seconds: float,
    seed: int = 0,
    *,
    turn_seconds: tuple[float, float] = (1.0, 20.0),
    piece_gap: tuple[float, float] = (0.08, 0.35),
    turn_gap: tuple[float, float] = (0.2, 1.0),
    overlap_probability: float = 0.1,
    overlap_seconds: tuple[float, float] = (0.2, 0.8),
    gain: tuple[float, float] = (0.35, 1.0),
    noise: float = 0.002,
    bleed_db: float | None = None,
    lead_in: float = 0.4,
) -> Conversation:
    """A conversation at least ``seconds`` long between the speakers of ``voices`` (name -> clips).

    Turns alternate between speakers (never the same one twice in a row); a turn lasts a log-uniform
    1-20 s and is filled with that speaker's clips separated by ``piece_gap`` pauses. With
    ``overlap_probability`` the next turn starts ``overlap_seconds`` before the current one ends (the
    truth then has two speakers at once). ``bleed_db``: also build one track per speaker, holding that
    speaker at full level and everyone else attenuated by ``bleed_db`` dB (e.g. -20), each with its own
    noise floor.
    """
    if len(voices) < 1 or any(not clips for clips in voices.values()):
        raise ValueError("every voice needs at least one clip")
    rng = np.random.default_rng(seed)
    names = list(voices)
    bounds = {name: [sound_bounds(a) for a, _ in clips] for name, clips in voices.items()}
    level = {name: float(rng.uniform(*gain)) for name in names}
    placed: list[tuple[int, str, np.ndarray]] = []  # (sample offset of the clip, speaker, audio)
    pieces: list[SpokenPiece] = []
    cursor = int(lead_in * RATE)  # where the next piece's sound starts
    speaker: str | None = None
    while cursor < seconds * RATE:
        others = [n for n in names if n != speaker] or names
        speaker = others[int(rng.integers(len(others)))]
        target = _log_uniform(rng, *turn_seconds)
        clips = voices[speaker]
        turn_start = cursor
        while True:
            k = int(rng.integers(len(clips)))
            audio, text = clips[k]
            on, off = bounds[speaker][k]
            cursor = max(cursor, on)
            clip_gain = level[speaker] * float(10 ** (rng.uniform(-2.0, 2.0) / 20))
            placed.append((cursor - on, speaker, audio * clip_gain))
            pieces.append(SpokenPiece(text, cursor / RATE, (cursor + off - on) / RATE, speaker))
            end_of_turn = cursor + off - on
            if (end_of_turn - turn_start) / RATE >= target:
                break
            cursor = end_of_turn + int(rng.uniform(*piece_gap) * RATE)
        # The next turn starts after a pause, or (sometimes) before this one has ended.
        if len(names) > 1 and rng.random() < overlap_probability:
            back = int(rng.uniform(*overlap_seconds) * RATE)
            cursor = max(turn_start + int(0.3 * RATE), end_of_turn - back)
        else:
            cursor = end_of_turn + int(rng.uniform(*turn_gap) * RATE)
    total = max(max(o + len(a) for o, _, a in placed), int(seconds * RATE)) + int(0.5 * RATE)
    mix = np.zeros(total, np.float32)
    for offset, _, audio in placed:
        mix[offset : offset + len(audio)] += audio
    mix += rng.normal(0.0, noise, total).astype(np.float32)
    tracks: dict[str, np.ndarray] = {}
    if bleed_db is not None:
        bleed = float(10 ** (bleed_db / 20))
        for name in names:
            track = np.zeros(total, np.float32)
            for offset, who, audio in placed:
                track[offset : offset + len(audio)] += audio if who == name else audio * bleed
            track += rng.normal(0.0, noise, total).astype(np.float32)
            tracks[name] = track
    pieces.sort(key=lambda p: (p.start, p.speaker))
    order: list[str] = []
    for p in pieces:
        if p.speaker not in order:
            order.append(p.speaker)
    return Conversation(mix, pieces, order, tracks)



def diarization_error_rate(conversations: Sequence[tuple[Conversation, Sequence[Turn]]],
                           collar: float = 0.25) -> dict[str, float]:
    """pyannote.metrics' diarization error rate over (conversation, found turns) pairs: missed speech, false
    alarm and speaker confusion over the reference speech time, ``collar`` seconds around every reference
    boundary not scored, overlapping speech scored. Found turns need ``start``, ``end`` and ``speaker``."""
    from pyannote.core import Annotation, Segment
    from pyannote.metrics.diarization import DiarizationErrorRate

    metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
    for conv, found in conversations:
        ref, hyp = Annotation(), Annotation()
        for k, t in enumerate(conv.turns()):
            ref[Segment(t.start, t.end), k] = t.speaker
        for k, t in enumerate(found):
            hyp[Segment(t.start, t.end), k] = t.speaker
        metric(ref, hyp)
    total = {name: float(sum(metric.results_[i][1][name] for i in range(len(metric.results_))))
             for name in ("missed detection", "false alarm", "confusion", "total")}
    return {"der": float(abs(metric)), "missed": total["missed detection"] / total["total"],
            "false_alarm": total["false alarm"] / total["total"],
            "confusion": total["confusion"] / total["total"], "speech_seconds": total["total"]}


def best_mapping(pairs: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """The one-to-one map from found speaker names to true ones that makes the most (true, found) pairs
    agree (brute force: at most a handful of speakers)."""
    import itertools

    truth = sorted({t for t, _ in pairs})
    found = sorted({f for _, f in pairs if f is not None})
    if len(found) <= len(truth):
        options = (dict(zip(found, perm, strict=True)) for perm in itertools.permutations(truth, len(found)))
    else:
        options = (dict(zip(perm, truth, strict=True)) for perm in itertools.permutations(found, len(truth)))
    best: tuple[int, dict[str, str]] = (-1, {})
    for mapping in options:
        score = sum(1 for t, f in pairs if f is not None and mapping.get(f) == t)
        if score > best[0]:
            best = (score, mapping)
    return best[1]
