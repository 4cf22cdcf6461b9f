"""The work ahead of the model, in its own thread: decode the recording block by block, plan each chunk
(pauses looked for only in its search band), copy out its samples, batch the chunks and prepare each
batch for the model; the batches wait on a small queue.

So decoding, pause finding and batch preparation overlap the model's work instead of coming before it,
and memory stays flat in the recording's length: what is held is the decoded stretch the next chunk
needs (about a chunk window plus a decode block, :class:`chunky.audio.buffer.SampleBuffer`) and
``DEPTH`` prepared batches. The samples are the decoder's float32 (exact for 16- and 24-bit sources),
unchanged on their way: a chunk's samples equal those of a full decode of the file
(:func:`chunky.audio.decode.load_audio`) at the same positions.

A chunk whose peak stays under ``SILENT_DBFS`` (digital or near-digital silence) is not given to the
model: it has no words.

Errors (an undecodable file, a damaged stretch that ends it early, a failure of the pause finder)
reach the consumer when it reaches them in the stream, as the exception they were.
"""

from __future__ import annotations

import logging
import math
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chunky.asr.chunking import SEARCH_FRACTION, Chunk, ChunkPlanner
from chunky.audio.buffer import SampleBuffer
from chunky.audio.cuts import CutPauses
from chunky.audio.decode import is_silent, iter_blocks
from chunky.audio.sources import check_duration

log = logging.getLogger(__name__)

DEPTH = 2  # prepared batches waiting for the model
BLOCK_SECONDS = 10.0  # decoded at a time
SILENT_DBFS = -60.0  # a chunk whose every sample is quieter than this is not transcribed
MAX_START_SECONDS = 120.0  # the decode buffer starts at most this big
_POLL = 0.1  # seconds between checks of the stop flag while the queue is full
FEED_NICE = 10  # the feed thread's nice value is the process's plus this (Linux)


@dataclass
class FeedChunk:
    chunk: Chunk
    n_samples: int
    silent: bool  # not given to the model


@dataclass
class Batch:
    """Consecutive chunks of the plan and the model's input for those that are not silent."""

    chunks: list[FeedChunk]
    inputs: Any | None  # what ``prepare`` made of the non-silent chunks' samples; None if all are silent

    @property
    def spoken(self) -> list[FeedChunk]:
        """The chunks in ``inputs``, in order."""
        return [c for c in self.chunks if not c.silent]


@dataclass
class FeedStats:
    decode_seconds: float = 0.0  # reading and resampling the file
    prepare_seconds: float = 0.0  # copying samples out and preparing batches
    full_seconds: float = 0.0  # the feed waited for the model (the queue was full)
    empty_seconds: float = 0.0  # the model waited for the feed (the queue was empty)
    batches: int = 0
    chunks: int = 0
    silent_chunks: int = 0
    buffer_bytes: int = 0  # the decode buffer's largest size
    hard_cuts: int = 0


@dataclass
class _Failure:
    error: BaseException


_END = object()


@dataclass
class FeedPlan:
    """How to cut: chunk length and overlap (:class:`ChunkPlanner`), pause finder or None (hard cuts)."""

    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0
    pauses: CutPauses | None = None
    channel: int | None = None  # one channel of the file instead of the mean of all


class ChunkFeed:
    """Batches of a recording's chunks, prepared in a thread of their own; iterate to take them in order.

    ``prepare(arrays, alone)`` turns a batch's sample arrays into the model's input (it runs in the feed
    thread; ``alone``: the batch is the recording's only chunk);
    ``batch_size`` may change while the feed runs (it applies to the batches formed after).
    """

    def __init__(self, path: str | Path, rate: int, prepare: Callable[[Sequence[np.ndarray], bool], Any],
                 plan: FeedPlan | None = None, batch_size: int = 8, depth: int = DEPTH, *,
                 blocks: Iterator[np.ndarray] | None = None):
        self.path = Path(path)
        self.rate = int(rate)
        self.prepare = prepare
        self.plan = plan or FeedPlan()
        self.batch_size = max(1, int(batch_size))
        self.stats = FeedStats()
        self.planner = ChunkPlanner(self.plan.chunk_seconds, self.plan.overlap_seconds)
        self.duration: float | None = None  # seconds, once decoding reached the end
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Opened here, so that a missing or undecodable file fails in the caller's thread at once.
        # ``blocks``: samples decoded already, at ``rate`` (a speaker mode's track or mix).
        self._blocks = blocks if blocks is not None else iter_blocks(self.path, self.rate, BLOCK_SECONDS,
                                                                     channel=self.plan.channel)

    # --- the consumer's side -------------------------------------------------------------------------

    def start(self) -> ChunkFeed:
        self._thread = threading.Thread(target=self._run, name=f"chunky-feed {self.path.name}", daemon=True)
        self._thread.start()
        return self

    def __iter__(self) -> Iterator[Batch]:
        while True:
            started = time.perf_counter()
            item = self._queue.get()
            self.stats.empty_seconds += time.perf_counter() - started
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def chunk_count(self, total_seconds: float) -> int:
        """Chunks in the plan: exact once it is complete, else an estimate from ``total_seconds``."""
        planner = self.planner
        if planner.finished:
            return planner.count
        step = planner.limits.chunk * (1 - SEARCH_FRACTION / 2)  # cuts fall in the window's last 30 %
        left = max(0.0, total_seconds - planner.window_start)
        return planner.count + max(1, math.ceil(left / step))

    def close(self) -> None:
        """Stop the feed thread (if it still runs) and wait for it. Safe to call more than once."""
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            while thread.is_alive():
                try:  # let a put() that waits for room go through
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                thread.join(timeout=_POLL)
        self._blocks.close()

    # --- the feed thread -----------------------------------------------------------------------------

    def _put(self, item: Any) -> bool:
        started = time.perf_counter()
        try:
            while not self._stop.is_set():
                try:
                    self._queue.put(item, timeout=_POLL)
                    return True
                except queue.Full:
                    continue
            return False
        finally:
            self.stats.full_seconds += time.perf_counter() - started

    def _run(self) -> None:
        _lower_priority()
        try:
            self._produce()
        except BaseException as exc:  # noqa: BLE001 - everything reaches the consumer
            self._put(_Failure(exc))
        else:
            self._put(_END)
        finally:
            self._blocks.close()

    def _produce(self) -> None:
        rate, planner, stats = self.rate, self.planner, self.stats
        # room for a window, the shortest last chunk and a block (it grows if a window is longer)
        capacity = min(self.plan.chunk_seconds + 2 * BLOCK_SECONDS, MAX_START_SECONDS) * rate
        buffer = SampleBuffer(capacity=int(capacity))
        pending: list[FeedChunk] = []
        arrays: list[np.ndarray] = []
        eof = False
        while not planner.finished:
            if self._stop.is_set():
                return
            need = math.ceil(planner.audio_needed() * rate)
            pauses = self.plan.pauses
            while not eof and buffer.end < need:
                started = time.perf_counter()
                block = next(self._blocks, None)
                stats.decode_seconds += time.perf_counter() - started
                if block is None:
                    eof = True
                    if pauses is not None:
                        pauses.finish()
                else:
                    buffer.append(block)
                    if pauses is not None:
                        pauses.add(block)
            stats.buffer_bytes = max(stats.buffer_bytes, buffer.nbytes)
            if eof and self.duration is None:
                self.duration = buffer.end / rate
                check_duration(self.path.name, self.duration)
            band = planner.search_band(self.duration)
            found: list[tuple[float, float]] = []
            first = math.floor(planner.window_start * rate)
            if band is not None and pauses is not None:
                found = pauses.find(buffer.view(first, buffer.end), first, band)
            chunk = planner.next_chunk(self.duration, found)
            if chunk.end > chunk.keep_end:
                stats.hard_cuts += 1
            started = time.perf_counter()
            a, b = chunk.sample_range(rate, buffer.end)
            samples = buffer.read(a, b)
            next_first = math.floor(planner.window_start * rate)
            buffer.drop_before(next_first)
            if pauses is not None:
                pauses.drop_before(next_first)
            silent = is_silent(samples, SILENT_DBFS)
            pending.append(FeedChunk(chunk, len(samples), silent))
            stats.chunks += 1
            if silent:
                stats.silent_chunks += 1
            else:
                arrays.append(samples)
            del samples
            full = len(arrays) >= self.batch_size or len(pending) >= 4 * self.batch_size
            if full or planner.finished:
                alone = planner.finished and planner.count == 1
                batch = Batch(pending, self.prepare(arrays, alone) if arrays else None)
                pending, arrays = [], []
                stats.batches += 1
                stats.prepare_seconds += time.perf_counter() - started
                if not self._put(batch):
                    return
            else:
                stats.prepare_seconds += time.perf_counter() - started


def sample_blocks(samples: np.ndarray, rate_blocks: int = 160_000) -> Iterator[np.ndarray]:
    """Decoded samples as the feed's float32 blocks (``rate_blocks`` samples each, 10 s at 16 kHz)."""
    for start in range(0, len(samples), rate_blocks):
        yield np.asarray(samples[start:start + rate_blocks], dtype=np.float32)


def _lower_priority() -> None:
    """Run the calling thread (the feed) below the model's priority: it then takes the CPU the model
    leaves idle, and never preempts the model's threads (whose intra-op workers otherwise spin, waiting
    for a thread the feed pushed off its core). Where it cannot be done, nothing changes."""
    try:
        if sys.platform == "win32":
            import ctypes

            kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
            kernel32.SetThreadPriority(kernel32.GetCurrentThread(), -1)  # THREAD_PRIORITY_BELOW_NORMAL
        elif sys.platform.startswith("linux"):  # a thread is a task with a nice value of its own there
            tid = threading.get_native_id()
            os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + FEED_NICE))
    except (OSError, AttributeError):  # pragma: no cover - not allowed here: the default priority
        pass
