"""How batches of chunks reach a NeMo model, and the hypotheses that come back.

Batches are built as NeMo's own tensor input path builds them (``TranscriptionTensorDataset``: an item
shorter than 1 s is padded with zeros to 1 s, half before and half after; ``_speech_collate_fn``: zeros
after each item up to the longest), by :func:`collate` in the feed thread, straight into pinned memory
when the model is on a GPU (NeMo then copies it to the device without blocking). One thing differs when
a recording has several chunks: the batch's width is rounded up to whole seconds (``WIDTH_STEP``), so
the model sees a few dozen shapes instead of one per batch. Kernel libraries keep what they prepare per
shape (oneDNN's primitive cache on a CPU; cuDNN/cuBLAS plans, CUDA graphs on a GPU): with a new shape for
every batch the process grew by about 150 MB over 12 hours (bench/RESULTS.md, Memory). The zeros cost
under 2% more work on average, and each row's length still tells the model where its audio ends.

One pass per recording for the model families whose ``transcribe`` takes that path (CTC, RNNT/TDT,
hybrid RNNT-CTC, and their BPE variants): NeMo's own per-batch loop, ``transcribe_generator``, runs
over a DataLoader that hands it Chunky's batches as they come, and yields each batch's hypotheses. The
family's ``transcribe`` first switches the decoding to timestamps, once (called with an empty loader):
CTC models rebuild their decoding on every ``transcribe`` call (0.1-0.3 s each), which a call per batch
would pay again and again. Any other model (Canary's prompts, custom classes) gets one
``model.transcribe(arrays, timestamps=True)`` per batch, as NeMo documents it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chunky.asr.gpu import autocast

log = logging.getLogger("chunky.asr.engine")

PAD_MIN_SECONDS = 1.0  # NeMo's TranscriptionTensorDataset default (pad_min_duration, pad_direction "both")
WIDTH_STEP = 1.0  # seconds: batch widths are multiples of this (recordings of more than one chunk)


@dataclass
class BatchInputs:
    """A batch as the model takes it."""

    audio: Any  # torch.Tensor (rows, samples), float32
    lengths: Any  # torch.Tensor (rows,), int64
    leads: list[int]  # zeros put before each row's samples (short items): its words are that much late
    sizes: list[int]  # each row's own samples, before any padding
    step: int = 0  # the width is a multiple of this many samples (0: the longest row's)

    def __len__(self) -> int:
        return len(self.sizes)


def collate(arrays: Sequence[np.ndarray], rate: int, pin: bool = False, step: int = 0) -> BatchInputs:
    """The batch NeMo's tensor path would build from ``arrays`` (mono float32), in pinned memory if
    ``pin``, its width rounded up to a multiple of ``step`` samples (0: not)."""
    import torch

    minimum = int(PAD_MIN_SECONDS * rate)
    leads, lengths = [], []
    for x in arrays:
        pad = max(0, minimum - len(x))
        leads.append(pad // 2)
        lengths.append(len(x) + pad)
    width = max(lengths)
    if step > 0:
        width = -(-width // step) * step
    audio = torch.zeros((len(arrays), width), dtype=torch.float32, pin_memory=pin)
    view = audio.numpy()
    for row, (x, lead) in enumerate(zip(arrays, leads, strict=True)):
        view[row, lead : lead + len(x)] = x
    return BatchInputs(audio, torch.tensor(lengths, dtype=torch.long), leads, [len(x) for x in arrays], step)


def rows(inputs: BatchInputs) -> list[np.ndarray]:
    """Each row's own samples (no padding), as numpy views."""
    view = inputs.audio.numpy()
    spans = zip(inputs.leads, inputs.sizes, strict=True)
    return [view[i, lead : lead + n] for i, (lead, n) in enumerate(spans)]


def split(inputs: BatchInputs, size: int, rate: int) -> list[BatchInputs]:
    """The batch as batches of at most ``size`` rows (in order), rebuilt by :func:`collate`."""
    arrays = rows(inputs)
    pin = bool(inputs.audio.is_pinned())
    return [collate(arrays[i : i + size], rate, pin, inputs.step) for i in range(0, len(arrays), size)]


_FAMILIES = ("EncDecHybridRNNTCTCModel", "EncDecCTCModel", "EncDecRNNTModel")  # most specific first
_OWN = ("transcribe", "_transcribe_forward", "_transcribe_output_processing", "_transcribe_on_begin",
        "transcribe_generator")


def streams(model: Any) -> bool:
    """Does this model's ``transcribe`` run NeMo's generic tensor path (one pass per recording works)?
    (Looked up in the model's class hierarchy: nothing is imported.)"""
    cls = type(model)
    for name in _FAMILIES:
        family = next((c for c in cls.__mro__ if c.__name__ == name
                       and c.__module__.startswith("nemo.collections.asr.models")), None)
        if family is not None:
            # A subclass with its own transcribe or batch format (prompted models) takes the other path.
            return all(getattr(cls, attr, None) is getattr(family, attr, None) for attr in _OWN)
    return False


@dataclass(frozen=True)
class CallOptions:
    """What every model call of a recording adds: ``prompt``, a prompt model's language arguments
    (Canary's ``source_lang``/``target_lang``/``pnc``, chunky.asr.prompt); ``keep_decoding``: the decoding
    was set up for this recording (vocabulary boosting, timestamps on) and must not be rebuilt, which
    ``transcribe(timestamps=...)`` would do."""

    prompt: dict[str, str] = field(default_factory=dict)
    keep_decoding: bool = False


def transcribe_arrays(model: Any, arrays: Sequence[np.ndarray], timestamps: bool,
                      options: CallOptions | None = None) -> list[Any]:
    """One ``model.transcribe`` call for a batch (the path for models :func:`streams` says no to)."""
    options = options or CallOptions()
    kwargs: dict[str, Any] = dict(options.prompt)
    if options.keep_decoding:  # timestamps=None keeps the decoding; NeMo's own step gives the seconds
        kwargs.update(timestamps=None, return_hypotheses=True)
    else:
        kwargs["timestamps"] = timestamps
    result = model.transcribe(list(arrays), batch_size=len(arrays), verbose=False, num_workers=0, **kwargs)
    if isinstance(result, tuple):  # RNNT models of older NeMo: (best, all)
        result = result[0]
    if options.keep_decoding:
        from chunky.asr.boosting import with_seconds

        return with_seconds(model, list(result))
    return list(result)


class ModelCalls:
    """Runs a model over batches: :meth:`start` once, then :meth:`run` (again after a failure, with the
    batches left)."""

    def __init__(self, model: Any, device: str = "cpu", precision: str = "float32",
                 options: CallOptions | None = None):
        self.model = model
        self.options = options or CallOptions()
        self.device = device
        self.precision = precision
        self.streamed = streams(model)
        self.timestamps = True
        self.in_flight: Any = None  # the batch whose hypotheses are being computed

    def start(self, timestamps: bool = True) -> bool:
        """Switch the model's decoding to timestamps (or not); returns whether they are on. A model that
        refuses them transcribes text only."""
        self.timestamps = timestamps
        if not self.streamed or self.options.keep_decoding:  # (a kept decoding has its timestamps on)
            return timestamps
        try:
            self._switch(timestamps)
        except Exception as exc:
            if not timestamps or is_oom(exc):
                raise
            self.no_timestamps(exc)
        return self.timestamps

    def no_timestamps(self, exc: BaseException) -> None:
        """Go on without timestamps (after ``exc`` said the model cannot give them)."""
        log.warning("%s gives no timestamps (%s: %s); transcribing text only",
                    type(self.model).__name__, type(exc).__name__, exc)
        self.timestamps = False
        if self.streamed:
            self._switch(False)

    def _switch(self, timestamps: bool) -> None:
        # (RNNT and hybrid models skip the rebuild when the decoding is already so; CTC models rebuild it,
        # once per recording here instead of once per batch.)
        self.model.transcribe(_loader(iter(())), timestamps=timestamps, verbose=False, num_workers=0)

    def run(self, batches: Iterable[Any]) -> Iterator[tuple[Any, list[Any]]]:
        """(batch, its hypotheses) for each of ``batches`` (objects with ``inputs``: a BatchInputs)."""
        if not self.streamed:
            for batch in batches:
                self.in_flight = batch
                with autocast(self.device, self.precision):
                    hyps = transcribe_arrays(self.model, rows(batch.inputs), self.timestamps, self.options)
                yield batch, hyps
                self.in_flight = None
            return
        import torch

        def model_batches() -> Iterator[tuple[Any, ...]]:
            for batch in batches:
                self.in_flight = batch
                yield batch.inputs.audio, batch.inputs.lengths, None, None

        cfg = self.model.get_transcribe_config()
        cfg.batch_size = 1  # (not used: the loader hands over whole batches)
        cfg.return_hypotheses = True
        cfg.timestamps = self.timestamps
        cfg.verbose = False
        cfg.num_workers = 0
        with torch.inference_mode(), autocast(self.device, self.precision):
            for out in self.model.transcribe_generator(_loader(model_batches()), cfg):
                if isinstance(out, tuple):  # (best, all) hypotheses
                    out = out[0]
                yield self.in_flight, list(out)
                self.in_flight = None


def _loader(items: Iterator[Any]) -> Any:
    """A DataLoader that hands over ``items`` as they are (already batches), in this thread."""
    from torch.utils.data import DataLoader, IterableDataset

    class Items(IterableDataset):
        def __iter__(self) -> Iterator[Any]:
            return items

    return DataLoader(Items(), batch_size=None, num_workers=0, collate_fn=_as_is)


def _as_is(batch: Any) -> Any:
    return batch


def is_oom(exc: BaseException) -> bool:
    """Is this the GPU (or CPU allocator) running out of memory?"""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return True
    except Exception:  # pragma: no cover
        pass
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()



