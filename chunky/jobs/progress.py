"""A job's progress as the page and the CLI see it: the fraction done over its files (weighted by their
durations) and the frozen snapshot with the time elapsed and left."""

from __future__ import annotations

import time

from chunky.base.text import plural
from chunky.jobs.state import FINISHED_FILE_STATES, FileState, Job, JobSnapshot, JobState

# The time left is shown once the job has run this long and moved this far.
_ETA_MIN_WALL = 2.0
_ETA_MIN_FRACTION = 0.01


def snapshot_of(job: Job, position: int | None) -> JobSnapshot:
    """The frozen view of ``job`` the page and the CLI read; ``position``: jobs ahead of it in the queue
    (a queued job), else None. Called with the runner's lock held."""
    now = time.monotonic()
    stage = job.stage
    if job.state is JobState.QUEUED:
        position = position or 0
        stage = "Queued: starts next" if position == 0 else f"Queued: {plural(position, 'job')} ahead"
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
        stems=tuple(job.stems),
    )


def update_fraction(job: Job, transcribing: bool = False) -> None:
    """Move the job's fraction done (never back) from its files' states and durations; start or update
    the clock its time left is estimated from. Called with the runner's lock held."""
    known = [d for d in job.durations if d]
    guess = sum(known) / len(known) if known else 1.0  # unknown durations: the mean of the known ones
    weights = [d or guess for d in job.durations]
    done = 0.0
    for i, (w, f) in enumerate(zip(weights, job.files, strict=True)):
        if f.state is FileState.CANCELLED:  # only the part finished before the cancel
            done += w * job.cancelled_at.get(i, 0.0)
        elif f.state in FINISHED_FILE_STATES:
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
