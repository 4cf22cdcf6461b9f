"""The model manager: NeMo models loaded from their pre-extracted folder, one load at a time, at most one
resident model of each kind (one speech recognition model and one diarization model, so a job can use both).

No archive is unpacked at load time (NeMo's ``model_extracted_dir``), so Windows scanners have no fresh
temp files to lock. NeMo's restore changes the working directory and a process-wide singleton, so every
load in the process goes through one lock, whatever the model's class. Lock errors (WinError 32/33) are
retried with backoff. Each model is restored with the class of its kind (:mod:`chunky.models.kinds`,
read from its config): ``ASRModel`` for speech recognition, ``SortformerEncLabelModel`` for diarization.
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

from chunky.base.errors import ChunkyError
from chunky.base.retry import retry_on_lock
from chunky.models.kinds import ASR, DESCRIPTIONS, RESTORE_CLASSES, folder_kind

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


def model_class(kind: str) -> Any:
    """The NeMo class that restores models of ``kind``."""
    import importlib

    module, _, name = RESTORE_CLASSES[kind].rpartition(".")
    return getattr(importlib.import_module(module), name)


def restore_extracted(folder: Path, device: str = "cpu", *, fast: bool = True) -> Any:
    """Restore a NeMo model from an extracted folder (holding model_config.yaml) with its kind's class."""
    import torch

    folder = Path(folder).resolve()
    if not (folder / "model_config.yaml").is_file():
        raise FileNotFoundError(f"{folder} holds no model_config.yaml: not an extracted NeMo model")
    cls = model_class(folder_kind(folder))
    with LOAD_LOCK:
        cwd = os.getcwd()
        try:
            init = skip_weight_init() if fast else contextlib.nullcontext()
            with init:
                model = cls.restore_from(
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
    kind: str = ASR

    @property
    def sample_rate(self) -> int:
        cfg = getattr(self.model, "cfg", None)
        rate = None
        if cfg is not None:
            rate = cfg.get("sample_rate") or cfg.get("preprocessor", {}).get("sample_rate")
        return int(rate or 16000)


class WrongModelKindError(ChunkyError):
    """A model was asked for as one kind (e.g. speech recognition) but is another (e.g. diarization)."""


class ModelManager:
    """Keeps at most one model of each kind resident and hands it out; loading another model of the same
    kind frees the previous one. ``current`` is the resident speech recognition model."""

    def __init__(self, store, device: str | None = None, retry_delays: tuple[float, ...] | None = None,
                 sleep=time.sleep):
        self.store = store
        self.device_preference = device
        self.retry_delays = retry_delays
        self._sleep = sleep
        self._resident: dict[str, LoadedModel] = {}
        self._lock = threading.RLock()

    @property
    def current(self) -> LoadedModel | None:
        return self._resident.get(ASR)

    @property
    def resident(self) -> dict[str, LoadedModel]:
        """kind -> the resident model of that kind."""
        return dict(self._resident)

    def get(self, name: str, *, kind: str | None = None) -> LoadedModel:
        """The named model, loading it (and extracting it on first use) if it is not resident.

        ``kind``: the kind the caller needs (chunky.models.kinds); a model of another kind raises
        WrongModelKindError before anything is loaded.
        """
        with self._lock:
            wanted_device, notice = resolve_device(self.device_preference)
            for cur in self._resident.values():
                if cur.name == name and cur.device == wanted_device:
                    self._check_kind(name, cur.kind, kind)
                    return cur
            start = time.perf_counter()
            folder = self.store.ensure_extracted(name)
            found = folder_kind(folder)
            self._check_kind(name, found, kind)
            self.unload(found)
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
            log.info("Loaded %s (%s) on %s in %.1f s", name, DESCRIPTIONS[found], wanted_device, seconds)
            loaded = LoadedModel(name, model, wanted_device, notice, found)
            self._resident[found] = loaded
            return loaded

    @staticmethod
    def _check_kind(name: str, found: str, wanted: str | None) -> None:
        if wanted is not None and found != wanted:
            raise WrongModelKindError(
                f"{name!r} is a {DESCRIPTIONS[found]} model, not a {DESCRIPTIONS[wanted]} model; choose "
                f"another one (python setup_local_models.py --list shows each model's kind)."
            )

    def unload(self, kind: str | None = None) -> None:
        """Free the resident model of ``kind`` (every resident model when None)."""
        with self._lock:
            kinds = [kind] if kind is not None else list(self._resident)
            freed = False
            for k in kinds:
                loaded = self._resident.pop(k, None)
                if loaded is None:
                    continue
                log.info("Unloading %s", loaded.name)
                loaded.model = None
                freed = True
            if freed:
                free_memory()
