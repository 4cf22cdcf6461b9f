"""One recording in, one Transcript out. Knows nothing of Gradio or the job runner: progress and cancel
come in as a callable and a ``threading.Event``.

The work is split between two threads so that the model never waits for the rest:

* the feed thread (:class:`chunky.asr.feed.ChunkFeed`) decodes the file block by block, plans each chunk
  with pauses looked for only near its cut (:mod:`chunky.audio.cuts`), and prepares batches for the
  model, a couple of batches ahead;
* the calling thread runs the model over those batches (:class:`chunky.asr.model_calls.ModelCalls`: one
  NeMo pass per recording) and puts the words together as each batch finishes
  (:class:`chunky.asr.stitching.Stitcher`), so the transcript grows in the progress reports.

On a GPU the batch size comes from the free memory (:mod:`chunky.asr.gpu`); running out of memory halves
it and goes on, down to one chunk.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chunky.asr import boosting, gpu, speaker_passes
from chunky.asr.confidence import enable_word_confidence, word_confidences
from chunky.asr.feed import Batch, ChunkFeed, FeedPlan, sample_blocks
from chunky.asr.model_calls import WIDTH_STEP, CallOptions, ModelCalls, collate, is_oom, split
from chunky.asr.options import EngineOptions, PartialTranscriptCancelled, Progress, ProgressFn
from chunky.asr.prompt import prompt_kwargs
from chunky.asr.stitching import Stitcher, stitch
from chunky.audio import decode as audio
from chunky.audio.cuts import CutPauses
from chunky.base.errors import ChunkyError
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Segment, Transcript, Word

log = logging.getLogger(__name__)

# The freed heap is given back to the system when the process has grown this much past its size after the
# first batch (which holds one batch's working set, reused by the next batches): glibc keeps what the
# model's temporaries leave in its heaps, and over hours that crept by hundreds of MB.
TRIM_GROWTH = 64 * 2**20


def hypothesis_words(hyp: Any, offset: float, shift: float = 0.0) -> list[Word]:
    """Words of one NeMo Hypothesis with times shifted to the recording (seconds)."""
    stamps = getattr(hyp, "timestamp", None) or {}
    words = (stamps.get("word") if isinstance(stamps, dict) else None) or []
    scores = word_confidences(hyp, [str(w.get("word", "")) for w in words]) or [None] * len(words)
    out: list[Word] = []
    for w, score in zip(words, scores, strict=True):
        text = str(w.get("word", "")).strip()
        if not text or w.get("start") is None:
            continue
        start = max(0.0, float(w["start"]) + offset + shift)
        end = max(start, float(w.get("end", w["start"])) + offset + shift)
        conf = w.get("confidence", score)
        out.append(Word(text, start, end, float(conf) if conf is not None else None))
    return out


def hypothesis_text(hyp: Any) -> str:
    return str(getattr(hyp, "text", hyp) or "").strip()


class Engine:
    """Transcribes recordings with models handed out by a ModelManager."""

    def __init__(self, manager, options: EngineOptions | None = None):
        self.manager = manager
        self.options = options or EngineOptions()
        self._lock = threading.Lock()  # one transcription at a time per engine (one GPU)
        # GPU memory one chunk of a model takes, measured on its first batch:
        # (model, chunk seconds, precision) -> bytes
        self.chunk_bytes: dict[tuple[str, float, str], int] = {}
        self.notices: list[str] = []  # what the last recording could not use (vocabulary phrases, boosting)
        # RSS after the first batch of the current call: every pass of a speaker mode (one per track)
        # trims the heap against the same mark, so the passes' leftovers never add up.
        self.rss_baseline: int | None = None

    def transcribe(
        self,
        path: str | Path,
        model_name: str,
        *,
        options: EngineOptions | None = None,
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Transcript:
        opts = options or self.options
        report = progress or (lambda p: None)
        cancel = cancel or threading.Event()
        path = Path(path).resolve()
        with self._lock:
            self.rss_baseline = None
            info = audio.probe(path)
            total = float(info.duration)
            plan = speaker_passes.plan_for(path, opts.speakers)  # the streams/channels and what to do
            report(Progress("loading", 0.0, total))
            loaded = self.manager.get(model_name)
            enable_word_confidence(loaded.model, loaded.sample_rate)  # once per model; none if it has none
            # Checks the language first.
            prompt = prompt_kwargs(loaded.model, model_name, opts.language, opts.punctuation)
            if cancel.is_set():
                raise PartialTranscriptCancelled("Cancelled before transcription started.", None)
            vocabulary, strength = opts.vocabulary, opts.vocabulary_strength
            with boosting.boosted(loaded.model, model_name, vocabulary, strength) as boost:
                self.notices = [n for n in boost.notes if n]
                for note in self.notices:
                    log.warning("Vocabulary: %s", note)
                calls = CallOptions(prompt, keep_decoding=boost.active)
                if not (plan.simple and plan.mode == "mix" and plan.tracks[0].stream == 0):

                    def samples_pass(samples, report_pass, cancel_pass, seconds=None) -> Transcript:
                        return self._transcribe_samples(samples, loaded, model_name, str(path), opts,
                                                        report_pass, cancel_pass, calls, seconds)

                    return speaker_passes.run_plan(self.manager, path, plan, loaded.sample_rate, samples_pass,
                                                   model_name, opts, report, cancel)
                report(Progress("decoding", 0.0, total))
                return _Transcription(self, loaded, model_name, path, total, opts, report, cancel,
                                      calls=calls).run()

    def _transcribe_samples(self, samples: np.ndarray | Iterator[np.ndarray], loaded: Any, model_name: str,
                            source: str, opts: EngineOptions, report: ProgressFn, cancel: threading.Event,
                            calls: CallOptions | None = None, seconds: float | None = None) -> Transcript:
        """One pass of a speaker mode (chunky.asr.speaker_passes) through the same feed thread and model
        pass as a file: decoded samples at the model's rate, or an iterator of their blocks (a track
        streamed from the file; ``seconds``: its expected length, for the progress)."""
        if isinstance(samples, np.ndarray):
            total = len(samples) / loaded.sample_rate
            return _Transcription(self, loaded, model_name, Path(source), total, opts, report, cancel,
                                  samples=samples, calls=calls).run()
        return _Transcription(self, loaded, model_name, Path(source), float(seconds or 0.0), opts, report,
                              cancel, blocks=samples, calls=calls).run()

    @staticmethod
    def _assemble(done, texts, has_stamps, duration, model_name, source, opts) -> Transcript:
        if has_stamps:
            return build_transcript(stitch(done), duration, model_name, source, opts.limits)
        # No word timestamps from this model: the text of each chunk is one segment over the part of the
        # recording it keeps (a hard cut's overlap may repeat a word at the cut).
        segments = [Segment(chunk.keep_start, chunk.keep_end, " ".join(text.split()), [])
                    for (chunk, _), text in zip(done, texts, strict=True) if text.strip()]
        return Transcript(" ".join(s.text for s in segments), [], segments, duration, model_name, source)


class _Batches:
    """The model's batches: the feed's, cut down to the current batch size, with any batch handed back
    after a failure first. Batches without speech are finished on the way, in their turn."""

    def __init__(self, run: _Transcription, feed: ChunkFeed):
        self.run = run
        self.feed = iter(feed)
        self.again: deque[Batch] = deque()

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        run = self.run
        while True:
            if run.cancel.is_set():
                raise StopIteration
            batch = self.again.popleft() if self.again else next(self.feed)
            if batch.inputs is None:
                run.finish(batch, [])
                continue
            if len(batch.inputs) > run.batch_size:
                self.again.extendleft(reversed(run.split(batch, run.batch_size)))
                continue
            run.batch_started(batch)
            return batch


class _Transcription:
    """One call of :meth:`Engine.transcribe`, from the loaded model to the transcript."""

    def __init__(self, engine: Engine, loaded: Any, model_name: str, path: Path, total: float,
                 opts: EngineOptions, report: ProgressFn, cancel: threading.Event,
                 samples: np.ndarray | None = None, calls: CallOptions | None = None,
                 blocks: Iterator[np.ndarray] | None = None):
        self.engine, self.loaded, self.model_name = engine, loaded, model_name
        self.samples = samples  # decoded already (a speaker mode's pass); None: decode ``path``
        self.blocks = blocks  # or the blocks of a decoder at the model's rate (a streamed track)
        self.path, self.total, self.opts, self.report, self.cancel = path, total, opts, report, cancel
        self.rate = loaded.sample_rate
        self.device = loaded.device
        self.precision = gpu.resolve_precision(opts.precision, self.device)
        self.calls = ModelCalls(loaded.model, self.device, self.precision, calls)
        self.done: list[tuple[Any, list[Word]]] = []
        self.texts: list[str] = []
        self.stitcher = Stitcher()
        self.has_stamps = True
        self.transcribed = 0  # chunks given to the model
        self.batch_size = self._first_batch_size()
        self._memory: gpu.PeakMemory | None = None

    # --- batch size ---------------------------------------------------------------------------------

    def _memory_key(self) -> tuple[str, float, str]:
        return self.model_name, float(self.opts.chunk_seconds), self.precision

    def _first_batch_size(self) -> int:
        if self.opts.batch_size > 0:
            return self.opts.batch_size
        if self.device != "cuda":
            return gpu.CPU_BATCH
        known = self.engine.chunk_bytes.get(self._memory_key())
        if known is None:
            return 1  # measured on the first batch
        return gpu.batch_size_for(gpu.free_bytes(self.loaded.model.device), known)

    def batch_started(self, batch: Batch) -> None:
        if (self.device == "cuda" and self.opts.batch_size <= 0
                and self._memory_key() not in self.engine.chunk_bytes):
            self._memory = gpu.PeakMemory(self.loaded.model.device)

    def _measure(self, batch: Batch) -> None:
        memory, self._memory = self._memory, None
        if memory is None:
            return
        used = memory.used()
        rows = len(batch.inputs)
        # per chunk of full length (memory grows with the samples)
        full = self.opts.chunk_seconds * self.rate
        per_chunk = int(used / rows * max(1.0, full / max(1, batch.inputs.audio.shape[1])))
        self.engine.chunk_bytes[self._memory_key()] = per_chunk
        free = gpu.free_bytes(self.loaded.model.device)
        self.batch_size = gpu.batch_size_for(free, per_chunk)
        self.feed.batch_size = self.batch_size
        log.info("GPU memory: %.0f MB per %.0f s chunk, %.0f MB free: batches of %d", per_chunk / 2**20,
                 self.opts.chunk_seconds, free / 2**20, self.batch_size)

    def split(self, batch: Batch, size: int) -> list[Batch]:
        """``batch`` as batches of at most ``size`` transcribed chunks (silent ones go with the next)."""
        parts = split(batch.inputs, size, self.rate)
        out, chunks, k = [], [], 0
        for fc in batch.chunks:
            chunks.append(fc)
            if not fc.silent:
                k += 1
                if k % size == 0:
                    out.append(chunks)
                    chunks = []
        if chunks:
            if out and not any(not c.silent for c in chunks):
                out[-1] += chunks  # trailing silent chunks
            else:
                out.append(chunks)
        return [Batch(cs, inputs) for cs, inputs in zip(out, parts, strict=True)]

    # --- the run ------------------------------------------------------------------------------------

    def run(self) -> Transcript:
        opts = self.opts
        pauses = CutPauses(opts.vad, self.rate) if opts.cut_at_pauses else None
        if pauses is not None:
            pauses.prepare()
        pin = self.device == "cuda"
        step = int(WIDTH_STEP * self.rate)
        plan = FeedPlan(opts.chunk_seconds, opts.overlap_seconds, pauses, opts.channel)
        blocks = self.blocks if self.samples is None else sample_blocks(self.samples)
        self.feed = ChunkFeed(
            self.path, self.rate, lambda arrays, alone: collate(arrays, self.rate, pin, 0 if alone else step),
            plan, self.batch_size, blocks=blocks)
        started = time.perf_counter()
        try:
            self.report(Progress("transcribing", 0.0, self.total, 0, self.feed.chunk_count(self.total), []))
            self.feed.start()
            self._transcribe_all()
        finally:
            self.feed.close()
        duration = self.feed.duration if self.feed.duration is not None else self.total
        if not (self.feed.planner.finished and len(self.done) == self.feed.planner.count):  # cancelled
            partial = self._assemble(duration)
            raise PartialTranscriptCancelled(
                f"Cancelled after {len(self.done)} of {self.feed.chunk_count(self.total)} chunks.", partial)
        self._log_summary(time.perf_counter() - started, duration, pauses)
        transcript = self._assemble(duration)
        count = len(self.done)
        self.report(Progress("done", duration, duration, count, count, transcript.words))
        return transcript

    def _transcribe_all(self) -> None:
        batches = _Batches(self, self.feed)
        if self.cancel.is_set():
            return
        self.calls.start(timestamps=True)
        while True:
            try:
                for batch, hyps in self.calls.run(batches):
                    self._measure(batch)
                    self.finish(batch, hyps)
                return
            except Exception as exc:
                failed = self.calls.in_flight
                self._memory = None
                if failed is None:
                    raise
                if is_oom(exc):
                    if len(failed.inputs) <= 1:
                        raise ChunkyError(
                            "The GPU ran out of memory even with one chunk at a time. Try a smaller "
                            "--chunk-seconds, close other programs that use the GPU, or use --device cpu."
                        ) from exc
                    self.batch_size = max(1, len(failed.inputs) // 2)
                    self.feed.batch_size = self.batch_size
                    log.warning("Out of GPU memory; retrying with batch size %d", self.batch_size)
                    _free_cuda()
                elif self.calls.timestamps and self.transcribed == 0:
                    # Some models (older AED checkpoints, custom decoders) cannot give timestamps.
                    self.calls.no_timestamps(exc)
                else:
                    raise
                self.calls.in_flight = None
                batches.again.appendleft(failed)

    def finish(self, batch: Batch, hyps: list[Any]) -> None:
        """Words of a batch's chunks (``hyps``: one per transcribed chunk), a progress report."""
        spoken = enumerate(hyps)
        if batch.inputs is not None and len(hyps) != len(batch.inputs):
            raise RuntimeError(f"the model gave {len(hyps)} results for {len(batch.inputs)} chunks")
        for fc in batch.chunks:
            if fc.silent:
                words, text = [], ""
            else:
                row, hyp = next(spoken)
                lead = batch.inputs.leads[row] / self.rate
                words = hypothesis_words(hyp, fc.chunk.start - lead, self.opts.timestamp_shift)
                text = hypothesis_text(hyp)
                self.transcribed += 1
            if text and not words:
                self.has_stamps = False
            self.has_stamps = self.has_stamps and self.calls.timestamps
            self.texts.append(text)
            self.done.append((fc.chunk, words))
            self.stitcher.add(fc.chunk, words)
        self._trim()
        count = self.feed.chunk_count(self.total)
        total = self.feed.duration if self.feed.duration is not None else self.total
        done_seconds = min(total, self.done[-1][0].keep_end)
        self.report(Progress("transcribing", done_seconds, total, len(self.done), count,
                             self.stitcher.words() if self.has_stamps else None))

    def _assemble(self, duration: float) -> Transcript:
        return Engine._assemble(self.done, self.texts, self.has_stamps, duration, self.model_name,
                                str(self.path), self.opts)

    def _trim(self) -> None:
        rss = _rss_bytes()
        if self.engine.rss_baseline is None:  # after the call's first batch
            self.engine.rss_baseline = rss
        elif rss - self.engine.rss_baseline > TRIM_GROWTH:
            _trim_heap()

    def _log_summary(self, seconds: float, duration: float, pauses: CutPauses | None) -> None:
        s = self.feed.stats
        name = self.path.name
        if self.transcribed == 0:
            log.info("%s is silent: empty transcript", name)
        log.info("%s: %.1f s of audio in %d chunk(s) (%d silent, %d hard cut(s)), %d batch(es), transcribed "
                 "in %.1f s; %s; feed: decoding %.2f s, preparing %.2f s, waited for the model %.2f s; the "
                 "model waited for the feed %.2f s", name, duration, s.chunks, s.silent_chunks, s.hard_cuts,
                 s.batches, seconds, pauses.summary() if pauses else "hard cuts only", s.decode_seconds,
                 s.prepare_seconds, s.full_seconds, s.empty_seconds)


_malloc_trim: Any = None


def _rss_bytes() -> int:
    """This process's resident memory (Linux: /proc/self/statm; 0 where that cannot be read)."""
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


_PAGE = 4096
try:
    import os as _os

    _PAGE = _os.sysconf("SC_PAGE_SIZE")
except (AttributeError, ValueError, OSError):  # pragma: no cover - Windows
    pass


def _trim_heap() -> None:
    """Give the memory freed by batches back to the OS (glibc keeps freed blocks in its heaps; over hours
    of audio the process grew by hundreds of MB without this: bench/RESULTS.md, Memory). Linux only:
    elsewhere (Windows' heap returns big blocks itself) it does nothing."""
    global _malloc_trim
    if _malloc_trim is None:
        _malloc_trim = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
            except (OSError, AttributeError):  # not glibc (musl): nothing to do
                pass
    if _malloc_trim:
        _malloc_trim(0)


def _free_cuda() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover
        pass
