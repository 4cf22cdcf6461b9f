"""Vocabulary boosting through NeMo's own GPU phrase boosting (GPU-PB,
``nemo.collections.asr.parts.context_biasing``): the phrases become a boosting tree (NeMo's
``ContextGraph`` -> ``GPUBoostingTreeModel``) fused into greedy batched decoding.

- CTC models (character or BPE): the tree is built here with a score for each phrase (its strength) and
  given to NeMo's ``GreedyBatchedCTCInfer`` as its fusion model (a character model has no tokenizer, so
  NeMo's own config route cannot build one for it).
- RNN-T / TDT / hybrid models: NeMo's config route, ``greedy.boosting_tree.key_phrases_list`` with
  ``greedy.boosting_tree_alpha``, then ``change_decoding_strategy``, which sets the label-looping decoder
  up for fusion; the config has no per-phrase score, so the tree NeMo built from it is then replaced by
  this module's tree, scored per phrase like the CTC one (where the decoder has no such tree to replace,
  the config's tree stays, with the strongest phrase's strength for the whole list).
- Canary and other models: no boosting here; :func:`boosting_notice` says so.

While a recording is boosted the decoding is set up once (``compute_timestamps`` as the engine wants) and
``transcribe`` is called with ``timestamps=None`` so NeMo keeps it; :meth:`Boost.restore` puts the model's
own decoding back.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from chunky.asr.vocabulary import Vocabulary, spellable

log = logging.getLogger(__name__)

CONTEXT_SCORE = 1.0  # NeMo's default token score in the tree
DEPTH_SCALING = 2.0  # NeMo's value for CTC, RNN-T and TDT


@dataclass
class Boost:
    """What was applied to one model for one recording."""

    kind: str  # "ctc", "rnnt", "" (none)
    phrases: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # phrases left out, and why; "not supported" notices
    _restore: Any = None

    @property
    def active(self) -> bool:
        return bool(self.kind and self.phrases)

    def restore(self) -> None:
        if self._restore is not None:
            restore, self._restore = self._restore, None
            restore()


def model_kind(model: Any) -> str:
    """"ctc", "rnnt" (RNN-T, TDT, hybrid on its transducer decoder) or "" for a model NeMo's boosting
    does not reach (Canary's AED decoding, diarization models)."""
    names = {c.__name__ for c in type(model).__mro__}
    if "EncDecMultiTaskModel" in names:
        return ""
    if "EncDecRNNTModel" in names:
        return "rnnt"
    if "EncDecCTCModel" in names:
        return "ctc"
    return ""


def boosting_notice(model_name: str, model: Any) -> str | None:
    if model_kind(model):
        return None
    return (f"{model_name} has no vocabulary boosting in this NeMo (it works for CTC, RNN-T and TDT models "
            "such as Parakeet); the vocabulary was not used.")


def _alphabet(model: Any) -> list[str] | None:
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None:
        return None
    labels = getattr(getattr(model, "decoder", None), "vocabulary", None) or model.cfg.get("labels")
    return [str(x) for x in labels] if labels else None


def _unspellable(model: Any, vocabulary: Vocabulary) -> tuple[Vocabulary, list[str]]:
    """Phrases the model cannot write: characters outside a char model's labels, or a BPE tokenizer's
    unknown token."""
    labels = _alphabet(model)
    if labels is not None:
        return spellable(vocabulary, labels)
    sp = getattr(getattr(model, "tokenizer", None), "tokenizer", None)
    unk = sp.unk_id() if sp is not None and hasattr(sp, "unk_id") else None
    if unk is None:
        return vocabulary, []
    chars = {c for p in vocabulary.phrases for c in p.text + p.text.lower() if not c.isspace()}
    bad = {c for c in chars if unk in model.tokenizer.text_to_ids(c)}
    return spellable(vocabulary, sorted(chars - bad))


def _token_ids(model: Any, text: str) -> list[int]:
    labels = _alphabet(model)
    if labels is not None:
        return [labels.index(c) for c in text]
    return list(model.tokenizer.text_to_ids(text))


def _vocab_size(model: Any) -> int:
    labels = _alphabet(model)
    return len(labels) if labels is not None else int(model.tokenizer.vocab_size)


def build_tree(model: Any, vocabulary: Vocabulary, use_triton: bool = False):
    """NeMo's boosting tree for ``vocabulary``, each phrase scored by its strength."""
    from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import GPUBoostingTreeModel
    from nemo.collections.asr.parts.context_biasing.context_graph_universal import ContextGraph

    graph = ContextGraph(context_score=CONTEXT_SCORE, depth_scaling=DEPTH_SCALING)
    graph.build(token_ids=[_token_ids(model, p.text) for p in vocabulary.phrases],
                phrases=vocabulary.texts, scores=[CONTEXT_SCORE * p.strength for p in vocabulary.phrases])
    return GPUBoostingTreeModel.from_context_graph(graph, vocab_size=_vocab_size(model), unk_score=0.0,
                                                   final_eos_score=1.0, use_triton=use_triton)


def _decoding_with(model: Any, timestamps: bool) -> Any:
    from omegaconf import open_dict

    cfg = copy.deepcopy(model.cfg.decoding)
    with open_dict(cfg):
        cfg.strategy = "greedy_batch"
        cfg.compute_timestamps = bool(timestamps)
    return cfg


def apply(model: Any, model_name: str, vocabulary: Vocabulary, strength: float, *,
          timestamps: bool = True) -> Boost:
    """Boost ``vocabulary`` (``strength``: the list's weight, NeMo's alpha; each phrase's own strength
    scales its score) in ``model``'s decoding. Returns the Boost, whose ``restore()`` undoes it."""
    kind = model_kind(model)
    if not vocabulary:
        return Boost("")
    if not kind:
        return Boost("", notes=[boosting_notice(model_name, model) or ""])
    usable, notes = _unspellable(model, vocabulary)
    if not usable:
        return Boost("", notes=notes + ["no phrase of the vocabulary can be written by this model"])
    original = copy.deepcopy(model.cfg.decoding)
    cfg = _decoding_with(model, timestamps)
    try:
        import torch

        triton = bool(torch.cuda.is_available())
        if kind == "ctc":
            model.change_decoding_strategy(cfg, verbose=False)
            decoder = model.decoding.decoding
            if not hasattr(decoder, "fusion_models"):
                raise RuntimeError(f"{type(decoder).__name__} takes no fusion model")
            decoder.fusion_models = [build_tree(model, usable, use_triton=triton)]
            decoder.fusion_models_alpha = [float(strength)]
        else:
            from omegaconf import open_dict

            with open_dict(cfg):
                cfg.greedy.boosting_tree = {
                    "key_phrases_list": usable.texts, "context_score": CONTEXT_SCORE,
                    "depth_scaling": DEPTH_SCALING, "use_triton": triton}
                cfg.greedy.boosting_tree_alpha = float(strength) * max(p.strength for p in usable.phrases)
            model.change_decoding_strategy(cfg, verbose=False)
            _score_each_phrase(model, usable, strength, triton)
    except Exception as exc:  # NeMo's boosting refused this model: transcribe without it, and say so
        log.warning("Vocabulary boosting failed for %s: %s: %s", model_name, type(exc).__name__, exc)
        _restore_decoding(model, original)
        return Boost("", notes=notes + [f"vocabulary boosting could not be set up for {model_name} ({exc}); "
                                        "transcribed without it"])
    log.info("Boosting %d phrase(s) in %s (strength %g)", len(usable.phrases), model_name, strength)
    return Boost(kind, usable.texts, notes, lambda: _restore_decoding(model, original))


def _score_each_phrase(model: Any, vocabulary: Vocabulary, strength: float, triton: bool) -> bool:
    """Put this module's per-phrase tree in place of the one NeMo built from the config (one score for
    all) in the transducer's label-looping decoder; False where there is none to replace."""
    from nemo.collections.asr.parts.context_biasing.boosting_graph_batched import GPUBoostingTreeModel

    computer = getattr(getattr(model.decoding, "decoding", None), "decoding_computer", None)
    fusion = getattr(computer, "fusion_models", None) or []
    at = [i for i, f in enumerate(fusion) if isinstance(f, GPUBoostingTreeModel)]
    if not at:
        return False
    fusion[at[0]] = build_tree(model, vocabulary, use_triton=triton).to(fusion[at[0]].arcs_weights.device)
    computer.fusion_models_alpha[at[0]] = float(strength)
    return True


def with_seconds(model: Any, hypotheses: list[Any]) -> list[Any]:
    """Word times in seconds on hypotheses of a boosted call (``timestamps=None`` keeps the decoding but
    skips this step of NeMo's ``transcribe``): NeMo's own ``process_timestamp_outputs``, as it calls it."""
    from nemo.collections.asr.parts.utils.timestamp_utils import process_timestamp_outputs

    if not hypotheses or not hasattr(hypotheses[0], "timestamp"):
        return hypotheses
    return process_timestamp_outputs(hypotheses, model.encoder.subsampling_factor,
                                     model.cfg["preprocessor"]["window_stride"])


def _restore_decoding(model: Any, original: Any) -> None:
    try:
        model.change_decoding_strategy(original, verbose=False)
    except Exception:  # pragma: no cover - the original config always applied before
        log.exception("Could not restore the decoding of the model")


@contextlib.contextmanager
def boosted(model: Any, model_name: str, vocabulary: Vocabulary, strength: float, *,
            timestamps: bool = True) -> Iterator[Boost]:
    boost = apply(model, model_name, vocabulary, strength, timestamps=timestamps)
    try:
        yield boost
    finally:
        boost.restore()
