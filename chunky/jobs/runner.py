"""The job runner: a fair queue of transcription jobs and one worker thread (one GPU). No Gradio here.

The UI calls ``submit`` (returns at once), polls ``snapshot`` every second per tab and calls ``cancel``.
Everything the UI reads is a frozen copy made under one lock; the lock is never held while transcribing
or writing files, so a poll answers at once even while the worker is busy.

On disk, every job has a folder ``outputs_dir/<job-id>/`` holding the outputs of each file as soon as
that file is finished, a ``job.json`` (written atomically after every file) and, for a job of several
files, ``chunky-<job-id>.zip``. A new runner reads the ``job.json`` files back, so a restart loses no
finished transcript.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chunky.base.errors import CancelledError, ChunkyError
from chunky.base.names import is_reserved_windows_name
from chunky.base.retry import retry_on_lock
from chunky.export import writers
from chunky.transcript.model import SubtitleLimits, Transcript

if TYPE_CHECKING:
    from chunky.asr.engine import Progress

log = logging.getLogger("chunky.jobs.runner")

ProgressFn = Callable[["Progress"], None]
# (audio_path, model_name, progress, cancel) -> Transcript. May raise
# chunky.asr.engine.PartialTranscriptCancelled (a CancelledError with ``.partial``), any ChunkyError, or
# a bug.
TranscribeFn = Callable[[Path, str, ProgressFn, threading.Event], Transcript]
DurationFn = Callable[[Path], "float | None"]

JOB_FILE = "job.json"
PARTIAL_SUFFIX = ".partial"  # atomic writes: "<name>.partial", then os.replace
CANCELLED_MARK = ".partial"  # outputs of a file cancelled midway: "<stem>.partial.txt", ...
JSON_VERSION = 1
_ID_RE = re.compile(r"[a-z0-9]{6,32}")
# The estimate of the time left needs this much transcribing behind it (wall seconds, job fraction).
_ETA_MIN_WALL = 2.0
_ETA_MIN_FRACTION = 0.01
_MAX_STEM = 80


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # every file transcribed
    PARTIAL = "partial"  # some files failed, some were transcribed
    FAILED = "failed"  # every file failed (or the job was interrupted before any file finished)
    CANCELLED = "cancelled"  # cancelled by the user or by shutdown; what was finished is kept


class FileState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"  # outputs, if any, hold the partial transcript (``<stem>.partial.<ext>``)


TERMINAL_JOB_STATES = frozenset({JobState.DONE, JobState.PARTIAL, JobState.FAILED, JobState.CANCELLED})
_FINISHED_FILE_STATES = frozenset({FileState.DONE, FileState.FAILED, FileState.CANCELLED})
_STAGE_OF_END = {
    JobState.DONE: "Done",
    JobState.PARTIAL: "Done, with errors",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class FileResult:
    name: str  # the display name (the user's file name)
    source: Path  # the audio file that was transcribed
    state: FileState = FileState.PENDING
    error: str | None = None  # user-facing message for failed / cancelled files
    outputs: tuple[Path, ...] = ()  # absolute paths, in the order of the runner's formats
    text: str = ""  # the transcript (partial for a cancelled file)
    duration: float | None = None  # audio seconds, once known

    @property
    def partial(self) -> bool:
        """True when the outputs hold only the part finished before a cancel."""
        return self.state is FileState.CANCELLED and bool(self.outputs)


@dataclass(frozen=True)
class JobSnapshot:
    id: str
    owner: str
    state: JobState
    queue_position: int | None  # queued jobs: jobs that run before this one starts, the running one included
    model: str
    file_names: tuple[str, ...]
    current_file: int | None  # index into files of the file being transcribed
    stage: str  # e.g. "Transcribing chunk 3 of 12" (Progress.describe()), "Queued: 1 job ahead", "Done"
    fraction: float  # of the job's audio, 0..1, never decreases while the job runs
    elapsed: float | None  # seconds since the job started (None while queued)
    eta: float | None  # seconds left, from the rate so far; None until there is enough data
    partial_text: str  # the current file's transcript so far
    files: tuple[FileResult, ...]
    zip_path: Path | None  # several files and at least one transcribed
    output_dir: Path
    created: float  # time.time() stamps
    started: float | None
    finished: float | None
    error: str | None = None  # job-level message (interrupted, shut down, runner bug)
    cancel_requested: bool = False

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    @property
    def outputs(self) -> tuple[Path, ...]:
        """Every output file of the job (the zip last), for a download list."""
        paths = tuple(p for f in self.files for p in f.outputs)
        return paths + ((self.zip_path,) if self.zip_path else ())


@dataclass(eq=False)
class _Job:
    id: str
    owner: str
    model: str
    stems: list[str]
    files: list[FileResult]
    created: float
    output_dir: Path
    state: JobState = JobState.QUEUED
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    zip_path: Path | None = None
    current: int | None = None
    stage: str = ""
    partial_text: str = ""
    file_fraction: float = 0.0  # of the current file
    fraction: float = 0.0
    durations: list[float | None] = field(default_factory=list)
    cancelled_at: dict[int, float] = field(default_factory=dict)  # file index -> its fraction done at cancel
    earlier: bool = False  # read back from disk: a job of an earlier run, visible to every owner
    cancel: threading.Event = field(default_factory=threading.Event)
    t_start: float | None = None  # time.monotonic() at start
    rate_t0: float | None = None  # (monotonic, fraction) at the first "transcribing" report ...
    rate_f0: float = 0.0
    rate_t: float | None = None  # ... and at the latest report
    rate_f: float = 0.0
    seq: int = 0  # order of creation (time.time() can tie on Windows)


# --- file names --------------------------------------------------------------------------------------

_WIN_BAD_CHARS = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED_STEMS = frozenset({"job"})  # job.json is the runner's own


def safe_stem(name: str) -> str:
    """A file stem from a display name (extension dropped) that Windows, macOS and Linux all accept."""
    base = re.split(r"[/\\]", name)[-1]
    stem, dot, _ext = base.rpartition(".")
    if not dot or not stem.strip(" ."):
        stem = base
    stem = _WIN_BAD_CHARS.sub("_", stem).strip().strip(".").strip()
    stem = stem[:_MAX_STEM].rstrip(" .")
    if not stem:
        stem = "recording"
    if is_reserved_windows_name(stem):  # "CON.txt" and "con.x.txt" are reserved too
        stem = "_" + stem
    if stem.lower().endswith(CANCELLED_MARK):  # keep "<stem>.partial.*" for cancelled files only
        stem = stem[: -len(CANCELLED_MARK)] + "_partial"
    return stem


def unique_stems(names: Sequence[str]) -> list[str]:
    """Safe stems, unique within one job without regard to case (Windows and macOS file systems)."""
    taken = set(_RESERVED_STEMS)
    out: list[str] = []
    for name in names:
        stem = safe_stem(name)
        candidate, n = stem, 1
        while candidate.lower() in taken:
            n += 1
            candidate = f"{stem}-{n}"
        taken.add(candidate.lower())
        out.append(candidate)
    return out


def _final_state(files: Sequence[FileResult]) -> JobState:
    if any(f.state is FileState.CANCELLED for f in files):
        return JobState.CANCELLED
    done = sum(f.state is FileState.DONE for f in files)
    if done == len(files):
        return JobState.DONE
    return JobState.FAILED if done == 0 else JobState.PARTIAL


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# --- the runner --------------------------------------------------------------------------------------


class JobRunner:
    """A queue of transcription jobs, fair across owners (browser sessions), run by one worker thread.

    Jobs of one owner run in the order submitted; owners with waiting jobs take turns (round-robin).
    ``snapshot``/``cancel`` with an ``owner`` treat another owner's job as unknown (``KeyError`` /
    ``False``), so a tab cannot tell whether someone else's job id exists.
    """

    def __init__(self, transcribe: TranscribeFn, outputs_dir: Path, formats: Sequence[str] = writers.FORMATS,
                 *, duration_of: DurationFn | None = None, limits: SubtitleLimits | None = None):
        """``duration_of(path)`` (optional, e.g. a header probe) gives a file's audio seconds before it
        starts, so the progress of a job weighs its files by duration from the beginning. ``limits``: the
        subtitle limits the engine segments with (for the SRT/VTT line width)."""
        self._transcribe = transcribe
        self.outputs_dir = Path(outputs_dir).resolve()
        self.formats = tuple(formats)
        self.limits = limits
        self._duration_of = duration_of
        self._cond = threading.Condition(threading.Lock())
        self._jobs: dict[str, _Job] = {}
        self._queues: dict[str, deque[_Job]] = {}  # owner -> waiting jobs, FIFO
        self._rotation: deque[str] = deque()  # owners with waiting jobs, next turn first
        self._positions: dict[str, int] | None = None  # cache of queue positions, None when stale
        self._running: _Job | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._seq = 0
        self.outputs_dir.mkdir(parents=True, exist_ok=True)
        self._load_history()

    # --- public API ---------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is None and not self._stopping:
                self._thread = threading.Thread(target=self._worker, name="chunky-jobs", daemon=True)
                self._thread.start()

    def submit(self, owner: str, files: Sequence[Path], model: str,
               display_names: Sequence[str | None] | None = None) -> str:
        """Queue a job and return its id at once (the work happens on the worker thread)."""
        if not files:
            raise ChunkyError("No recording was given: choose at least one audio or video file.")
        sources = [Path(f) for f in files]
        if display_names is not None and len(display_names) != len(sources):
            raise ValueError(f"{len(display_names)} display names for {len(sources)} files")
        names = [(display_names[i] if display_names else None) or p.name for i, p in enumerate(sources)]
        stems = unique_stems(names)
        with self._cond:
            if self._stopping:
                raise ChunkyError("Chunky is shutting down; start it again to transcribe.")
            job_id = self._new_id_locked()
            job = _Job(
                id=job_id,
                owner=owner,
                model=model,
                stems=stems,
                files=[FileResult(name=n, source=p) for n, p in zip(names, sources, strict=True)],
                created=time.time(),
                output_dir=self.outputs_dir / job_id,
                durations=[None] * len(sources),
                seq=self._next_seq(),
            )
            self._jobs[job_id] = job
            queue = self._queues.setdefault(owner, deque())
            if not queue:
                self._rotation.append(owner)
            queue.append(job)
            self._positions = None
            self._cond.notify_all()
        self.start()
        log.info("Job %s queued: %s, %s", job_id, _plural(len(sources), "file"), model)
        return job_id

    def snapshot(self, job_id: str, owner: str | None = None) -> JobSnapshot:
        """A frozen copy of the job. ``KeyError`` for an unknown id or (owner given) another owner's job."""
        with self._cond:
            return self._snapshot_locked(self._visible_locked(job_id, owner))

    def jobs(self, owner: str) -> list[JobSnapshot]:
        """The owner's jobs, earlier runs' included, newest first."""
        with self._cond:
            found = [j for j in self._jobs.values() if j.owner == owner]
            found.sort(key=lambda j: (j.created, j.seq), reverse=True)
            return [self._snapshot_locked(j) for j in found]

    def earlier(self, limit: int | None = None) -> list[JobSnapshot]:
        """Jobs of earlier runs (read back from disk at start), newest first: every owner may see them, since
        the browser tab that made them is gone."""
        with self._cond:
            found = [j for j in self._jobs.values() if j.earlier]
            found.sort(key=lambda j: (j.created, j.seq), reverse=True)
            return [self._snapshot_locked(j) for j in found[:limit]]

    def history(self, owner: str | None = None) -> list[JobSnapshot]:
        """Finished jobs (read back from disk at start, and finished since), newest first."""
        with self._cond:
            found = [j for j in self._jobs.values()
                     if j.state in TERMINAL_JOB_STATES and (owner is None or j.owner == owner)]
            found.sort(key=lambda j: (j.created, j.seq), reverse=True)
            return [self._snapshot_locked(j) for j in found]

    def cancel(self, job_id: str, owner: str | None = None) -> bool:
        """Cancel a queued job (at once) or the running one (it stops at the engine's next check and keeps
        the partial transcript). False when the job is unknown, not visible to ``owner``, or finished."""
        with self._cond:
            try:
                job = self._visible_locked(job_id, owner)
            except KeyError:
                return False
            if job.state is JobState.QUEUED:
                self._drop_queued_locked(job, None)
                log.info("Job %s cancelled while queued", job_id)
                return True
            if job.state is JobState.RUNNING:
                if not job.cancel.is_set():
                    job.cancel.set()
                    job.stage = "Cancelling…"
                    log.info("Job %s: cancel requested", job_id)
                return True
            return False

    def wait(self, job_id: str, timeout: float | None = None) -> JobSnapshot:
        """Block until the job is finished (or ``timeout``); return its snapshot. For the CLI and tests."""
        with self._cond:
            job = self._visible_locked(job_id, None)
            self._cond.wait_for(lambda: job.state in TERMINAL_JOB_STATES, timeout)
            return self._snapshot_locked(job)

    def shutdown(self, timeout: float | None = 10.0) -> bool:
        """Cancel the queued jobs and the running one, stop the worker; True when it stopped in time.

        The running job still writes what it finished (partial transcript included) before the worker
        ends, if that happens within ``timeout``; otherwise it shows as interrupted after a restart."""
        with self._cond:
            self._stopping = True
            for queue in list(self._queues.values()):
                for job in list(queue):
                    self._drop_queued_locked(job, "Chunky was shut down before this job started.")
            if self._running is not None:
                self._running.cancel.set()
                self._running.stage = "Cancelling…"
            self._cond.notify_all()
            thread = self._thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    # --- state helpers (call with the lock held) ----------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _new_id_locked(self) -> str:
        while True:
            job_id = secrets.token_hex(5)  # 10 lowercase hex digits: URL- and file-name safe
            if job_id not in self._jobs and not (self.outputs_dir / job_id).exists():
                return job_id

    def _visible_locked(self, job_id: str, owner: str | None) -> _Job:
        job = self._jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner and not job.earlier):
            raise KeyError(job_id)
        return job

    def _drop_queued_locked(self, job: _Job, error: str | None) -> None:
        queue = self._queues.get(job.owner)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._queues[job.owner]
                self._rotation.remove(job.owner)
        job.state = JobState.CANCELLED
        job.error = error
        job.finished = time.time()
        job.stage = _STAGE_OF_END[JobState.CANCELLED]
        job.cancel.set()
        job.files = [replace(f, state=FileState.CANCELLED) for f in job.files]
        self._positions = None
        self._cond.notify_all()

    def _pop_next_locked(self) -> _Job:
        owner = self._rotation.popleft()
        queue = self._queues[owner]
        job = queue.popleft()
        if queue:
            self._rotation.append(owner)
        else:
            del self._queues[owner]
        self._positions = None
        return job

    def _queue_positions_locked(self) -> dict[str, int]:
        """Predicted start order: owners take turns in rotation order, each taking its oldest job."""
        if self._positions is None:
            queues = [self._queues[o] for o in self._rotation]
            ahead = 1 if self._running is not None else 0
            positions: dict[str, int] = {}
            for k in range(max((len(q) for q in queues), default=0)):
                for queue in queues:
                    if k < len(queue):
                        positions[queue[k].id] = ahead
                        ahead += 1
            self._positions = positions
        return self._positions

    def _snapshot_locked(self, job: _Job) -> JobSnapshot:
        now = time.monotonic()
        position = None
        stage = job.stage
        if job.state is JobState.QUEUED:
            position = self._queue_positions_locked().get(job.id, 0)
            stage = "Queued: starts next" if position == 0 else f"Queued: {_plural(position, 'job')} ahead"
        elapsed = eta = None
        if job.state is JobState.RUNNING and job.t_start is not None:
            elapsed = now - job.t_start
            if job.rate_t0 is not None and job.rate_t is not None:
                dt, df = job.rate_t - job.rate_t0, job.rate_f - job.rate_f0
                if dt >= _ETA_MIN_WALL and df >= _ETA_MIN_FRACTION:
                    eta = max(0.0, (1.0 - job.rate_f) * dt / df - (now - job.rate_t))
        elif job.started is not None and job.finished is not None:
            elapsed = max(0.0, job.finished - job.started)
        return JobSnapshot(
            id=job.id,
            owner=job.owner,
            state=job.state,
            queue_position=position,
            model=job.model,
            file_names=tuple(f.name for f in job.files),
            current_file=job.current if job.state is JobState.RUNNING else None,
            stage=stage,
            fraction=job.fraction,
            elapsed=elapsed,
            eta=eta,
            partial_text=job.partial_text if job.state is JobState.RUNNING else "",
            files=tuple(job.files),
            zip_path=job.zip_path,
            output_dir=job.output_dir,
            created=job.created,
            started=job.started,
            finished=job.finished,
            error=job.error,
            cancel_requested=job.cancel.is_set(),
        )

    def _update_fraction_locked(self, job: _Job, transcribing: bool = False) -> None:
        known = [d for d in job.durations if d]
        guess = sum(known) / len(known) if known else 1.0  # unknown durations: the mean of the known ones
        weights = [d or guess for d in job.durations]
        done = 0.0
        for i, (w, f) in enumerate(zip(weights, job.files, strict=True)):
            if f.state is FileState.CANCELLED:  # only the part finished before the cancel
                done += w * job.cancelled_at.get(i, 0.0)
            elif f.state in _FINISHED_FILE_STATES:
                done += w
        if job.current is not None and job.files[job.current].state is FileState.RUNNING:
            done += weights[job.current] * job.file_fraction
        job.fraction = max(job.fraction, min(1.0, done / sum(weights)))
        now = time.monotonic()
        if job.rate_t0 is None:
            if transcribing:  # start the clock after the first model load + decode
                job.rate_t0, job.rate_f0 = now, job.fraction
        else:
            job.rate_t, job.rate_f = now, job.fraction

    # --- the worker ---------------------------------------------------------------------------------

    def _worker(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._stopping or bool(self._rotation))
                if self._stopping:
                    return
                job = self._pop_next_locked()
                job.state = JobState.RUNNING
                job.started = time.time()
                job.t_start = time.monotonic()
                job.stage = "Starting"
                self._running = job
            try:
                self._run_job(job)
            except Exception as exc:  # the job cannot go on (no output folder, a runner bug); the worker can
                if isinstance(exc, ChunkyError):
                    error = str(exc)
                    log.warning("Job %s failed: %s", job.id, error)
                else:
                    error = f"Internal error: {type(exc).__name__}: {exc}"
                    log.exception("Job %s failed in the runner", job.id)
                with self._cond:
                    job.files = [f if f.state in _FINISHED_FILE_STATES
                                 else replace(f, state=FileState.FAILED, error=error)
                                 for f in job.files]
                    job.error = error
                    job.current = None
                    job.finished = time.time()
                    state = _final_state(job.files)
                self._save_quietly(job, state)
                with self._cond:
                    job.state = state
                    job.stage = _STAGE_OF_END[state]
            finally:
                with self._cond:
                    self._running = None
                    self._positions = None
                    self._cond.notify_all()

    def _run_job(self, job: _Job) -> None:
        try:
            job.output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ChunkyError(f"Cannot create the output folder {job.output_dir}: {exc}") from exc
        if self._duration_of is not None:
            for i, f in enumerate(job.files):
                try:
                    seconds = self._duration_of(f.source)
                except Exception as exc:  # the transcription reports the real problem
                    log.debug("No duration for %s: %s", f.source, exc)
                    seconds = None
                with self._cond:
                    if seconds and seconds > 0 and not job.durations[i]:
                        job.durations[i] = float(seconds)
        self._save_quietly(job)
        for i in range(len(job.files)):
            with self._cond:
                if job.cancel.is_set():
                    job.files[i:] = [replace(f, state=FileState.CANCELLED) for f in job.files[i:]]
                    break
                job.current = i
                job.files[i] = replace(job.files[i], state=FileState.RUNNING)
                job.file_fraction = 0.0
                job.partial_text = ""
                job.stage = "Starting"
            result = self._run_file(job, i)
            with self._cond:
                if result.state is FileState.CANCELLED:
                    job.cancelled_at[i] = job.file_fraction
                job.files[i] = result
                if result.duration:
                    job.durations[i] = result.duration
                job.partial_text = ""
                self._update_fraction_locked(job)
            self._save_quietly(job)  # this file's results are safe before the next file starts
            if result.state is FileState.CANCELLED:
                with self._cond:
                    job.files[i + 1 :] = [replace(f, state=FileState.CANCELLED) for f in job.files[i + 1 :]]
                break
        with self._cond:
            files = list(job.files)
            state = _final_state(files)
            job.current = None
            job.stage = "Writing the zip file" if len(files) > 1 else job.stage
        zip_path = None
        if len(files) > 1 and any(f.state is FileState.DONE for f in files):
            zip_path = self._write_zip(job, files)
        with self._cond:
            job.zip_path = zip_path
            job.finished = time.time()
            if state is not JobState.CANCELLED:
                job.fraction = 1.0
        self._save_quietly(job, state)
        with self._cond:  # published after job.json: a finished state means everything is on disk
            job.state = state
            job.stage = _STAGE_OF_END[state]
            self._cond.notify_all()
        log.info("Job %s %s", job.id, state.value)

    def _run_file(self, job: _Job, i: int) -> FileResult:
        f = job.files[i]
        stem = job.stems[i]

        def progress(p: Progress) -> None:
            self._on_progress(job, i, p)

        try:
            transcript = self._transcribe(f.source, job.model, progress, job.cancel)
        except CancelledError as exc:  # engine.PartialTranscriptCancelled carries what was finished
            partial: Transcript | None = getattr(exc, "partial", None)
            message = str(exc) or "Cancelled."
            if partial is None:  # keep at least the words shown so far (not saved as outputs)
                with self._cond:
                    text = job.partial_text
                return replace(f, state=FileState.CANCELLED, error=message, text=text)
            outputs: tuple[Path, ...] = ()
            if partial.words or partial.text.strip():
                outputs, write_error = self._write(partial, job, stem + CANCELLED_MARK)
                if write_error:
                    message = f"{message} {write_error}"
            return replace(f, state=FileState.CANCELLED, error=message, outputs=outputs, text=partial.text,
                           duration=partial.duration or None)
        except ChunkyError as exc:
            log.info("Job %s: %s failed: %s", job.id, f.name, exc)
            return replace(f, state=FileState.FAILED, error=str(exc))
        except Exception as exc:
            log.exception("Job %s: %s failed", job.id, f.name)
            return replace(f, state=FileState.FAILED, error=f"Internal error: {type(exc).__name__}: {exc}")
        outputs, write_error = self._write(transcript, job, stem)
        state = FileState.FAILED if write_error else FileState.DONE
        return replace(f, state=state, error=write_error, outputs=outputs, text=transcript.text,
                       duration=transcript.duration or None)

    def _write(self, transcript: Transcript, job: _Job, stem: str) -> tuple[tuple[Path, ...], str | None]:
        """(paths written, None) or ((), user message)."""
        try:
            paths = writers.write_outputs(transcript, job.output_dir, stem, self.formats, self.limits)
            return tuple(Path(p) for p in paths), None
        except ChunkyError as exc:
            return (), str(exc)
        except OSError as exc:
            return (), f"The transcript could not be saved in {job.output_dir}: {exc}"
        except Exception as exc:
            log.exception("Job %s: writing %s failed", job.id, stem)
            return (), f"Internal error: {type(exc).__name__}: {exc}"

    def _on_progress(self, job: _Job, i: int, p: Progress) -> None:
        try:  # never let a display problem break a transcription
            text = " ".join(w.text for w in p.words) if p.words is not None else None
            stage = p.describe()
            with self._cond:
                if job.current != i or job.files[i].state is not FileState.RUNNING:
                    return
                if p.total_seconds > 0:
                    job.durations[i] = float(p.total_seconds)
                job.file_fraction = p.fraction
                if text is not None:
                    job.partial_text = text
                job.stage = "Cancelling…" if job.cancel.is_set() else stage
                self._update_fraction_locked(job, transcribing=p.stage == "transcribing")
        except Exception:
            log.exception("Progress update of job %s failed", job.id)

    def _write_zip(self, job: _Job, files: Sequence[FileResult]) -> Path | None:
        path = job.output_dir / f"chunky-{job.id}.zip"
        tmp = path.with_name(path.name + PARTIAL_SUFFIX)
        try:
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for f in files:
                    for out in f.outputs:
                        zf.write(out, arcname=out.name)
            retry_on_lock(lambda: os.replace(tmp, path), what=f"saving {path.name}")
            return path
        except (OSError, ChunkyError) as exc:
            log.warning("Job %s: could not write %s: %s", job.id, path, exc)
            try:
                tmp.unlink(missing_ok=True)
            except OSError:
                pass
            return None

    # --- job.json -----------------------------------------------------------------------------------

    def _save_quietly(self, job: _Job, state: JobState | None = None) -> None:
        """Write job.json; a failure is logged, never fatal (the outputs themselves are already written)."""
        with self._cond:
            data = self._to_json_locked(job, state)
        try:
            writers.write_atomic(job.output_dir / JOB_FILE,
                                 json.dumps(data, ensure_ascii=False, indent=1).encode("utf-8"))
        except (OSError, ChunkyError) as exc:
            log.warning("Job %s: could not write %s: %s", job.id, JOB_FILE, exc)

    @staticmethod
    def _to_json_locked(job: _Job, state: JobState | None) -> dict[str, Any]:
        return {
            "version": JSON_VERSION,
            "id": job.id,
            "owner": job.owner,
            "state": (state or job.state).value,
            "model": job.model,
            "created": job.created,
            "started": job.started,
            "finished": job.finished,
            "error": job.error,
            "zip": job.zip_path.name if job.zip_path else None,
            "files": [
                {
                    "name": f.name,
                    "source": str(f.source),
                    "stem": stem,
                    "state": f.state.value,
                    "error": f.error,
                    "outputs": [p.name for p in f.outputs],
                    "text": f.text,
                    "duration": f.duration,
                }
                for f, stem in zip(job.files, job.stems, strict=True)
            ],
        }

    def _load_history(self) -> None:
        try:
            folders = [p for p in self.outputs_dir.iterdir() if p.is_dir()]
        except OSError as exc:
            log.warning("Cannot list %s: %s", self.outputs_dir, exc)
            return
        loaded: list[_Job] = []
        for folder in folders:
            path = folder / JOB_FILE
            if not path.is_file():
                continue
            try:
                job = self._job_from_json(folder, json.loads(path.read_text(encoding="utf-8")))
            except Exception as exc:  # any shape of garbage: skip it, never fail the start
                log.warning("Skipping %s: %s: %s", path, type(exc).__name__, exc)
                continue
            loaded.append(job)
        for job in sorted(loaded, key=lambda j: j.created):
            job.seq = self._next_seq()
            self._jobs[job.id] = job
        if self._jobs:
            log.info("Loaded %s from %s", _plural(len(self._jobs), "earlier job"), self.outputs_dir)

    @staticmethod
    def _job_from_json(folder: Path, data: dict[str, Any]) -> _Job:
        if not _ID_RE.fullmatch(folder.name) or data.get("id") != folder.name:
            raise ValueError(f"the job id {data.get('id')!r} does not match its folder")

        def output_path(name: str) -> Path:
            if not isinstance(name, str) or name != Path(name).name or name.startswith("."):
                raise ValueError(f"bad output file name {name!r}")
            return folder / name

        def opt_float(value: Any) -> float | None:
            return None if value is None else float(value)

        files: list[FileResult] = []
        stems: list[str] = []
        for item in data["files"]:
            outputs = tuple(p for p in map(output_path, item.get("outputs") or []) if p.is_file())
            files.append(FileResult(
                name=str(item["name"]),
                source=Path(str(item.get("source") or item["name"])),
                state=FileState(item["state"]),
                error=None if item.get("error") is None else str(item["error"]),
                outputs=outputs,
                text=str(item.get("text") or ""),
                duration=opt_float(item.get("duration")),
            ))
            stems.append(str(item.get("stem") or ""))
        if not files:
            raise ValueError("a job without files")
        state = JobState(data["state"])
        error = None if data.get("error") is None else str(data["error"])
        finished = opt_float(data.get("finished"))
        if state not in TERMINAL_JOB_STATES:  # the process died while this job ran
            files = [f if f.state in _FINISHED_FILE_STATES else replace(
                f, state=FileState.FAILED, error="Interrupted: Chunky stopped before this file was finished.")
                for f in files]
            state = _final_state(files)
            error = ("Interrupted: Chunky stopped while this job was running. "
                     "Transcribe the missing files again.")
            finished = finished or (folder / JOB_FILE).stat().st_mtime
        zip_name = data.get("zip")
        zip_path = output_path(zip_name) if zip_name else None
        return _Job(
            id=folder.name,
            owner=str(data.get("owner") or ""),
            model=str(data.get("model") or ""),
            stems=stems,
            files=files,
            created=float(data["created"]),
            output_dir=folder,
            state=state,
            started=opt_float(data.get("started")),
            finished=finished,
            error=error,
            zip_path=zip_path if zip_path is not None and zip_path.is_file() else None,
            stage=_STAGE_OF_END[state],
            fraction=0.0 if state is JobState.CANCELLED else 1.0,
            durations=[f.duration for f in files],
            earlier=True,
        )
