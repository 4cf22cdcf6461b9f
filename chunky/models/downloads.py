"""Model downloads and imports in the background, for the page: each in its own thread, with progress
(bytes done of the total, speed, time left), cancel, and the downloads an earlier run left unfinished
(continued, not restarted, by the next Download).

The page never waits for one: :meth:`ModelTasks.download` and :meth:`ModelTasks.import_file` check what
they can at once (the repo id, the name, whether the file is a tar archive), start the thread and return;
the page polls :meth:`ModelTasks.tasks`. A second Download of a model already on its way starts nothing.
Standard library only at import (huggingface_hub comes with the first download, through download.py).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from chunky.base.errors import ChunkyError, ModelArchiveError
from chunky.base.fs import human_size
from chunky.base.names import name_from_path, name_from_repo_id, validate_model_name
from chunky.models.archive import check_nemo_file
from chunky.models.download import (
    IMPORT_HINT,
    DownloadCancelled,
    discard_partial,
    download_model,
    parse_repo_id,
    partial_downloads,
)
from chunky.models.store import ModelStore

log = logging.getLogger(__name__)

DOWNLOAD, IMPORT = "download", "import"
RUNNING, EXTRACTING, DONE, FAILED, CANCELLED, STOPPED = (
    "running", "extracting", "done", "failed", "cancelled", "stopped")  # STOPPED: left by an earlier run
ACTIVE = (RUNNING, EXTRACTING)
PAGE_IMPORT_HINT = "To use a .nemo file you already have, import it under Models (Import a .nemo)."
SPEED_WINDOW = 5.0  # seconds of progress the speed is measured over
KEPT = 12  # finished tasks the page still lists


@dataclass(frozen=True)
class Task:
    """One download or import as the page shows it."""

    name: str  # the model's name in local_models
    kind: str  # DOWNLOAD or IMPORT
    state: str  # RUNNING, EXTRACTING, DONE, FAILED, CANCELLED or STOPPED
    repo_id: str | None = None  # for a download
    done: int = 0  # bytes
    total: int | None = None
    speed: float | None = None  # bytes per second, over the last few seconds
    left: float | None = None  # seconds to go at that speed
    message: str = ""  # what happened (an error's text, "ready", ...)
    resumable: bool = False  # bytes of it are kept in local_models/.downloads: Download continues it
    started: float = 0.0  # time.time()

    @property
    def active(self) -> bool:
        return self.state in ACTIVE


class _Run:
    """The live state of one task (changed by its thread, read under the manager's lock)."""

    def __init__(self, task: Task, clock: Callable[[], float]):
        self.task = task
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None
        self._clock = clock
        self._samples: deque[tuple[float, int]] = deque()

    def progress(self, done: int, total: int | None) -> None:
        now = self._clock()
        self._samples.append((now, done))
        while len(self._samples) > 2 and now - self._samples[0][0] > SPEED_WINDOW:
            self._samples.popleft()
        t0, d0 = self._samples[0]
        speed = (done - d0) / (now - t0) if now - t0 >= 0.5 and done > d0 else self.task.speed
        left = (total - done) / speed if speed and total is not None else None
        self.task = replace(self.task, done=done, total=total, speed=speed, left=left)


class ModelTasks:
    """The page's model downloads and imports (one thread each), over a :class:`ModelStore`.

    ``endpoint``: the Hub's address (None: huggingface.co, or HF_ENDPOINT); ``extract``: unpack a model
    once it is in (as ``setup_local_models.py`` does), so its first job starts quickly; ``on_change``:
    called (in the task's thread) when a model arrived or a task ended, e.g. to list the models again.
    """

    def __init__(self, store: ModelStore, *, endpoint: str | None = None, extract: bool = True,
                 on_change: Callable[[str], None] | None = None, clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.endpoint = endpoint
        self.extract = extract
        self._on_change = on_change
        self._clock = clock
        self._lock = threading.Lock()
        self._runs: dict[str, _Run] = {}  # name -> its latest task

    # --- starting -------------------------------------------------------------------------------------

    def download(self, text: str) -> tuple[Task, bool]:
        """Start downloading the model ``text`` names (``nvidia/...`` or a pasted huggingface.co address);
        (its task, whether this call started it: False when it was already on its way). ChunkyError at
        once for an id that is not one."""
        repo_id = parse_repo_id(text)
        name = name_from_repo_id(repo_id)
        with self._lock:
            busy = self._busy_locked(name)
            if busy is not None:
                return busy.task, False
            kept = {p["name"]: p for p in partial_downloads(self.store.local_models)}.get(name)
            task = Task(name, DOWNLOAD, RUNNING, repo_id, done=kept["done"] if kept else 0,
                        total=kept["size"] if kept else None, started=time.time(),
                        message="Continuing the download" if kept else "Starting the download")
            run = self._start_locked(task, lambda r: self._download(r, repo_id))
        log.info("Downloading %s from the page", repo_id)
        return run.task, True

    def import_file(self, path: Path | str, name: str | None = None) -> Task:
        """Start importing the ``.nemo`` at ``path`` as ``name`` (default: the file's name); ChunkyError at
        once for a missing file, a file that is no tar archive, a bad or taken name."""
        src = Path(path).expanduser()
        if not src.is_file():
            raise ChunkyError(f"Cannot import {src}: no such file. Pick the .nemo file again.")
        if name and name.strip():
            name = name.strip()
            name = validate_model_name(name[: -len(".nemo")] if name.lower().endswith(".nemo") else name)
        else:
            name = name_from_path(src)
        try:
            check_nemo_file(src)
        except ModelArchiveError as exc:
            raise ChunkyError(f"{src.name} is not a NeMo model: {exc}") from None
        with self._lock:
            if self._busy_locked(name) is not None:
                raise ChunkyError(f"A model named {name!r} is being downloaded or imported right now; wait "
                                  "for it, or type another name.")
            if self.store.archive_path(name).is_file():
                raise ChunkyError(f"A model named {name!r} already exists. Type another name for the import, "
                                  "or remove that model first (Remove, under Installed models).")
            task = Task(name, IMPORT, RUNNING, total=src.stat().st_size, started=time.time(),
                        message=f"Copying {src.name} and checking it")
            run = self._start_locked(task, lambda r: self._import(r, src))
        log.info("Importing %s as %s from the page", src, name)
        return run.task

    def _busy_locked(self, name: str) -> _Run | None:
        run = self._runs.get(name)
        return run if run is not None and run.task.active else None

    def _start_locked(self, task: Task, work: Callable[[_Run], None]) -> _Run:
        run = _Run(task, self._clock)
        self._runs[task.name] = run
        run.thread = threading.Thread(target=self._work, args=(run, work),
                                      name=f"chunky-{task.kind}-{task.name}", daemon=True)
        run.thread.start()
        self._forget_old_locked()
        return run

    def _forget_old_locked(self) -> None:
        ended = sorted((r for r in self._runs.values() if not r.task.active), key=lambda r: r.task.started)
        for run in ended[: max(0, len(ended) - KEPT)]:
            del self._runs[run.task.name]

    # --- the threads ------------------------------------------------------------------------------------

    def _work(self, run: _Run, work: Callable[[_Run], None]) -> None:
        try:
            work(run)
        except DownloadCancelled:
            self._end(run, CANCELLED, "Cancelled")
        except ChunkyError as exc:
            self._end(run, FAILED, str(exc).replace(IMPORT_HINT, PAGE_IMPORT_HINT))
        except Exception as exc:  # the page keeps serving; the log has the traceback
            log.exception("%s of %s failed", run.task.kind.capitalize(), run.task.name)
            self._end(run, FAILED, f"{run.task.kind.capitalize()} of {run.task.name} failed: "
                                   f"{type(exc).__name__}: {exc}")
        if self._on_change is not None:
            try:
                self._on_change(run.task.name)
            except Exception:
                log.exception("After the %s of %s", run.task.kind, run.task.name)

    def _end(self, run: _Run, state: str, message: str) -> None:
        with self._lock:
            kept = self._kept_bytes(run.task.name)
            if state == CANCELLED and kept:
                message += f": the {human_size(kept)} downloaded so far are kept; Download continues there"
            run.task = replace(run.task, state=state, message=message, speed=None, left=None,
                               resumable=bool(kept), done=kept or run.task.done)

    def _kept_bytes(self, name: str) -> int:
        return next((p["done"] for p in partial_downloads(self.store.local_models) if p["name"] == name), 0)

    def _download(self, run: _Run, repo_id: str) -> None:
        def report(done: int, total: int | None) -> None:
            with self._lock:
                run.progress(done, total)
                if run.task.message != "Downloading":
                    run.task = replace(run.task, message="Downloading")

        path = download_model(repo_id, self.store.local_models, progress=False, endpoint=self.endpoint,
                              report=report, cancel=run.cancel)
        self._ready(run, path.stem, path.stat().st_size)

    def _import(self, run: _Run, src: Path) -> None:
        name = self.store.import_archive(src, run.task.name)  # checked, copied, extracted: then in place
        self._ready(run, name, self.store.archive_path(name).stat().st_size, extracted=True)

    def _ready(self, run: _Run, name: str, size: int, extracted: bool = False) -> None:
        if self.extract and not extracted:
            with self._lock:
                run.task = replace(run.task, state=EXTRACTING, message="Unpacking the model once",
                                   done=size, total=size, speed=None, left=None)
            self.store.ensure_extracted(name)
        with self._lock:
            run.task = replace(run.task, state=DONE, done=size, total=size, speed=None, left=None,
                               message=f"{name} is ready: choose it under Model.")

    # --- the page's questions and buttons --------------------------------------------------------------

    def tasks(self) -> list[Task]:
        """This run's downloads and imports (newest first), then the downloads an earlier run left
        unfinished (STOPPED: Download continues them)."""
        with self._lock:
            out = sorted((r.task for r in self._runs.values()), key=lambda t: t.started, reverse=True)
        names = {t.name for t in out}
        for p in partial_downloads(self.store.local_models):
            if p["name"] not in names:
                out.append(Task(p["name"], DOWNLOAD, STOPPED, p["repo_id"], done=p["done"], total=p["size"],
                                resumable=True, message="Stopped before it finished: Download continues it"))
        return out

    def busy(self, name: str) -> bool:
        with self._lock:
            return self._busy_locked(name) is not None

    def cancel(self, name: str) -> bool:
        """Stop the download of ``name`` (what it fetched is kept); False when none is running. An import
        or the unpacking after a download runs to its end."""
        with self._lock:
            run = self._busy_locked(name)
            if run is None or run.task.kind != DOWNLOAD or run.task.state != RUNNING:
                return False
            run.cancel.set()
            run.task = replace(run.task, message="Cancelling")
            return True

    def discard(self, name: str) -> bool:
        """Delete what an unfinished download of ``name`` kept (not while it runs)."""
        with self._lock:
            if self._busy_locked(name) is not None:
                raise ChunkyError(f"{name} is downloading: cancel it first.")
            found = discard_partial(self.store.local_models, name)
            run = self._runs.get(name)
            if run is not None:
                run.task = replace(run.task, resumable=False, done=0)
                if run.task.state != DONE:
                    del self._runs[name]
            return found

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop every download (what each fetched is kept for the next start) and wait a little for them."""
        with self._lock:
            runs = [r for r in self._runs.values() if r.task.active]
            for run in runs:
                run.cancel.set()
        deadline = time.monotonic() + timeout
        for run in runs:
            if run.thread is not None:
                with contextlib.suppress(RuntimeError):
                    run.thread.join(max(0.0, deadline - time.monotonic()))
