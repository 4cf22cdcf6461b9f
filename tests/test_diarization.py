"""Who spoke when, with the real models trained here: the Sortformer diarization model
(tests/assets/diar-sortformer.nemo) and the digits ASR model, both stored, extracted and loaded by Chunky's
store and manager, on conversations of voices neither model heard in training."""

from __future__ import annotations

import threading
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from chunky.asr.diarization import (
    DiarizationCancelled,
    DiarizationError,
    DiarizationOptions,
    Diarizer,
    TooManySpeakersError,
    features,
)
from chunky.asr.options import Progress
from chunky.models.kinds import ASR, DIARIZATION
from chunky.transcript.model import Word
from chunky.transcript.speakers import assign_speakers
from tests.conversations import Conversation, best_mapping, build_conversation, diarization_error_rate
from tests.speech import AUDIO, align

pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent / "assets"
DIAR_MODEL = ASSETS / "diar-sortformer.nemo"
ASR_MODEL = ASSETS / "digits-ctc.nemo"
DER_TARGET = 0.10  # the target; the tiny CPU-trained model meets it on two speakers
# Three speakers: the 1.2 MB Sortformer confuses them (measured 24% on these conversations); the bound keeps
# it from getting worse. The clustering test model meets the target with three (tests/test_clustering.py).
DER_BOUND = {2: DER_TARGET, 3: 0.30}


def held_out_voices() -> dict[str, list[tuple[np.ndarray, str]]]:
    """The committed word clips, by voice: four espeak-ng voices neither model was trained on."""
    voices: dict[str, list[tuple[np.ndarray, str]]] = defaultdict(list)
    for path in sorted(AUDIO.glob("word-*.flac")):
        audio, _ = sf.read(str(path), dtype="float32")
        tag, word = path.stem[len("word-"):].rsplit("-", 1)
        voices[tag].append((audio, word))
    assert len(voices) == 4 and all(len(v) == 10 for v in voices.values())
    return dict(voices)


def conversation(speakers: int, seconds: float, seed: int, **kwargs) -> Conversation:
    voices = held_out_voices()
    names = sorted(voices)[:speakers] if seed % 2 else sorted(voices)[-speakers:]
    return build_conversation({n: voices[n] for n in names}, seconds, seed=seed, **kwargs)


def manager_of(home: Path, models: dict[str, Path]):
    """A ModelManager (CPU) over a fresh store in ``home`` holding ``models`` (name -> .nemo)."""
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    store = ModelStore(home / "local_models", home / "extracted")
    for name, path in models.items():
        store.import_archive(path, name)
    return ModelManager(store, device="cpu")


def share_of_words_right(asr, conv: Conversation, turns) -> tuple[int, float]:
    """The conversation transcribed by ``asr``, its words given the speakers of ``turns``: how many words
    were recognized right, and the share of them with the right speaker (one best mapping of names)."""
    (hyp,) = asr.transcribe([conv.audio], batch_size=1, timestamps=True, verbose=False)
    words = [Word(w["word"], w["start"], w["end"]) for w in hyp.timestamp["word"]]
    words = assign_speakers(words, turns)
    truth = conv.pieces
    pairs = [(r, h) for r, h in align([p.text for p in truth], [w.text for w in words])
             if r is not None and h is not None and truth[r].text == words[h].text]
    mapping = best_mapping([(truth[r].speaker, words[h].speaker) for r, h in pairs])
    right = sum(1 for r, h in pairs if mapping.get(words[h].speaker) == truth[r].speaker)
    return len(pairs), right / max(1, len(pairs))


@pytest.fixture(scope="module")
def manager(tmp_path_factory):
    m = manager_of(tmp_path_factory.mktemp("diar-home"),
                   {"diar-sortformer": DIAR_MODEL, "digits-ctc": ASR_MODEL})
    yield m
    m.unload()


@pytest.fixture(scope="module")
def diarizer(manager) -> Diarizer:
    loaded = manager.get("diar-sortformer", kind=DIARIZATION)
    return Diarizer(loaded.model, loaded.name)


@pytest.fixture(scope="module")
def asr(manager):
    return manager.get("digits-ctc", kind=ASR).model


def test_an_asr_and_a_diarization_model_are_resident_together(manager, diarizer, asr) -> None:
    from chunky.models.manager import WrongModelKindError

    assert set(manager.resident) == {ASR, DIARIZATION}
    assert manager.current.name == "digits-ctc"
    assert type(manager.resident[DIARIZATION].model).__name__ == "SortformerEncLabelModel"
    assert manager.get("diar-sortformer") is manager.resident[DIARIZATION]  # reused, not reloaded
    with pytest.raises(WrongModelKindError, match="is a diarization .* not a speech recognition model"):
        manager.get("diar-sortformer", kind=ASR)
    assert manager.store.kind("diar-sortformer") == DIARIZATION
    assert {m.name: m.kind for m in manager.store.list_models()} == {"diar-sortformer": DIARIZATION,
                                                                     "digits-ctc": ASR}


def test_features_in_pieces_equal_one_pass_and_streaming_equals_nemo(diarizer) -> None:
    import torch

    model = diarizer.model
    conv = conversation(2, 70, seed=3)
    with torch.inference_mode():
        whole, length = model.preprocessor(input_signal=torch.from_numpy(conv.audio)[None],
                                           length=torch.tensor([len(conv.audio)]))
        pieces, count, peak = features(model, conv.audio, piece_seconds=17)
        assert pieces.shape[2] == int(length[0])
        assert torch.equal(pieces, whole[:, :, : int(length[0])])
        assert count == len(conv.audio) and peak == float(np.abs(conv.audio).max())
        # The samples coming in blocks of any size (a decoder's): the same features, exactly.
        rng = np.random.default_rng(5)
        cuts = np.cumsum(rng.integers(1, 3 * 16000, size=200))
        blocks = np.split(conv.audio, cuts[cuts < len(conv.audio)])
        assert len(blocks) > 40
        streamed, count, _ = features(model, iter(blocks), piece_seconds=17)
        assert count == len(conv.audio) and torch.equal(streamed, pieces)
        nemo = model.forward(audio_signal=torch.from_numpy(conv.audio)[None],
                             audio_signal_length=torch.tensor([len(conv.audio)]))[0].numpy()
    ours = diarizer.diarize(conv.audio).activity
    assert ours.shape == nemo.shape
    assert np.abs(ours - nemo).max() < 1e-5
    from_blocks = diarizer.diarize(iter(blocks), seconds=conv.duration).activity
    assert np.array_equal(from_blocks, ours)


@pytest.mark.parametrize("speakers", [2, 3])
def test_held_out_conversations_der_is_within_target(diarizer, speakers: int) -> None:
    convs = [conversation(speakers, 120, seed=40 + 10 * speakers + k, overlap_probability=0.1)
             for k in range(3)]
    found = [(c, diarizer.diarize(c.audio).turns) for c in convs]
    result = diarization_error_rate(found)
    assert result["der"] <= DER_BOUND[speakers], result
    if speakers == 2:  # with three, the tiny model often hears two of them as one (confusion above)
        assert [len({t.speaker for t in turns}) for _, turns in found] == [speakers] * 3


def test_words_get_the_right_speaker(diarizer, asr) -> None:
    conv = conversation(2, 150, seed=7, overlap_probability=0.0)
    recognized, right = share_of_words_right(asr, conv, diarizer.diarize(conv.audio).turns)
    assert recognized >= 0.97 * len(conv.pieces)  # the ASR model gets nearly every word
    assert right >= 0.97, f"{right:.1%} of the words with the right speaker"


def test_an_expected_speaker_count_is_honoured(diarizer) -> None:
    conv = conversation(2, 60, seed=11)
    result = diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=2))
    assert len(result.speakers) == 2
    one = diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=1))
    assert one.speakers == ["Speaker 1"]
    with pytest.raises(TooManySpeakersError, match="at most 4 speakers, but 5 were asked for"):
        diarizer.diarize(conv.audio, options=DiarizationOptions(num_speakers=5))


def test_progress_per_chunk_cancel_and_bad_input(diarizer) -> None:
    conv = conversation(2, 40, seed=5)
    seen: list[Progress] = []
    diarizer.diarize(conv.audio, progress=seen.append)
    steps = [p for p in seen if p.stage == "diarizing"]
    assert len(steps) >= 5 and steps[-1].chunk_index == steps[-1].chunk_count
    assert [p.done_seconds for p in steps] == sorted(p.done_seconds for p in steps)
    cancel = threading.Event()

    def stop_after_two(p: Progress) -> None:
        if p.chunk_index == 2:
            cancel.set()

    with pytest.raises(DiarizationCancelled, match="2 of"):
        diarizer.diarize(conv.audio, progress=stop_after_two, cancel=cancel)
    with pytest.raises(DiarizationCancelled, match="reading the audio"):  # cancel while blocks are decoded
        diarizer.diarize(iter(np.split(conv.audio, 4)), cancel=cancel)
    with pytest.raises(DiarizationError, match="16000 Hz"):
        diarizer.diarize(conv.audio, rate=44100)
    with pytest.raises(DiarizationError, match="mono"):
        diarizer.diarize(np.stack([conv.audio, conv.audio]))
    assert diarizer.diarize(np.zeros(16000 * 5, np.float32)).turns == []
    assert diarizer.diarize(iter([np.full(16000 * 5, 1e-4, np.float32)])).silent  # below -60 dBFS
    with pytest.raises(DiarizationError, match="NaN"):
        diarizer.diarize(iter([conv.audio[:16000], np.full(100, np.nan, np.float32)]))
    with pytest.raises(DiarizationError, match="not a Sortformer"):
        Diarizer(object(), "digits-ctc")


def test_speakers_stay_the_same_across_many_chunks(diarizer) -> None:
    """Eight minutes is 64 of the model's 7.5 s chunks: each speaker keeps one name throughout, so the
    speaker mapping of every two-minute window is the one of the whole recording."""
    conv = conversation(2, 480, seed=21, overlap_probability=0.05)
    turns = diarizer.diarize(conv.audio).turns
    result = diarization_error_rate([(conv, turns)])
    assert result["der"] <= DER_TARGET, result
    words = assign_speakers([Word(p.text, p.start, p.end) for p in conv.pieces], turns)
    pairs = [(p.speaker, w.speaker) for p, w in zip(conv.pieces, words, strict=True)]
    overall = best_mapping(pairs)
    for lo in range(0, 480, 120):
        window = [(t, f) for (t, f), p in zip(pairs, conv.pieces, strict=True) if lo <= p.start < lo + 120]
        assert best_mapping(window) == {f: t for f, t in overall.items() if f in {x for _, x in window}}
