"""Who spoke when with a speaker-embedding model (NeMo's ``EncDecSpeakerLabelModel``, e.g. TitaNet): NeMo's
clustering diarization, run here on the samples as they are decoded.

1. silero VAD (``chunky.audio.vad``) marks the speech, five minutes at a time.
2. Windows of three lengths (:data:`SCALES`, NeMo's multi-scale set-up) slide over the recording; each window
   that is mostly speech is embedded by the model, 64 at a time.
3. NeMo's multi-scale NME-SC spectral clustering (``LongFormSpeakerClustering``) groups the embeddings of the
   whole recording into speakers, estimating their number unless the user gives it. The recording is one
   clustering problem, so a speaker keeps their name for hours; long recordings are clustered in pieces of
   :data:`CLUSTER_PIECE` base windows whose clusters are then merged (NeMo's long-form clustering).
4. Every speech frame takes the speaker of the nearest base window (``chunky.asr.speaker_windows``); the
   turns follow from that as for the Sortformer (``chunky.asr.speaker_turns``).

What is kept: the VAD's speech probabilities (4 bytes per 32 ms), the embeddings (an hour of speech is
about 26,000) and the samples of the VAD piece being read, never the whole recording. Knows nothing of
the job runner or the UI.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from chunky.asr.diarization import (
    RULES_KEY,
    SAMPLE_RATE,
    Diarization,
    DiarizationCancelled,
    DiarizationError,
    DiarizationOptions,
    check_rate,
    check_samples,
    check_speaker_count,
    is_silence,
    model_rules,
    within,
)
from chunky.asr.options import Progress, ProgressFn
from chunky.asr.speaker_turns import TurnRules, turns_from_activity
from chunky.asr.speaker_windows import (
    MIN_SPEECH_SHARE,
    Scale,
    activity,
    frame_speakers,
    merge_small_clusters,
    speech_share,
    window_bounds,
)
from chunky.transcript.speakers import speaker_names

log = logging.getLogger(__name__)

# Window (length, shift) in seconds, longest first; the last is the base scale the clustering labels.
# NeMo's diarization configs use five scales from 1.5 s to 0.5 s; three keep the CPU time in bounds.
SCALES = (Scale(1.5, 0.75), Scale(1.0, 0.5), Scale(0.5, 0.25))
SCALE_WEIGHTS = (1.0, 1.0, 1.0)  # each scale's share of the fused affinity (NeMo's multiscale_weights)
MAX_SPEAKERS = 8  # the most speakers the clustering looks for (NeMo's max_num_speakers)
CLUSTER_PIECE = 3000  # base windows (12.5 min of speech) clustered at a time on long recordings
PIECE_CLUSTERS = 50  # clusters kept from each piece before they are merged (NeMo's chunk_cluster_count)
EMBED_BATCH = 64  # windows per model call
# A model without post-processing of its own: speech as the VAD pads it for cutting chunks, and pauses
# under half a second within one speaker's speech are part of the turn (the usual convention of turn
# references, and the tests' own).
DEFAULT_RULES = TurnRules(pad_onset=0.032, pad_offset=0.064, min_duration_off=0.5)
# Samples the VAD reads at a time (5 min, whole VAD windows; 19 MB held). It runs 64 stretches of a piece
# side by side: pieces of 30 s took 17 s an hour on 2 cores, pieces of 5 min 3.5 s.
VAD_PIECE = 9375 * 512


def is_speaker_model(model: Any) -> bool:
    return any(c.__name__ == "EncDecSpeakerLabelModel" for c in type(model).__mro__)


class _Windows:
    """The recording read block by block: VAD per piece, then the embeddings of each scale's windows."""

    def __init__(self, model: Any, frame_seconds: float):
        self.model = model
        self.frame_seconds = frame_seconds
        self.device = next(model.parameters()).device
        self.held = np.zeros(0, np.float32)  # samples from ``held_from`` on ...
        self.held_from = 0
        self.incoming: list[np.ndarray] = []  # ... and the blocks after them, joined when the VAD reads
        self.seen = 0
        self.peak = 0.0
        self.vad_done = 0  # samples the VAD has read
        self.probs: list[np.ndarray] = []
        self.next = [0] * len(SCALES)  # the next window of each scale to look at
        self.pending: list[list[tuple[float, float, np.ndarray]]] = [[] for _ in SCALES]
        self.embeddings: list[list[np.ndarray]] = [[] for _ in SCALES]
        self.stamps: list[list[tuple[float, float]]] = [[] for _ in SCALES]

    def speech(self) -> np.ndarray:
        from chunky.audio.vad import SPEECH_ON

        return np.concatenate(self.probs) >= SPEECH_ON if self.probs else np.zeros(0, bool)

    def add(self, block: np.ndarray) -> None:
        self.incoming.append(block)
        self.seen += len(block)
        self.peak = max(self.peak, float(block.max()), -float(block.min()))
        read = False
        while self.seen - self.vad_done >= VAD_PIECE:
            self._vad(self.vad_done + VAD_PIECE)
            read = True
        if read:
            self._take(None)

    def finish(self) -> None:
        if self.seen > self.vad_done:
            self._vad(self.seen)
        self._take(self.seen / SAMPLE_RATE)
        for k in range(len(SCALES)):
            self._embed(k)

    def _vad(self, end: int) -> None:
        from chunky.audio.vad import speech_probabilities

        if self.incoming:
            self.held = np.concatenate([self.held, *self.incoming])
            self.incoming = []
        a, b = self.vad_done - self.held_from, end - self.held_from
        self.probs.append(speech_probabilities(self.held[a:b], one_thread=False))
        self.vad_done = end

    def _take(self, duration: float | None) -> None:
        """Queue every window the VAD has read past (``duration``: the end, once known), embed full batches,
        and let go of the samples no window needs any more."""
        speech = self.speech()
        for k, scale in enumerate(SCALES):
            while (bounds := window_bounds(scale, self.next[k], duration)) is not None:
                start, end = bounds
                if duration is None and end * SAMPLE_RATE > self.vad_done:
                    break
                self.next[k] += 1
                if speech_share(speech, self.frame_seconds, start, end) < MIN_SPEECH_SHARE:
                    continue
                a = int(round(start * SAMPLE_RATE)) - self.held_from
                b = min(int(round(end * SAMPLE_RATE)), self.seen) - self.held_from
                self.pending[k].append((start, end, self.held[a:b]))
                if len(self.pending[k]) >= EMBED_BATCH:
                    self._embed(k)
        keep = min([int(n * s.shift * SAMPLE_RATE) for n, s in zip(self.next, SCALES, strict=True)]
                   + [self.vad_done])
        if keep > self.held_from:
            self.held, self.held_from = self.held[keep - self.held_from:], keep

    def _embed(self, k: int) -> None:
        import torch

        batch = self.pending[k]
        if not batch:
            return
        lengths = torch.tensor([len(x) for _, _, x in batch], dtype=torch.long)
        audio = torch.zeros((len(batch), int(lengths.max())))
        for i, (_, _, x) in enumerate(batch):
            audio[i, : len(x)] = torch.from_numpy(x)
        _, embs = self.model.forward(input_signal=audio.to(self.device),
                                     input_signal_length=lengths.to(self.device))
        self.embeddings[k].append(embs.float().cpu().numpy())
        self.stamps[k].extend((a, b) for a, b, _ in batch)
        self.pending[k] = []


@contextlib.contextmanager
def _quiet_bar(module: Any) -> Iterator[None]:
    """NeMo's long-form clustering draws a tqdm bar on stderr; the job's progress is Chunky's own."""
    bar = module.tqdm
    module.tqdm = functools.partial(bar, disable=True)
    try:
        yield
    finally:
        module.tqdm = bar


def cluster(embeddings: list[np.ndarray], stamps: list[np.ndarray], num_speakers: int | None,
            max_speakers: int = MAX_SPEAKERS) -> np.ndarray:
    """NeMo's multi-scale clustering: a speaker label for each base-scale (last) window. ``embeddings``
    and ``stamps`` per scale, longest first; scales without windows are left out."""
    import torch
    from nemo.collections.asr.parts.utils import longform_clustering

    base = len(embeddings[-1])
    if base <= 1 or num_speakers == 1:
        return np.zeros(base, np.int64)
    used = [k for k, e in enumerate(embeddings) if len(e)]
    times = np.concatenate([stamps[k] for k in used]).astype(np.float32)
    with _quiet_bar(longform_clustering):
        labels = longform_clustering.LongFormSpeakerClustering(cuda=False).forward_infer(
            embeddings_in_scales=torch.from_numpy(np.concatenate([embeddings[k] for k in used])),
            timestamps_in_scales=torch.from_numpy(times),
            multiscale_segment_counts=torch.tensor([len(embeddings[k]) for k in used], dtype=torch.long),
            multiscale_weights=torch.tensor([SCALE_WEIGHTS[k] for k in used], dtype=torch.float32),
            oracle_num_speakers=min(num_speakers, base) if num_speakers else -1,
            max_num_speakers=max_speakers,
            chunk_cluster_count=PIECE_CLUSTERS,
            embeddings_per_chunk=CLUSTER_PIECE,
        )
    return np.asarray(labels.cpu().numpy(), np.int64)


class ClusteringDiarizer:
    """Finds speaker turns with one loaded speaker-embedding model (one recording at a time); the same
    calls as :class:`chunky.asr.diarization.Diarizer`."""

    def __init__(self, model: Any, name: str = ""):
        if not is_speaker_model(model):
            raise DiarizationError(f"{name or type(model).__name__} is not a speaker-embedding model "
                                   "(EncDecSpeakerLabelModel), e.g. nvidia/titanet_large.")
        self.model = model
        self.name = name
        self._lock = threading.Lock()

    @property
    def max_speakers(self) -> int:
        return MAX_SPEAKERS

    def diarize(self, samples: np.ndarray | Iterable[np.ndarray], rate: int = SAMPLE_RATE, *,
                options: DiarizationOptions | None = None, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, seconds: float | None = None) -> Diarization:
        """As :meth:`chunky.asr.diarization.Diarizer.diarize`: ``samples`` mono float32 at 16 kHz, one
        array or its consecutive blocks; ``seconds``, the expected length, gives the progress."""
        import torch

        from chunky.audio.vad import VAD_RATE, WINDOW, speech_windows

        opts = options or DiarizationOptions()
        check_speaker_count(opts.num_speakers, self.max_speakers, self.name)
        check_rate(rate)
        report: Callable[[Progress], None] = progress or (lambda p: None)
        cancel = cancel or threading.Event()
        blocks = [samples] if isinstance(samples, np.ndarray) else samples
        total = seconds or (len(samples) / SAMPLE_RATE if isinstance(samples, np.ndarray) else 0.0)
        frame = WINDOW / VAD_RATE
        started = time.perf_counter()
        with self._lock, torch.inference_mode():
            self.model.eval()
            windows = _Windows(self.model, frame)
            report(Progress("diarizing", 0.0, total))
            for block in blocks:
                if cancel.is_set():
                    raise DiarizationCancelled(
                        f"Cancelled while finding the speakers ({windows.seen / SAMPLE_RATE:.0f} s read).")
                block = check_samples(block)
                if len(block):
                    windows.add(block)
                    report(Progress("diarizing", min(windows.seen / SAMPLE_RATE, total or np.inf), total))
            windows.finish()
            duration = windows.seen / SAMPLE_RATE
            base = windows.embeddings[-1]
            if is_silence(windows.seen, windows.peak) or not base:
                return Diarization([], np.zeros((0, 0), np.float32), frame, 0.0, silent=True)
            if cancel.is_set():
                raise DiarizationCancelled("Cancelled while finding the speakers (before clustering).")
            embeddings = [np.concatenate(e) if e else np.zeros((0, 1), np.float32)
                          for e in windows.embeddings]
            stamps = [np.asarray(s, np.float64).reshape(-1, 2) for s in windows.stamps]
            labels = cluster(embeddings, stamps, opts.num_speakers)
            if opts.num_speakers is None:
                labels = merge_small_clusters(labels, embeddings[-1])
        speech = speech_windows(np.concatenate(windows.probs))
        centres = stamps[-1].mean(axis=1)
        act = activity(frame_speakers(speech, frame, centres, labels))
        saved = self.model.cfg.get(RULES_KEY) if getattr(self.model, "cfg", None) is not None else None
        rules = opts.rules or (model_rules(self.model) if saved else DEFAULT_RULES)
        turns = turns_from_activity(act, frame, rules, num_speakers=opts.num_speakers)
        turns = within(turns, duration)
        spent = time.perf_counter() - started
        report(Progress("diarizing", duration, duration))
        log.info("Diarized %.1f s of audio in %.1f s by clustering %d windows: %d speaker(s), %d turns",
                 duration, spent, sum(len(e) for e in embeddings), len(speaker_names(turns)), len(turns))
        return Diarization(turns, act, frame, spent)
