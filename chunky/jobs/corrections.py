"""The job runner's part in corrections: the review page saves a finished file's corrections as a new
revision of all its outputs (:mod:`chunky.jobs.revisions`), one writer of the job's files at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from chunky.base.errors import ChunkyError
from chunky.export import ExportOptions
from chunky.jobs import revisions
from chunky.jobs.outputs import export_saved_transcripts, saved_json, write_zip
from chunky.jobs.state import TERMINAL_JOB_STATES, FileState, Job, OutputGroup

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger(__name__)

# A correction waits this long for the job's other writes (an export again) to finish before it gives up.
SAVE_WAIT_SECONDS = 60.0


class CorrectionsMixin:
    """Corrections of a :class:`~chunky.jobs.runner.JobRunner`'s finished files (uses its lock, its jobs'
    visibility rules and job.json)."""

    _cond: threading.Condition
    _visible_locked: Callable[[str, str | None], Job]
    _save_quietly: Callable[..., None]

    def _export_files(self, job: Job, options: ExportOptions,
                      names: Sequence[str]) -> tuple[list[Path], list[str]]:
        """Export again (:meth:`JobRunner.export_again`): new files of every finished file of ``job``, kept
        as an export group that later corrections rewrite; never beside a correction of the same files."""
        written: list[Path] = []
        with job.io_lock:
            with self._cond:
                items = [(i, f, job.stems[i]) for i, f in enumerate(job.files)]
            results, groups, problems = export_saved_transcripts([(f, stem) for _, f, stem in items],
                                                                 job.output_dir, options, names)
            for (i, _f, _stem), paths, group in zip(items, results, groups, strict=True):
                if paths and group is not None:
                    written += paths
                    with self._cond:
                        current = job.files[i]
                        job.files[i] = replace(current, outputs=current.outputs + tuple(paths),
                                               exports=current.exports + (group,))
            if written:
                self._save_quietly(job)
                log.info("Job %s exported again: %s", job.id, ", ".join(p.name for p in written))
        return written, list(problems)

    def transcript_path(self, job_id: str, owner: str | None, index: int) -> Path | None:
        """The saved transcript (JSON) of the job's file ``index``, None when it has none (yet); KeyError
        for an unknown job or file."""
        with self._cond:
            job = self._visible_locked(job_id, owner)
            if not 0 <= index < len(job.files):
                raise KeyError(index)
            return saved_json(job.files[index], job.stems[index])

    def save_correction(self, job_id: str, owner: str | None, index: int, base: int, ops: Sequence[object],
                        *, wait: float = SAVE_WAIT_SECONDS) -> revisions.Saved:
        """Apply the review page's corrections ``ops`` (made on revision ``base``; see
        :mod:`chunky.transcript.edits`) to file ``index`` of the job and save them as its next revision:
        every output of the file (its own formats and each export again's) is written anew, its
        ``.original.json`` keeps the model's transcript, the zip and job.json follow. Waits for an export
        again of the same job to finish (up to ``wait`` seconds). ChunkyError says why nothing was saved;
        KeyError for an unknown job or file."""
        with self._cond:
            job = self._visible_locked(job_id, owner)
            if not 0 <= index < len(job.files):
                raise KeyError(index)
        if not job.io_lock.acquire(timeout=wait):
            raise ChunkyError("This job's files are being written (exported again) right now; your "
                              "corrections are still in the page: save them again in a moment.")
        try:
            with self._cond:
                f = job.files[index]
                stem = job.stems[index]
                json_path = saved_json(f, stem)
                if f.state not in (FileState.DONE, FileState.CANCELLED) or json_path is None:
                    raise ChunkyError(f"{f.name} has no finished transcript to correct.")
                own = OutputGroup(revisions.base_of(json_path), job.formats, job.export)
                groups = (own, *f.exports)
            saved = revisions.save_revision(json_path, groups, base, ops)
            with self._cond:
                current = job.files[index]
                known = set(current.outputs)
                outputs = current.outputs + tuple(p for p in saved.paths if p not in known)
                job.files[index] = replace(current, revision=saved.revision, outputs=outputs,
                                           text=saved.transcript.text)
                files = list(job.files)
                rezip = job.zip_path is not None and job.state in TERMINAL_JOB_STATES
            if rezip:
                zip_path = write_zip(job.id, job.output_dir, files)
                with self._cond:
                    job.zip_path = zip_path or job.zip_path
            self._save_quietly(job)
            return saved
        finally:
            job.io_lock.release()
