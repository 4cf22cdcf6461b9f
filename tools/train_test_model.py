"""Train the small digit-word CTC model and write the test audio that Chunky's tests use.

Everything is made here, offline, on CPU:

1. espeak-ng speaks the ten digit words (and short digit sentences) in many voices and speeds; the
   clips are resampled to 16 kHz mono and cached (``--cache``), so later runs skip this step.
2. Test audio from voices and speeds the model never hears in training is written to
   ``tests/assets/audio/`` (FLAC, 16 kHz mono) with ``truth.json``.
3. A ~264k-parameter char-level ``EncDecCTCModel`` (ConvASR encoder) is trained with a plain torch loop
   for ``--minutes`` of wall time and saved with ``model.save_to(--out)``.
4. The saved model is restored and evaluated with NeMo's own ``model.transcribe(..., timestamps=True)``
   on the held-out word clips, the held-out sentences and a ~10-minute file assembled from the held-out
   word clips with known gaps; WER and the word-start offset (model minus truth) are printed and
   written next to the model as ``<out>.eval.json``.

Run from the repository root (see tools/README.md)::

    .venv/bin/python tools/train_test_model.py --minutes 22 --out tests/assets/digits-ctc.nemo
"""

from __future__ import annotations

import argparse
import json
import math
import pickle
import random
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # the tests' speech helpers (word alignment and error counts) are shared
from tests.speech import align  # noqa: E402
from tests.speech import word_errors as count_word_errors  # noqa: E402

ASSETS = REPO / "tests" / "assets"

SR = 16000
LABELS = list(" abcdefghijklmnopqrstuvwxyz'")
WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Training voices: every base voice below combined with every variant ("" = the base voice itself).
TRAIN_BASES = ["en", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029"]
TRAIN_VARIANTS = ["", "m1", "m2", "m3", "m4", "m5", "m6", "f1", "f2", "f3", "klatt", "klatt2", "croak"]
TRAIN_SPEEDS = [110, 120, 130, 150, 155, 160, 170, 175, 190, 200, 215]  # words per minute
TRAIN_PITCH = (25, 75)  # espeak-ng -p, drawn per voice/speed group

# Held out: variants m7, m8, f4, f5 and the base voice en-us-nyc never occur in training, nor do
# these speeds. (voice, speed, pitch, file tag)
HELD_OUT: list[tuple[str, int, int, str]] = [
    ("en-us+m7", 140, 50, "en_us_m7"),
    ("en-gb-x-rp+f4", 180, 60, "en_gb_x_rp_f4"),
    ("en-029+m8", 165, 40, "en_029_m8"),
    ("en-us-nyc+f5", 145, 55, "en_us_nyc_f5"),
]
HELD_OUT_SENTENCES: list[tuple[str, int, int, str]] = [
    ("en-us+m7", 165, 50, "three one four one five nine"),
    ("en-gb-x-rp+f4", 145, 60, "two seven zero eight"),
    ("en-us-nyc+f5", 180, 55, "six five eight nine zero"),
]

CLIP_MARGIN_S = 0.05  # committed word clips keep exactly this much before the onset and after the offset
ONSET_THRESHOLD = 0.01  # onset/offset: first/last sample with |x| >= 1% of the clip's peak
ASSEMBLY_GAPS_S = (0.3, 1.5)
ASSEMBLY_NOISE = 10**-2.75
CACHE_VERSION = 4
FRAME_SAMPLES = 320  # one encoder frame: 10 ms window stride x 2 (the first block's stride)
ANCHOR_DELAY_FRAMES = 1  # first letter one frame (20 ms) after the onset frame, the space on it
ANCHOR_WEIGHT = 1.0


# ----------------------------------------------------------------------------------------- synthesis
def espeak(text: str, voice: str, speed: int, pitch: int, workdir: Path) -> np.ndarray:
    """Speak ``text`` with espeak-ng; 16 kHz mono float32."""
    out = workdir / f"{uuid.uuid4().hex}.wav"
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
        check=True, capture_output=True,
    )
    audio, rate = sf.read(str(out), dtype="float32", always_2d=True)
    out.unlink()
    audio = audio.mean(axis=1)
    if rate != SR:
        audio = soxr.resample(audio, rate, SR).astype(np.float32)
    return audio


def voice_name(base: str, variant: str) -> str:
    return f"{base}+{variant}" if variant else base


def speech_bounds(audio: np.ndarray) -> tuple[int, int]:
    """First and one-past-last sample whose magnitude reaches ONSET_THRESHOLD of the peak."""
    mag = np.abs(audio)
    idx = np.nonzero(mag >= ONSET_THRESHOLD * mag.max())[0]
    return int(idx[0]), int(idx[-1]) + 1


def trim(audio: np.ndarray, margin_s: float) -> np.ndarray:
    start, end = speech_bounds(audio)
    margin = int(round(margin_s * SR))
    left = max(0, start - margin)
    right = min(len(audio), end + margin)
    out = audio[left:right]
    # Pad with zeros where the original lacked the margin, so the margin is exact.
    return np.concatenate([np.zeros(margin - (start - left), np.float32), out,
                           np.zeros(margin - (right - end), np.float32)])


def random_sentence(rng: random.Random) -> str:
    n = rng.randint(1, 6)
    words = [rng.choice(WORDS) for _ in range(n)]
    if n > 1 and rng.random() < 0.3:  # an occasional comma makes espeak pause inside the sentence
        i = rng.randint(0, n - 2)
        words[i] += ","
    return " ".join(words)


@dataclass
class Corpus:
    word_groups: list[list[np.ndarray]]  # per (voice, speed, pitch) group: one int16 clip per word
    sentences: list[tuple[str, np.ndarray]]  # (text without punctuation, int16 audio)


def to_i16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def build_corpus(cache: Path, n_sentences: int, seed: int) -> Corpus:
    cache.mkdir(parents=True, exist_ok=True)
    key = cache / f"corpus-v{CACHE_VERSION}-s{n_sentences}-seed{seed}.pkl"
    if key.exists():
        with key.open("rb") as f:
            data = pickle.load(f)
        print(f"corpus: loaded {key}", flush=True)
        return Corpus(data["word_groups"], data["sentences"])
    rng = random.Random(seed)
    t0 = time.time()
    groups = [(voice_name(b, v), s, rng.randint(*TRAIN_PITCH))
              for b in TRAIN_BASES for v in TRAIN_VARIANTS for s in TRAIN_SPEEDS]
    sentence_jobs = []
    for _ in range(n_sentences):
        voice = voice_name(rng.choice(TRAIN_BASES), rng.choice(TRAIN_VARIANTS))
        speed, pitch = rng.choice(TRAIN_SPEEDS), rng.randint(*TRAIN_PITCH)
        sentence_jobs.append((random_sentence(rng), voice, speed, pitch))
    with tempfile.TemporaryDirectory(prefix="chunky-espeak-") as tmp, ThreadPoolExecutor(2) as pool:
        work = Path(tmp)

        def group_clips(g: tuple[str, int, int]) -> list[np.ndarray]:
            return [to_i16(espeak(w, g[0], g[1], g[2], work)) for w in WORDS]

        word_groups = list(pool.map(group_clips, groups))
        print(f"corpus: {len(groups) * len(WORDS)} word clips in {time.time() - t0:.0f} s", flush=True)
        def sentence(j: tuple[str, str, int, int]) -> tuple[str, np.ndarray]:
            return j[0].replace(",", ""), to_i16(espeak(j[0], j[1], j[2], j[3], work))

        sentences = list(pool.map(sentence, sentence_jobs))
    print(f"corpus: {len(sentences)} sentences, total {time.time() - t0:.0f} s", flush=True)
    with key.open("wb") as f:  # plain containers only, so any importer of this module can load it
        pickle.dump({"word_groups": word_groups, "sentences": sentences}, f, protocol=pickle.HIGHEST_PROTOCOL)
    return Corpus(word_groups, sentences)


# ------------------------------------------------------------------------------------------ test audio
def write_test_audio(folder: Path) -> None:
    """Held-out word clips (exact CLIP_MARGIN_S margins), sentences and truth.json."""
    folder.mkdir(parents=True, exist_ok=True)
    truth: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="chunky-espeak-") as tmp:
        work = Path(tmp)
        for voice, speed, pitch, tag in HELD_OUT:
            for word in WORDS:
                clip = trim(espeak(word, voice, speed, pitch, work), CLIP_MARGIN_S)
                clip *= 0.7 / np.abs(clip).max()
                sf.write(str(folder / f"word-{tag}-{word}.flac"), clip, SR, subtype="PCM_16")
        for n, (voice, speed, pitch, text) in enumerate(HELD_OUT_SENTENCES, start=1):
            audio = trim(espeak(text, voice, speed, pitch, work), 0.2)
            audio *= 0.7 / np.abs(audio).max()
            name = f"sentence-{n}.flac"
            sf.write(str(folder / name), audio, SR, subtype="PCM_16")
            truth[name] = text
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", "utf-8")
    print(f"test audio: written to {folder}", flush=True)


def held_out_word_files(folder: Path) -> list[tuple[Path, str]]:
    return [(folder / f"word-{tag}-{w}.flac", w) for _, _, _, tag in HELD_OUT for w in WORDS]


def assemble_long(
    folder: Path, minutes: float, seed: int
) -> tuple[np.ndarray, list[tuple[str, float, float]]]:
    """Held-out word clips in random order, 0.3-1.5 s gaps, random gain and a noise floor.

    Returns the audio and (word, true start, true end) in seconds, start/end being the speech bounds.
    """
    rng = np.random.default_rng(seed)
    clips = [(sf.read(str(p), dtype="float32")[0], w) for p, w in held_out_word_files(folder)]
    margin = int(round(CLIP_MARGIN_S * SR))
    pieces: list[np.ndarray] = []
    truth: list[tuple[str, float, float]] = []
    pos = int(rng.uniform(*ASSEMBLY_GAPS_S) * SR)
    pieces.append(np.zeros(pos, np.float32))
    while pos < minutes * 60 * SR:
        clip, word = clips[int(rng.integers(len(clips)))]
        clip = clip * float(rng.uniform(0.3, 1.0))
        truth.append((word, (pos + margin) / SR, (pos + len(clip) - margin) / SR))
        gap = np.zeros(int(rng.uniform(*ASSEMBLY_GAPS_S) * SR), np.float32)
        pieces += [clip, gap]
        pos += len(clip) + len(gap)
    audio = np.concatenate(pieces)
    audio += rng.normal(0.0, ASSEMBLY_NOISE, len(audio)).astype(np.float32)
    return audio.astype(np.float32), truth


# ------------------------------------------------------------------------------------ training examples
def _noise_and_gain(audio: np.ndarray, rng: random.Random) -> np.ndarray:
    peak = float(np.abs(audio).max()) or 1.0
    audio = audio * (10 ** rng.uniform(-1.3, -0.05) / peak)
    floor = 10 ** rng.uniform(-3.5, -2.0) if rng.random() < 0.92 else 10 ** rng.uniform(-5.0, -3.5)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, floor, len(audio))
    return (audio + noise).astype(np.float32)


def _silence(rng: random.Random, lo: float, hi: float) -> np.ndarray:
    return np.zeros(int(rng.uniform(lo, hi) * SR), np.float32)


Anchor = tuple[int, int, int]  # (onset sample, frames after the onset frame, label index)
Example = tuple[np.ndarray, str, list[Anchor]]  # audio, text, anchors


def word_anchors(onset: int, word: str, first: bool) -> list[Anchor]:
    """NeMo's CTC word timestamps start a word at the frame where the token before it (the space) is
    emitted, or one frame before its first letter for the first word. So the space goes on the onset
    frame and the first letter on the next one."""
    letter = (onset, ANCHOR_DELAY_FRAMES, LABELS.index(word[0]))
    return [letter] if first else [(onset, ANCHOR_DELAY_FRAMES - 1, LABELS.index(" ")), letter]


def make_example(corpus: Corpus, rng: random.Random, max_s: float = 11.0) -> Example:
    """One training example and its anchors (see word_anchors): every word of a word-clip example, the
    first word of a sentence (the onsets of the others are unknown)."""
    if rng.random() < 0.4:
        text, audio = rng.choice(corpus.sentences)
        audio = audio.astype(np.float32) / 32768
        if rng.random() < 0.5:
            audio = trim(audio, rng.uniform(0.0, 0.05))
        lead = _silence(rng, 0.0, 1.0)
        anchors = word_anchors(len(lead) + speech_bounds(audio)[0], text, first=True)
        audio = np.concatenate([lead, audio, _silence(rng, 0.0, 1.0)])
        return _noise_and_gain(audio, rng), text, anchors
    n = rng.randint(1, 6)
    anchors: list[Anchor] = []
    group = rng.choice(corpus.word_groups)
    pieces = [_silence(rng, 0.0, 0.8)]
    words: list[str] = []
    total = len(pieces[0])
    for i in range(n):
        if rng.random() < 0.3:
            group = rng.choice(corpus.word_groups)
        w = rng.randrange(len(WORDS))
        clip = group[w].astype(np.float32) / 32768
        if rng.random() < 0.5:
            clip = trim(clip, rng.uniform(0.0, 0.05))
        clip = clip * rng.uniform(0.5, 1.0)
        if i and total + len(clip) > max_s * SR:
            break
        if i:
            gap = _silence(rng, 0.05, 1.2)
            pieces.append(gap)
            total += len(gap)
        anchors += word_anchors(total + speech_bounds(clip)[0], WORDS[w], first=not words)
        pieces.append(clip)
        total += len(clip)
        words.append(WORDS[w])
    pieces.append(_silence(rng, 0.0, 0.8))
    return _noise_and_gain(np.concatenate(pieces), rng), " ".join(words), anchors


# ------------------------------------------------------------------------------------------------ model
def model_config() -> dict[str, Any]:
    def block(filters: int, kernel: int, stride: int = 1, repeat: int = 1, residual: bool = True,
              separable: bool = True) -> dict[str, Any]:
        return {"filters": filters, "repeat": repeat, "kernel": [kernel], "stride": [stride], "dilation": [1],
                "dropout": 0.0, "residual": residual, "separable": separable}

    hidden = 128
    return {
        "sample_rate": SR,
        "labels": LABELS,
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": SR,
            "normalize": "per_feature",
            "window_size": 0.025,
            "window_stride": 0.01,
            "window": "hann",
            "features": 64,
            "n_fft": 512,
            "dither": 1e-5,
            "pad_to": 0,
        },
        "spec_augment": {
            "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
            "freq_masks": 2,
            "freq_width": 8,
            "time_masks": 0,
            "time_width": 0.05,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConvASREncoder",
            "feat_in": 64,
            "activation": "relu",
            "conv_mask": True,
            "jasper": [
                block(hidden, 11, stride=2, residual=False),
                block(hidden, 13, repeat=2),
                block(hidden, 15, repeat=2),
                block(hidden, 17, repeat=2),
                block(hidden, 21, repeat=2),
                block(2 * hidden, 1, residual=False, separable=False),
            ],
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.ConvASRDecoder",
            "feat_in": 2 * hidden,
            "num_classes": len(LABELS),
            "vocabulary": LABELS,
        },
        "decoding": {"strategy": "greedy"},
    }


def build_model() -> Any:
    from nemo.collections.asr.models import EncDecCTCModel
    from omegaconf import OmegaConf

    return EncDecCTCModel(cfg=OmegaConf.create(model_config()))


def greedy_decode(log_probs: Any, lengths: Any) -> list[str]:
    """Best path, cut at each row's encoded length; blank is the last class (len(LABELS))."""
    out = []
    best = log_probs.argmax(-1).cpu().numpy()
    for row, n in zip(best, lengths.cpu().numpy(), strict=True):
        chars, prev = [], -1
        for k in row[: int(n)]:
            if k != prev and k != len(LABELS):
                chars.append(LABELS[k])
            prev = k
        out.append(" ".join("".join(chars).split()))
    return out


def greedy_word_starts(log_probs: Any, length: int) -> list[tuple[str, float]]:
    """Words and start times as NeMo 3.0's CTC timestamps give them (ctc_decoding._compute_offsets): a
    token "starts" where the token before it was emitted, so a word starts at the emission frame of the
    space before it, the first word one frame before its first letter."""
    best = log_probs[:length].argmax(-1).cpu().numpy()
    words: list[tuple[str, float]] = []
    current, start, prev, last_emit = "", 0, -1, -1
    for t, k in enumerate(best):
        if k != prev and k != len(LABELS):
            if LABELS[k] == " ":
                if current:
                    words.append((current, start * FRAME_SAMPLES / SR))
                current = ""
            else:
                if not current:
                    start = last_emit if last_emit >= 0 else max(0, t - 1)
                current += LABELS[k]
            last_emit = t
        prev = k
    if current:
        words.append((current, start * FRAME_SAMPLES / SR))
    return words


def pad_batch(audios: Sequence[np.ndarray]) -> tuple[Any, Any]:
    import torch

    lengths = torch.tensor([len(a) for a in audios], dtype=torch.long)
    batch = torch.zeros(len(audios), int(lengths.max()))
    for i, a in enumerate(audios):
        batch[i, : len(a)] = torch.from_numpy(a)
    return batch, lengths


def train(model: Any, corpus: Corpus, minutes: float, batch_size: int, lr: float, seed: int,
          test_audio: Path) -> dict[str, Any]:
    import torch

    rng = random.Random(seed)
    torch.manual_seed(seed)
    ctc = torch.nn.CTCLoss(blank=len(LABELS), zero_infinity=True)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    probe = held_out_word_files(test_audio)
    probe_audio = [sf.read(str(p), dtype="float32")[0] for p, _ in probe]
    probe_text = [w for _, w in probe]
    long_audio, long_truth = assemble_long(test_audio, 1.0, seed + 1)

    budget = minutes * 60.0
    warmup = 100
    t0 = time.time()
    step = 0
    queue: list[Example] = []
    next_probe = t0 + 180
    running = None
    model.train()
    while True:
        elapsed = time.time() - t0
        if elapsed >= budget:
            break
        frac = elapsed / budget
        cur_lr = lr * min(1.0, (step + 1) / warmup) * (0.03 + 0.97 * 0.5 * (1 + math.cos(math.pi * frac)))
        for g in opt.param_groups:
            g["lr"] = cur_lr
        if not queue:  # 4 batches at a time, sorted by length so padding stays small
            pool = [make_example(corpus, rng) for _ in range(4 * batch_size)]
            pool.sort(key=lambda e: len(e[0]))
            chunks = [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
            rng.shuffle(chunks)
            queue = [e for c in chunks for e in c]
        examples, queue = queue[:batch_size], queue[batch_size:]
        signal, sig_len = pad_batch([e[0] for e in examples])
        targets = [torch.tensor([LABELS.index(c) for c in e[1]], dtype=torch.long) for e in examples]
        target_len = torch.tensor([len(t) for t in targets], dtype=torch.long)
        log_probs, enc_len, _ = model.forward(input_signal=signal, input_signal_length=sig_len)
        loss = ctc(log_probs.transpose(0, 1), torch.cat(targets), enc_len, target_len)
        # Anchors: the space before a word and its first letter are emitted where its sound begins (see
        # word_anchors). CTC alone leaves emission times free: without this the space came anywhere in
        # the pause before a word, so NeMo's word starts were up to 0.9 s early.
        rows, frames, labels = [], [], []
        for b, e in enumerate(examples):
            for onset, delta, label in e[2]:
                frame = round(onset / FRAME_SAMPLES) + delta
                if 0 <= frame < int(enc_len[b]):
                    rows.append(b)
                    frames.append(frame)
                    labels.append(label)
        if rows:
            loss = loss - ANCHOR_WEIGHT * log_probs[rows, frames, labels].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        value = loss.item()
        running = value if running is None else 0.98 * running + 0.02 * value
        if step % 50 == 0:
            print(f"step {step:5d}  {elapsed / 60:5.1f} min  lr {cur_lr:.2e}  loss {running:.3f}  "
                  f"{step / max(elapsed, 1e-6):.2f} steps/s", flush=True)
        if time.time() >= next_probe:
            next_probe = time.time() + 180
            model.eval()
            with torch.no_grad():
                sig, ln = pad_batch(probe_audio)
                lp, el, _ = model.forward(input_signal=sig, input_signal_length=ln)
                hyps = greedy_decode(lp, el)
                lp, el, _ = model.forward(input_signal=torch.from_numpy(long_audio)[None],
                                          input_signal_length=torch.tensor([len(long_audio)]))
                found = greedy_word_starts(lp[0], int(el[0]))
            model.train()
            errors = sum(word_errors(t, h)[0] for t, h in zip(probe_text, hyps, strict=True))
            ref = [w for w, _, _ in long_truth]
            pairs = align(ref, [w for w, _ in found])
            long_errors = sum(1 for r, k in pairs if r is None or k is None or ref[r] != found[k][0])
            offsets = offset_stats([found[k][1] - long_truth[r][1] for r, k in pairs
                                    if r is not None and k is not None and ref[r] == found[k][0]])
            mean, std, spread = (offsets.get(k, 0.0) for k in ("mean", "std", "max_abs_after_mean"))
            print(f"probe: held-out word clips {errors}/{len(probe_text)} word errors; 1-minute file "
                  f"{long_errors}/{len(ref)} word errors, start offset mean {mean:+.3f} s std {std:.3f} "
                  f"max |x - mean| {spread:.3f}", flush=True)
    model.eval()
    return {"steps": step, "minutes": (time.time() - t0) / 60, "final_loss": running}


# ------------------------------------------------------------------------------------------- evaluation
def word_errors(ref_text: str, hyp_text: str) -> tuple[int, int]:
    """(word errors, reference words): the tests' jiwer count."""
    ref = ref_text.split()
    return count_word_errors(ref, hyp_text.split()), len(ref)


def offset_stats(values: Sequence[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=np.float64)
    if not len(a):
        return {}
    return {"n": int(len(a)), "mean": float(a.mean()), "std": float(a.std()), "min": float(a.min()),
            "max": float(a.max()), "max_abs": float(np.abs(a).max()),
            "max_abs_after_mean": float(np.abs(a - a.mean()).max())}


def evaluate(
    model_path: Path, test_audio: Path, long_minutes: float, batch_size: int, seed: int
) -> dict[str, Any]:
    import torch
    from nemo.collections.asr.models import EncDecCTCModel

    torch.set_num_threads(2)
    model = EncDecCTCModel.restore_from(str(model_path), map_location="cpu")
    model.eval()
    results: dict[str, Any] = {
        "model": str(model_path.name), "size_bytes": model_path.stat().st_size,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "transcribe_call": f"model.transcribe(paths, batch_size={batch_size}, timestamps=True) for clips; "
                           "batch_size=1 for the long file; decoding strategy "
                           f"{model.cfg.decoding.strategy!r}, no other decoding changes",
    }

    # 1. Every held-out word clip on its own.
    files = held_out_word_files(test_audio)
    t0 = time.time()
    hyps = model.transcribe([str(p) for p, _ in files], batch_size=batch_size, timestamps=True, verbose=False)
    errors, starts, misses = 0, [], []
    for (path, word), h in zip(files, hyps, strict=True):
        e, _ = word_errors(word, h.text)
        errors += e
        if e:
            misses.append(f"{path.name}: {h.text!r}")
        ws = h.timestamp["word"]
        if len(ws) == 1 and ws[0]["word"] == word:
            starts.append(ws[0]["start"] - CLIP_MARGIN_S)
    results["word_clips"] = {"files": len(files), "word_errors": errors, "wer": errors / len(files),
                             "misses": misses, "start_offset_s": offset_stats(starts),
                             "seconds": time.time() - t0}

    # 2. Held-out sentences.
    truth = json.loads((test_audio / "truth.json").read_text("utf-8"))
    hyps = model.transcribe([str(test_audio / n) for n in truth], batch_size=batch_size, verbose=False)
    errs = [word_errors(t, h.text) for t, h in zip(truth.values(), hyps, strict=True)]
    results["sentences"] = {
        "word_errors": sum(e for e, _ in errs), "words": sum(n for _, n in errs),
        "wer": sum(e for e, _ in errs) / sum(n for _, n in errs),
        "hypotheses": {name: h.text for name, h in zip(truth, hyps, strict=True)},
    }

    # 3. One long file of held-out words with known gaps, transcribed in one pass.
    audio, words = assemble_long(test_audio, long_minutes, seed)
    with tempfile.TemporaryDirectory(prefix="chunky-eval-") as tmp:
        long_path = Path(tmp) / "long.wav"
        sf.write(str(long_path), audio, SR, subtype="PCM_16")
        t0 = time.time()
        (h,) = model.transcribe([str(long_path)], batch_size=1, timestamps=True, verbose=False)
        seconds = time.time() - t0
    ref = [w for w, _, _ in words]
    hyp_words = h.timestamp["word"]
    hyp = [w["word"] for w in hyp_words]
    pairs = align(ref, hyp)
    errors = sum(1 for r, k in pairs if r is None or k is None or ref[r] != hyp[k])
    start_offsets = [hyp_words[k]["start"] - words[r][1] for r, k in pairs
                     if r is not None and k is not None and ref[r] == hyp[k]]
    end_offsets = [hyp_words[k]["end"] - words[r][2] for r, k in pairs
                   if r is not None and k is not None and ref[r] == hyp[k]]
    wrong = [(None if r is None else f"{ref[r]}@{words[r][1]:.2f}", None if k is None else hyp[k])
             for r, k in pairs if r is None or k is None or ref[r] != hyp[k]]
    results["long_file"] = {
        "seconds_audio": len(audio) / SR, "words": len(ref), "word_errors": errors, "wer": errors / len(ref),
        "errors": wrong[:50], "start_offset_s": offset_stats(start_offsets),
        "end_offset_s": offset_stats(end_offsets), "transcribe_seconds": seconds,
        "text_words_match_timestamps": h.text.split() == hyp,
        "text_has_outer_spaces": h.text != h.text.strip(),
    }
    return results


# ------------------------------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=22.0, help="training wall time (default 22)")
    parser.add_argument("--out", type=Path, default=ASSETS / "digits-ctc.nemo",
                        help="where to save the .nemo")
    parser.add_argument("--test-audio", type=Path, default=ASSETS / "audio",
                        help="held-out test audio folder")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "chunky-train-digits",
                        help="synthesized training corpus cache")
    parser.add_argument("--sentences", type=int, default=3000, help="synthesized training sentences")
    parser.add_argument("--batch-size", type=int, default=28)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads (at most 2 on shared machines)")
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--long-minutes", type=float, default=10.0, help="length of the assembled eval file")
    parser.add_argument("--eval-batch-size", type=int, default=8)
    parser.add_argument("--skip-audio", action="store_true", help="keep the existing test audio")
    parser.add_argument("--eval-only", action="store_true", help="only evaluate --out")
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    test_audio: Path = args.test_audio.resolve()

    import torch

    torch.set_num_threads(args.threads)
    if not args.eval_only:
        if not args.skip_audio or not (test_audio / "truth.json").exists():
            write_test_audio(test_audio)
        corpus = build_corpus(args.cache.resolve(), args.sentences, args.seed)
        model = build_model()
        params = sum(p.numel() for p in model.parameters())
        print(f"model: {params} parameters", flush=True)
        info = train(model, corpus, args.minutes, args.batch_size, args.lr, args.seed, test_audio)
        print(f"trained: {info}", flush=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        model.save_to(str(partial))
        partial.replace(out)
        print(f"saved: {out} ({out.stat().st_size} bytes)", flush=True)
    results = evaluate(out, test_audio, args.long_minutes, args.eval_batch_size, args.seed)
    report_path = out.with_name(out.name + ".eval.json")
    if not args.eval_only:
        results["training"] = info | {"command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])}
    elif report_path.exists():  # keep the record of how the model was trained
        training = json.loads(report_path.read_text("utf-8")).get("training")
        if training:
            results["training"] = training
    report = json.dumps(results, indent=2)
    print(report, flush=True)
    report_path.write_text(report + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
