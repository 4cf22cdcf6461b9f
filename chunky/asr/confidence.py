"""Word confidence from NeMo's greedy decoders (checked against nemo_toolkit 3.0.0).

NeMo computes confidence inside the decoding of CTC, RNN-T and TDT models (and the hybrids) when the
decoding config carries a ``ConfidenceConfig`` and the strategy is greedy (``greedy``, ``greedy_batch``);
beam search and the attention decoders (Canary) give none, and such models simply get no confidence.

The measure: the normalised Tsallis entropy of each frame's distribution (NeMo's default method,
``entropy``/``tsallis``/``exp``, alpha 0.33), averaged over the word's tokens. The average separates a word
the model heard clearly from one it guessed: on Chunky's test recordings clean words score 0.7 to 0.9, a
word drowned in noise below 0.2, where the minimum over tokens (NeMo's default aggregation) scores clean
words 0.3 to 0.6 and leaves no room for a threshold.

NeMo 3.0.0's word aggregation crashes for character-vocabulary CTC models (``CTCDecoding`` hands token ids
to a function expecting strings), so for character models only token confidence is asked for and the words'
are averaged here, the way NeMo does for characters (one space token between words). Whatever goes wrong
(an unknown decoder, a failing test call) leaves the model as it was, without confidence.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

_FLAG = "_chunky_confidence"  # set on the model: "word", "token" or None once tried
_PROBE_SECONDS = 0.5


def enable_word_confidence(model: Any, sample_rate: int = 16000) -> str | None:
    """Make the model's greedy decoder keep confidence scores (once per model object): ``"word"`` when its
    hypotheses carry ``word_confidence``, ``"token"`` when they carry ``token_confidence`` only (character
    models), None when the model gives none."""
    if hasattr(model, _FLAG):
        return getattr(model, _FLAG)
    kind = None
    cfg = getattr(getattr(model, "cfg", None), "decoding", None)
    try:
        strategy = str(cfg.get("strategy", "")) if cfg is not None else ""
        if "greedy" in strategy and hasattr(model, "change_decoding_strategy"):
            kind = _configure(model, cfg)
            if kind is not None and not _works(model, sample_rate):
                _configure(model, cfg, off=True)
                kind = None
    except Exception as exc:  # a decoder this does not know: no confidence, the transcription goes on
        log.info("%s gives no word confidence (%s: %s)", type(model).__name__, type(exc).__name__, exc)
        kind = None
        try:
            _configure(model, cfg, off=True)
        except Exception:  # pragma: no cover - the model stays as NeMo left it
            pass
    setattr(model, _FLAG, kind)
    if kind:
        log.info("Word confidence on for %s (%s level)", type(model).__name__, kind)
    return kind


def _configure(model: Any, cfg: Any, off: bool = False) -> str | None:
    from nemo.collections.asr.parts.utils.asr_confidence_utils import ConfidenceConfig, ConfidenceMethodConfig
    from omegaconf import open_dict

    char = getattr(getattr(model, "decoding", None), "tokenizer_type", None) == "char"
    confidence = ConfidenceConfig(
        preserve_word_confidence=not off and not char,
        preserve_token_confidence=not off and char,
        exclude_blank=True,
        aggregation="mean",
        method_cfg=ConfidenceMethodConfig(name="entropy", entropy_type="tsallis", alpha=0.33,
                                          entropy_norm="exp"),
    )
    with open_dict(cfg):
        cfg.confidence_cfg = confidence
    try:
        model.change_decoding_strategy(cfg, verbose=False)
    except TypeError:  # a change_decoding_strategy without verbose (older or other families)
        model.change_decoding_strategy(cfg)
    return None if off else ("token" if char else "word")


def _works(model: Any, sample_rate: int) -> bool:
    """One short call: the decoder gives scores and does not fail with them on."""
    probe = np.random.default_rng(0).normal(0.0, 0.01, int(_PROBE_SECONDS * sample_rate)).astype(np.float32)
    try:
        result = model.transcribe([probe], batch_size=1, timestamps=True, verbose=False, num_workers=0)
    except Exception as exc:
        log.info("%s fails with confidence on (%s: %s): none", type(model).__name__, type(exc).__name__, exc)
        return False
    if isinstance(result, tuple):
        result = result[0]
    hyp = list(result)[0] if result else None
    return hyp is not None and (getattr(hyp, "word_confidence", None) is not None
                                or getattr(hyp, "token_confidence", None) is not None)


def word_confidences(hyp: Any, words: list[str]) -> list[float | None] | None:
    """The confidence (0..1) of each of ``words`` (the hypothesis' words in order), or None when the
    hypothesis has none for them."""
    scores = getattr(hyp, "word_confidence", None)
    if scores is not None and len(scores) == len(words) and len(words):
        return [_score(s) for s in scores]
    tokens = getattr(hyp, "token_confidence", None)
    if tokens is None or not len(words):
        return None
    values = [_score(t) for t in tokens]
    if len(values) != sum(len(w) for w in words) + len(words) - 1:  # one token a character, a space between
        return None
    out: list[float | None] = []
    pos = 0
    for w in words:
        part = [v for v in values[pos : pos + len(w)] if v is not None]
        out.append(sum(part) / len(part) if part else None)
        pos += len(w) + 1
    return out


def _score(value: Any) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return min(1.0, max(0.0, v)) if math.isfinite(v) else None
