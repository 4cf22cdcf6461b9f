"""The app's wiring: model store, settings, job runner, and a speech engine that warms up in the background.

The page has to come up at once, but ``import nemo.collections.asr`` takes tens of seconds and loading a
model more. :class:`Service` builds everything light at once (``ModelStore``, ``Settings``, ``JobRunner``)
and starts a thread that imports NeMo, creates the ``ModelManager`` and ``Engine`` and loads the default
model. The page polls :meth:`Service.status` to say where that stands. A job submitted before the warm-up
ends simply waits for it in the runner's worker.

Everything it does follows the :class:`~chunky.settings.Settings` it is given (device, batch size, chunk
length, pause finder, output formats). Importing this module imports no torch, nemo or gradio.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from chunky.app.model_choices import ModelChoices
from chunky.base.errors import ChunkyError, ModelNotFoundError
from chunky.bootstrap import AppPaths
from chunky.export import ExportOptions
from chunky.jobs.runner import JobRunner
from chunky.models.catalogue import choose_diarization_model, choose_model, missing_model_message
from chunky.models.downloads import ModelTasks, Task
from chunky.models.store import ModelInfo, ModelStore
from chunky.settings import (
    EXPORT_SETTINGS,
    SavedSettings,
    Settings,
    parse_choices,
    parse_fraction,
    parse_speaker_choices,
    with_choices,
)
from chunky.transcript.model import Transcript

if TYPE_CHECKING:
    from chunky.asr.options import ProgressFn

log = logging.getLogger(__name__)

MODEL_LIST_SECONDS = 5.0


class Phase(StrEnum):
    STARTING = "starting"  # importing NeMo
    LOADING = "loading"  # loading a model
    READY = "ready"
    NO_MODEL = "no_model"  # the engine is (or will be) fine, but local_models holds no model
    FAILED = "failed"  # the engine could not start (NeMo missing or broken)


@dataclass(frozen=True)
class ServiceStatus:
    phase: Phase
    message: str  # one line for the page, e.g. "Ready: parakeet-tdt-0.6b-v2 on the GPU (RTX 4090)"
    device: str | None = None  # "cpu" / "cuda" once known
    device_name: str | None = None  # e.g. "NVIDIA GeForce RTX 4090", "CPU"
    notice: str | None = None  # e.g. why the CPU is used although a GPU was asked for
    model: str | None = None  # the resident model, if any
    error: str | None = None


class Service:
    """Store + settings + job runner + (after the warm-up) model manager and engine."""

    def __init__(self, app_paths: AppPaths, settings: Settings | None = None,
                 environ: Mapping[str, str] = MappingProxyType({})):
        """``environ``: the environment the entry point started with (the system check reports on it)."""
        self.paths = app_paths
        self.settings = settings or Settings()
        self.environ = environ
        self.saved = SavedSettings(self.paths.model_cache)
        self.store = ModelStore(self.paths.local_models, self.paths.extracted)
        self.runner = JobRunner(self._transcribe, self.paths.outputs, self.settings.formats,
                                duration_of=self._duration_of, media_timing=self._media_timing)
        self._last_model = self.settings.model
        self._threshold = self.settings.confidence_threshold
        self.model_choices = ModelChoices(self.store, self.settings, self.saved)  # language, vocabulary
        # The page's model downloads and imports, each in its own thread (a model that arrives is listed).
        self.model_tasks = ModelTasks(self.store, endpoint=self.settings.hub_endpoint,
                                      on_change=lambda name: self.forget_models())
        self.manager = None  # chunky.models.manager.ModelManager, after the warm-up
        self.engine = None  # chunky.asr.engine.Engine, after the warm-up
        self._lock = threading.Lock()
        self._engine_done = threading.Event()  # set when the import finished (well or not)
        self._phase = Phase.STARTING
        self._loading: str | None = None
        self._device: str | None = None
        self._device_name: str | None = None
        self._notice: str | None = None
        self._error: str | None = None
        self._load_error: str | None = None
        self._models_cache: tuple[float, list[ModelInfo]] | None = None
        self._thread: threading.Thread | None = None
        self._started_at = time.monotonic()

    # --- warm-up ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job runner and the background warm-up (import NeMo, load the default model)."""
        self.runner.start()
        with self._lock:
            if self._thread is None:
                self._started_at = time.monotonic()
                self._thread = threading.Thread(target=self._warm_up, name="chunky-warm-up", daemon=True)
                self._thread.start()

    def _warm_up(self) -> None:
        started = time.perf_counter()
        try:
            log.info("Starting the speech engine (importing NeMo)...")
            import nemo.collections.asr  # noqa: F401  (the slow part: ~25 s on a small machine)

            from chunky.asr.engine import Engine
            from chunky.models.manager import ModelManager, resolve_device

            device, notice = resolve_device(self.settings.device)
            manager = ModelManager(self.store, device=self.settings.device)
            engine = Engine(manager, self.settings.engine_options())
            engine.options.language = None  # a job's language comes with it (ModelChoices.job_options)
            with self._lock:
                self.manager, self.engine = manager, engine
                self._device, self._notice = device, notice
                self._device_name = _device_name(device)
                self._phase = Phase.READY
            log.info("Speech engine ready in %.1f s (%s)", time.perf_counter() - started, device)
            # Load the default model before any job runs: a job may need another model, and the manager
            # must never swap a model out from under a running transcription.
            self._preload(manager)
        except Exception as exc:
            log.exception("The speech engine could not start")
            with self._lock:
                self._phase = Phase.FAILED
                self._error = (f"The speech engine could not start: {type(exc).__name__}: {exc}. "
                               "Run `python -m chunky.setup_env` (or run.bat again) to repair the "
                               "installation, then restart Chunky.")
        finally:
            self._engine_done.set()

    def _preload(self, manager) -> None:
        name = self.default_model()
        if name is None:
            return
        with self._lock:
            self._loading = name
        try:
            manager.get(name)
        except Exception as exc:  # the job that needs it reports the problem
            log.warning("Could not load %s: %s", name, exc)
            with self._lock:
                self._load_error = f"Could not load {name}: {exc}"
        finally:
            with self._lock:
                self._loading = None

    # --- models -------------------------------------------------------------------------------------

    def models(self, max_age: float = MODEL_LIST_SECONDS) -> list[ModelInfo]:
        """The local models; a listing younger than ``max_age`` seconds is reused (the page asks often)."""
        now = time.monotonic()
        with self._lock:
            cached = self._models_cache
        if cached is not None and now - cached[0] < max_age:
            return cached[1]
        try:
            found = self.store.list_models()
        except Exception as exc:  # a broken folder must not break the page
            log.warning("Cannot list the models in %s: %s", self.store.local_models, exc)
            found = []
        with self._lock:
            self._models_cache = (now, found)
        return found

    def forget_models(self) -> None:
        """List the models again at the next question (one was downloaded, imported or removed)."""
        with self._lock:
            self._models_cache = None

    def model_names(self, max_age: float = MODEL_LIST_SECONDS) -> list[str]:
        """The speech recognition models (a diarization model is not offered for transcribing)."""
        from chunky.models.kinds import ASR

        return [m.name for m in self.models(max_age) if m.kind == ASR]

    def gpu_memory(self):
        """The GPU's memory from nvidia-smi (no PyTorch import), for the catalogue on the page."""
        from chunky.doctor.probes import find_nvidia_smi, probe_nvidia_smi
        from chunky.models.catalogue import GpuMemory

        gpus = [g for g in probe_nvidia_smi(find_nvidia_smi(self.environ), timeout=5.0).gpus if g.memory_mib]
        if not gpus:
            return GpuMemory()
        best = max(gpus, key=lambda g: g.memory_mib or 0)
        free = best.free_mib * 1024**2 if best.free_mib is not None else None
        return GpuMemory((best.memory_mib or 0) * 1024**2, free)

    def default_model(self) -> str | None:
        """The model the settings name (the last one used), else the default one, else the first; None
        when none is installed."""
        names = self.model_names()
        if not names:
            return None
        return choose_model(names, self._last_model, self.store.local_models)

    # --- models from the page: download, import, remove (chunky.models.downloads) ---------------------

    def download_model(self, text: str) -> tuple[Task, bool]:
        """Start downloading ``text`` (``nvidia/...`` or a huggingface.co address) in its own thread; (its
        task, False when it was already on its way). ChunkyError for an id that is not one."""
        return self.model_tasks.download(text)

    def import_model(self, path: Path | str, name: str | None = None, *, uploaded: bool = True) -> Task:
        """Start importing the ``.nemo`` at ``path`` (as ``name``) in its own thread; ChunkyError at once for
        a missing file, a file that is no .nemo archive, a bad or taken name. A typed path (``uploaded``
        False) only when no other computer can reach the page: theirs would name a file of this PC."""
        if not uploaded and not self.page_is_private():
            raise ChunkyError("Other computers can reach this page, so a typed path is not imported: pick "
                              "the file (it is uploaded), or import it on this PC with: python "
                              "setup_local_models.py --import PATH.nemo")
        return self.model_tasks.import_file(path, name)

    def page_is_private(self) -> bool:
        """True when only this PC can reach the page (127.0.0.1, no other names, no share link)."""
        from chunky.app.security import is_loopback

        s = self.settings
        return is_loopback(s.host) and not s.allowed_hosts and not s.share

    def model_tasks_now(self) -> list[Task]:
        """The downloads and imports of this run, then those an earlier run left unfinished."""
        return self.model_tasks.tasks()

    def cancel_download(self, name: str) -> bool:
        """Stop the download of ``name`` (what it fetched is kept); False when none is running."""
        return self.model_tasks.cancel(name)

    def discard_download(self, name: str) -> bool:
        """Delete what an unfinished download of ``name`` kept; ChunkyError while it runs."""
        return self.model_tasks.discard(name)

    def remove_model(self, name: str) -> None:
        """Delete an installed model (archive, extracted folder); ChunkyError while a queued or running job
        uses it, while it is loading, downloading or importing."""
        from chunky.models.kinds import FINDS_SPEAKERS

        installed = {m.name: m for m in self.models(max_age=0)}
        if name not in installed:
            raise ModelNotFoundError(f"There is no model named {name!r} to remove.")
        diarizers = [m.name for m in installed.values() if m.kind in FINDS_SPEAKERS]
        default_diarizer = None
        if diarizers:
            with contextlib.suppress(ChunkyError):
                default_diarizer = choose_diarization_model(diarizers, self.settings.diarization_model,
                                                            self.store.local_models)
        in_use = self.runner.models_in_use(default_diarizer)
        if self.settings.speakers == "diarize" and self.runner.models_in_use() and default_diarizer:
            in_use.add(default_diarizer)  # jobs without options of their own use the settings' mode
        if name in in_use:
            raise ChunkyError(f"{name} is in use by a queued or running job: wait until the job finishes (or "
                              "cancel it), then remove the model.")
        with self._lock:
            loading = self._loading == name
        if loading:
            raise ChunkyError(f"{name} is being loaded right now; remove it once the page says Ready.")
        if self.model_tasks.busy(name):
            raise ChunkyError(f"{name} is being downloaded or imported right now; cancel it or wait for it.")
        manager = self.manager
        if manager is not None:
            for kind, loaded in list(manager.resident.items()):
                if loaded.name == name:
                    manager.unload(kind)  # the memory it held is free again
        self.store.remove(name)
        self.forget_models()
        if self._last_model == name:
            self._last_model = None

    def missing_model_message(self, name: str | None) -> str:
        source = (self.store.sources.get(name) or {}).get("source") if name else None
        return missing_model_message(name, self.model_names(), self.store.local_models, source)

    # --- jobs ---------------------------------------------------------------------------------------

    def submit(self, owner: str, files: Sequence[Path], model: str | None,
               display_names: Sequence[str | None] | None = None,
               choices: Mapping[str, object] | None = None) -> str:
        """Queue a job (returns at once) with the tab's export ``choices`` (formats, subtitle preset and
        rules, frame rate, start timecode, ...; see :meth:`export_settings`), which are kept in
        settings.json: the page shows them when Chunky starts again. ChunkyError for no files, an unknown
        model or a bad choice."""
        if not files:
            raise ChunkyError("No recording was given: add at least one audio or video file, or record "
                              "from the microphone.")
        if not model or model not in self.model_names(max_age=0):
            raise ModelNotFoundError(self.missing_model_message(model))
        settings, options = self.export_settings(choices)
        speakers = self.speaker_options(choices)
        # (a bad language or vocabulary: an error now, before the job)
        engine_options = replace(self.model_choices.job_options(model, choices), speakers=speakers)
        if engine_options == self.settings.engine_options():
            engine_options = None  # the engine's own options are these
        self._last_model = model
        # Kept for the next start (a tab's choices never change another tab's jobs in this run).
        self.saved.save(model=model, speakers=speakers.mode,
                        **{k: getattr(settings, k) for k in EXPORT_SETTINGS})
        return self.runner.submit(owner, files, model, display_names, formats=settings.formats,
                                  export_options=options, engine_options=engine_options)

    def speaker_options(self, choices: Mapping[str, object] | None):
        """The page's speaker controls as SpeakerOptions, on top of the settings (a diarization model
        and a mode given at start); ChunkyError for a bad value."""
        given = dict(choices or {})
        if not given.get("speakers"):
            given["speakers"] = self.settings.speakers
        try:
            chosen = parse_speaker_choices(given)
        except ValueError as exc:
            raise ChunkyError(str(exc)) from None
        return replace(chosen, diarization_model=self.settings.diarization_model)

    def audio_streams(self, paths: Sequence[Path]) -> list[tuple[str, list[str]]]:
        """(file name, a line per audio stream) of each uploaded file, for the page (no decoding)."""
        from chunky.audio.streams import probe_streams

        out = []
        for path in paths:
            try:
                streams = probe_streams(path)
            except ChunkyError as exc:
                out.append((Path(path).name, [str(exc)]))
                continue
            several = len(streams) > 1
            out.append((Path(path).name, [s.describe() + (", default" if s.default and several else "")
                                          for s in streams]))
        return out

    def export_settings(self, choices: Mapping[str, object] | None) -> tuple[Settings, ExportOptions]:
        """The settings with the page's export choices applied, and the export options they give;
        ChunkyError for a choice that cannot be used (a start timecode that does not exist at the frame
        rate, no format chosen, ...)."""
        try:
            settings = with_choices(self.settings, **parse_choices(choices or {}))
            return settings, settings.export_options()
        except ChunkyError:
            raise
        except ValueError as exc:
            raise ChunkyError(str(exc)) from None

    def export_again(self, owner: str, job_id: str, choices: Mapping[str, object] | None) -> list[Path]:
        """Write the finished job's files again with the page's export choices (new files, nothing
        transcribed, nothing replaced). ChunkyError says why not."""
        settings, options = self.export_settings(choices)
        try:
            return self.runner.export_again(job_id, owner, options, settings.formats)
        except KeyError:
            raise ChunkyError("Choose one of your finished jobs to export again.") from None

    # --- the review -----------------------------------------------------------------------------------

    def confidence_threshold(self) -> float:
        """Where the review marks uncertain words: the last one chosen on the page (kept in settings.json)."""
        with self._lock:
            return self._threshold

    def set_confidence_threshold(self, value: object) -> float:
        """Keep the threshold the page's slider was moved to (for new tabs and the next start); ChunkyError
        for a value that is no share between 0 and 1."""
        try:
            threshold = parse_fraction(str(value))
        except ValueError as exc:
            raise ChunkyError(f"Confidence threshold {value!r}: {exc}") from None
        with self._lock:
            changed, self._threshold = threshold != self._threshold, threshold
        if changed:
            self.saved.save(confidence_threshold=threshold)
        return threshold

    def media_roots(self) -> tuple[Path, ...]:
        """The folders the review may play recordings from: the job folders and Gradio's upload cache."""
        return (self.paths.outputs.resolve(), self.paths.gradio_tmp.resolve())

    def _media_timing(self, path: Path) -> dict[str, str] | None:
        from chunky.audio.timing import probe_timing

        return probe_timing(path)

    def _duration_of(self, path: Path) -> float | None:
        from chunky.audio import decode as audio

        return float(audio.probe(path).duration)

    def _transcribe(self, path: Path, model: str, progress: ProgressFn,
                    cancel: threading.Event, options=None) -> Transcript:
        from chunky.asr.options import PartialTranscriptCancelled, Progress

        if not self._engine_done.is_set():
            progress(Progress("Waiting for the speech engine to start"))
            while not self._engine_done.wait(0.2):
                if cancel.is_set():
                    raise PartialTranscriptCancelled("Cancelled before transcription started.", None)
        if self.engine is None:
            raise ChunkyError(self._error or "The speech engine could not start.")
        try:
            transcript = self.engine.transcribe(path, model, options=options, progress=progress,
                                                cancel=cancel)
        except ModelNotFoundError as exc:
            raise ModelNotFoundError(f"{exc}\n{self.missing_model_message(model)}") from exc
        with self._lock:
            self._load_error = None  # a model loaded and ran: an earlier load failure no longer matters
        return transcript

    # --- state for the page -------------------------------------------------------------------------

    def status(self) -> ServiceStatus:
        with self._lock:
            phase, loading, error = self._phase, self._loading, self._error
            device, name = self._device, self._device_name
            notice = " ".join(n for n in (self._notice, self._load_error) if n) or None
        manager = self.manager
        current = manager.current if manager is not None else None
        if phase is Phase.FAILED:
            return ServiceStatus(phase, error or "The speech engine could not start.", error=error)
        if not self.model_names():
            return ServiceStatus(Phase.NO_MODEL, "No model is installed yet.", device, name, notice)
        if phase is Phase.STARTING:
            seconds = time.monotonic() - self._started_at
            return ServiceStatus(phase, f"Starting the speech engine… ({seconds:.0f} s; the first start "
                                        "can take a minute)")
        where = "the GPU" if device == "cuda" else "the CPU"
        if name and device == "cuda":
            where += f" ({name})"
        if loading and (current is None or current.name != loading):
            return ServiceStatus(Phase.LOADING, f"Loading model {loading} on {where}…", device, name, notice,
                                 current.name if current else None)
        model = current.name if current is not None else None
        message = f"Ready on {where}" + (f": {model} loaded" if model else "")
        return ServiceStatus(Phase.READY, message, device, name, notice, model)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Cancel queued and running jobs (the running one keeps what it finished) and stop the worker; stop
        the model downloads (what each fetched is kept: the next start continues it)."""
        self.model_tasks.shutdown(min(timeout, 5.0))
        return self.runner.shutdown(timeout)


def _device_name(device: str) -> str:
    if device == "cuda":
        try:
            import torch

            return str(torch.cuda.get_device_name(0))
        except Exception:
            return "CUDA GPU"
    return "CPU"
