"""The HTML and text the page shows: job progress, the job list, the status banner, the transcript.
Pure functions of job snapshots and the service's status (no Gradio)."""

from __future__ import annotations

import html
import json
import logging
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

from chunky.app.service import Phase, Service
from chunky.base.text import plural
from chunky.jobs.state import FileResult, FileState, JobSnapshot, JobState
from chunky.models.catalogue import DEFAULT_REPO_ID, IMPORT_COMMAND, SETUP_COMMAND
from chunky.transcript.model import Transcript

log = logging.getLogger(__name__)

_STATE_LABELS = {
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.DONE: "Done",
    JobState.PARTIAL: "Done, with errors",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}


def escape(text: Any) -> str:
    return html.escape(str(text), quote=True)


def clock(seconds: float | None) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above."""
    if seconds is None:
        return "–"
    s = max(0, int(round(seconds)))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def stamp(seconds: float) -> str:
    """``[hh:mm:ss]`` for a transcript line."""
    s = max(0, int(seconds))
    h, rest = divmod(s, 3600)
    m, sec = divmod(rest, 60)
    return f"[{h:02d}:{m:02d}:{sec:02d}]"


@lru_cache(maxsize=256)
def _read_transcript(path: str, mtime_ns: int) -> Transcript | None:
    try:
        return Transcript.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("Cannot read %s: %s", path, exc)
        return None


def _file_transcript(f: FileResult) -> Transcript | None:
    for out in f.outputs:
        if out.suffix.lower() == ".json":
            try:
                return _read_transcript(str(out), out.stat().st_mtime_ns)
            except OSError:
                return None
    return None


def timestamped_lines(transcript: Transcript) -> list[str]:
    """One ``[hh:mm:ss] text`` line per segment (the subtitle cues), ``[hh:mm:ss] Host: text`` where a
    speaker's turn begins."""
    lines = []
    previous = None
    for s in transcript.segments:
        if not s.text.strip():
            continue
        who = {w.speaker for w in s.words}
        speaker = who.pop() if len(who) == 1 else None
        name = f"{speaker}: " if speaker and speaker != previous else ""
        previous = speaker or previous
        lines.append(f"{stamp(s.start)} {name}{' '.join(s.text.split())}")
    if not lines and transcript.text.strip():
        lines = [f"{stamp(0)} {transcript.text.strip()}"]
    return lines


def transcript_text(snap: JobSnapshot) -> str:
    """The readable transcript of a job: finished files with timestamps, the running one as it grows."""
    multi = len(snap.files) > 1
    blocks: list[str] = []
    for i, f in enumerate(snap.files):
        lines: list[str] = []
        running = snap.state is JobState.RUNNING and snap.current_file == i
        if running:
            if snap.partial_text.strip():
                lines.append(snap.partial_text.strip() + " …")
        elif f.state in (FileState.DONE, FileState.CANCELLED):
            t = _file_transcript(f)
            if t is not None:
                lines += timestamped_lines(t)
            elif f.text.strip():
                lines.append(f.text.strip())
            if f.state is FileState.CANCELLED:
                lines.insert(0, "(Cancelled: the transcript up to the cancel)" if lines
                             else "(Cancelled before any text was transcribed)")
        elif f.state is FileState.FAILED:
            lines.append(f"(Failed: {f.error or 'unknown error'})")
        elif multi:
            lines.append("(waiting)")
        if multi:
            blocks.append("\n".join([f"=== {f.name} ==="] + lines))
        elif lines:
            blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def message_html(kind: str, text: str) -> str:
    return f'<div class="chunky-msg {kind}">{escape(text)}</div>'


def shown_fraction(snap: JobSnapshot) -> float:
    """The part of the job's audio that was transcribed. For a cancelled job the runner counts the cancelled
    file as finished; here it counts up to the end of its partial transcript."""
    if snap.state is not JobState.CANCELLED:
        return snap.fraction
    known = [f.duration for f in snap.files if f.duration]
    guess = sum(known) / len(known) if known else 1.0  # files never started: weigh as the mean
    total = done = 0.0
    for f in snap.files:
        weight = f.duration or guess
        total += weight
        if f.state is FileState.DONE:
            done += weight
        elif f.state is FileState.CANCELLED and f.outputs and f.duration:
            t = _file_transcript(f)
            if t is not None and t.segments:
                done += min(f.duration, max(s.end for s in t.segments))
    return min(done / total, 0.999) if total else 0.0


def progress_html(snap: JobSnapshot) -> str:
    state = snap.state
    fraction = shown_fraction(snap)
    pct = int(fraction * 100) if state is not JobState.DONE else 100
    n = len(snap.files)
    if state is JobState.RUNNING and snap.current_file is not None:
        what = snap.files[snap.current_file].name
        if n > 1:
            what = f"File {snap.current_file + 1} of {n}: {what}"
    else:
        what = snap.files[0].name if n == 1 else plural(n, "file")
    meta = [escape(what), f"model {escape(snap.model)}"]
    if snap.elapsed is not None:
        took = "under a second" if snap.elapsed < 1 and not snap.active else clock(snap.elapsed)
        meta.append(("took " if not snap.active else "elapsed ") + took)
    if state is JobState.RUNNING:
        meta.append(f"about {clock(snap.eta)} left" if snap.eta is not None else "estimating time left…")
    stage = snap.stage
    if state is JobState.RUNNING and snap.cancel_requested:
        stage = "Cancelling… (stops after the current chunk)"
    parts = [
        f'<div class="chunky-job {state.value}" data-state="{state.value}"'
        f' data-fraction="{fraction:.4f}" data-job="{escape(snap.id)}">',
        f'<div class="chunky-job-head"><span class="chunky-stage">{escape(stage)}</span>'
        f'<span class="chunky-pct">{pct}%</span></div>',
        f'<progress class="chunky-bar" max="100" value="{fraction * 100:.1f}"></progress>',
        f'<div class="chunky-meta">{" · ".join(meta)}</div>',
    ]
    failed = [f for f in snap.files if f.state is FileState.FAILED and f.error]
    if snap.error and (not failed or all(f.error != snap.error for f in failed)):
        parts.append(message_html("error", snap.error))
    for f in failed:
        text = f.error if f.name in f.error else f"{f.name}: {f.error}"
        parts.append(message_html("error" if state is JobState.FAILED else "warn", text))
    for f in snap.files:
        if f.state is FileState.DONE and (f.audio_notes or f.speakers):  # which streams, who spoke
            who = f"{f.name}: " if n > 1 else ""
            said = [*f.audio_notes, *([f"Speakers: {', '.join(f.speakers)}."] if f.speakers else [])]
            parts.append(f'<div class="chunky-msg info chunky-audio">{escape(who)}'
                         f'{escape(" ".join(said))}</div>')
        if f.rule_breaks and f.state in (FileState.DONE, FileState.CANCELLED):
            who = f"{f.name}: " if n > 1 else ""
            parts.append(f'<div class="chunky-msg info chunky-rules">{escape(who)}Subtitles: '
                         f'{escape("; ".join(f.rule_breaks))} (the speech leaves no better layout).</div>')
    if state is JobState.CANCELLED:
        kept = [f for f in snap.files if f.partial or f.state is FileState.DONE]
        if kept:
            parts.append(message_html("info", "Cancelled. What was finished is kept: see the transcript and "
                                              "the downloads (a cancelled file's outputs are named "
                                              "*.partial.*)."))
        else:
            parts.append(message_html("info", "Cancelled before any text was transcribed."))
    if not snap.active and snap.outputs:
        parts.append(f'<div class="chunky-where">Saved in {escape(snap.output_dir)}</div>')
    parts.append("</div>")
    return "".join(parts)


def job_label(snap: JobSnapshot, earlier: bool = False) -> str:
    names = snap.file_names[0] + (f" (+{len(snap.file_names) - 1})" if len(snap.file_names) > 1 else "")
    when = time.strftime("%Y-%m-%d %H:%M" if earlier else "%H:%M:%S", time.localtime(snap.created))
    return f"{'Earlier · ' if earlier else ''}{when} · {names} · {_state_text(snap)}"


def _state_text(snap: JobSnapshot) -> str:
    if snap.state is JobState.RUNNING:
        return f"Running {int(snap.fraction * 100)}%"
    if snap.state is JobState.QUEUED:
        return "Queued" if not snap.queue_position else f"Queued ({snap.queue_position} ahead)"
    return _STATE_LABELS[snap.state]


def jobs_html(jobs: list[JobSnapshot], selected: str | None, outputs: Path) -> str:
    if not jobs:
        return (f'<div class="chunky-empty">No jobs in this tab yet. Every result is also saved on disk in '
                f'{escape(outputs)}.</div>')
    rows = []
    for s in jobs:
        names = ", ".join(s.file_names)
        cls = ' class="selected"' if s.id == selected else ""
        rows.append(
            f'<tr data-job="{escape(s.id)}" data-state="{s.state.value}"{cls}>'
            f"<td>{time.strftime('%H:%M:%S', time.localtime(s.created))}</td>"
            f"<td>{escape(names)}</td><td>{escape(s.model)}</td>"
            f'<td><span class="chunky-badge {s.state.value}">{escape(_state_text(s))}</span></td></tr>'
        )
    return ('<table class="chunky-jobs"><thead><tr><th>Started</th><th>Recordings</th><th>Model</th>'
            f'<th>State</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<div class="chunky-where">Results are saved in {escape(outputs)}</div>')


def setup_html() -> str:
    """The notice shown while no model is installed: one button downloads the default model (through the
    Models panel, which shows its progress); the terminal commands are the other way."""
    return f"""
<div class="chunky-setup" id="chunky-setup-box">
  <h3>No speech model is installed yet</h3>
  Chunky needs one NeMo speech model on this computer.
  <button type="button" class="chunky-mbtn primary" data-action="download"
    data-repo="{escape(DEFAULT_REPO_ID)}">Download {escape(DEFAULT_REPO_ID)}</button>
  (about 2.5 GB, English, with punctuation). The download runs in the background and its progress shows
  under <b>Models</b> at the bottom of this page, where you can also choose another model or import a
  <code>.nemo</code> file you already have. The model is in the Model list as soon as it is in.
  <details><summary>From a terminal instead</summary>
  In the Chunky folder, run
  <pre>{escape(SETUP_COMMAND)}</pre>
  to download the default model, or
  <pre>{escape(IMPORT_COMMAND)}</pre>
  to import a <code>.nemo</code> file. Use Chunky's own Python
  (<code>.venv\\Scripts\\python</code> on Windows, <code>.venv/bin/python</code> elsewhere) if
  <code>python</code> is another installation. Then press <b>↻ Look for new models</b>.</details>
</div>
"""


def status_html(service: Service) -> str:
    st = service.status()
    kind = {Phase.READY: "ready", Phase.STARTING: "busy", Phase.LOADING: "busy",
            Phase.NO_MODEL: "warn", Phase.FAILED: "error"}[st.phase]
    note = ""
    if st.phase is Phase.NO_MODEL:
        note = "Download or import one under Models (below); the page keeps working meanwhile."
    elif st.notice:
        note = st.notice
    if st.phase is Phase.STARTING:
        note = "You can add files and press Transcribe already: the job starts when the engine is ready."
    body = f"<b>{escape(st.message)}</b>" + (f'<div class="note">{escape(note)}</div>' if note else "")
    return (f'<div class="chunky-banner {kind}" id="chunky-status-box" data-phase="{st.phase.value}">'
            f'<span class="dot"></span><div>{body}</div></div>')


def system_check_text(service: Service) -> str:
    try:
        from chunky import doctor
    except ModuleNotFoundError as exc:
        if exc.name in ("chunky.doctor", "chunky"):
            return ("The system check is not available in this version of Chunky "
                    "(chunky/doctor is missing).")
        return f"The system check could not start: {exc}"
    try:
        return str(doctor.format_report(doctor.collect(service.paths, service.environ)))
    except Exception as exc:
        log.exception("System check failed")
        return f"The system check failed: {type(exc).__name__}: {exc}"


def streams_html(files: list[tuple[str, list[str]]]) -> str:
    """The audio streams and channels of the uploaded files: ``[(name, [line per stream])]``."""
    if not files:
        return ""
    items = "".join(f"<li><b>{escape(name)}</b>: {escape('; '.join(lines))}</li>" for name, lines in files)
    return f'<div class="chunky-streams">Audio in the files:<ul>{items}</ul></div>'
