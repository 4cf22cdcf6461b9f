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
