"""The model manager: NeMo models loaded from their pre-extracted folder, one at a time, one load at a time.

No archive is unpacked at load time (NeMo's ``model_extracted_dir``), so Windows scanners have no fresh
temp files to lock. NeMo's restore changes the working directory and a process-wide singleton, so every
load in the process goes through one lock. Lock errors (WinError 32/33) are retried with backoff.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chunky.base.retry import retry_on_lock

log = logging.getLogger("chunky.models.manager")

# One lock for the whole process: NeMo's restore is not thread-safe (cwd + AppState singleton).
LOAD_LOCK = threading.RLock()


def free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - torch missing or CUDA broken: nothing to free
        pass


def resolve_device(preference: str | None = None) -> tuple[str, str | None]:
    """Return (device, notice). ``preference``: "auto" (default), "cpu" or "cuda"."""
    import torch

    pref = (preference or "auto").lower()
    if pref not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {pref!r}")
    if pref == "cpu":
        return "cpu", None
    if torch.cuda.is_available():
        return "cuda", None
    why = "no CUDA GPU was found by PyTorch"
    if torch.version.cuda is None:
        why = "this PyTorch is a CPU-only build"
    notice = f"Running on the CPU ({why}); transcription will be much slower than on an NVIDIA GPU."
    if pref == "cuda":
        notice = f"CUDA was requested but {why}; running on the CPU instead."
    return "cpu", notice


_INIT_FUNCTIONS = (
    "uniform_", "normal_", "trunc_normal_", "constant_", "ones_", "zeros_", "eye_", "dirac_",
    "xavier_uniform_", "xavier_normal_", "kaiming_uniform_", "kaiming_normal_", "orthogonal_", "sparse_",
)


@contextlib.contextmanager
def skip_weight_init() -> Iterator[None]:
    """Make torch.nn.init a no-op while a model is built whose every weight is then loaded (strict).

    Random initialisation of a 600M-parameter model costs seconds of CPU for values that are overwritten
    at once; a strict load_state_dict guarantees every parameter and persistent buffer is replaced.
    """
    import torch

    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS if hasattr(torch.nn.init, name)}

    def no_op(tensor, *args, **kwargs):
        return tensor

    try:
        for name in saved:
            setattr(torch.nn.init, name, no_op)
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


def _connector(folder: Path, fast: bool):
    from nemo.core.connectors.save_restore_connector import SaveRestoreConnector

    class ExtractedDirConnector(SaveRestoreConnector):
        """Loads the weights memory-mapped (one read from disk, no extra copy in memory)."""

        @staticmethod
        def _load_state_dict_from_disk(model_weights, map_location="cpu"):
            import torch

            if not fast:
                return SaveRestoreConnector._load_state_dict_from_disk(model_weights, map_location)
            return torch.load(model_weights, map_location="cpu", mmap=True, weights_only=True)

    connector = ExtractedDirConnector()
    connector.model_extracted_dir = str(folder)
    return connector


def restore_extracted(folder: Path, device: str = "cpu", *, fast: bool = True) -> Any:
    """Restore a NeMo ASR model from an extracted folder (holding model_config.yaml)."""
    import torch
    from nemo.collections.asr.models import ASRModel

    folder = Path(folder).resolve()
    if not (folder / "model_config.yaml").is_file():
        raise FileNotFoundError(f"{folder} holds no model_config.yaml: not an extracted NeMo model")
    with LOAD_LOCK:
        cwd = os.getcwd()
        try:
            init = skip_weight_init() if fast else contextlib.nullcontext()
            with init:
                model = ASRModel.restore_from(
                    str(folder),
                    save_restore_connector=_connector(folder, fast),
                    map_location=torch.device(device),
                    strict=True,
                )
        finally:
            if os.getcwd() != cwd:
                os.chdir(cwd)
    model.eval()
    return model


@dataclass
class LoadedModel:
    name: str
    model: Any
    device: str
    notice: str | None = None

    @property
    def sample_rate(self) -> int:
        cfg = getattr(self.model, "cfg", None)
        rate = None
        if cfg is not None:
            rate = cfg.get("sample_rate") or cfg.get("preprocessor", {}).get("sample_rate")
        return int(rate or 16000)


class ModelManager:
    """Keeps at most one model resident and hands it out; switching frees the previous one."""

    def __init__(self, store, device: str | None = None, retry_delays: tuple[float, ...] | None = None,
                 sleep=time.sleep):
        self.store = store
        self.device_preference = device
        self.retry_delays = retry_delays
        self._sleep = sleep
        self._current: LoadedModel | None = None
        self._lock = threading.RLock()

    @property
    def current(self) -> LoadedModel | None:
        return self._current

    def get(self, name: str) -> LoadedModel:
        """The named model, loading it (and extracting it on first use) if it is not resident."""
        with self._lock:
            wanted_device, notice = resolve_device(self.device_preference)
            cur = self._current
            if cur is not None and cur.name == name and cur.device == wanted_device:
                return cur
            self.unload()
            start = time.perf_counter()
            folder = self.store.ensure_extracted(name)
            if notice:
                log.warning(notice)
            retry_kwargs = {"sleep": self._sleep, "between": free_memory}
            if self.retry_delays is not None:
                retry_kwargs["delays"] = self.retry_delays
            model = retry_on_lock(
                lambda: restore_extracted(folder, wanted_device),
                what=f"loading the model {name!r}",
                **retry_kwargs,
            )
            seconds = time.perf_counter() - start
            log.info("Loaded %s on %s in %.1f s", name, wanted_device, seconds)
            self._current = LoadedModel(name, model, wanted_device, notice)
            return self._current

    def unload(self) -> None:
        with self._lock:
            if self._current is None:
                return
            log.info("Unloading %s", self._current.name)
            self._current.model = None
            self._current = None
            free_memory()
