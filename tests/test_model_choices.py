"""The page's language and vocabulary choices without Gradio or NeMo: a Canary-shaped config and a
char CTC config written where extracted models live; the controls each shows, the job options, what is
kept for the next start."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from chunky.app.model_choices import SAME, ModelChoices
from chunky.asr.capabilities import UnsupportedLanguageError
from chunky.asr.vocabulary import VocabularyError
from chunky.base.errors import ChunkyError
from chunky.models.store import ModelStore
from chunky.settings import SavedSettings, load_settings, settings_for
from tests.nemo_models import canary_config, char_ctc_config


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    for name, cfg in (("tiny-canary", canary_config("/x", "/y")), ("digits", char_ctc_config())):
        folder = tmp_path / "extracted" / name
        folder.mkdir(parents=True)
        (folder / "model_config.yaml").write_text(yaml.safe_dump(cfg), "utf-8")
    return tmp_path


def choices_for(cache: Path, environ: dict | None = None) -> ModelChoices:
    settings = settings_for(cache, environ or {})
    store = ModelStore(cache / "local_models", cache / "extracted")
    return ModelChoices(store, settings, SavedSettings(cache))


def test_only_a_model_that_takes_a_language_shows_the_controls(cache: Path) -> None:
    mc = choices_for(cache)
    canary = mc.controls("tiny-canary")
    assert canary.visible and canary.translation
    assert sorted(code for _, code in canary.sources) == ["de", "en", "es", "fr"] and canary.source == "en"
    assert canary.targets[0] == ("Same as spoken (transcribe)", SAME) and canary.target == SAME
    assert ("Translate into German (de)", "de") in canary.targets
    digits = mc.controls("digits")
    assert not digits.visible and not digits.translation and digits.sources == []
    assert "vocabulary boosting" in digits.about and "CTC" in digits.about
    parakeet = mc.controls("parakeet-tdt-0.6b-v3")  # not extracted: the catalogue's facts
    assert not parakeet.visible and "found by itself" in parakeet.about


def test_the_language_reaches_the_job_and_is_kept_per_model(cache: Path) -> None:
    mc = choices_for(cache)
    opts = mc.job_options("tiny-canary", {"language": "de", "target_language": "en", "vocabulary": ""})
    assert opts.language == ("de", "en")
    assert mc.job_options("digits", {"language": "de"}).language is None  # no control, nothing passed
    saved = SavedSettings(cache).load()
    assert saved["model_languages"] == "tiny-canary=de>en"
    again = choices_for(cache)  # the next start
    assert again.controls("tiny-canary").source == "de" and again.controls("tiny-canary").target == "en"
    assert load_settings({}, saved=saved).language_for("tiny-canary") == ("de", "en")


def test_punctuation_is_a_choice_only_for_canary_and_is_kept(cache: Path) -> None:
    mc = choices_for(cache)
    assert mc.controls("tiny-canary").punctuation is True
    assert mc.controls("digits").punctuation is None  # a CTC model writes what it writes: no control
    assert mc.controls("parakeet-tdt-0.6b-v3").punctuation is None
    opts = mc.job_options("tiny-canary", {"language": "en", "punctuation": False, "vocabulary": ""})
    assert opts.punctuation is False
    assert SavedSettings(cache).load()["punctuation"] is False
    assert choices_for(cache).controls("tiny-canary").punctuation is False  # the next start
    assert mc.job_options("tiny-canary", {"language": "en", "vocabulary": ""}).punctuation is True
    # Set for the run (environment or --no-punctuation): the control shows it.
    assert choices_for(cache, {"CHUNKY_PUNCTUATION": "0"}).controls("tiny-canary").punctuation is False


def test_a_bad_language_or_vocabulary_fails_before_the_job(cache: Path) -> None:
    mc = choices_for(cache)
    with pytest.raises(UnsupportedLanguageError, match="does not know the language 'pl'"):
        mc.job_options("tiny-canary", {"language": "pl"})
    with pytest.raises(UnsupportedLanguageError, match="English only"):
        mc.job_options("tiny-canary", {"language": "de", "target_language": "fr"})
    with pytest.raises(VocabularyError, match="strength"):
        mc.job_options("digits", {"vocabulary": "seven:99"})
    with pytest.raises(ChunkyError, match="no words"):
        mc.job_options("digits", {"vocabulary": " , ,"})
    assert "model_languages" not in SavedSettings(cache).load() or not SavedSettings(cache).load()[
        "model_languages"]


def test_the_vocabulary_box_and_saved_lists(cache: Path) -> None:
    mc = choices_for(cache)
    mc.lists.save("show-1", mc.job_options("digits", {"vocabulary": "seven, nine:2"}).vocabulary)
    opts = mc.job_options("digits", {"vocabulary": "show-1"})
    assert opts.vocabulary.texts == ["seven", "nine"] and opts.vocabulary.phrases[1].strength == 2
    assert SavedSettings(cache).load()["vocabulary"] == "show-1"
    env = choices_for(cache, {"CHUNKY_VOCABULARY": "eight", "CHUNKY_VOCABULARY_STRENGTH": "1.5"})
    from_env = env.job_options("digits", {})
    assert from_env.vocabulary.texts == ["eight"] and from_env.vocabulary_strength == 1.5


def test_a_model_not_extracted_yet_is_read_from_its_archive(tmp_path: Path) -> None:
    import io
    import tarfile

    local = tmp_path / "local_models"
    local.mkdir()
    data = yaml.safe_dump(canary_config("/x", "/y")).encode()
    with tarfile.open(local / "fresh-canary.nemo", "w") as tar:
        weights = tarfile.TarInfo("./model_weights.ckpt")
        weights.size = 4
        tar.addfile(weights, io.BytesIO(b"1234"))
        info = tarfile.TarInfo("./model_config.yaml")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    mc = ModelChoices(ModelStore(local, tmp_path / "extracted"), settings_for(tmp_path, {}),
                      SavedSettings(tmp_path))
    assert mc.controls("fresh-canary").visible
    (local / "broken.nemo").write_bytes(b"not a tar")
    assert not mc.controls("broken").visible  # unreadable: no controls, no error
