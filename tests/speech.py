"""Test recordings with known words: assembled from the committed held-out word clips (tests/assets/audio).

Every clip holds one digit word with exactly CLIP_MARGIN seconds of margin before its onset and after its
offset, so the true start and end of every word in an assembled recording is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

AUDIO = Path(__file__).resolve().parent / "assets" / "audio"
RATE = 16000
CLIP_MARGIN = 0.050


@dataclass(frozen=True)
class TrueWord:
    word: str
    start: float
    end: float


def word_clips() -> list[tuple[np.ndarray, str]]:
    clips = []
    for path in sorted(AUDIO.glob("word-*.flac")):
        audio, rate = sf.read(str(path), dtype="float32")
        assert rate == RATE, path
        clips.append((audio, path.stem.rsplit("-", 1)[1]))
    assert len(clips) == 40, "tests/assets/audio should hold 40 word clips"
    return clips


def assemble(seconds: float, seed: int = 0, gaps: tuple[float, float] = (0.25, 0.9),
             pause_every: int = 9, pause: tuple[float, float] = (1.2, 2.2),
             noise: float = 0.002) -> tuple[np.ndarray, list[TrueWord]]:
    """Random held-out words with random gaps (a longer pause every ``pause_every`` words, like the end of
    a sentence), random gain and a faint noise floor, at least ``seconds`` long."""
    rng = np.random.default_rng(seed)
    clips = word_clips()
    pieces: list[np.ndarray] = []
    truth: list[TrueWord] = []
    pos = int(0.4 * RATE)
    pieces.append(np.zeros(pos, np.float32))
    margin = round(CLIP_MARGIN * RATE)
    while pos < seconds * RATE:
        clip, word = clips[int(rng.integers(len(clips)))]
        clip = clip * float(rng.uniform(0.4, 1.0))
        truth.append(TrueWord(word, (pos + margin) / RATE, (pos + len(clip) - margin) / RATE))
        lo, hi = pause if len(truth) % pause_every == 0 else gaps
        gap = np.zeros(int(rng.uniform(lo, hi) * RATE), np.float32)
        pieces += [clip, gap]
        pos += len(clip) + len(gap)
    audio = np.concatenate(pieces)
    audio += rng.normal(0.0, noise, len(audio)).astype(np.float32)
    return audio, truth


def write_flac(path: Path, audio: np.ndarray) -> Path:
    sf.write(str(path), audio, RATE, subtype="PCM_16")
    return path


def align(ref: list[str], hyp: list[str]) -> list[tuple[int | None, int | None]]:
    """The word alignment jiwer finds, as (ref index or None, hyp index or None) pairs in order."""
    import jiwer

    if not ref or not hyp:
        return [(i, None) for i in range(len(ref))] + [(None, j) for j in range(len(hyp))]
    pairs: list[tuple[int | None, int | None]] = []
    for chunk in jiwer.process_words(" ".join(ref), " ".join(hyp)).alignments[0]:
        r = range(chunk.ref_start_idx, chunk.ref_end_idx)
        h = range(chunk.hyp_start_idx, chunk.hyp_end_idx)
        if chunk.type in ("equal", "substitute"):
            pairs += list(zip(r, h, strict=True))
        elif chunk.type == "delete":
            pairs += [(i, None) for i in r]
        else:
            pairs += [(None, j) for j in h]
    return pairs


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """Substitutions + deletions + insertions (jiwer), the numerator of the word error rate."""
    import jiwer

    if not ref or not hyp:
        return max(len(ref), len(hyp))
    out = jiwer.process_words(" ".join(ref), " ".join(hyp))
    return out.substitutions + out.deletions + out.insertions


def wer(ref: list[str], hyp: list[str]) -> float:
    return word_errors(ref, hyp) / max(1, len(ref))


def bury_word(audio: np.ndarray, truth: list[TrueWord], index: int, snr_db: float = -5.0,
              seed: int = 1) -> tuple[np.ndarray, float, float]:
    """A copy of ``audio`` with white noise ``snr_db`` decibels louder than the speech over word ``index``
    (and CLIP_MARGIN around it): that one word is buried in noise, the others stay clean. Returns the audio
    and the noise's start and end in seconds."""
    w = truth[index]
    a, b = int((w.start - CLIP_MARGIN) * RATE), int((w.end + CLIP_MARGIN) * RATE)
    out = audio.copy()
    level = float(np.sqrt(np.mean(audio[a:b] ** 2)))
    rng = np.random.default_rng(seed)
    out[a:b] += rng.normal(0.0, level * 10 ** (-snr_db / 20), b - a).astype(np.float32)
    return out, a / RATE, b / RATE
