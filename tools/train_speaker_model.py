"""Train the small speaker-embedding model of Chunky's tests (``tests/assets/speaker-embed.nemo``), the model
of the clustering diarization (``chunky.asr.clustering``).

Everything is made here, offline, on CPU, from the speech ``tools/train_diar_model.py`` synthesizes (the
same espeak-ng voices, the same held-out ones):

1. ``--voices`` training voices speak the ten digit words and ``--sentences`` random sentences each; every
   voice is also played 0.88 and 1.13 times faster (pitch, formants and tempo scaled), and each of the three
   is a speaker of its own: ``3 x --voices`` speakers to tell apart.
2. A ~0.2M-parameter ``EncDecSpeakerLabelModel`` (TitaNet's architecture, much smaller: 1-D depthwise
   separable convolutions with squeeze-and-excitation, attentive statistics pooling, a 128-value
   embedding) learns to name the speaker of 0.5-2 s pieces of speech (clips joined as in a conversation,
   random level and noise, sometimes a second voice underneath) with an additive angular margin loss
   (NeMo's ``AngularSoftmaxLoss``), with a plain torch loop.
3. The saved model is evaluated through Chunky's own code (``chunky.asr.clustering.ClusteringDiarizer``)
   on the held-out conversations ``train_diar_model.py`` evaluates the Sortformer on (voices never heard
   in training, 2 and 3 speakers): the diarization error rate by ``pyannote.metrics`` (collar 0.25 s) is
   printed and written next to the model as ``<out>.eval.json``.

Run from the repository root (see tools/README.md)::

    .venv/bin/python tools/train_speaker_model.py --minutes 15 --out tests/assets/speaker-embed.nemo
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from tools.train_diar_model import (  # noqa: E402
    HELD_OUT,
    SR,
    VoiceClips,
    as_float,
    der_of,
    held_out_conversations,
    perturb,
    save,
    synthesize,
    training_voices,
)
from tools.train_test_model import pad_batch  # noqa: E402

ASSETS = REPO / "tests" / "assets"
FACTORS = (1.0, 0.88, 1.13)  # each training voice as spoken, and played slower and faster: three speakers
EMBEDDING = 128


def model_config(num_classes: int) -> dict[str, Any]:
    def block(filters: int, kernel: int, repeat: int, residual: bool, separable: bool = True) -> dict:
        return {"filters": filters, "repeat": repeat, "kernel": [kernel], "stride": [1], "dilation": [1],
                "dropout": 0.0, "residual": residual, "separable": separable, "se": True,
                "se_context_size": -1}

    channels = 96
    return {
        "sample_rate": SR,
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "normalize": "per_feature", "window_size": 0.025, "sample_rate": SR, "window_stride": 0.01,
            "window": "hann", "features": 40, "n_fft": 512, "frame_splicing": 1, "dither": 1e-5,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConvASREncoder",
            "feat_in": 40, "activation": "relu", "conv_mask": True,
            "jasper": [block(channels, 3, 1, False), block(channels, 7, 2, True),
                       block(channels, 11, 2, True), block(channels, 15, 2, True),
                       block(3 * channels, 1, 1, False, separable=False)],
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.SpeakerDecoder",
            "feat_in": 3 * channels, "num_classes": num_classes, "pool_mode": "attention",
            "emb_sizes": EMBEDDING, "angular": True,
        },
        "loss": {"_target_": "nemo.collections.asr.losses.angularloss.AngularSoftmaxLoss",
                 "scale": 30.0, "margin": 0.2},
    }


def build_model(num_classes: int) -> Any:
    from nemo.collections.asr.models import EncDecSpeakerLabelModel
    from omegaconf import OmegaConf

    return EncDecSpeakerLabelModel(cfg=OmegaConf.create(model_config(num_classes)))


# ------------------------------------------------------------------------------------------- examples
class Speakers:
    """The training speakers: every (voice, speed factor), its clips as float32."""

    def __init__(self, corpus: list[VoiceClips]):
        self.clips: list[list[np.ndarray]] = []
        for clips in corpus:
            plain = [a for a, _ in as_float(clips)]
            for factor in FACTORS:
                self.clips.append([a for a, _ in perturb([(c, "") for c in plain], factor)])

    def __len__(self) -> int:
        return len(self.clips)

    def speech(self, speaker: int, seconds: float, rng: random.Random) -> np.ndarray:
        """``seconds`` of the speaker's clips joined with short gaps, from a random point."""
        want = int(seconds * SR)
        parts: list[np.ndarray] = []
        total = 0
        while total < want + SR:
            clip = rng.choice(self.clips[speaker])
            gap = np.zeros(int(rng.uniform(0.02, 0.3) * SR), np.float32)
            parts += [clip, gap]
            total += len(clip) + len(gap)
        joined = np.concatenate(parts)
        start = rng.randrange(0, max(1, len(joined) - want))
        return joined[start:start + want]


def example(speakers: Speakers, label: int, rng: random.Random, seconds: float) -> np.ndarray:
    x = speakers.speech(label, seconds, rng) * rng.uniform(0.15, 1.0)
    if rng.random() < 0.25:  # another voice underneath (overlap, a window across a turn change)
        other = rng.randrange(len(speakers))
        if other != label:
            x = x + speakers.speech(other, seconds, rng) * rng.uniform(0.03, 0.25) * float(np.abs(x).max())
    noise = 10 ** rng.uniform(-4.0, -2.0)
    return (x + np.random.default_rng(rng.getrandbits(32)).normal(0, noise, len(x))).astype(np.float32)


def batch(speakers: Speakers, size: int, rng: random.Random) -> tuple[Any, Any, Any]:
    import torch

    seconds = rng.uniform(0.5, 2.0)  # one length per batch: the windows Chunky embeds are 0.5-1.5 s
    labels = [rng.randrange(len(speakers)) for _ in range(size)]
    audio, lengths = pad_batch([example(speakers, k, rng, seconds) for k in labels])
    return audio, lengths, torch.tensor(labels)


# ------------------------------------------------------------------------------------------- training
def train(model: Any, speakers: Speakers, args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-3)
    budget = args.minutes * 60
    started = time.time()
    step, seen, right, losses = 0, 0, 0, []
    model.train()
    while (elapsed := time.time() - started) < budget:
        frac = elapsed / budget
        lr = args.lr * min(1.0, (step + 1) / 200) * 0.5 * (1 + math.cos(math.pi * frac))
        for group in opt.param_groups:
            group["lr"] = lr
        audio, lengths, labels = batch(speakers, args.batch_size, rng)
        logits, _ = model.forward(input_signal=audio, input_signal_length=lengths)
        loss = model.loss(logits=logits, labels=labels)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 5.0)
        opt.step()
        step += 1
        losses.append(float(loss))
        seen += len(labels)
        right += int((logits.argmax(dim=1) == labels).sum())
        if step % 100 == 0:
            print(f"step {step} ({elapsed / 60:.1f} min) loss {np.mean(losses):.3f} train accuracy "
                  f"{100 * right / seen:.1f}% lr {lr:.2e}", flush=True)
            losses, seen, right = [], 0, 0
    model.eval()


# ------------------------------------------------------------------------------------------ evaluation
def evaluate(path: Path, held: list[VoiceClips]) -> dict[str, Any]:
    from nemo.collections.asr.models import EncDecSpeakerLabelModel

    from chunky.asr.clustering import SCALES, ClusteringDiarizer

    model = EncDecSpeakerLabelModel.restore_from(str(path), map_location="cpu")
    model.eval()
    diarizer = ClusteringDiarizer(model, path.stem)
    scales = ", ".join(f"{x.length:g}/{x.shift:g}" for x in SCALES)
    results: dict[str, Any] = {
        "model": path.name, "size_bytes": path.stat().st_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "held_out_voices": [v for v, _, _, _ in HELD_OUT],
        "diarize_call": "chunky.asr.clustering.ClusteringDiarizer(model).diarize(samples): silero VAD, "
                        f"windows (length/shift) {scales} s, NeMo's multi-scale NME-SC clustering",
    }
    for n in (2, 3, 4, 5):  # Sortformer's tests stop at 3 (its limit is 4); clustering looks for up to 8
        for words_only in (True, False):
            convs = held_out_conversations(held, n, 4, 120, 100 + n + 10 * words_only, words_only)
            key = f"{n}_speakers_{'digit_words' if words_only else 'words_and_sentences'}"
            results[key] = der_of(lambda conv: diarizer.diarize(conv.audio).turns, convs)
            results[key + "_given_count"] = der_of(
                lambda conv, n=n: diarizer.diarize(conv.audio, options=_count(n)).turns, convs)
            print(key, results[key], "given the count:", results[key + "_given_count"]["der"], flush=True)
    return results


def _count(n: int) -> Any:
    from chunky.asr.diarization import DiarizationOptions

    return DiarizationOptions(num_speakers=n)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="training wall time (default 15)")
    parser.add_argument("--out", type=Path, default=ASSETS / "speaker-embed.nemo")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "chunky-train-diar",
                        help="where the synthesized speech is kept between runs")
    parser.add_argument("--voices", type=int, default=600, help="training voices (default 600)")
    parser.add_argument("--sentences", type=int, default=6, help="sentences per training voice")
    parser.add_argument("--batch-size", type=int, default=48)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--eval-only", action="store_true", help="only evaluate --out")
    args = parser.parse_args(argv)

    held = synthesize([(v, s, p) for v, s, p, _ in HELD_OUT], 6, args.seed + 7, args.cache, "held-out")
    out = args.out.resolve()
    if not args.eval_only:
        voices = training_voices(args.voices, args.seed)
        speakers = Speakers(synthesize(voices, args.sentences, args.seed, args.cache, "train"))
        model = build_model(len(speakers))
        print(f"model: {sum(p.numel() for p in model.parameters())} parameters, {len(speakers)} training "
              "speakers", flush=True)
        train(model, speakers, args)
        save(model, out)
    eval_path = out.with_name(out.name + ".eval.json")
    before = json.loads(eval_path.read_text("utf-8")) if args.eval_only and eval_path.exists() else {}
    results = evaluate(out, held)
    results["training"] = before.get("training") or {"minutes": args.minutes, "voices": args.voices,
                           "speakers": args.voices * len(FACTORS), "sentences": args.sentences,
                           "batch_size": args.batch_size, "lr": args.lr,
                           "seed": args.seed}
    eval_path.write_text(json.dumps(results, indent=2) + "\n", "utf-8")
    print(f"wrote {eval_path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
