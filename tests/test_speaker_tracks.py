"""One speaker per microphone: each track transcribed by the real digits ASR model, the words merged by
``merge_tracks`` with every track's level taken from its own audio. The tracks are built like a room with
several microphones: each speaker at full level on their own track, everyone else bleeding in at -20 dB,
and people sometimes talking at once."""

from __future__ import annotations

import numpy as np
import pytest

from chunky.audio.levels import track_level
from chunky.transcript.model import Word
from chunky.transcript.speakers import TrackWords, merge_tracks
from tests.conversations import RATE, Conversation, build_conversation
from tests.test_diarization import ASR_MODEL, held_out_voices

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def asr():
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(str(ASR_MODEL), map_location="cpu")
    model.eval()
    return model


def transcribe_tracks(asr, conv: Conversation) -> list[TrackWords]:
    names = list(conv.tracks)
    hyps = asr.transcribe([conv.tracks[n] for n in names], batch_size=len(names), timestamps=True,
                          verbose=False)
    return [TrackWords(name, [Word(w["word"], w["start"], w["end"]) for w in h.timestamp["word"]],
                       track_level(conv.tracks[name], RATE))
            for name, h in zip(names, hyps, strict=True)]


def _shared(a0: float, a1: float, b0: float, b1: float) -> float:
    return min(a1, b1) - max(a0, b0)


def match_words(conv: Conversation, words: list[Word]) -> dict[int, int]:
    """Truth piece index -> word index: same text, overlapping in time (ASR timestamps run a little early,
    so up to 0.15 s outside the truth counts), each word used once; a word with the piece's speaker first
    (two people may say the same word at once), then the one sharing the most time."""
    out: dict[int, int] = {}
    used: set[int] = set()
    for k, p in enumerate(conv.pieces):
        best = None
        for i, w in enumerate(words):
            shared = _shared(p.start - 0.15, p.end + 0.15, w.start, w.end)
            if i in used or w.text != p.text or shared <= 0:
                continue
            rank = (w.speaker == p.speaker, shared)
            if best is None or rank > best[0]:
                best = (rank, i)
        if best is not None:
            out[k] = best[1]
            used.add(best[1])
    return out


def check_merge(conv: Conversation, tracks: list[TrackWords], merged: list[Word]) -> dict[str, int]:
    """What the merge must do with the words the recognizer got right on each speaker's own track: keep
    each exactly once, with its speaker; and it must keep no bleed (a word on a track whose speaker was
    silent then). Words the recognizer got wrong on the speaker's own track are counted, not judged."""
    by_name = {t.speaker: t for t in tracks}
    recognized = set()
    for name, track in by_name.items():
        own = [k for k, p in enumerate(conv.pieces) if p.speaker == name]
        sub = Conversation(conv.audio, [conv.pieces[k] for k in own], [name])
        recognized |= {own[k] for k in match_words(sub, list(track.words))}
    matched = match_words(conv, merged)
    lost = [conv.pieces[k] for k in sorted(recognized) if k not in matched]
    wrong = [(conv.pieces[k], merged[i].speaker) for k, i in matched.items()
             if merged[i].speaker != conv.pieces[k].speaker]
    leftovers = [w for i, w in enumerate(merged) if i not in set(matched.values())]
    bleed = [w for w in leftovers
             if not any(p.speaker == w.speaker and _shared(p.start - 0.15, p.end + 0.15, w.start, w.end) > 0
                        for p in conv.pieces)]
    assert not lost, f"recognized on their own track but lost in the merge: {lost[:5]}"
    assert not wrong, f"kept with the wrong speaker: {wrong[:5]}"
    assert not bleed, f"bleed kept as words: {[(w.text, w.start, w.speaker) for w in bleed[:5]]}"
    return {"words": len(conv.pieces), "recognized": len(recognized), "kept": len(matched),
            "misrecognized": len(leftovers)}


@pytest.mark.parametrize("speakers", [2, 4])
def test_every_word_appears_once_with_its_speaker_despite_bleed_and_overlap(asr, speakers: int) -> None:
    voices = held_out_voices()
    names = sorted(voices)[:speakers]
    conv = build_conversation({n: voices[n] for n in names}, 90, seed=30 + speakers, bleed_db=-20.0,
                              overlap_probability=0.3, overlap_seconds=(0.3, 0.8), turn_seconds=(1.0, 8.0))
    assert conv.overlap_seconds() > 3.0, "the conversation has people talking at once"
    tracks = transcribe_tracks(asr, conv)
    heard_twice = sum(len(t.words) for t in tracks) - len(conv.pieces)
    assert heard_twice > 0.3 * len(conv.pieces), "the recognizer picks up bleed: there is something to merge"
    merged = merge_tracks(tracks)
    counts = check_merge(conv, tracks, merged)
    # Every word the recognizer got right is in the transcript once, with its speaker; the recognizer (a
    # digits model trained on one voice at a time) loses a few words under overlapping speech.
    assert counts["kept"] == counts["recognized"] >= 0.93 * counts["words"], counts
    assert [w.start for w in merged] == sorted(w.start for w in merged)


def test_the_same_word_said_by_two_people_at_once_stays_twice(asr) -> None:
    voices = held_out_voices()
    a, b = sorted(voices)[:2]
    five_a = next(clip for clip, w in voices[a] if w == "five")
    five_b = next(clip for clip, w in voices[b] if w == "five")
    two_a = next(clip for clip, w in voices[a] if w == "two")
    n = int(4 * RATE)
    track_a, track_b = np.zeros(n, np.float32), np.zeros(n, np.float32)
    bleed = 10 ** (-20 / 20)
    for track, own, other in ((track_a, five_a, five_b), (track_b, five_b, five_a)):
        start = int(0.5 * RATE)
        track[start : start + len(own)] += own
        track[start : start + len(other)] += bleed * other
    later = int(2.0 * RATE)  # then only A speaks: B's microphone hears it as bleed
    track_a[later : later + len(two_a)] += two_a
    track_b[later : later + len(two_a)] += bleed * two_a
    rng = np.random.default_rng(0)
    conv_tracks = {a: track_a + rng.normal(0, 0.002, n).astype(np.float32),
                   b: track_b + rng.normal(0, 0.002, n).astype(np.float32)}
    conv = Conversation(conv_tracks[a], [], [a, b], conv_tracks)
    tracks = transcribe_tracks(asr, conv)
    assert [w.text for w in tracks[1].words] == ["five", "two"], "B's microphone heard A's 'two' as well"
    merged = merge_tracks(tracks)
    assert [(w.text, w.speaker) for w in merged] == [("five", a), ("five", b), ("two", a)]
