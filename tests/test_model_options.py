"""What a model supports, read from its config (pure: dicts shaped like the configs NeMo saves, built by
tests/nemo_models.py), and the language choice checked against it and kept per model."""

from __future__ import annotations

import pytest

from chunky.asr.capabilities import (
    UnsupportedLanguageError,
    check_language,
    format_language,
    options_from_config,
    parse_language,
    parse_model_languages,
)
from chunky.settings import load_settings
from tests.nemo_models import canary_config, char_ctc_config

CANARY = canary_config("/x/text", "/x/special")


def test_canary_config_gives_languages_translation_and_a_language_control() -> None:
    o = options_from_config(CANARY, "my-canary")
    assert o.family == "aed" and o.prompt_format == "canary2"
    assert o.languages == ("en", "de", "es", "fr") and o.default_language == "en"
    assert o.translation and o.needs_language and o.timestamps and o.pnc
    assert not o.boosting and not o.confidence
    assert o.controls == ("source_lang", "target_lang", "pnc")


def test_canary_v1_prompt_has_no_word_times() -> None:
    o = options_from_config({**CANARY, "prompt_format": "canary"})
    assert not o.timestamps


def test_char_ctc_config_has_no_language_control_but_boosting_and_confidence() -> None:
    o = options_from_config(char_ctc_config())
    assert o.family == "ctc" and o.controls == () and not o.needs_language
    assert o.boosting and o.confidence and o.timestamps
    assert o.pnc is False  # lower-case labels without punctuation
    assert "lower case" in o.describe() and "vocabulary boosting" in o.describe()


def test_transducer_families_and_the_catalogue_filling_in_languages() -> None:
    tdt = {"joint": {}, "decoder": {}, "loss": {"loss_name": "tdt"}, "tokenizer": {"dir": "x", "type": "bpe"},
           "preprocessor": {"window_stride": 0.01}}
    o = options_from_config(tdt, "parakeet-tdt-0.6b-v3")
    assert o.family == "tdt" and o.auto_language and len(o.languages) == 25 and o.controls == ()
    assert o.pnc is True and o.boosting
    assert options_from_config({**tdt, "loss": {}}, None).family == "rnnt"
    assert options_from_config({**tdt, "aux_ctc": {}}).family == "hybrid"
    assert options_from_config({"target": "nemo.collections.asr.models.SortformerEncLabelModel",
                                "sortformer_modules": {}}).family == "diarization"
    assert options_from_config({}).family == "unknown"


@pytest.mark.parametrize(("raw", "pair"), [("de", ("de", "de")), ("de>en", ("de", "en")),
                                           ("DE : en", ("de", "en")), ("de->en", ("de", "en")), ("", None),
                                           ("auto", None)])
def test_parse_language(raw, pair) -> None:
    assert parse_language(raw) == pair
    assert parse_language(format_language(pair)) == pair


@pytest.mark.parametrize("raw", ["german", "de>en>fr", "d", "de>"])
def test_parse_language_refuses(raw) -> None:
    with pytest.raises(ValueError, match="language code"):
        parse_language(raw)


def test_check_language_before_the_job_starts() -> None:
    canary = options_from_config(CANARY)
    assert check_language(canary, "c", None) == ("en", "en")  # the model's default reaches it anyway
    assert check_language(canary, "c", ("de", "en")) == ("de", "en")
    with pytest.raises(UnsupportedLanguageError, match="does not know the language 'pl'.*en, de, es, fr"):
        check_language(canary, "c", ("pl", "pl"))
    with pytest.raises(UnsupportedLanguageError, match="cannot translate into 'it'"):
        check_language(canary, "c", ("en", "it"))
    with pytest.raises(UnsupportedLanguageError, match="from English or into English only"):
        check_language(canary, "c", ("de", "fr"))
    english = options_from_config({"joint": {}, "decoder": {}}, "parakeet-tdt-0.6b-v2")
    assert check_language(english, "p", ("en", "en")) is None  # nothing to pass: it takes no language
    with pytest.raises(UnsupportedLanguageError, match="0.6b-v2 does not know the language 'de'"):
        check_language(english, "parakeet-tdt-0.6b-v2", ("de", "de"))
    with pytest.raises(UnsupportedLanguageError, match="cannot translate"):
        check_language(english, "p", ("en", "de"))


def test_the_language_is_kept_per_model_and_a_given_one_wins() -> None:
    assert parse_model_languages("b=fr; a = de>en;c=auto") == (("a", "de>en"), ("b", "fr"))
    with pytest.raises(ValueError):
        parse_model_languages("a")
    saved = {"model_languages": "canary-1b-flash=de>en;canary-180m-flash=fr"}
    s = load_settings({}, saved=saved)
    assert s.language_for("canary-1b-flash") == ("de", "en")
    assert s.language_for("canary-180m-flash") == ("fr", "fr")
    assert s.language_for("other") is None
    assert s.engine_options("canary-180m-flash").language == ("fr", "fr")
    given = load_settings({"CHUNKY_LANGUAGE": "es"}, saved=saved)
    assert given.language_for("canary-1b-flash") == ("es", "es")
    auto = load_settings({}, flags={"language": None}, saved=saved)
    assert auto.language_for("canary-1b-flash") == ("de", "en")
    shown = dict((n, v) for n, v, _ in s.describe())
    assert shown["model_languages"] == "canary-180m-flash=fr;canary-1b-flash=de>en"
    assert dict((n, v) for n, v, _ in given.describe())["language"] == "es"
