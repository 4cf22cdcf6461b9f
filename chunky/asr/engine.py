"""One recording in, one Transcript out: decode, find pauses, plan chunks, batch them through the model,
stitch the words back together. Knows nothing of Gradio or the job runner: progress and cancel come in
as a callable and a ``threading.Event``.
"""

from __future__ import annotations

import logging
import math
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from chunky.asr import boosting
from chunky.asr.chunking import Chunk, plan_chunks
from chunky.asr.confidence import enable_word_confidence, word_confidences
from chunky.asr.options import EngineOptions, PartialTranscriptCancelled, Progress, ProgressFn
from chunky.asr.prompt import prompt_kwargs
from chunky.asr.stitching import stitch
from chunky.audio import decode as audio
from chunky.audio import vad
from chunky.base.errors import ChunkyError
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Segment, Transcript, Word

log = logging.getLogger(__name__)


def _is_oom(exc: BaseException) -> bool:
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except Exception:  # pragma: no cover
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


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
        self.notices: list[str] = []  # what the last recording could not use (vocabulary phrases, boosting)

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
            info = audio.probe(path)
            total = float(info.duration)
            report(Progress("loading", 0.0, total))
            loaded = self.manager.get(model_name)
            enable_word_confidence(loaded.model, loaded.sample_rate)  # once per model; none if it has none
            prompt = prompt_kwargs(loaded.model, model_name, opts.language)  # checks the language first
            if cancel.is_set():
                raise PartialTranscriptCancelled("Cancelled before transcription started.", None)
            report(Progress("decoding", 0.0, total))
            # float16: half the memory of a long recording; each chunk is made float32 as it is sliced.
            samples = audio.load_audio(path, target_rate=loaded.sample_rate, dtype=np.float16)
            duration = len(samples) / loaded.sample_rate
            if audio.is_silent(samples):
                log.info("%s is silent: empty transcript", path.name)
                report(Progress("done", duration, duration))
                return build_transcript([], duration, model_name, str(path), opts.limits, text="")
            vocabulary, strength = opts.vocabulary, opts.vocabulary_strength
            with boosting.boosted(loaded.model, model_name, vocabulary, strength) as boost:
                self.notices = [n for n in boost.notes if n]
                for note in self.notices:
                    log.warning("Vocabulary: %s", note)
                return self._transcribe_samples(samples, loaded, model_name, str(path), opts, report, cancel,
                                                {**prompt, "_boosted": boost.active})

    def _transcribe_samples(self, samples: np.ndarray, loaded, model_name: str, source: str,
                            opts: EngineOptions, report: ProgressFn, cancel: threading.Event,
                            extra: dict[str, Any] | None = None) -> Transcript:
        rate = loaded.sample_rate
        duration = len(samples) / rate
        pauses = vad.pauses(samples, rate, opts.vad)[0] if opts.cut_at_pauses else []
        chunks = plan_chunks(duration, pauses, chunk_seconds=opts.chunk_seconds,
                             overlap_seconds=opts.overlap_seconds)
        log.info("%s: %.1f s in %d chunk(s)", Path(source).name, duration, len(chunks))
        done: list[tuple[Chunk, list[Word]]] = []
        texts: list[str] = []
        has_stamps = True
        batch = max(1, opts.batch_size)
        i = 0
        started = time.perf_counter()
        report(Progress("transcribing", 0.0, duration, 0, len(chunks), []))
        while i < len(chunks):
            if cancel.is_set():
                partial = self._assemble(done, texts, has_stamps, duration, model_name, source, opts)
                raise PartialTranscriptCancelled(
                    f"Cancelled after {len(done)} of {len(chunks)} chunks.", partial
                )
            group = chunks[i : i + batch]
            arrays = [samples[int(c.start * rate) : int(math.ceil(c.end * rate))].astype(np.float32)
                      for c in group]
            try:
                hyps, stamped = self._run_model(loaded.model, arrays, len(group), has_stamps, extra)
                has_stamps = has_stamps and stamped
            except Exception as exc:
                if _is_oom(exc) and batch > 1:
                    batch = max(1, batch // 2)
                    log.warning("Out of GPU memory; retrying with batch size %d", batch)
                    _free_cuda()
                    continue
                if _is_oom(exc):
                    raise ChunkyError(
                        "The GPU ran out of memory even with one chunk at a time. Try a smaller "
                        "--chunk-seconds, close other programs that use the GPU, or use --device cpu."
                    ) from exc
                raise
            for chunk, hyp in zip(group, hyps, strict=True):
                words = hypothesis_words(hyp, chunk.start, opts.timestamp_shift)
                text = hypothesis_text(hyp)
                if text and not words:
                    has_stamps = False
                texts.append(text)
                done.append((chunk, words))
            del arrays, hyps
            i += len(group)
            _trim_heap()
            done_seconds = min(duration, max(c.keep_end for c, _ in done))
            report(Progress("transcribing", done_seconds, duration, i, len(chunks),
                            stitch(done) if has_stamps else None))
        log.info("%s transcribed in %.1f s", Path(source).name, time.perf_counter() - started)
        transcript = self._assemble(done, texts, has_stamps, duration, model_name, source, opts)
        report(Progress("done", duration, duration, len(chunks), len(chunks), transcript.words))
        return transcript

    @staticmethod
    def _run_model(model, arrays: Sequence[np.ndarray], batch_size: int,
                   timestamps: bool, extra: dict[str, Any] | None = None) -> tuple[list[Any], bool]:
        """(hypotheses, whether they carry word timestamps). ``extra``: a prompt model's language
        arguments; ``_boosted``: the decoding was set up for boosting (timestamps on), keep it."""
        kwargs = dict(extra or {})
        boosted = kwargs.pop("_boosted", False)

        def call(stamps: bool) -> list[Any]:
            if boosted:  # timestamps=None keeps the decoding boosting.apply set up
                kwargs.update(timestamps=None, return_hypotheses=True)
            else:
                kwargs["timestamps"] = stamps
            result = model.transcribe(list(arrays), batch_size=batch_size, verbose=False, num_workers=0,
                                      **kwargs)
            if isinstance(result, tuple):  # RNNT models of older NeMo: (best, all)
                result = result[0]
            return boosting.with_seconds(model, list(result)) if boosted else list(result)

        if not timestamps:
            return call(False), False
        try:
            return call(True), True
        except Exception as exc:
            if _is_oom(exc):
                raise
            # Some models (older AED checkpoints, custom decoders) cannot give timestamps: text only.
            log.warning("%s gives no timestamps (%s: %s); transcribing text only",
                        type(model).__name__, type(exc).__name__, exc)
            return call(False), False

    @staticmethod
    def _assemble(done, texts, has_stamps, duration, model_name, source, opts) -> Transcript:
        if has_stamps:
            return build_transcript(stitch(done), duration, model_name, source, opts.limits)
        # No word timestamps from this model: the text of each chunk is one segment over the part of the
        # recording it keeps (a hard cut's overlap may repeat a word at the cut).
        segments = [Segment(chunk.keep_start, chunk.keep_end, " ".join(text.split()), [])
                    for (chunk, _), text in zip(done, texts, strict=True) if text.strip()]
        return Transcript(" ".join(s.text for s in segments), [], segments, duration, model_name, source)


_malloc_trim: Any = None


def _trim_heap() -> None:
    """Give the memory freed by a batch back to the OS (glibc keeps freed blocks in its heaps; over hours
    of audio the process grew by hundreds of MB without this: bench/RESULTS.md, Memory)."""
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
