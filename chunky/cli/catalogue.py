"""``python setup_local_models.py --catalogue`` and ``python -m chunky models --catalogue``: the known NeMo
models, what each does, and which fit this PC's GPU."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from chunky.doctor.probes import find_nvidia_smi, probe_nvidia_smi
from chunky.models.catalogue import (
    CPU,
    FITS,
    GB,
    KNOWN_MODELS,
    SETUP_COMMAND,
    TIGHT,
    TOO_BIG,
    GpuMemory,
    catalogue_rows,
)

_FIT_WORDS = {FITS: "fits", TIGHT: "close programs", TOO_BIG: "too big (CPU)", CPU: "CPU only"}


def gpu_memory(environ: Mapping[str, str], probe: Callable = probe_nvidia_smi) -> GpuMemory:
    """The largest NVIDIA GPU's memory from nvidia-smi (no PyTorch import: the list comes up at once);
    GpuMemory() when there is none."""
    info = probe(find_nvidia_smi(environ))
    gpus = [g for g in info.gpus if g.memory_mib]
    if not gpus:
        return GpuMemory()
    best = max(gpus, key=lambda g: g.memory_mib or 0)
    free = best.free_mib * 1024**2 if best.free_mib is not None else None
    return GpuMemory(int(best.memory_mib or 0) * 1024**2, free)


def parse_gpu_gb(raw: str) -> GpuMemory:
    """``--gpu-memory 8`` (GB; 0: no GPU): plan for another PC's GPU."""
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"--gpu-memory takes a number of GB such as 8 or 12, not {raw!r}") from None
    if value < 0:
        raise ValueError("--gpu-memory cannot be negative")
    return GpuMemory(int(value * GB), int(value * GB)) if value else GpuMemory()


def format_catalogue(gpu: GpuMemory, installed: Sequence[str] = ()) -> str:
    """The catalogue as text: a table (model, download, GPU memory needed, whether it fits here,
    languages, licence), each row followed by what the model supports."""
    rows = catalogue_rows(gpu, KNOWN_MODELS, installed)
    head = ("MODEL", "DOWNLOAD", "GPU", "THIS PC", "LANGUAGES", "LICENCE", "")
    table = [head] + [(r["id"], r["size"], r["gpu"], _FIT_WORDS[r["fit"]], r["languages"], r["licence"],
                       "installed" if r["installed"] else "") for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(head))]
    lines = [gpu.describe(), ""]
    for i, cells in enumerate(table):
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if i:
            r = rows[i - 1]
            lines.append(f"    {r['supports']}{'; ' + r['note'] if r['note'] else ''}")
    lines += [
        "",
        "GPU: memory needed at the default batch (out-of-memory halves the batch, so a little less works, "
        "more slowly).",
        f"Download one with: {SETUP_COMMAND} nvidia/MODEL   (sizes are approximate; CC-BY-NC models are "
        "for non-commercial use only)",
    ]
    return "\n".join(lines)
