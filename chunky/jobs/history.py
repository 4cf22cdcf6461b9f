"""Job history on disk: ``outputs/<job-id>/job.json``, written atomically after every file, read back at
start so a restart loses no finished transcript."""

from __future__ import annotations

import json
import logging
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from chunky.base.errors import ChunkyError
from chunky.base.fs import atomic_write_json
from chunky.export import DEFAULT_FORMATS, ExportOptions
from chunky.jobs.media import MEDIA_DIR
from chunky.jobs.state import (
    FINISHED_FILE_STATES,
    STAGE_OF_END,
    TERMINAL_JOB_STATES,
    FileResult,
    FileState,
    Job,
    JobState,
    OutputGroup,
    final_state,
)

log = logging.getLogger(__name__)

JOB_FILE = "job.json"
JSON_VERSION = 1
ID_PATTERN = re.compile(r"[a-z0-9]{6,32}")


def job_to_json(job: Job, state: JobState | None = None) -> dict[str, Any]:
    """The job.json form of ``job`` (``state`` overrides its state); call with the runner's lock held."""
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
        "formats": list(job.formats),
        "export": job.export.to_dict(),
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
                "rule_breaks": list(f.rule_breaks),
                "revision": f.revision,
                "exports": [g.to_dict() for g in f.exports],
                "media": f.media.name if f.media is not None else None,
                "audio_notes": list(f.audio_notes),
                "speakers": list(f.speakers),
            }
            for f, stem in zip(job.files, job.stems, strict=True)
        ],
    }


def job_from_json(folder: Path, data: dict[str, Any]) -> Job:
    """The job of an earlier run saved in ``folder``; a job that was running when Chunky stopped comes back
    with its unfinished files failed as interrupted. ValueError/KeyError/TypeError for garbage."""
    if not ID_PATTERN.fullmatch(folder.name) or data.get("id") != folder.name:
        raise ValueError(f"the job id {data.get('id')!r} does not match its folder")

    def output_path(name: str) -> Path:
        if not isinstance(name, str) or name != Path(name).name or name.startswith("."):
            raise ValueError(f"bad output file name {name!r}")
        return folder / name

    def opt_float(value: Any) -> float | None:
        return None if value is None else float(value)

    def media_path(name: Any) -> Path | None:
        if not name:
            return None
        if not isinstance(name, str) or name != Path(name).name or name.startswith("."):
            raise ValueError(f"bad media file name {name!r}")
        path = folder / MEDIA_DIR / name
        return path if path.is_file() else None

    def groups(items: Any) -> tuple[OutputGroup, ...]:
        found = []
        for item in items or []:
            try:
                found.append(OutputGroup.from_dict(item))
            except (KeyError, TypeError, ValueError) as exc:  # a lost group is only not rewritten
                log.warning("%s: skipping an export of %s: %s", folder.name, item, exc)
        return tuple(found)

    def revision_of(value: Any) -> int:
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0

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
            rule_breaks=tuple(str(x) for x in item.get("rule_breaks") or ()),
            revision=revision_of(item.get("revision")),
            exports=groups(item.get("exports")),
            media=media_path(item.get("media")),
            audio_notes=tuple(str(x) for x in item.get("audio_notes") or ()),
            speakers=tuple(str(x) for x in item.get("speakers") or ()),
        ))
        stems.append(str(item.get("stem") or ""))
    if not files:
        raise ValueError("a job without files")
    state = JobState(data["state"])
    error = None if data.get("error") is None else str(data["error"])
    finished = opt_float(data.get("finished"))
    if state not in TERMINAL_JOB_STATES:  # the process died while this job ran
        files = [f if f.state in FINISHED_FILE_STATES else replace(
            f, state=FileState.FAILED, error="Interrupted: Chunky stopped before this file was finished.")
            for f in files]
        state = final_state(files)
        error = ("Interrupted: Chunky stopped while this job was running. "
                 "Transcribe the missing files again.")
        finished = finished or (folder / JOB_FILE).stat().st_mtime
    zip_name = data.get("zip")
    zip_path = output_path(zip_name) if zip_name else None
    return Job(
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
        stage=STAGE_OF_END[state],
        fraction=0.0 if state is JobState.CANCELLED else 1.0,
        durations=[f.duration for f in files],
        earlier=True,
        formats=tuple(str(f) for f in data.get("formats") or DEFAULT_FORMATS),
        export=_export_options(data.get("export")),
    )


def _export_options(data: Any) -> ExportOptions:
    try:
        return ExportOptions.from_dict(data) if isinstance(data, dict) else ExportOptions()
    except (TypeError, ValueError):
        return ExportOptions()


def load_jobs(outputs_dir: Path) -> list[Job]:
    """Every readable job.json under ``outputs_dir``, oldest first; unreadable ones are logged and skipped."""
    try:
        folders = [p for p in outputs_dir.iterdir() if p.is_dir()]
    except OSError as exc:
        log.warning("Cannot list %s: %s", outputs_dir, exc)
        return []
    loaded: list[Job] = []
    for folder in folders:
        path = folder / JOB_FILE
        if not path.is_file():
            continue
        try:
            job = job_from_json(folder, json.loads(path.read_text(encoding="utf-8")))
        except Exception as exc:  # any shape of garbage: skip it, never fail the start
            log.warning("Skipping %s: %s: %s", path, type(exc).__name__, exc)
            continue
        loaded.append(job)
    return sorted(loaded, key=lambda j: j.created)


def save_job(job: Job, data: dict[str, Any]) -> None:
    """Write ``data`` (from :func:`job_to_json`) as the job's job.json; a failure is logged, never fatal
    (the outputs themselves are already written)."""
    try:
        atomic_write_json(job.output_dir / JOB_FILE, data, indent=1)
    except (OSError, ChunkyError) as exc:
        log.warning("Job %s: could not write %s: %s", job.id, JOB_FILE, exc)
