"""What a job and its files are, and the frozen snapshot of a job that the page and the CLI read."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from chunky.export import DEFAULT_FORMATS, ExportOptions, parse_formats


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
FINISHED_FILE_STATES = frozenset({FileState.DONE, FileState.FAILED, FileState.CANCELLED})
STAGE_OF_END = {
    JobState.DONE: "Done",
    JobState.PARTIAL: "Done, with errors",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class OutputGroup:
    """Files of one transcript written together: ``<stem>.<ext>`` for each format, laid out by ``options``
    (the job's own outputs, or one "export again")."""

    stem: str
    formats: tuple[str, ...]
    options: ExportOptions

    def to_dict(self) -> dict[str, Any]:
        return {"stem": self.stem, "formats": list(self.formats), "options": self.options.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OutputGroup:
        stem = str(d["stem"])
        if not stem or stem != Path(stem).name or stem.startswith("."):
            raise ValueError(f"bad output stem {stem!r}")
        return cls(stem, parse_formats(list(d["formats"])), ExportOptions.from_dict(d.get("options") or {}))


@dataclass(frozen=True)
class FileResult:
    name: str  # the display name (the user's file name)
    source: Path  # the audio file that was transcribed
    state: FileState = FileState.PENDING
    error: str | None = None  # user-facing message for failed / cancelled files
    outputs: tuple[Path, ...] = ()  # absolute paths, in the order of the runner's formats
    text: str = ""  # the transcript (partial for a cancelled file)
    duration: float | None = None  # audio seconds, once known
    rule_breaks: tuple[str, ...] = ()  # e.g. "3 cues read faster than 20 characters per second"
    revision: int = 0  # saved corrections of the transcript (0: the model's; chunky.jobs.revisions)
    exports: tuple[OutputGroup, ...] = ()  # the files each "export again" wrote (rewritten by corrections)
    media: Path | None = None  # the recording kept in the job folder for the review (chunky.jobs.media)
    # Which audio streams were used and which not, and why (Transcript.audio["notes"]); the speakers found.
    audio_notes: tuple[str, ...] = ()
    speakers: tuple[str, ...] = ()

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
    stems: tuple[str, ...] = ()  # the output stems of the files (``<stem>.json`` is a file's transcript)

    @property
    def active(self) -> bool:
        return self.state in (JobState.QUEUED, JobState.RUNNING)

    @property
    def outputs(self) -> tuple[Path, ...]:
        """Every output file of the job (the zip last), for a download list."""
        paths = tuple(p for f in self.files for p in f.outputs)
        return paths + ((self.zip_path,) if self.zip_path else ())


@dataclass(eq=False)
class Job:
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
    # This job's EngineOptions (speakers, language, vocabulary); None: the engine's own.
    engine_options: Any = None
    cancel: threading.Event = field(default_factory=threading.Event)
    t_start: float | None = None  # time.monotonic() at start
    rate_t0: float | None = None  # (monotonic, fraction) at the first "transcribing" report ...
    rate_f0: float = 0.0
    rate_t: float | None = None  # ... and at the latest report
    rate_f: float = 0.0
    seq: int = 0  # order of creation (time.time() can tie on Windows)
    formats: tuple[str, ...] = DEFAULT_FORMATS  # what is written for each file (JSON always, too)
    export: ExportOptions = field(default_factory=ExportOptions)  # layout rules, timeline, format choices
    # Held while the job's files are written after the transcription (export again, a correction, the zip):
    # one writer at a time, so no output is laid out from a transcript being replaced.
    io_lock: threading.Lock = field(default_factory=threading.Lock)


def final_state(files: Sequence[FileResult]) -> JobState:
    if any(f.state is FileState.CANCELLED for f in files):
        return JobState.CANCELLED
    done = sum(f.state is FileState.DONE for f in files)
    if done == len(files):
        return JobState.DONE
    return JobState.FAILED if done == 0 else JobState.PARTIAL
