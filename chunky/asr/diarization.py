"""Who spoke when in one recording: a NeMo Sortformer model (``SortformerEncLabelModel``) run over the
samples chunk by chunk, with the model's speaker cache carrying every speaker from one chunk to the next.

Samples in (16 kHz mono float32), speaker turns out. The recording never goes through the model whole:
the features are computed in pieces (exactly as one pass over the whole file would give them, per-feature
normalization included), and the streaming loop of NeMo's ``forward_streaming`` is run here one chunk at a
time, so progress can be reported, a cancel honoured between chunks, and only one chunk's features sit on
the GPU. The speaker cache (NVIDIA's arrival-order speaker cache, AOSC) keeps the frames that best
represent each speaker heard so far and puts them before every new chunk: speaker 1 stays speaker 1 over
hours. Knows nothing of the job runner or the UI.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from chunky.asr.options import Progress, ProgressFn
from chunky.asr.speaker_turns import TurnRules, turns_from_activity
from chunky.base.errors import CancelledError, ChunkyError
from chunky.transcript.speakers import SpeakerTurn, speaker_names

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
FEATURE_PIECE_SECONDS = 60.0  # audio turned into features at a time
FEATURE_CONTEXT_FRAMES = 8  # extra feature frames computed on each side of a piece, then dropped
STREAMING_KEYS = ("chunk_len", "chunk_left_context", "chunk_right_context", "fifo_len", "spkcache_len",
                  "spkcache_update_period")
SILENT_PEAK = 10 ** (-60 / 20)  # quieter than -60 dBFS throughout: silence (as chunky.audio.decode.is_silent)
RULES_KEY = "chunky_postprocessing"  # optional TurnRules values saved in a model's config


class DiarizationError(ChunkyError):
    """Diarization cannot be done as asked (input, speaker count)."""


class TooManySpeakersError(DiarizationError):
    pass


class DiarizationCancelled(CancelledError):
    pass


@dataclass(frozen=True)
class DiarizationOptions:
    num_speakers: int | None = None  # how many people speak, when the user knows it (None: find out)
    rules: TurnRules | None = None  # None: the model's own (saved in its config), else NeMo's defaults
    # Streaming set-up (frames of 80 ms), e.g. {"chunk_len": 340, "chunk_right_context": 40, "fifo_len": 40,
    # "spkcache_update_period": 300}; None: the model's own.
    streaming: Mapping[str, int] | None = None


@dataclass
class Diarization:
    turns: list[SpeakerTurn]
    activity: np.ndarray = field(repr=False)  # (frames, speaker slots): the model's probabilities
    frame_seconds: float
    seconds: float  # wall time spent
    silent: bool = False  # shorter than half a second, or nothing above -60 dBFS: no turns

    @property
    def speakers(self) -> list[str]:
        return speaker_names(self.turns)


def max_speakers(model: Any) -> int:
    """How many speakers the model can tell apart (Sortformer: its number of output slots)."""
    return int(model.sortformer_modules.n_spk)


def check_speaker_count(num_speakers: int | None, limit: int, model_name: str = "") -> None:
    """A clear error for an expected speaker count the model cannot give."""
    if num_speakers is None:
        return
    if num_speakers < 1:
        raise DiarizationError(f"The number of speakers must be at least 1, not {num_speakers}.")
    if num_speakers > limit:
        which = f"The diarization model {model_name!r}" if model_name else "The diarization model"
        raise TooManySpeakersError(
            f"{which} tells apart at most {limit} speakers, but {num_speakers} were asked for. Use a model "
            f"that supports more, or, when each person has their own microphone, one speaker per track."
        )


def model_rules(model: Any) -> TurnRules:
    """The post-processing saved with the model (``chunky_postprocessing`` in its config), else NeMo's."""
    saved = model.cfg.get(RULES_KEY) if getattr(model, "cfg", None) is not None else None
    if not saved:
        return TurnRules()
    names = {f.name for f in fields(TurnRules)}
    return TurnRules(**{k: float(v) for k, v in dict(saved).items() if k in names})


def frame_seconds(model: Any) -> float:
    stride = float(model.cfg.preprocessor.window_stride)
    return stride * int(model.encoder.subsampling_factor)


@contextlib.contextmanager
def _streaming_setup(model: Any, overrides: Mapping[str, int] | None) -> Iterator[None]:
    mod = model.sortformer_modules
    unknown = set(overrides or {}) - set(STREAMING_KEYS)
    if unknown:
        raise ValueError(f"unknown streaming settings {sorted(unknown)}; known: {', '.join(STREAMING_KEYS)}")
    saved = {k: getattr(mod, k) for k in STREAMING_KEYS}
    was_streaming = model.streaming_mode
    try:
        for k, v in (overrides or {}).items():
            setattr(mod, k, int(v))
        model.streaming_mode = True
        mod._check_streaming_parameters()
        yield
    finally:
        for k, v in saved.items():
            setattr(mod, k, v)
        model.streaming_mode = was_streaming


def check_rate(rate: int) -> None:
    if rate != SAMPLE_RATE:
        raise DiarizationError(f"Diarization needs {SAMPLE_RATE} Hz audio, not {rate} Hz: resample it first.")


def is_silence(count: int, peak: float) -> bool:
    """Shorter than half a second, or nothing above -60 dBFS: no speaker to find."""
    return count < int(0.5 * SAMPLE_RATE) or peak < SILENT_PEAK


def within(turns: list[SpeakerTurn], duration: float) -> list[SpeakerTurn]:
    """The turns that start before the end of the recording, cut there."""
    return [t if t.end <= duration else SpeakerTurn(t.start, duration, t.speaker)
            for t in turns if t.start < duration]


def check_samples(samples: np.ndarray) -> np.ndarray:
    """One array or block of the recording as float32 mono, checked (the rate is checked by diarize)."""
    a = np.asarray(samples)
    if a.ndim != 1:
        raise DiarizationError(f"Diarization needs mono audio (one channel), not an array of shape "
                               f"{a.shape}.")
    if a.dtype != np.float32:
        a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise DiarizationError("The audio holds NaN or infinite values.")
    return a


def features(model: Any, samples: np.ndarray | Iterable[np.ndarray],
             piece_seconds: float = FEATURE_PIECE_SECONDS) -> tuple[Any, int, float]:
    """The model's input features of the whole recording, (1, features, frames) on the CPU, computed a
    piece at a time as the samples (one array, or its blocks in order) come in; equal to the
    preprocessor's output for the whole recording in one pass. Also: how many samples there were and the
    loudest one's magnitude."""
    import torch
    from nemo.collections.asr.parts.preprocessing.features import normalize_batch

    featurizer = model.preprocessor.featurizer
    device = next(model.parameters()).device
    hop = int(featurizer.hop_length)
    step = max(1, int(piece_seconds * SAMPLE_RATE) // hop)
    ctx = FEATURE_CONTEXT_FRAMES
    normalize = featurizer.normalize
    pieces: list[Any] = []
    held = np.zeros(0, np.float32)  # the samples from ``held_from`` on that later pieces still need
    held_from = 0
    seen, peak = 0, 0.0
    first = 0  # the next frame to compute

    def piece(last: int, end_of_samples: bool) -> None:
        nonlocal first
        lo = max(0, first - ctx)
        a, b = lo * hop, (seen if end_of_samples else (last + ctx) * hop)
        b = min(b, seen)
        chunk = torch.from_numpy(np.ascontiguousarray(held[a - held_from : b - held_from]))[None].to(device)
        feats, _ = featurizer(chunk, torch.tensor([b - a], device=device))
        pieces.append(feats[:, :, first - lo : last - lo].float().cpu())
        first = last

    blocks = [samples] if isinstance(samples, np.ndarray) else samples
    featurizer.normalize = None
    try:
        for block in blocks:
            block = check_samples(block)
            if not len(block):
                continue
            held = np.concatenate([held, block]) if len(held) else block
            seen += len(block)
            peak = max(peak, float(block.max()), -float(block.min()))
            while (first + step + ctx) * hop < seen:  # a whole piece and its right context are in
                piece(first + step, False)
                drop = max(0, first - ctx) * hop - held_from
                if drop > 0:
                    held, held_from = held[drop:], held_from + drop
        if seen:
            total = int(featurizer.get_seq_len(torch.tensor([seen]))[0])  # valid frames of one pass
            while first < total:
                piece(min(total, first + step), True)
    finally:
        featurizer.normalize = normalize
    if not pieces:
        return torch.zeros((1, int(featurizer.nfilt), 0)), seen, peak
    out = torch.cat(pieces, dim=2)
    if normalize:
        out, _, _ = normalize_batch(out, torch.tensor([out.shape[2]]), normalize_type=normalize)
    return out, seen, peak


def _reading(blocks: Iterable[np.ndarray], seconds: float, report: Callable[[Progress], None],
             cancel: threading.Event) -> Iterator[np.ndarray]:
    """The blocks passed on, with "decoding" progress and a cancel honoured as they come."""
    done = 0
    for block in blocks:
        if cancel.is_set():
            raise DiarizationCancelled("Cancelled while reading the audio to find the speakers.")
        done += len(block)
        report(Progress("decoding", min(done / SAMPLE_RATE, seconds), seconds))
        yield block


class Diarizer:
    """Finds speaker turns with one loaded Sortformer model (one recording at a time)."""

    def __init__(self, model: Any, name: str = ""):
        if not hasattr(model, "sortformer_modules") or not hasattr(model, "forward_streaming_step"):
            raise DiarizationError(
                f"{name or type(model).__name__} is not a Sortformer diarization model "
                "(SortformerEncLabelModel); Chunky diarizes with NVIDIA's Sortformer models, e.g. "
                "nvidia/diar_streaming_sortformer_4spk-v2."
            )
        self.model = model
        self.name = name
        self._lock = threading.Lock()

    @property
    def max_speakers(self) -> int:
        return max_speakers(self.model)

    def diarize(self, samples: np.ndarray | Iterable[np.ndarray], rate: int = SAMPLE_RATE, *,
                options: DiarizationOptions | None = None, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, seconds: float | None = None) -> Diarization:
        """Speaker turns of one recording: ``samples`` mono float32 at 16 kHz, as one array or as its
        consecutive blocks (e.g. decoded as they come: then only the features are held, not the samples;
        ``seconds``, the expected length, gives the progress while they are read)."""
        import torch

        opts = options or DiarizationOptions()
        check_speaker_count(opts.num_speakers, self.max_speakers, self.name)
        check_rate(rate)
        report = progress or (lambda p: None)
        cancel = cancel or threading.Event()
        step = frame_seconds(self.model)
        started = time.perf_counter()
        rules = opts.rules or model_rules(self.model)
        model = self.model
        with self._lock, torch.inference_mode(), _streaming_setup(model, opts.streaming):
            model.eval()
            if isinstance(samples, np.ndarray):
                blocks: Iterable[np.ndarray] = [samples]
            else:
                blocks = _reading(samples, seconds or 0.0, report, cancel)
            feats, count, peak = features(model, blocks)
            duration = count / SAMPLE_RATE
            if is_silence(count, peak):
                return Diarization([], np.zeros((0, self.max_speakers), np.float32), step, 0.0, silent=True)
            activity = self._stream(feats, duration, report, cancel)
        turns = turns_from_activity(activity, step, rules, num_speakers=opts.num_speakers)
        turns = within(turns, duration)
        seconds = time.perf_counter() - started
        log.info("Diarized %.1f s of audio in %.1f s: %d speaker(s), %d turns", duration, seconds,
                 len(speaker_names(turns)), len(turns))
        return Diarization(turns, activity, step, seconds)

    def _stream(self, feats: Any, duration: float, report: Callable[[Progress], None],
                cancel: threading.Event) -> np.ndarray:
        import torch

        model = self.model
        mod = model.sortformer_modules
        device = next(model.parameters()).device
        frames = feats.shape[2]
        per_chunk = mod.chunk_len * mod.subsampling_factor
        count = max(1, math.ceil(frames / per_chunk))
        state = mod.init_streaming_state(batch_size=1, async_streaming=model.async_streaming, device=device)
        total = torch.zeros((1, 0, mod.n_spk), device=device)
        loader = mod.streaming_feat_loader(feat_seq=feats, feat_seq_length=torch.tensor([frames]),
                                           feat_seq_offset=torch.zeros((1,), dtype=torch.long))
        report(Progress("diarizing", 0.0, duration, 0, count))
        for index, chunk, lengths, left, right in loader:
            if cancel.is_set():
                raise DiarizationCancelled(
                    f"Cancelled while finding the speakers ({index} of {count} chunks done).")
            state, total = model.forward_streaming_step(
                processed_signal=chunk.to(device), processed_signal_length=lengths.to(device),
                streaming_state=state, total_preds=total, left_offset=left, right_offset=right,
            )
            done = min(duration, (index + 1) * per_chunk * float(model.cfg.preprocessor.window_stride))
            report(Progress("diarizing", done, duration, index + 1, count))
        return total[0].float().cpu().numpy()
