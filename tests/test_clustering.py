"""Who spoke when by clustering speaker embeddings (chunky.asr.clustering), with the speaker-embedding
model trained here (tests/assets/speaker-embed.nemo, an EncDecSpeakerLabelModel), stored, extracted and
loaded by Chunky's store and manager like every other model, on conversations of voices it never heard in
training."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import chunky.asr.clustering as clustering
from chunky.asr.clustering import ClusteringDiarizer
from chunky.asr.diarization import (
    DiarizationCancelled,
    DiarizationError,
    DiarizationOptions,
    TooManySpeakersError,
)
from chunky.asr.diarizers import diarizer_for
from chunky.asr.options import Progress
from chunky.models.kinds import ASR, SPEAKER
from chunky.transcript.model import Word
from chunky.transcript.speakers import assign_speakers
from tests.conversations import best_mapping, diarization_error_rate
from tests.test_diarization import ASR_MODEL, DER_TARGET, conversation, manager_of, share_of_words_right

pytestmark = pytest.mark.slow

SPEAKER_MODEL = Path(__file__).resolve().parent / "assets" / "speaker-embed.nemo"


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = manager_of(tmp_path_factory.mktemp("clustering-home"),
                   {"speaker-embed": SPEAKER_MODEL, "digits-ctc": ASR_MODEL})
    yield m
    m.unload()


@pytest.fixture(scope="module")
def diarizer(manager) -> ClusteringDiarizer:
    loaded = manager.get("speaker-embed", kind=SPEAKER)
    found = diarizer_for(loaded.model, loaded.name)
    assert isinstance(found, ClusteringDiarizer)
    return found


def test_the_speaker_model_is_stored_and_loaded_like_the_others(manager, diarizer) -> None:
    from chunky.models.manager import WrongModelKindError

    assert manager.store.kind("speaker-embed") == SPEAKER
    assert type(manager.resident[SPEAKER].model).__name__ == "EncDecSpeakerLabelModel"
    assert (manager.store.extracted_dir("speaker-embed") / "model_config.yaml").is_file()  # loaded from there
    with pytest.raises(WrongModelKindError, match="not a speech recognition model"):
        manager.get("speaker-embed", kind=ASR)
    with pytest.raises(DiarizationError, match="not a Sortformer"):
        diarizer_for(object(), "digits-ctc")
    with pytest.raises(DiarizationError, match="not a speaker-embedding model"):
        ClusteringDiarizer(object(), "digits-ctc")


@pytest.mark.parametrize("speakers", [2, 3])
def test_held_out_conversations_der_is_within_target(diarizer, speakers: int) -> None:
    """The conversations the Sortformer test model is measured on (tests/test_diarization.py)."""
    convs = [conversation(speakers, 120, seed=40 + 10 * speakers + k, overlap_probability=0.1)
             for k in range(3)]
    found = [(c, diarizer.diarize(c.audio).turns) for c in convs]
    result = diarization_error_rate(found)
    assert result["der"] <= DER_TARGET, result
    assert [len({t.speaker for t in turns}) for _, turns in found] == [speakers] * 3  # the count, found
    given = [(c, diarizer.diarize(c.audio, options=DiarizationOptions(num_speakers=speakers)).turns)
             for c in convs]
    assert diarization_error_rate(given)["der"] <= DER_TARGET


def test_blocks_as_they_are_decoded_give_the_same_turns(diarizer, monkeypatch) -> None:
    monkeypatch.setattr(clustering, "VAD_PIECE", 625 * 512)  # 20 s: the VAD reads four pieces as they come
    conv = conversation(3, 75, seed=9)
    whole = diarizer.diarize(conv.audio)
    rng = np.random.default_rng(8)
    cuts = np.cumsum(rng.integers(1, 3 * 16000, size=200))
    blocks = np.split(conv.audio, cuts[cuts < len(conv.audio)])
    assert len(blocks) > 40
    streamed = diarizer.diarize(iter(blocks), seconds=conv.duration)
    assert streamed.turns == whole.turns and np.array_equal(streamed.activity, whole.activity)


def test_words_get_the_right_speaker(diarizer, manager) -> None:
    asr = manager.get("digits-ctc", kind=ASR).model
    conv = conversation(3, 150, seed=7, overlap_probability=0.0)
    recognized, right = share_of_words_right(asr, conv, diarizer.diarize(conv.audio).turns)
    assert recognized >= 0.97 * len(conv.pieces)
    assert right >= 0.97, f"{right:.1%} of the words with the right speaker"


def test_speaker_count_progress_cancel_and_bad_input(diarizer) -> None:
    conv = conversation(2, 70, seed=11)
    assert len(diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=2)).speakers) == 2
    assert diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=1)).speakers == ["Speaker 1"]
    with pytest.raises(TooManySpeakersError, match="at most 8 speakers, but 9 were asked for"):
        diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=9))
    seen: list[Progress] = []
    blocks = np.split(conv.audio, 14)
    diarizer.diarize(iter(blocks), progress=seen.append, seconds=conv.duration)
    done = [p.done_seconds for p in seen if p.stage == "diarizing"]
    assert len(done) >= 14 and done == sorted(done) and done[-1] == pytest.approx(conv.duration)
    cancel = threading.Event()

    def stop_at_half(p: Progress) -> None:
        if p.done_seconds >= conv.duration / 2:
            cancel.set()

    with pytest.raises(DiarizationCancelled, match="Cancelled while finding the speakers"):
        diarizer.diarize(iter(blocks), progress=stop_at_half, cancel=cancel, seconds=conv.duration)
    with pytest.raises(DiarizationError, match="16000 Hz"):
        diarizer.diarize(conv.audio, rate=44100)
    with pytest.raises(DiarizationError, match="mono"):
        diarizer.diarize(np.stack([conv.audio, conv.audio]))
    with pytest.raises(DiarizationError, match="NaN"):
        diarizer.diarize(iter([conv.audio[:16000], np.full(100, np.nan, np.float32)]))
    assert diarizer.diarize(np.zeros(16000 * 5, np.float32)).silent
    assert diarizer.diarize(iter([np.full(16000 * 5, 1e-4, np.float32)])).turns == []  # below -60 dBFS
    assert diarizer.diarize(conv.audio[:4000]).silent  # a quarter of a second


def test_speakers_stay_the_same_when_a_long_recording_is_clustered_in_pieces(diarizer, monkeypatch) -> None:
    """Eight minutes (1,618 base windows) clustered 1,000 at a time (4 minutes of speech), then merged, as
    an hour is 3,000 at a time: each speaker keeps one name throughout. (Pieces of 800 split a fourth
    "speaker" off one voice here: 70 windows, too many to be merged as a scrap; docs/speakers.md.)"""
    from nemo.collections.asr.parts.utils.longform_clustering import LongFormSpeakerClustering

    monkeypatch.setattr(clustering, "CLUSTER_PIECE", 1000)
    pieces = []
    long_form = LongFormSpeakerClustering.long_forward_infer

    def spy(self, **kwargs):
        pieces.append(int(kwargs["multiscale_segment_counts"].max()))
        return long_form(self, **kwargs)

    monkeypatch.setattr(LongFormSpeakerClustering, "long_forward_infer", spy)
    conv = conversation(3, 480, seed=21, overlap_probability=0.05)
    turns = diarizer.diarize(conv.audio).turns
    assert len(pieces) == 1 and pieces[0] > 1000  # two pieces, clustered apart, then merged
    result = diarization_error_rate([(conv, turns)])
    assert result["der"] <= DER_TARGET, result
    assert len({t.speaker for t in turns}) == 3
    words = assign_speakers([Word(p.text, p.start, p.end) for p in conv.pieces], turns)
    pairs = [(p.speaker, w.speaker) for p, w in zip(conv.pieces, words, strict=True)]
    overall = best_mapping(pairs)
    for lo in range(0, 480, 120):
        window = [(t, f) for (t, f), p in zip(pairs, conv.pieces, strict=True) if lo <= p.start < lo + 120]
        assert best_mapping(window) == {f: t for f, t in overall.items() if f in {x for _, x in window}}
