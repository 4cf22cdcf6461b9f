"""What a prompt model (Canary) is told on every chunk: the spoken language, the language to write, and
punctuation. The choice is checked against the model's own config first (:mod:`chunky.asr.capabilities`)."""

from __future__ import annotations

from typing import Any

from chunky.asr.capabilities import ModelOptions, check_language, options_from_config


def loaded_options(model: Any, model_name: str) -> ModelOptions:
    """The options of a loaded NeMo model, read from its config."""
    try:
        from omegaconf import OmegaConf

        cfg = OmegaConf.to_container(model.cfg, resolve=False)
    except Exception:  # not an OmegaConf config (a stand-in): a plain mapping, or nothing
        cfg = dict(getattr(model, "cfg", {}) or {})
    return options_from_config(cfg if isinstance(cfg, dict) else {}, model_name)


def prompt_kwargs(model: Any, model_name: str, language: tuple[str, str] | None,
                  punctuation: bool = True) -> dict[str, str]:
    """The keyword arguments NeMo's ``transcribe`` takes for the chosen language and punctuation
    (Canary's ``source_lang``, ``target_lang``, ``pnc``); {} for a model without a language prompt.
    UnsupportedLanguageError for a language the model cannot do."""
    options = loaded_options(model, model_name)
    pair = check_language(options, model_name, language)
    if pair is None or not options.needs_language:
        return {}
    source, target = pair
    kwargs = {"source_lang": source, "target_lang": target, "pnc": "yes" if punctuation else "no"}
    if options.prompt_format == "canary":  # Canary-1B's own prompt has a task slot
        kwargs["task"] = "asr" if source == target else "s2t_translation"
    return kwargs
