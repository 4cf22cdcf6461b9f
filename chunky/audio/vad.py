"""Pauses between speech for cutting chunks: silero VAD where it loads, the energy finder otherwise.

The silero-vad wheel carries its model (TorchScript, run with the torch we already have), so this works
offline. Energy (:func:`chunky.audio.pauses.find_pauses`) is enough on quiet recordings but a steady loud
background (music, traffic, hum with a swell) hides the gaps between words from it; the VAD still
hears them.

The model is a small LSTM that reads 512-sample windows (32 ms at 16 kHz) one after another, about
1 ms a call on a CPU core: window by window, 10 minutes would take 20 s or more. So the recording is cut
into blocks that run side by side as one batch: each model call reads one window of up to
``BATCH_STREAMS`` blocks (about 0.7 s for 10 minutes on 2 busy cores). Each block starts
``WARMUP_WINDOWS`` early (those outputs are dropped) so the model's state has settled by the block's
first own window. Windows are gathered from the samples step by step, so hours of audio need no copy
(only the speech probability of each window, 4 bytes per 32 ms). The model runs on one torch thread
(more only wait on each other at this size); the process's thread count is restored afterwards.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from chunky.audio import PAUSE_METHODS
from chunky.audio.pauses import find_pauses as find_energy_pauses
from chunky.audio.pauses import runs

log = logging.getLogger("chunky.audio.vad")

VAD_RATE = 16_000
WINDOW = 512  # samples per model step at 16 kHz (the model's fixed window)
BATCH_STREAMS = 64  # blocks per model call (on 2 cores ~4 ms a call: 64 windows for about the cost of 4)
MIN_BLOCK_WINDOWS = 128  # a block is at least this long (about 4 s) ...
MAX_BLOCK_WINDOWS = 1024  # ... and at most this long (about 33 s)
WARMUP_WINDOWS = 32  # windows read before a block's own (about 1 s), outputs dropped

SPEECH_ON = 0.5  # a window with speech probability at least this starts speech
SPEECH_OFF = 0.35  # speech goes on until a window falls below this
# Speech is taken to reach this far past the windows the model heard it in: a word's quiet tail (a
# fading vowel, a final "s") often falls below SPEECH_OFF a window or more before it ends.
PAD_AFTER_SPEECH = 0.064
PAD_BEFORE_SPEECH = 0.032

METHODS = PAUSE_METHODS

_lock = threading.Lock()  # guards loading the model and running it (it keeps state between calls)
_model: Any = None
_load_error: str | None = None


class VadUnavailable(RuntimeError):
    """silero VAD cannot be loaded (package missing or broken)."""


def _load_silero() -> Any:
    """The TorchScript silero VAD model from the installed wheel (no network)."""
    import torch

    threads = torch.get_num_threads()
    try:
        from silero_vad import load_silero_vad  # importing it sets torch's thread count to 1
    finally:
        torch.set_num_threads(threads)
    with warnings.catch_warnings():  # importlib.resources.path, torch.jit.load: deprecated, still fine
        warnings.simplefilter("ignore", DeprecationWarning)
        model = load_silero_vad(onnx=False)
    model.eval()
    return model


def load_model() -> Any:
    """The process's silero model, loaded once (thread-safe); raises :class:`VadUnavailable`."""
    global _model, _load_error
    with _lock:
        if _model is None and _load_error is None:
            try:
                _model = _load_silero()
            except Exception as exc:
                _load_error = f"{type(exc).__name__}: {exc}"
        if _model is None:
            raise VadUnavailable(_load_error or "not loaded")
        return _model


def _mono_float(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples)
    if x.ndim == 2:  # (samples, channels) or (channels, samples), as pauses.find_pauses takes it
        x = x.mean(axis=1 if x.shape[0] >= x.shape[1] else 0)
    if x.ndim != 1:
        raise ValueError(f"expected mono or (samples, channels) audio, got shape {np.shape(samples)}")
    if np.issubdtype(x.dtype, np.integer):
        x = x.astype(np.float32) / float(np.iinfo(x.dtype).max + 1)
    return x  # float32 (or float64: windows are cast as they are gathered, no copy of the whole)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """The model's steps are tiny: on a shared CPU, more intra-op threads only wait on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def speech_probabilities(samples: np.ndarray, model: Any | None = None,
                         one_thread: bool = True, min_block: int | None = None) -> np.ndarray:
    """Speech probability of every ``WINDOW`` samples of 16 kHz mono float audio (the last window padded
    with zeros). Runs under the module lock: the model keeps state between calls. ``one_thread``: run on
    one torch thread (torch's thread count is the process's: a caller that runs beside another torch
    user, such as the ASR model in another thread, passes False and leaves it alone)."""
    import torch

    x = samples
    n = len(x)
    n_windows = -(-n // WINDOW)
    probs = np.zeros(n_windows, dtype=np.float32)
    if n_windows == 0:
        return probs
    model = model if model is not None else load_model()
    groups = -(-n_windows // (BATCH_STREAMS * MAX_BLOCK_WINDOWS))
    shortest = MIN_BLOCK_WINDOWS if min_block is None else max(1, int(min_block))
    block_windows = max(shortest, -(-n_windows // (groups * BATCH_STREAMS)))
    n_blocks = -(-n_windows // block_windows)
    offsets = np.arange(WINDOW)
    threads = _one_thread() if one_thread else contextlib.nullcontext()
    with _lock, threads, torch.inference_mode():
        for first_block in range(0, n_blocks, BATCH_STREAMS):
            blocks = np.arange(first_block, min(n_blocks, first_block + BATCH_STREAMS))
            # Each block is read from WARMUP_WINDOWS before its start (the first from its start: the
            # model's zero state is its state at the start of a recording).
            warm = np.where(blocks == 0, 0, WARMUP_WINDOWS)
            starts = (blocks * block_windows - warm) * WINDOW
            model.reset_states()
            for step in range(int(warm.max()) + block_windows):
                index = starts[:, None] + step * WINDOW + offsets
                inside = index < n
                if not inside.any():
                    break
                windows = np.zeros((len(blocks), WINDOW), dtype=np.float32)
                windows[inside] = x[index[inside]]
                out = model(torch.from_numpy(windows), VAD_RATE).reshape(-1).numpy()
                own = step - warm  # the window's index within its block
                target = blocks * block_windows + own
                keep = (own >= 0) & (own < block_windows) & (target < n_windows)
                probs[target[keep]] = out[keep]
        model.reset_states()
    return probs


def find_speech_pauses(samples: np.ndarray, rate: int, min_pause: float = 0.3,
                       one_thread: bool = True, min_block: int | None = None) -> list[tuple[float, float]]:
    """Gaps between speech of at least ``min_pause`` seconds as ``(start, end)`` seconds, in order (the
    same form as :func:`chunky.audio.pauses.find_pauses`), by silero VAD. Raises :class:`VadUnavailable`.
    ``one_thread``, ``min_block``: as for :func:`speech_probabilities`."""
    x = _mono_float(samples)
    if rate <= 0 or len(x) == 0:
        return []
    duration = len(x) / rate
    if duration < min_pause:
        return []
    if rate != VAD_RATE:
        import soxr

        x = soxr.resample(x, rate, VAD_RATE).astype(np.float32, copy=False)
    probs = (speech_probabilities(x) if one_thread and min_block is None
             else speech_probabilities(x, one_thread=one_thread, min_block=min_block))
    speech = speech_windows(probs)
    hop = WINDOW / VAD_RATE
    pauses = []
    for value, a, b in runs(~speech):
        if not value:
            continue
        start = 0.0 if a == 0 else a * hop + PAD_AFTER_SPEECH
        end = duration if b == len(speech) else b * hop - PAD_BEFORE_SPEECH
        end = min(end, duration)
        if end - start >= min_pause - 1e-9:
            pauses.append((start, end))
    return pauses


def speech_windows(probs: np.ndarray) -> np.ndarray:
    """Which windows are speech, from their speech probabilities (hysteresis: SPEECH_ON / SPEECH_OFF)."""
    return _hysteresis(probs, SPEECH_ON, SPEECH_OFF)


def _hysteresis(probs: np.ndarray, on: float, off: float) -> np.ndarray:
    """Speech where a run of windows at least ``off`` holds a window at least ``on``."""
    above_off = probs >= off
    speech = np.zeros(len(probs), dtype=bool)
    for value, a, b in runs(above_off):
        if value and (probs[a:b] >= on).any():
            speech[a:b] = True
    return speech


def pauses(samples: np.ndarray, rate: int, method: str = "auto") -> tuple[list[tuple[float, float]], str]:
    """(pauses, method used) for :func:`chunky.asr.chunking.plan_chunks`.

    ``method``: ``"auto"`` or ``"silero"``: silero VAD where it loads, else the energy finder
    (:func:`chunky.audio.pauses.find_pauses`) with one log line saying why (a warning when silero was asked
    for by name); ``"energy"``: the energy finder. The method used is logged.
    """
    method = (method or "auto").strip().lower()
    if method not in METHODS:
        raise ValueError(f"unknown pause method {method!r} (expected one of {', '.join(METHODS)})")
    started = time.perf_counter()
    if method != "energy":
        try:
            found = find_speech_pauses(samples, rate)
        except Exception as exc:
            level = logging.WARNING if method == "silero" else logging.INFO
            log.log(level, "%s; finding pauses by energy instead", failure_reason(exc))
        else:
            log.info("Pauses by silero VAD: %d in %.2f s", len(found), time.perf_counter() - started)
            return found, "silero"
    found = find_energy_pauses(samples, rate)
    log.info("Pauses by energy: %d in %.2f s", len(found), time.perf_counter() - started)
    return found, "energy"


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, VadUnavailable):
        return f"silero VAD unavailable ({exc})"
    return f"silero VAD failed ({type(exc).__name__}: {exc})"
