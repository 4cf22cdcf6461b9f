"""What a model can do, read from its own config (``model_config.yaml`` as a dict): its family, the
languages and translation of Canary-style prompt models, punctuation and capitals, word times, word
confidence, vocabulary boosting, whether it takes a language. And the user's language choice checked
against it. No torch, no NeMo: the page and the command line ask before anything is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunky.base.errors import ChunkyError
from chunky.models.catalogue import known_model

_LANG = re.compile(r"^[a-z]{2,3}(?:-[a-z]{2,4})?$")
_SPLIT = re.compile(r"\s*(?:>|->|→|:)\s*")
FAMILIES = ("ctc", "rnnt", "tdt", "hybrid", "aed", "diarization", "unknown")


class UnsupportedLanguageError(ChunkyError):
    """A language (or a translation) the model cannot do; raised before the job starts."""


@dataclass(frozen=True)
class ModelOptions:
    family: str = "unknown"
    prompt_format: str | None = None  # "canary", "canary2" for prompt models
    languages: tuple[str, ...] = ()  # () when the config does not say
    default_language: str | None = None
    translation: bool = False  # source and target may differ
    pnc: bool | None = None  # writes punctuation and capitals (None: the config does not say)
    timestamps: bool = True  # word times
    confidence: bool = False  # word confidence (greedy CTC/RNNT decoding)
    boosting: bool = False  # NeMo's phrase boosting applies to its decoding
    needs_language: bool = False  # the spoken language is part of its prompt
    auto_language: bool = False  # finds the language itself (parakeet-tdt-0.6b-v3)

    @property
    def controls(self) -> tuple[str, ...]:
        """The page's controls that apply to this model."""
        out = []
        if self.needs_language:
            out.append("source_lang")
        if self.translation:
            out.append("target_lang")
        if self.needs_language and self.pnc:
            out.append("pnc")  # the prompt's punctuation slot: on or off
        return tuple(out)

    def describe(self) -> str:
        """One line for the page and the log: what this model does."""
        parts = [{"aed": "Canary (prompted)", "tdt": "TDT", "rnnt": "RNN-T", "ctc": "CTC",
                  "hybrid": "hybrid TDT/RNN-T + CTC", "diarization": "speaker model"}.get(self.family,
                                                                                         "unknown kind")]
        if self.languages:
            many = len(self.languages) > 6
            langs = f"{len(self.languages)} languages" if many else ", ".join(self.languages)
            parts.append(f"languages: {langs}" + (" (found by itself)" if self.auto_language else ""))
        if self.translation:
            parts.append("translates")
        if self.pnc is False:
            parts.append("lower case, no punctuation")
        if not self.timestamps:
            parts.append("no word times")
        parts.append("vocabulary boosting" if self.boosting else "no vocabulary boosting")
        return "; ".join(parts)


def _get(cfg: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(cfg, Mapping):
            return None
        cfg = cfg.get(key)
    return cfg


def _family(cfg: Mapping[str, Any]) -> str:
    target = str(cfg.get("target") or cfg.get("_target_") or "")
    if "MultiTask" in target or "transf_decoder" in cfg:
        return "aed"
    if "Sortformer" in target or "SpeakerLabel" in target or "sortformer_modules" in cfg:
        return "diarization"
    if "joint" in cfg:
        if "aux_ctc" in cfg or "Hybrid" in target:
            return "hybrid"
        loss = str(_get(cfg, "loss", "loss_name") or "")
        if loss.startswith("tdt") or _get(cfg, "model_defaults", "tdt_durations"):
            return "tdt"
        return "rnnt"
    if "decoder" in cfg:
        return "ctc"
    return "unknown"


def _prompt_languages(cfg: Mapping[str, Any]) -> tuple[str, ...]:
    langs = _get(cfg, "tokenizer", "langs")
    if isinstance(langs, Mapping):
        return tuple(k for k in langs if k != "spl_tokens")
    return ()


def _default_slot(cfg: Mapping[str, Any], slot: str) -> str | None:
    for turn in cfg.get("prompt_defaults") or []:
        if isinstance(turn, Mapping) and turn.get("role", "user") == "user":
            value = _get(turn, "slots", slot)
            if value:
                return str(value).strip("<|>")
    return None


def _char_labels(cfg: Mapping[str, Any]) -> list[str] | None:
    labels = cfg.get("labels") or _get(cfg, "decoder", "vocabulary")
    return [str(x) for x in labels] if isinstance(labels, list | tuple) and labels else None


def options_from_config(cfg: Mapping[str, Any], name: str | None = None) -> ModelOptions:
    """What the model whose config is ``cfg`` supports; ``name``: its local name, so the catalogue can
    fill in what a config cannot say (the languages of a BPE model, punctuation in its tokenizer)."""
    family = _family(cfg)
    known = known_model(name) if name else None
    if family == "aed":
        fmt = str(cfg.get("prompt_format") or "canary")
        langs = _prompt_languages(cfg) or (known.languages if known else ())
        return ModelOptions(
            family, fmt, langs, _default_slot(cfg, "source_lang") or ("en" if "en" in langs else None),
            translation=len(langs) > 1, pnc=True, timestamps=fmt != "canary", confidence=False,
            boosting=False, needs_language=True)
    labels = _char_labels(cfg)
    if labels is not None:
        pnc: bool | None = any(c.isupper() for c in labels) and any(c in ".,?!" for c in labels)
    else:
        pnc = ("pnc" in known.features) if known else None
    langs = known.languages if known else ()
    asr = family in ("ctc", "rnnt", "tdt", "hybrid")
    # Char models: Chunky builds the boosting tree from the labels for CTC; NeMo's RNNT boosting needs a
    # tokenizer.
    boosting = asr and (labels is None or family == "ctc")
    return ModelOptions(
        family, None, langs, langs[0] if len(langs) == 1 else None, translation=False, pnc=pnc,
        timestamps=asr and bool(_get(cfg, "preprocessor", "window_stride")), confidence=asr,
        boosting=boosting, needs_language=False,
        auto_language=bool(known and "auto-language" in known.features))


def read_model_config(folder: Path) -> dict[str, Any]:
    """``model_config.yaml`` of an extracted model as a dict ({} when it cannot be read)."""
    try:
        return _parse_yaml((Path(folder) / "model_config.yaml").read_bytes())
    except OSError:
        return {}


def read_archive_config(archive: Path) -> dict[str, Any]:
    """``model_config.yaml`` straight from a ``.nemo`` (a tar; only member headers are read until it is
    found), for a model not extracted yet; {} when it cannot be read."""
    import tarfile

    try:
        with tarfile.open(archive, "r:") as tar:
            for member in tar:
                if member.isfile() and member.name.lstrip("./") == "model_config.yaml":
                    f = tar.extractfile(member)
                    return _parse_yaml(f.read(4 * 1024 * 1024)) if f else {}
    except (OSError, tarfile.TarError):
        pass
    return {}


def _parse_yaml(data: bytes) -> dict[str, Any]:
    import yaml

    try:
        parsed = yaml.safe_load(data.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


# --- the user's language choice -----------------------------------------------------------------------


def parse_language(raw: str) -> tuple[str, str] | None:
    """``"de"`` -> ("de", "de") (transcribe German); ``"de>en"`` (or ``de:en``) -> ("de", "en") (translate
    German speech into English text); ``""``/``"auto"`` -> None (the model's own default). ValueError for
    anything else."""
    text = str(raw).strip().lower()
    if text in ("", "auto", "default"):
        return None
    parts = _SPLIT.split(text)
    if len(parts) > 2 or not all(_LANG.match(p) for p in parts):
        raise ValueError(f"{raw!r} is not a language code such as de, or a translation such as de>en")
    return parts[0], parts[-1]


def format_language(pair: tuple[str, str] | None) -> str:
    if pair is None:
        return "auto"
    return pair[0] if pair[0] == pair[1] else f"{pair[0]}>{pair[1]}"


def check_language(options: ModelOptions, model: str, pair: tuple[str, str] | None
                   ) -> tuple[str, str] | None:
    """The (source, target) to give the model, checked against what it supports; None: nothing to give
    (the model's own default, or a model without a language prompt). UnsupportedLanguageError before the
    job starts for a language or translation the model cannot do."""
    if pair is None:
        if options.needs_language and options.default_language:
            return options.default_language, options.default_language
        return None
    source, target = pair
    langs = options.languages
    if langs and source not in langs:
        raise UnsupportedLanguageError(
            f"{model} does not know the language {source!r}; it knows {', '.join(langs)}.")
    if source != target:
        if not options.translation:
            raise UnsupportedLanguageError(
                f"{model} cannot translate ({source} to {target}); choose a Canary model to translate, or "
                f"the language {source!r} alone to transcribe.")
        if langs and target not in langs:
            raise UnsupportedLanguageError(
                f"{model} cannot translate into {target!r}; it knows {', '.join(langs)}.")
        if options.family == "aed" and "en" not in (source, target):
            raise UnsupportedLanguageError(
                f"{model} translates from English or into English only, not {source} to {target}.")
    if not options.needs_language:
        return None  # it takes no language: it was checked, nothing to pass
    return source, target


def parse_model_languages(raw: str | Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """``"canary-1b-flash=de>en;canary-180m-flash=fr"`` (or a mapping) -> ((model, "de>en"), ...): the
    language kept for each model."""
    items = raw.items() if isinstance(raw, Mapping) else (
        part.split("=", 1) for part in str(raw).split(";") if part.strip())
    out: dict[str, str] = {}
    for item in items:
        if len(item) != 2:
            raise ValueError("not a list such as canary-1b-flash=de>en;canary-180m-flash=fr")
        model, spec = str(item[0]).strip(), str(item[1]).strip()
        pair = parse_language(spec)
        if model and pair is not None:
            out[model] = format_language(pair)
    return tuple(sorted(out.items()))


def format_model_languages(pairs: Iterable[tuple[str, str]]) -> str:
    return ";".join(f"{model}={spec}" for model, spec in pairs)
