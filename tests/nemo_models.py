"""Small real NeMo models built by the tests themselves (random weights; they load and run, not hear)."""

from __future__ import annotations

from pathlib import Path

CHAR_LABELS = list(" abcdefghijklmnopqrstuvwxyz'")


def _preprocessor() -> dict:
    return {
        "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
        "sample_rate": 16000,
        "window_size": 0.025,
        "window_stride": 0.01,
        "features": 64,
        "n_fft": 512,
        "dither": 0.0,
        "pad_to": 0,
    }


def _encoder(hidden: int) -> dict:
    return {
        "_target_": "nemo.collections.asr.modules.ConvASREncoder",
        "feat_in": 64,
        "activation": "relu",
        "conv_mask": True,
        "jasper": [
            {"filters": hidden, "repeat": 1, "kernel": [11], "stride": [2], "dilation": [1], "dropout": 0.0,
             "residual": False, "separable": True},
            {"filters": hidden, "repeat": 1, "kernel": [5], "stride": [1], "dilation": [1], "dropout": 0.0,
             "residual": False, "separable": True},
        ],
    }


def char_ctc_config(hidden: int = 32, labels: list[str] | None = None) -> dict:
    labels = labels or CHAR_LABELS
    return {
        "sample_rate": 16000,
        "labels": labels,
        "preprocessor": _preprocessor(),
        "encoder": _encoder(hidden),
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": hidden,
            "num_classes": len(labels),
            "vocabulary": labels,
        },
        "decoding": {"strategy": "greedy"},
    }


def build_char_ctc(path: Path, hidden: int = 32, labels: list[str] | None = None) -> Path:
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    model = EncDecCTCModel(cfg=OmegaConf.create(char_ctc_config(hidden, labels)))
    model.save_to(str(path))
    return path


def train_sentencepiece(folder: Path, vocab_size: int = 40) -> Path:
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "text.txt"
    words = "zero one two three four five six seven eight nine hello world chunky speech test".split()
    lines = [" ".join(words[(i * 7 + j) % len(words)] for j in range(6)) for i in range(200)]
    text.write_text("\n".join(lines), "utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(folder / "tokenizer"), vocab_size=vocab_size,
        model_type="bpe", character_coverage=1.0, minloglevel=2,
    )
    # NeMo's SentencePiece tokenizer dir layout: tokenizer.model (+ vocab.txt optional)
    vocab = [line.split("\t")[0] for line in (folder / "tokenizer.vocab").read_text("utf-8").splitlines()]
    (folder / "vocab.txt").write_text("\n".join(vocab), "utf-8")
    return folder


def build_bpe_ctc(path: Path, tokenizer_dir: Path, hidden: int = 32) -> Path:
    from nemo.collections.asr.models import EncDecCTCModelBPE
    from omegaconf import OmegaConf

    cfg = {
        "sample_rate": 16000,
        "tokenizer": {"dir": str(tokenizer_dir), "type": "bpe"},
        "preprocessor": _preprocessor(),
        "encoder": _encoder(hidden),
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": hidden,
            "num_classes": -1,
            "vocabulary": [],
        },
        "decoding": {"strategy": "greedy"},
    }
    model = EncDecCTCModelBPE(cfg=OmegaConf.create(cfg))
    model.save_to(str(path))
    return path


CANARY_LANGS = ("en", "de", "es", "fr")
CANARY2_SPECIAL = ("<|endoftext|>", "<|startoftranscript|>", "<|startofcontext|>", "<|emo:undefined|>",
                   "<|pnc|>", "<|nopnc|>", "<|itn|>", "<|noitn|>", "<|timestamp|>", "<|notimestamp|>",
                   "<|diarize|>", "<|nodiarize|>", "<|nospeech|>")


def canary_config(text_tokenizer: str, special_tokenizer: str, langs: tuple[str, ...] = CANARY_LANGS) -> dict:
    """A Canary-shaped ``EncDecMultiTaskModel`` config (canary-1b-flash's ``canary2`` prompt, an aggregate
    tokenizer of special tokens + one SentencePiece per language), tiny: a 1-layer 32-wide Conformer and a
    1-layer transformer decoder (NeMo's own tests/collections/asr/test_asr_multitask_model_bpe.py shape)."""
    hidden = 32
    return {
        "prompt_format": "canary2",
        "prompt_defaults": [{"role": "user", "slots": {
            "source_lang": "en", "target_lang": "en", "pnc": "yes", "decodercontext": "",
            "emotion": "<|emo:undefined|>", "itn": "no", "diarize": "no", "timestamp": "no"}}],
        "sample_rate": 16000,
        "preprocessor": {**_preprocessor(), "window_size": 0.025},
        "model_defaults": {"asr_enc_hidden": hidden, "lm_enc_hidden": hidden, "lm_dec_hidden": hidden},
        "encoder": {"_target_": "nemo.collections.asr.modules.ConformerEncoder", "feat_in": 64, "n_layers": 1,
                    "d_model": hidden, "subsampling": "dw_striding", "subsampling_factor": 8,
                    "subsampling_conv_channels": 16, "ff_expansion_factor": 2,
                    "self_attention_model": "rel_pos", "n_heads": 2, "conv_kernel_size": 9},
        "transf_decoder": {
            "_target_": "nemo.collections.asr.modules.transformer.get_nemo_transformer", "model_name": None,
            "pretrained": False, "encoder": None, "pre_ln_final_layer_norm": True,
            "config_dict": {"max_sequence_length": 128, "num_token_types": 0, "hidden_size": hidden,
                            "inner_size": 2 * hidden, "num_layers": 1, "num_attention_heads": 2,
                            "pre_ln": True, "vocab_size": None}},
        "head": {"_target_": "nemo.collections.asr.parts.submodules.token_classifier.TokenClassifier",
                 "num_layers": 1, "activation": "relu", "log_softmax": True, "hidden_size": hidden,
                 "num_classes": None},
        "decoding": {"strategy": "beam", "beam": {"beam_size": 1, "max_generation_delta": 5}},
        "tokenizer": {
            "dir": None, "type": "agg",
            "langs": {"spl_tokens": {"dir": special_tokenizer, "type": "bpe"},
                      **{lang: {"dir": text_tokenizer, "type": "bpe"} for lang in langs}},
            "custom_tokenizer": {
                "_target_": "nemo.collections.common.tokenizers.canary_tokenizer.CanaryTokenizer",
                "tokenizers": None}},
        "loss": {"_target_": "nemo.collections.common.losses.smoothed_cross_entropy.SmoothedCrossEntropyLoss",
                 "label_smoothing": 0.0},
    }


def build_canary(path: Path, work: Path, langs: tuple[str, ...] = CANARY_LANGS) -> Path:
    """A random-weight Canary-shaped model saved as ``path`` (about 1.5 MB), built in a fresh Python:
    NeMo 3.0's ``EncDecMultiTaskModel(cfg)`` fails in a process that restored another model before (it
    looks for a timestamps model beside the last restored one, AppState.model_restore_path)."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from tests.nemo_models import _build_canary; "
            "_build_canary(Path(sys.argv[1]), Path(sys.argv[2]), tuple(sys.argv[3].split(',')))")
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run([sys.executable, "-c", code, str(path), str(work), ",".join(langs)], cwd=root,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and path.is_file(), done.stderr[-3000:]
    return path


def _build_canary(path: Path, work: Path, langs: tuple[str, ...]) -> Path:
    from nemo.collections.asr.models import EncDecMultiTaskModel
    from nemo.collections.common.tokenizers import CanaryTokenizer
    from omegaconf import OmegaConf

    special = work / "canary-special"
    CanaryTokenizer.build_special_tokenizer([*CANARY2_SPECIAL, *(f"<|{x}|>" for x in langs)], special)
    text = train_sentencepiece(work / "canary-text", vocab_size=40)
    from nemo.utils import AppState

    # A model restored earlier in this process leaves its path in NeMo's AppState, and a Canary built from a
    # config then looks for its timestamps model there (NeMo 3.0.0): a fresh model has none.
    AppState().model_restore_path = None
    import torch

    torch.manual_seed(0)
    model = EncDecMultiTaskModel(cfg=OmegaConf.create(canary_config(str(text), str(special), langs)))
    # NeMo rounds the output layer up to a multiple of 8 (184 classes for 180 tokens); a trained Canary never
    # picks the padding classes, random weights can, and the tokenizer has no text for them (KeyError).
    head = model.log_softmax.mlp.layer0
    with torch.no_grad():
        head.weight[model.tokenizer.vocab_size:] = 0.0
        head.bias[model.tokenizer.vocab_size:] = -1e4
    model.save_to(str(path))
    return path


def build_tiny_tdt(path: Path, work: Path) -> Path:
    """A random-weight FastConformer-TDT of parakeet-tdt's layout (bench/common.py's config) at toy size:
    1 layer of 32, a 40-piece SentencePiece tokenizer. An ``EncDecRNNTBPEModel`` saved as ``path``."""
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    from bench.common import parakeet_tdt_config

    tokenizer = train_sentencepiece(work / "tdt-tokenizer", vocab_size=40)
    cfg = parakeet_tdt_config(str(tokenizer), d_model=32, n_layers=1, n_heads=2, pred_hidden=32,
                              joint_hidden=32, pred_rnn_layers=1)
    EncDecRNNTBPEModel(cfg=OmegaConf.create(cfg)).save_to(str(path))
    return path
