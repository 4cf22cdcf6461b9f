"""The job runner: a fair queue of transcription jobs and one worker thread (one GPU). No Gradio here.

The UI calls ``submit`` (returns at once), polls ``snapshot`` every second per tab and calls ``cancel``.
Everything the UI reads is a frozen copy made under one lock; the lock is never held while transcribing
or writing files, so a poll answers at once even while the worker is busy.

On disk, every job has a folder ``outputs_dir/<job-id>/`` holding the outputs of each file as soon as
that file is finished, a ``job.json`` (written atomically after every file) and, for a job of several
files, ``chunky-<job-id>.zip``. A new runner reads the ``job.json`` files back, so a restart loses no
finished transcript. Every file's transcript is also kept as ``<stem>.json`` (whatever formats were asked
for): :meth:`JobRunner.export_again` lays it out again with other rules or formats into new files, without
transcribing again and without touching what is there; corrections (:mod:`chunky.jobs.corrections`) write
new revisions of all of them.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chunky import export
from chunky.base.errors import CancelledError, ChunkyError
from chunky.base.names import PARTIAL_MARK, unique_stems
from chunky.base.text import plural
from chunky.export import ExportOptions
from chunky.jobs.corrections import CorrectionsMixin
from chunky.jobs.history import job_to_json, load_jobs, save_job
from chunky.jobs.media import keep_media
from chunky.jobs.outputs import write_file_outputs, write_zip
from chunky.jobs.progress import snapshot_of, update_fraction
from chunky.jobs.state import (
    FINISHED_FILE_STATES,
    STAGE_OF_END,
    TERMINAL_JOB_STATES,
    FileResult,
    FileState,
    Job,
    JobSnapshot,
    JobState,
    final_state,
)
from chunky.transcript.model import Transcript

if TYPE_CHECKING:
    from chunky.asr.options import Progress

log = logging.getLogger(__name__)

ProgressFn = Callable[["Progress"], None]
# (audio_path, model_name, progress, cancel) -> Transcript. May raise
# chunky.asr.engine.PartialTranscriptCancelled (a CancelledError with ``.partial``), any ChunkyError, or
# a bug.
TranscribeFn = Callable[[Path, str, ProgressFn, threading.Event], Transcript]
DurationFn = Callable[[Path], "float | None"]
# path -> the recording's own video timing ({"fps": ..., "start_timecode": ...}) or None.
MediaTimingFn = Callable[[Path], "dict[str, str] | None"]

RESERVED_STEMS = ("job",)  # job.json is the runner's own
# The estimate of the time left needs this much transcribing behind it (wall seconds, job fraction).


# --- the runner --------------------------------------------------------------------------------------


class JobRunner(CorrectionsMixin):
    """A queue of transcription jobs, fair across owners (browser sessions), run by one worker thread.

    Jobs of one owner run in the order submitted; owners with waiting jobs take turns (round-robin).
    ``snapshot``/``cancel`` with an ``owner`` treat another owner's job as unknown (``KeyError`` /
    ``False``), so a tab cannot tell whether someone else's job id exists.
    """

    def __init__(self, transcribe: TranscribeFn, outputs_dir: Path,
                 formats: Sequence[str] = export.DEFAULT_FORMATS, *, duration_of: DurationFn | None = None,
                 export_options: ExportOptions | None = None, media_timing: MediaTimingFn | None = None):
        """``duration_of(path)`` (optional, e.g. a header probe) gives a file's audio seconds before it
        starts, so the progress of a job weighs its files by duration from the beginning. ``formats`` and
        ``export_options`` are those of a job submitted without its own. ``media_timing(path)`` (optional)
        reads a video's frame rate and start timecode for the timed formats."""
        self._transcribe = transcribe
        self.outputs_dir = Path(outputs_dir).resolve()
        self.formats = tuple(formats)
        self.export_options = export_options or ExportOptions()
        self._media_timing = media_timing
        self._duration_of = duration_of
        self._cond = threading.Condition(threading.Lock())
        self._jobs: dict[str, Job] = {}
        self._queues: dict[str, deque[Job]] = {}  # owner -> waiting jobs, FIFO
        self._rotation: deque[str] = deque()  # owners with waiting jobs, next turn first
        self._positions: dict[str, int] | None = None  # cache of queue positions, None when stale
        self._running: Job | None = None
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
               display_names: Sequence[str | None] | None = None, *, formats: Sequence[str] | None = None,
               export_options: ExportOptions | None = None, engine_options: Any = None) -> str:
        """Queue a job and return its id at once (the work happens on the worker thread). ``formats`` and
        ``export_options``: this job's (default: the runner's); ``engine_options``: its EngineOptions
        (speakers, language, vocabulary), handed to the transcribe function as ``options=`` (None: not
        handed)."""
        if not files:
            raise ChunkyError("No recording was given: choose at least one audio or video file.")
        sources = [Path(f) for f in files]
        if display_names is not None and len(display_names) != len(sources):
            raise ValueError(f"{len(display_names)} display names for {len(sources)} files")
        names = [(display_names[i] if display_names else None) or p.name for i, p in enumerate(sources)]
        stems = unique_stems(names, RESERVED_STEMS)
        with self._cond:
            if self._stopping:
                raise ChunkyError("Chunky is shutting down; start it again to transcribe.")
            job_id = self._new_id_locked()
            job = Job(
                id=job_id,
                owner=owner,
                model=model,
                stems=stems,
                files=[FileResult(name=n, source=p) for n, p in zip(names, sources, strict=True)],
                created=time.time(),
                output_dir=self.outputs_dir / job_id,
                durations=[None] * len(sources),
                seq=self._next_seq(),
                formats=export.parse_formats(formats) if formats else self.formats,
                export=export_options or self.export_options,
                engine_options=engine_options,
            )
            self._jobs[job_id] = job
            queue = self._queues.setdefault(owner, deque())
            if not queue:
                self._rotation.append(owner)
            queue.append(job)
            self._positions = None
            self._cond.notify_all()
        self.start()
        log.info("Job %s queued: %s, %s", job_id, plural(len(sources), "file"), model)
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

    def models_in_use(self, default_diarization: str | None = None) -> set[str]:
        """The models queued and running jobs use (the speech model; the diarization model of a job that
        finds speakers: its own, else ``default_diarization``): none may be removed meanwhile."""
        with self._cond:
            jobs = [j for j in self._jobs.values() if j.state in (JobState.QUEUED, JobState.RUNNING)]
        names = {j.model for j in jobs}
        for j in jobs:
            speakers = getattr(j.engine_options, "speakers", None)
            if getattr(speakers, "mode", None) == "diarize":
                names.add(speakers.diarization_model or default_diarization or "")
        return names - {""}

    def earlier(self, limit: int | None = None) -> list[JobSnapshot]:
        """Jobs of earlier runs (read back from disk at start), newest first: every owner may see them, since
        the browser tab that made them is gone."""
        with self._cond:
            found = [j for j in self._jobs.values() if j.earlier]
            found.sort(key=lambda j: (j.created, j.seq), reverse=True)
            return [self._snapshot_locked(j) for j in found[:limit]]

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

    def export_again(self, job_id: str, owner: str | None, options: ExportOptions,
                     formats: Sequence[str] | None = None) -> list[Path]:
        """Lay the finished files of a job out again with ``options`` and write ``formats`` (default: the
        job's) from each file's saved JSON, into new files of the job folder named after the preset
        (``talk-social.srt``, then ``talk-social-2.srt``, ...): nothing is transcribed again and no file
        is replaced. The new files join the job's downloads (corrections rewrite them too). ChunkyError
        when the job is not finished or has no transcript to export; KeyError for an unknown job."""
        with self._cond:
            job = self._visible_locked(job_id, owner)
            if job.state not in TERMINAL_JOB_STATES:
                raise ChunkyError("This job is not finished yet: export it again once it is done.")
            names = export.parse_formats(formats) if formats else job.formats
        written, problems = self._export_files(job, options, names)
        if problems and not written:
            raise ChunkyError(" ".join(problems))
        if not written:
            raise ChunkyError("This job has no finished transcript to export again.")
        return written

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

    def _visible_locked(self, job_id: str, owner: str | None) -> Job:
        job = self._jobs.get(job_id)
        if job is None or (owner is not None and job.owner != owner and not job.earlier):
            raise KeyError(job_id)
        return job

    def _drop_queued_locked(self, job: Job, error: str | None) -> None:
        queue = self._queues.get(job.owner)
        if queue is not None and job in queue:
            queue.remove(job)
            if not queue:
                del self._queues[job.owner]
                self._rotation.remove(job.owner)
        job.state = JobState.CANCELLED
        job.error = error
        job.finished = time.time()
        job.stage = STAGE_OF_END[JobState.CANCELLED]
        job.cancel.set()
        job.files = [replace(f, state=FileState.CANCELLED) for f in job.files]
        self._positions = None
        self._cond.notify_all()

    def _pop_next_locked(self) -> Job:
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

    def _snapshot_locked(self, job: Job) -> JobSnapshot:
        position = self._queue_positions_locked().get(job.id, 0) if job.state is JobState.QUEUED else None
        return snapshot_of(job, position)

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
                    job.files = [f if f.state in FINISHED_FILE_STATES
                                 else replace(f, state=FileState.FAILED, error=error)
                                 for f in job.files]
                    job.error = error
                    job.current = None
                    job.finished = time.time()
                    state = final_state(job.files)
                self._save_quietly(job, state)
                with self._cond:
                    job.state = state
                    job.stage = STAGE_OF_END[state]
            finally:
                with self._cond:
                    self._running = None
                    self._positions = None
                    self._cond.notify_all()

    def _run_job(self, job: Job) -> None:
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
                update_fraction(job)
            self._save_quietly(job)  # this file's results are safe before the next file starts
            if result.state is FileState.CANCELLED:
                with self._cond:
                    job.files[i + 1 :] = [replace(f, state=FileState.CANCELLED) for f in job.files[i + 1 :]]
                break
        with self._cond:
            files = list(job.files)
            state = final_state(files)
            job.current = None
            job.stage = "Writing the zip file" if len(files) > 1 else job.stage
        zip_path = None
        if len(files) > 1 and any(f.state is FileState.DONE for f in files):
            with job.io_lock:  # a correction of a finished file may be saving
                zip_path = write_zip(job.id, job.output_dir, self.snapshot(job.id).files)
        with self._cond:
            job.zip_path = zip_path
            job.finished = time.time()
            if state is not JobState.CANCELLED:
                job.fraction = 1.0
        self._save_quietly(job, state)
        with self._cond:  # published after job.json: a finished state means everything is on disk
            job.state = state
            job.stage = STAGE_OF_END[state]
            self._cond.notify_all()
        log.info("Job %s %s", job.id, state.value)

    def _run_file(self, job: Job, i: int) -> FileResult:
        f = job.files[i]
        stem = job.stems[i]

        def progress(p: Progress) -> None:
            self._on_progress(job, i, p)

        try:
            if job.engine_options is not None:
                transcript = self._transcribe(f.source, job.model, progress, job.cancel,
                                              options=job.engine_options)
            else:
                transcript = self._transcribe(f.source, job.model, progress, job.cancel)
        except CancelledError as exc:  # engine.PartialTranscriptCancelled carries what was finished
            partial: Transcript | None = getattr(exc, "partial", None)
            message = str(exc) or "Cancelled."
            if partial is None:  # keep at least the words shown so far (not saved as outputs)
                with self._cond:
                    text = job.partial_text
                return replace(f, state=FileState.CANCELLED, error=message, text=text)
            outputs: tuple[Path, ...] = ()
            breaks: tuple[str, ...] = ()
            media = None
            if partial.words or partial.text.strip():
                outputs, write_error, breaks = self._write(partial, job, stem + PARTIAL_MARK, source=f.source)
                if write_error:
                    message = f"{message} {write_error}"
                elif outputs:
                    media = keep_media(f.source, job.output_dir, stem)
            return replace(f, state=FileState.CANCELLED, error=message, outputs=outputs, text=partial.text,
                           duration=partial.duration or None, rule_breaks=breaks, media=media)
        except ChunkyError as exc:
            log.info("Job %s: %s failed: %s", job.id, f.name, exc)
            return replace(f, state=FileState.FAILED, error=str(exc))
        except Exception as exc:
            log.exception("Job %s: %s failed", job.id, f.name)
            return replace(f, state=FileState.FAILED, error=f"Internal error: {type(exc).__name__}: {exc}")
        outputs, write_error, breaks = self._write(transcript, job, stem, source=f.source)
        state = FileState.FAILED if write_error else FileState.DONE
        media = keep_media(f.source, job.output_dir, stem) if not write_error else None
        return replace(f, state=state, error=write_error, outputs=outputs, text=transcript.text,
                       duration=transcript.duration or None, rule_breaks=breaks, media=media,
                       audio_notes=tuple((transcript.audio or {}).get("notes") or ()),
                       speakers=tuple(s["name"] for s in transcript.speakers))

    def _write(self, transcript: Transcript, job: Job, stem: str, *, source: Path | None = None,
               ) -> tuple[tuple[Path, ...], str | None, tuple[str, ...]]:
        """(paths written, None, the layout's broken rules) or ((), user message, ())."""
        return write_file_outputs(transcript, job.output_dir, stem, job.formats, job.export, source=source,
                                  media_timing=self._media_timing, job_id=job.id)

    def _on_progress(self, job: Job, i: int, p: Progress) -> None:
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
                update_fraction(job, transcribing=p.stage == "transcribing")
        except Exception:
            log.exception("Progress update of job %s failed", job.id)

    # --- job.json -----------------------------------------------------------------------------------

    def _save_quietly(self, job: Job, state: JobState | None = None) -> None:
        with self._cond:
            data = job_to_json(job, state)
        save_job(job, data)

    def _load_history(self) -> None:
        for job in load_jobs(self.outputs_dir):
            job.seq = self._next_seq()
            self._jobs[job.id] = job
        if self._jobs:
            log.info("Loaded %s from %s", plural(len(self._jobs), "earlier job"), self.outputs_dir)
