"""Model options and vocabulary with real NeMo models: a tiny Canary-shaped model built here (random
weights) receives the chosen languages in its decoder prompt on every chunk; the trained digits model is
boosted through NeMo's phrase boosting and given back its own decoding afterwards."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from chunky.asr.capabilities import UnsupportedLanguageError, options_from_config, read_model_config
from chunky.asr.options import EngineOptions
from chunky.asr.vocabulary import resolve
from tests.nemo_models import build_canary
from tests.speech import word_clips, write_flac

pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent / "assets"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("options-home")
    (home / "local_models").mkdir()
    build_canary(home / "local_models" / "tiny-canary.nemo", home / "work")
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    return home


@pytest.fixture(scope="module")
def engine(home):
    from chunky.asr.engine import Engine
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    store = ModelStore(home / "local_models", home / "extracted")
    manager = ModelManager(store, device="cpu")
    yield Engine(manager)
    manager.unload()


@pytest.fixture(scope="module")
def three_chunks(home) -> Path:
    rng = np.random.default_rng(3)
    return write_flac(home / "three chunks.flac", (rng.normal(0, 0.05, 16000 * 5)).astype(np.float32))


def _spy_prompts(model) -> list[str]:
    """Every decoder prompt the model is given, as text (wraps NeMo's own decode call; it still runs)."""
    seen: list[str] = []
    real = model.decoding.decode_predictions_tensor

    def spy(*args, **kwargs):
        ids = kwargs.get("decoder_input_ids")
        seen.extend(model.tokenizer.ids_to_text([i for i in row if i != model.tokenizer.pad_id])
                    for row in ids.tolist())
        return real(*args, **kwargs)

    model.decoding.decode_predictions_tensor = spy
    return seen


def test_the_built_models_own_config_gives_its_options(engine) -> None:
    folder = engine.manager.store.ensure_extracted("tiny-canary")
    o = options_from_config(read_model_config(folder), "tiny-canary")
    assert o.family == "aed" and o.prompt_format == "canary2"
    assert o.languages == ("en", "de", "es", "fr") and o.controls == ("source_lang", "target_lang")
    digits = options_from_config(read_model_config(engine.manager.store.ensure_extracted("digits")), "digits")
    assert digits.family == "ctc" and digits.controls == () and digits.boosting and digits.pnc is False


@pytest.mark.parametrize(("language", "expected"), [(("de", "en"), "<|de|><|en|>"),
                                                    (("fr", "fr"), "<|fr|><|fr|>"),
                                                    (None, "<|en|><|en|>")])
def test_the_chosen_languages_reach_the_prompt_of_every_chunk(engine, three_chunks, language,
                                                              expected) -> None:
    model = engine.manager.get("tiny-canary").model
    seen = _spy_prompts(model)
    try:
        opts = EngineOptions(chunk_seconds=2.0, overlap_seconds=0.2, batch_size=1, cut_at_pauses=False,
                             language=language)
        engine.transcribe(three_chunks, "tiny-canary", options=opts)
    finally:
        del model.decoding.decode_predictions_tensor  # NeMo's own method again
    assert len(seen) >= 3, seen  # one prompt per chunk (batch of one)
    assert all(expected in p and "<|pnc|>" in p for p in seen), seen


def test_an_unsupported_language_fails_before_any_chunk(engine, three_chunks) -> None:
    model = engine.manager.get("tiny-canary").model
    seen = _spy_prompts(model)
    try:
        with pytest.raises(UnsupportedLanguageError, match="does not know the language 'pl'"):
            engine.transcribe(three_chunks, "tiny-canary", options=EngineOptions(language=("pl", "pl")))
        with pytest.raises(UnsupportedLanguageError, match="from English or into English only"):
            engine.transcribe(three_chunks, "tiny-canary", options=EngineOptions(language=("de", "fr")))
    finally:
        del model.decoding.decode_predictions_tensor
    assert seen == []


def test_canary_with_a_vocabulary_says_it_has_no_boosting(engine, three_chunks) -> None:
    opts = EngineOptions(chunk_seconds=5.0, vocabulary=resolve("seven"))
    engine.transcribe(three_chunks, "tiny-canary", options=opts)
    assert any("tiny-canary has no vocabulary boosting" in n for n in engine.notices)


def test_boosting_reaches_the_decoding_and_is_undone(engine, home) -> None:
    model = engine.manager.get("digits").model
    before = model.cfg.decoding.strategy
    clip = next(a for a, w in word_clips() if w == "one")
    path = write_flac(home / "one.flac", clip)
    plain = engine.transcribe(path, "digits").text
    assert plain == "one"
    # A word not said, boosted far too hard, takes over: NeMo's boosting is in the decoding.
    hard = EngineOptions(vocabulary=resolve("seven:10, Zoë"), vocabulary_strength=10.0)
    flooded = engine.transcribe(path, "digits", options=hard).text
    assert "seven" in flooded or "sev" in flooded, flooded
    assert engine.notices == ["'Zoë' left out: the model cannot write 'ë'"]
    assert model.cfg.decoding.strategy == before == "greedy"  # the model's own decoding again
    assert getattr(model.decoding.decoding, "fusion_models", None) is None
    assert engine.transcribe(path, "digits").text == "one"


def test_all_digit_words_at_the_default_strength_change_no_clean_clip(engine, home) -> None:
    opts = EngineOptions(vocabulary=resolve("zero, one, two, three, four, five, six, seven, eight, nine"))
    clips = word_clips()[::4]  # 10 clips, every word
    for i, (clip, word) in enumerate(clips):
        path = write_flac(home / f"clip-{i}.flac", clip)
        transcript = engine.transcribe(path, "digits", options=opts)
        assert transcript.text == word
        # Word times survive the boosted decoding (NeMo's own seconds): those of the plain decoding.
        (w,) = transcript.words
        (plain,) = engine.transcribe(path, "digits").words
        assert w.text == word and abs(w.start - plain.start) <= 0.04 and abs(w.end - plain.end) <= 0.04
