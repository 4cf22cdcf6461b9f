"""The page's language and vocabulary choices (no Gradio): which controls a model shows, what a job is
asked to do, and what is kept for the next start (the language per model, the vocabulary box)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

from chunky.asr.capabilities import (
    ModelOptions,
    UnsupportedLanguageError,
    check_language,
    format_language,
    format_model_languages,
    options_from_config,
    parse_language,
    read_archive_config,
    read_model_config,
)
from chunky.asr.options import EngineOptions
from chunky.asr.vocabulary import VocabularyLists, resolve
from chunky.base.errors import ChunkyError
from chunky.models.store import ModelStore
from chunky.settings import SavedSettings, Settings

log = logging.getLogger(__name__)

NAMES = {
    "en": "English", "de": "German", "es": "Spanish", "fr": "French", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "pl": "Polish", "ru": "Russian", "uk": "Ukrainian",
    "sv": "Swedish", "da": "Danish", "fi": "Finnish", "cs": "Czech", "sk": "Slovak",
    "sl": "Slovenian", "hr": "Croatian", "bg": "Bulgarian", "ro": "Romanian", "hu": "Hungarian",
    "el": "Greek", "et": "Estonian", "lv": "Latvian", "lt": "Lithuanian", "mt": "Maltese",
}
SAME = "same"  # the "write in" choice: the spoken language (transcription)
FIELDS = ("language", "target_language", "punctuation", "vocabulary")


def language_label(code: str) -> str:
    return f"{NAMES.get(code, code)} ({code})"


@dataclass(frozen=True)
class LanguageControls:
    """What the page shows for one model."""

    visible: bool  # the model takes a language (Canary)
    sources: list[tuple[str, str]]  # (label, code)
    source: str | None
    targets: list[tuple[str, str]]  # (label, code); SAME first
    target: str
    translation: bool
    about: str  # one line: what this model does (languages, boosting, ...)
    punctuation: bool | None = None  # the punctuation choice (None: the model takes none)


class ModelChoices:
    def __init__(self, store: ModelStore, settings: Settings, saved: SavedSettings):
        self.store = store
        self.settings = settings
        self.saved = saved
        self.lists = VocabularyLists(saved.path.parent)
        self._kept = dict(settings.model_languages)
        self._configs: dict[tuple[str, int], dict] = {}  # (archive, mtime) -> config of a model not extracted

    def options(self, model: str | None) -> ModelOptions:
        """The model's options from its extracted config (the catalogue's facts when it is not extracted
        yet)."""
        if not model:
            return ModelOptions()
        try:
            cfg = read_model_config(self.store.extracted_dir(model))
            if not cfg:
                archive = self.store.archive_path(model)
                key = (str(archive), archive.stat().st_mtime_ns) if archive.is_file() else None
                if key is not None and key not in self._configs:
                    self._configs[key] = read_archive_config(archive)
                cfg = self._configs.get(key, {}) if key else {}
        except Exception as exc:  # a broken folder must not break the page
            log.warning("Cannot read the config of %s: %s", model, exc)
            cfg = {}
        return options_from_config(cfg, model)

    def chosen(self, model: str | None) -> tuple[str, str] | None:
        if self.settings.origin("language") != "default":
            return self.settings.language
        spec = self._kept.get(model or "")
        return parse_language(spec) if spec else None

    def controls(self, model: str | None) -> LanguageControls:
        o = self.options(model)
        pair = self.chosen(model) or ((o.default_language,) * 2 if o.default_language else None)
        sources = [(language_label(c), c) for c in o.languages]
        source = pair[0] if pair and pair[0] in o.languages else (o.languages[0] if o.languages else None)
        targets = [("Same as spoken (transcribe)", SAME)]
        if o.translation:
            targets += [(f"Translate into {language_label(c)}", c) for c in o.languages]
        target = pair[1] if pair and o.translation and pair[1] != pair[0] else SAME
        punctuation = self.settings.punctuation if "pnc" in o.controls else None
        return LanguageControls(o.needs_language, sources, source, targets, target, o.translation,
                                o.describe() if model else "", punctuation)

    def job_options(self, model: str, choices: Mapping[str, object] | None) -> EngineOptions:
        """The engine options of a job of ``model`` with the page's ``choices`` (language, target_language,
        vocabulary); ChunkyError before the job starts for a language the model cannot do or a bad list.
        The choices are kept for the next start."""
        choices = choices or {}
        options = self.options(model)
        pair = None
        source = str(choices.get("language") or "").strip().lower()
        if source and options.needs_language:
            target = str(choices.get("target_language") or SAME).strip().lower()
            pair = (source, source if target in ("", SAME) else target)
            check_language(options, model, pair)  # UnsupportedLanguageError (a ChunkyError)
        elif self.settings.origin("language") != "default":
            pair = self.settings.language
        text = choices.get("vocabulary")
        raw = str(text) if text is not None else (self.settings.vocabulary or "")
        vocabulary = resolve(raw, self.lists)
        if raw.strip() and not vocabulary:
            raise ChunkyError("The vocabulary box has no words or phrases in it.")
        if vocabulary and not options.boosting and options.family != "unknown":
            log.info("%s has no vocabulary boosting; the list is kept but not used", model)
        if pair is not None and options.needs_language:
            self._kept[model] = format_language(pair)
        kept: dict[str, object] = {"model_languages": format_model_languages(sorted(self._kept.items()))}
        if text is not None:  # the page's box (not a list given on the command line)
            kept["vocabulary"] = raw.strip()
        punctuation = choices.get("punctuation")
        if punctuation is not None and "pnc" in options.controls:
            kept["punctuation"] = bool(punctuation)  # the page's choice, kept for the next start
        self.saved.save(**kept)
        base = self.settings.engine_options(model, vocabulary)
        base.language = pair if options.needs_language else None
        if punctuation is not None:
            base.punctuation = bool(punctuation)
        return base


__all__ = ["FIELDS", "SAME", "LanguageControls", "ModelChoices", "UnsupportedLanguageError"]
