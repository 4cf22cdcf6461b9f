"""The pure half of clustering diarization: which windows of a recording get a speaker embedding, and how the
speakers the clustering gives those windows become who-spoke-when per speech frame.

numpy only (no torch). Times in seconds; VAD frames are the silero VAD's 32 ms windows
(``chunky.audio.vad``).

NeMo's clustering diarizer embeds windows of several lengths (scales): long windows tell voices apart
well, short ones place the turn changes. Clustering labels the shortest (the base scale); here each speech
frame takes the speaker of the nearest labelled base window, so a turn change falls between two base
windows' centres (a quarter of a second apart by default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_SPEECH_SHARE = 0.5  # a window is embedded when at least this share of its VAD frames is speech
MIN_LAST_SHARE = 0.5  # the last window, cut by the end of the recording, must keep this share of its length
NEAREST_SECONDS = 1.0  # a speech frame farther than this from every labelled base window has no speaker
# When the clustering also counts the speakers, a cluster of fewer base windows than this share is merged
# into the most similar one (as pyannote's min_cluster_size): on long recordings NeMo's merging of pieces
# leaves such scraps of one voice (an hour of three speakers: 1.5% of the windows as a fourth "speaker").
MIN_CLUSTER_SHARE = 0.02


@dataclass(frozen=True)
class Scale:
    length: float  # seconds per window
    shift: float  # seconds between window starts

    def __post_init__(self) -> None:
        if not 0 < self.shift <= self.length:
            raise ValueError(f"a window shift must be positive and at most the window, not {self}")


def window_bounds(scale: Scale, index: int, duration: float | None) -> tuple[float, float] | None:
    """(start, end) of window ``index``; ``duration``: the recording's length once known (None: still
    reading). None when the window lies past the end (or is cut to less than ``MIN_LAST_SHARE``)."""
    start = index * scale.shift
    end = start + scale.length
    if duration is None:
        return start, end
    cut_short = index > 0 and end > duration and duration - start < MIN_LAST_SHARE * scale.length
    if start >= duration or cut_short:
        return None
    return start, min(end, duration)


def speech_share(speech: np.ndarray, frame_seconds: float, start: float, end: float) -> float:
    """The share of the VAD frames inside ``[start, end)`` that are speech."""
    a = int(start / frame_seconds)
    b = max(a + 1, int(np.ceil(end / frame_seconds)))
    part = speech[a:b]
    return float(part.mean()) if len(part) else 0.0


def frame_speakers(speech: np.ndarray, frame_seconds: float, centres: np.ndarray,
                   labels: np.ndarray) -> np.ndarray:
    """The speaker (label, -1 for none) of every VAD frame: a speech frame takes the label of the nearest
    base window centre (within ``NEAREST_SECONDS``)."""
    out = np.full(len(speech), -1, dtype=np.int64)
    if not len(centres):
        return out
    order = np.argsort(centres, kind="stable")
    c, lab = np.asarray(centres, float)[order], np.asarray(labels)[order]
    frames = np.flatnonzero(speech)
    t = (frames + 0.5) * frame_seconds
    right = np.clip(np.searchsorted(c, t), 0, len(c) - 1)
    left = np.clip(right - 1, 0, len(c) - 1)
    nearest = np.where(np.abs(c[left] - t) <= np.abs(c[right] - t), left, right)
    close = np.abs(c[nearest] - t) <= NEAREST_SECONDS
    out[frames[close]] = lab[nearest[close]]
    return out


def activity(speakers: np.ndarray) -> np.ndarray:
    """(frames, speakers) 0/1 activity from each frame's speaker (-1: nobody), one column per label in
    the order of the labels."""
    s = np.asarray(speakers)
    found = sorted({int(k) for k in s if k >= 0})
    out = np.zeros((len(s), len(found)), np.float32)
    for column, label in enumerate(found):
        out[s == label, column] = 1.0
    return out


def merge_small_clusters(labels: np.ndarray, embeddings: np.ndarray,
                         min_share: float = MIN_CLUSTER_SHARE) -> np.ndarray:
    """``labels`` with every cluster of fewer than ``min_share`` of the windows given to the cluster whose
    mean embedding (cosine) is closest to its own; at least one cluster stays."""
    lab = np.asarray(labels, np.int64).copy()
    if not len(lab):
        return lab
    ids, counts = np.unique(lab, return_counts=True)
    big = ids[counts >= min_share * len(lab)]
    if len(big) == 0 or len(big) == len(ids):
        return lab
    e = np.asarray(embeddings, np.float64)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)

    def centre(k: int) -> np.ndarray:
        c = e[lab == k].mean(axis=0)
        return c / max(float(np.linalg.norm(c)), 1e-12)

    targets = np.stack([centre(k) for k in big])
    for k in ids:
        if k not in big:
            lab[lab == k] = big[int(np.argmax(targets @ centre(k)))]
    return lab
