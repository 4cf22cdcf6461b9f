"""GPU settings of a transcription: the batch size from free GPU memory, and the arithmetic precision.

The decisions are plain functions of numbers (:func:`batch_size_for`, :func:`choose_precision`), tested
without a GPU; the rest reads them from torch (imported when called).

Batch size: the first batch of a recording holds one chunk; the memory it took (peak allocated minus
what was allocated before, :class:`PeakMemory`) is what each chunk costs, and the next batches take as
many chunks as fit in ``MEMORY_USE`` of the memory that is free then. The engine keeps the figure per
model, so later recordings start at the full size. Running out of memory anyway halves the batch.

Precision: ``float32`` (the default: NeMo's own ``transcribe`` runs in float32, and nothing here could
measure half precision on a GPU); ``bfloat16`` / ``float16``: the model runs under ``torch.autocast`` in
that type (NeMo's preprocessor keeps its STFT in float32 itself); ``auto``: bfloat16 where the GPU has
it (compute capability 8.0 and up), else float16; on the CPU always float32.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

from chunky.asr.options import PRECISIONS
from chunky.base.errors import ChunkyError

MEMORY_USE = 0.8  # of the free GPU memory, for a batch
MAX_BATCH = 64  # chunks per batch at most (more only adds latency to the first words)
CPU_BATCH = 8  # chunks per batch on the CPU when the batch size is automatic


def batch_size_for(free_bytes: int, per_chunk_bytes: int, *, use: float = MEMORY_USE,
                   cap: int = MAX_BATCH) -> int:
    """How many chunks fit in ``use`` of ``free_bytes`` when each costs ``per_chunk_bytes`` (at least 1,
    at most ``cap``)."""
    if per_chunk_bytes <= 0:
        return cap
    return max(1, min(cap, int(math.floor(free_bytes * use / per_chunk_bytes))))


def choose_precision(setting: str, device: str, bf16_supported: bool = False) -> str:
    """The precision the model runs in: ``"float32"``, ``"bfloat16"`` or ``"float16"``."""
    setting = (setting or "float32").strip().lower()
    if setting not in PRECISIONS:
        raise ValueError(f"unknown precision {setting!r} (expected one of {', '.join(PRECISIONS)})")
    if setting == "auto":
        if device != "cuda":
            return "float32"
        return "bfloat16" if bf16_supported else "float16"
    return setting


def resolve_precision(setting: str, device: str) -> str:
    """:func:`choose_precision` for this machine's device."""
    bf16 = False
    if device == "cuda":
        import torch

        bf16 = bool(torch.cuda.is_bf16_supported())
    return choose_precision(setting, device, bf16)


@contextlib.contextmanager
def autocast(device: str, precision: str) -> Iterator[None]:
    """Run what the block does on ``device`` in ``precision`` (float32: as it is)."""
    if precision == "float32":
        yield
        return
    import torch

    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16}[precision]
    try:
        context = torch.autocast(device_type=device, dtype=dtype)
    except RuntimeError as exc:  # e.g. float16 autocast on a CPU build without it
        raise ChunkyError(f"This PyTorch cannot run the model in {precision} on the {device} ({exc}). "
                          "Set CHUNKY_PRECISION=float32 (or --precision float32).") from exc
    with context:
        yield


def free_bytes(device: Any) -> int:
    """GPU memory this process can still use: free on the device plus what torch holds unused."""
    import torch

    free, _ = torch.cuda.mem_get_info(device)
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


class PeakMemory:
    """GPU memory one batch took: peak allocated during it, minus what was allocated before."""

    def __init__(self, device: Any):
        import torch

        self.device = device
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        self.base = torch.cuda.memory_allocated(device)

    def used(self) -> int:
        import torch

        torch.cuda.synchronize(self.device)
        return int(torch.cuda.max_memory_allocated(self.device) - self.base)
