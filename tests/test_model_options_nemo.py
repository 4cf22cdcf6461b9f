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
from tests.nemo_models import build_canary, build_tiny_tdt
from tests.speech import word_clips, write_flac

pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent / "assets"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("options-home")
    (home / "local_models").mkdir()
    build_canary(home / "local_models" / "tiny-canary.nemo", home / "work")
    build_tiny_tdt(home / "local_models" / "tiny-tdt.nemo", home / "work")
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
    assert o.languages == ("en", "de", "es", "fr") and o.controls == ("source_lang", "target_lang", "pnc")
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


def test_no_punctuation_reaches_the_prompt_as_nopnc(engine, three_chunks) -> None:
    model = engine.manager.get("tiny-canary").model
    seen = _spy_prompts(model)
    try:
        opts = EngineOptions(chunk_seconds=2.0, overlap_seconds=0.2, batch_size=1, cut_at_pauses=False,
                             language=("en", "en"), punctuation=False)
        engine.transcribe(three_chunks, "tiny-canary", options=opts)
    finally:
        del model.decoding.decode_predictions_tensor
    assert len(seen) >= 3 and all("<|nopnc|>" in p and "<|pnc|>" not in p for p in seen), seen


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


def test_a_tdt_model_is_boosted_through_nemos_decoding_config(engine, three_chunks) -> None:
    import torch
    from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import GPUBoostingTreeModel

    from chunky.asr import boosting

    model = engine.manager.get("tiny-tdt").model
    with boosting.boosted(model, "tiny-tdt", resolve("seven, nine:2, Zoë"), 5.0) as boost:
        # The toy tokenizer has lower-case pieces and no 'ë': its unknown token tells.
        assert boost.kind == "rnnt" and boost.notes == ["'Zoë' left out: the model cannot write 'ë'"]
        assert model.cfg.decoding.greedy.boosting_tree.key_phrases_list == ["seven", "nine"]
        computer = model.decoding.decoding.decoding_computer
        (i,) = [i for i, f in enumerate(computer.fusion_models) if isinstance(f, GPUBoostingTreeModel)]
        # Each phrase scored by its own strength (the config's tree gives all one score): Chunky's tree.
        ours = boosting.build_tree(model, resolve("seven, nine:2"))
        assert torch.equal(computer.fusion_models[i].arcs_weights.detach(), ours.arcs_weights.detach())
        uniform = boosting.build_tree(model, resolve("seven, nine"))
        assert not torch.equal(ours.arcs_weights.detach(), uniform.arcs_weights.detach())
        assert computer.fusion_models_alpha[i] == 5.0
    assert not model.cfg.decoding.greedy.get("boosting_tree", {}).get("key_phrases_list")
    # Through the engine (random weights: a phrase boosted hard shows up; word times kept).
    opts = EngineOptions(chunk_seconds=5.0, vocabulary=resolve("seven"), vocabulary_strength=5.0)
    transcript = engine.transcribe(three_chunks, "tiny-tdt", options=opts)
    assert "seven" in transcript.text and transcript.words and transcript.words[0].text == "seven"


def test_each_phrase_keeps_its_own_strength_on_a_tdt_model(engine, three_chunks) -> None:
    """Two phrases, one boosted much harder than the other, then the other way round: the harder one
    wins each time (random weights: what comes out is what the boosting favours)."""
    def count(vocabulary: str) -> tuple[int, int]:
        opts = EngineOptions(chunk_seconds=5.0, vocabulary=resolve(vocabulary), vocabulary_strength=2.0)
        words = engine.transcribe(three_chunks, "tiny-tdt", options=opts).text.split()
        return words.count("seven"), words.count("nine")

    seven, nine = count("seven:4, nine:0.5")
    assert seven > nine, (seven, nine)
    seven, nine = count("seven:0.5, nine:4")
    assert nine > seven, (seven, nine)


def test_boosting_a_word_the_model_gets_wrong_fixes_it(engine, home) -> None:
    """bench/vocabulary.py's case: en-gb-x-rp+f4 saying "four", spoken 1.4x faster (resampled)."""
    import soundfile as sf

    audio, _ = sf.read(str(ASSETS / "audio" / "word-en_gb_x_rp_f4-four.flac"), dtype="float32")
    n = int(len(audio) / 1.4)
    fast = np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(np.float32)
    path = write_flac(home / "fast four.flac", fast)
    assert engine.transcribe(path, "digits").text != "four"
    fixed = engine.transcribe(path, "digits", options=EngineOptions(vocabulary=resolve("four")))
    assert fixed.text == "four" and [w.text for w in fixed.words] == ["four"]
