"""Word confidence from NeMo (chunky.asr.confidence): the engine with the trained digits model marks the one
word buried in noise and none of the clean ones; how scores are read off hypotheses, for word- and
character-level decoders."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from chunky.asr.confidence import word_confidences
from chunky.settings import Settings
from tests.speech import assemble, bury_word, write_flac

pytestmark = pytest.mark.slow  # NeMo (the trained digits model)

ASSETS = Path(__file__).resolve().parent / "assets"


def test_scores_are_read_per_word_or_averaged_from_character_tokens():
    words = ["ab", "c"]
    assert word_confidences(SimpleNamespace(word_confidence=[0.5, 0.25]), words) == [0.5, 0.25]
    # characters: a b (space) c -> the space is no word's
    assert word_confidences(SimpleNamespace(token_confidence=[0.2, 0.4, 0.0, 0.9]), words) == \
        pytest.approx([0.3, 0.9])
    assert word_confidences(SimpleNamespace(token_confidence=[0.2, 0.4]), words) is None  # does not add up
    assert word_confidences(SimpleNamespace(word_confidence=[0.5]), words) is None
    assert word_confidences(SimpleNamespace(word_confidence=[float("nan"), 3]), words) == [None, 1.0]
    assert word_confidences(SimpleNamespace(), words) is None


def test_the_word_buried_in_noise_is_below_the_threshold_and_the_clean_words_are_not(tmp_path):
    from chunky.asr.engine import Engine
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    audio, truth = assemble(40.0, seed=5)
    noisy, lo, hi = bury_word(audio, truth, 7, snr_db=-5.0)
    path = write_flac(tmp_path / "one word in noise.flac", noisy)
    (tmp_path / "local_models").mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", tmp_path / "local_models" / "digits.nemo")
    manager = ModelManager(ModelStore(tmp_path / "local_models", tmp_path / "extracted"), device="cpu")
    try:
        transcript = Engine(manager).transcribe(path, "digits")
    finally:
        manager.unload()
    threshold = Settings().confidence_threshold
    assert all(w.confidence is not None and 0 <= w.confidence <= 1 for w in transcript.words)
    buried = [w for w in transcript.words if w.start < hi and w.end > lo]
    clean = [w for w in transcript.words if w.end < lo - 0.3 or w.start > hi + 0.3]
    assert buried and len(clean) >= len(truth) - 4
    assert all(w.confidence < threshold for w in buried), [(w.text, w.confidence) for w in buried]
    assert all(w.confidence >= threshold for w in clean), [(w.text, w.confidence) for w in clean
                                                           if w.confidence < threshold]
    # kept in the JSON form
    assert transcript.to_dict()["words"][0]["confidence"] == round(transcript.words[0].confidence, 4)
