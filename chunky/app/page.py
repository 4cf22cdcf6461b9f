"""The Gradio page. Every event runs with queue=False (Gradio's queue hangs on some Windows setups).

The click handlers only submit to / cancel in the service's job runner and return at once; a ``gr.Timer``
polls the job state. Each browser tab is one owner (its Gradio session hash) and sees only its own jobs.
What a tab was last sent is remembered per tab, so a poll sends only what changed (a transcript being read
is not re-rendered every second, download files are not copied again).

The page logic (:class:`PageLogic`) knows no Gradio; :func:`build_page` wires it to components. Importing
this module imports neither gradio, torch nor nemo.

This module deliberately has no ``from __future__ import annotations``: Gradio finds the ``gr.Request``
parameter of a handler from its evaluated annotation.
"""

import hashlib
import html
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from chunky.app.service import DEFAULT_REPO_ID, IMPORT_COMMAND, SETUP_COMMAND, Phase, Service
from chunky.base.errors import ChunkyError
from chunky.jobs.runner import FileResult, FileState, JobSnapshot, JobState
from chunky.transcript.model import Transcript

log = logging.getLogger("chunky.app.page")

POLL_SECONDS = 0.5
MAX_VIEWS = 1000  # tabs remembered (one small entry each; the oldest is forgotten first)
DEFAULT_MAX_UPLOAD = "4gb"
EARLIER_JOBS_SHOWN = 30  # jobs of earlier runs offered in the picker

_STATE_LABELS = {
    JobState.QUEUED: "Queued",
    JobState.RUNNING: "Running",
    JobState.DONE: "Done",
    JobState.PARTIAL: "Done, with errors",
    JobState.FAILED: "Failed",
    JobState.CANCELLED: "Cancelled",
}

INTRO = """
<div class="chunky-hero">
  <div class="chunky-title">Chunky <span>local transcription</span></div>
  <div class="chunky-sub">Drop in interviews, voice-overs or whole video files and get a timestamped
  transcript plus subtitle files (SRT, VTT) for your editor. Everything runs on this computer: nothing is
  uploaded anywhere. Long recordings are cut at pauses and transcribed piece by piece.</div>
</div>
"""

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
.chunky-hero { padding: 6px 2px 2px 2px; }
.chunky-title { font-size: 1.9rem; font-weight: 700; letter-spacing: -0.01em; }
.chunky-title span { font-size: 1.05rem; font-weight: 500; opacity: 0.6; margin-left: 6px; }
.chunky-sub { margin-top: 4px; opacity: 0.8; max-width: 64em; line-height: 1.45; }
.chunky-step { font-weight: 650; font-size: 1.05rem; margin: 2px 0 -4px 0; }
.chunky-banner { display: flex; gap: 10px; align-items: flex-start; padding: 9px 14px; border-radius: 10px;
  border: 1px solid; line-height: 1.4; }
.chunky-banner .dot { width: 10px; height: 10px; border-radius: 50%; margin-top: 5px; flex: none; }
.chunky-banner .note { opacity: 0.85; font-size: 0.92em; }
.chunky-banner.ready { background: #ecfdf5; border-color: #a7f3d0; color: #065f46; }
.chunky-banner.ready .dot { background: #10b981; }
.chunky-banner.busy { background: #eff6ff; border-color: #bfdbfe; color: #1e3a8a; }
.chunky-banner.busy .dot { background: #3b82f6; animation: chunky-pulse 1.2s ease-in-out infinite; }
.chunky-banner.warn { background: #fffbeb; border-color: #fde68a; color: #78350f; }
.chunky-banner.warn .dot { background: #f59e0b; }
.chunky-banner.error { background: #fef2f2; border-color: #fecaca; color: #7f1d1d; }
.chunky-banner.error .dot { background: #ef4444; }
@keyframes chunky-pulse { 50% { opacity: 0.3; } }
.chunky-setup { padding: 14px 16px; border-radius: 10px; background: #fffbeb; border: 1px solid #fde68a;
  color: #78350f; line-height: 1.5; }
.chunky-setup h3 { margin: 0 0 6px 0; font-size: 1.1rem; color: #78350f; }
.chunky-setup code, .chunky-msg code { background: rgba(0,0,0,0.07); padding: 1px 5px; border-radius: 4px; }
.chunky-setup pre { background: #1f2937; color: #f9fafb; padding: 8px 12px; border-radius: 6px;
  margin: 6px 0; white-space: pre-wrap; }
.chunky-job { padding: 14px 16px; border-radius: 10px; border: 1px solid var(--border-color-primary);
  background: var(--block-background-fill); }
.chunky-job-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.chunky-stage { font-weight: 650; font-size: 1.05rem; }
.chunky-pct { font-variant-numeric: tabular-nums; font-weight: 650; font-size: 1.05rem; }
progress.chunky-bar { -webkit-appearance: none; appearance: none; display: block; width: 100%; height: 14px;
  margin: 8px 0 6px 0; border: none; border-radius: 7px; overflow: hidden; background: #e5e7eb;
  --bar: #4f46e5; }
progress.chunky-bar::-webkit-progress-bar { background: #e5e7eb; border-radius: 7px; }
progress.chunky-bar::-webkit-progress-value { background: var(--bar); border-radius: 7px;
  transition: width 0.4s ease; }
progress.chunky-bar::-moz-progress-bar { background: var(--bar); border-radius: 7px; }
.chunky-job.done progress.chunky-bar { --bar: #10b981; }
.chunky-job.partial progress.chunky-bar { --bar: #f59e0b; }
.chunky-job.failed progress.chunky-bar { --bar: #ef4444; }
.chunky-job.cancelled progress.chunky-bar, .chunky-job.queued progress.chunky-bar { --bar: #9ca3af; }
.chunky-meta { opacity: 0.8; font-size: 0.92em; font-variant-numeric: tabular-nums; }
.chunky-msg { margin-top: 10px; padding: 9px 12px; border-radius: 8px; white-space: pre-wrap;
  line-height: 1.45; }
.chunky-msg.error { background: #fef2f2; border: 1px solid #fecaca; color: #7f1d1d; }
.chunky-msg.warn { background: #fffbeb; border: 1px solid #fde68a; color: #78350f; }
.chunky-msg.info { background: #eff6ff; border: 1px solid #bfdbfe; color: #1e3a8a; }
.chunky-empty { opacity: 0.65; padding: 14px 4px; }
.chunky-where { margin-top: 8px; font-size: 0.88em; opacity: 0.75; word-break: break-all; }
table.chunky-jobs { width: 100%; border-collapse: collapse; font-size: 0.92em; border: none !important; }
table.chunky-jobs th, table.chunky-jobs td { border: none !important; text-align: left;
  padding: 5px 8px !important; vertical-align: top;
  border-bottom: 1px solid var(--border-color-primary) !important; }
table.chunky-jobs tr, table.chunky-jobs thead, table.chunky-jobs tbody { border: none !important; }
table.chunky-jobs th { font-weight: 600; opacity: 0.7; }
table.chunky-jobs tr.selected td { background: var(--color-accent-soft); }
.chunky-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.85em;
  font-weight: 600; white-space: nowrap; }
.chunky-badge.queued { background: #e5e7eb; color: #374151; }
.chunky-badge.running { background: #dbeafe; color: #1e40af; }
.chunky-badge.done { background: #d1fae5; color: #065f46; }
.chunky-badge.partial { background: #fef3c7; color: #92400e; }
.chunky-badge.failed { background: #fee2e2; color: #991b1b; }
.chunky-badge.cancelled { background: #f3f4f6; color: #4b5563; }
#chunky-transcript textarea { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace;
  font-size: 0.95rem; line-height: 1.55; }
#chunky-check textarea { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace;
  font-size: 0.85rem; }
#chunky-downloads .label-clear-button { display: none; }
#chunky-refresh { align-self: flex-start; }
"""


# --- small formatting helpers -----------------------------------------------------------------------


def _e(text: Any) -> str:
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


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


@lru_cache(maxsize=256)
def _read_transcript(path: str, mtime_ns: int) -> Transcript | None:
    import json

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
    """One ``[hh:mm:ss] text`` line per segment (the subtitle cues)."""
    lines = [f"{stamp(s.start)} {' '.join(s.text.split())}" for s in transcript.segments if s.text.strip()]
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


def _message(kind: str, text: str) -> str:
    return f'<div class="chunky-msg {kind}">{_e(text)}</div>'


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
        what = snap.files[0].name if n == 1 else _plural(n, "file")
    meta = [_e(what), f"model {_e(snap.model)}"]
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
        f' data-fraction="{fraction:.4f}" data-job="{_e(snap.id)}">',
        f'<div class="chunky-job-head"><span class="chunky-stage">{_e(stage)}</span>'
        f'<span class="chunky-pct">{pct}%</span></div>',
        f'<progress class="chunky-bar" max="100" value="{fraction * 100:.1f}"></progress>',
        f'<div class="chunky-meta">{" · ".join(meta)}</div>',
    ]
    failed = [f for f in snap.files if f.state is FileState.FAILED and f.error]
    if snap.error and (not failed or all(f.error != snap.error for f in failed)):
        parts.append(_message("error", snap.error))
    for f in failed:
        text = f.error if f.name in f.error else f"{f.name}: {f.error}"
        parts.append(_message("error" if state is JobState.FAILED else "warn", text))
    if state is JobState.CANCELLED:
        kept = [f for f in snap.files if f.partial or f.state is FileState.DONE]
        if kept:
            parts.append(_message("info", "Cancelled. What was finished is kept: see the transcript and the "
                                          "downloads (a cancelled file's outputs are named *.partial.*)."))
        else:
            parts.append(_message("info", "Cancelled before any text was transcribed."))
    if not snap.active and snap.outputs:
        parts.append(f'<div class="chunky-where">Saved in {_e(snap.output_dir)}</div>')
    parts.append("</div>")
    return "".join(parts)


def _job_label(snap: JobSnapshot, earlier: bool = False) -> str:
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
                f'{_e(outputs)}.</div>')
    rows = []
    for s in jobs:
        names = ", ".join(s.file_names)
        cls = ' class="selected"' if s.id == selected else ""
        rows.append(
            f'<tr data-job="{_e(s.id)}" data-state="{s.state.value}"{cls}>'
            f"<td>{time.strftime('%H:%M:%S', time.localtime(s.created))}</td>"
            f"<td>{_e(names)}</td><td>{_e(s.model)}</td>"
            f'<td><span class="chunky-badge {s.state.value}">{_e(_state_text(s))}</span></td></tr>'
        )
    return ('<table class="chunky-jobs"><thead><tr><th>Started</th><th>Recordings</th><th>Model</th>'
            f'<th>State</th></tr></thead><tbody>{"".join(rows)}</tbody></table>'
            f'<div class="chunky-where">Results are saved in {_e(outputs)}</div>')


def setup_html() -> str:
    return f"""
<div class="chunky-setup" id="chunky-setup-box">
  <h3>No speech model is installed yet</h3>
  Chunky needs one NeMo speech model on this computer. Open a terminal in the Chunky folder and run one of:
  <pre>{_e(SETUP_COMMAND)}</pre>
  downloads the default model <b>{_e(DEFAULT_REPO_ID)}</b> (about 2.5 GB, English, with punctuation), or
  <pre>{_e(IMPORT_COMMAND)}</pre>
  imports a <code>.nemo</code> file you already have. Use Chunky's own Python
  (<code>.venv\\Scripts\\python</code> on Windows, <code>.venv/bin/python</code> elsewhere) if
  <code>python</code> is another installation. Then press <b>↻ Look for new models</b>.
</div>
"""


def status_html(service: Service) -> str:
    st = service.status()
    kind = {Phase.READY: "ready", Phase.STARTING: "busy", Phase.LOADING: "busy",
            Phase.NO_MODEL: "warn", Phase.FAILED: "error"}[st.phase]
    note = ""
    if st.phase is Phase.NO_MODEL:
        note = "Install a model (see below); the page keeps working meanwhile."
    elif st.notice:
        note = st.notice
    if st.phase is Phase.STARTING:
        note = "You can add files and press Transcribe already: the job starts when the engine is ready."
    body = f"<b>{_e(st.message)}</b>" + (f'<div class="note">{_e(note)}</div>' if note else "")
    return (f'<div class="chunky-banner {kind}" id="chunky-status-box" data-phase="{st.phase.value}">'
            f'<span class="dot"></span><div>{body}</div></div>')


def system_check_text() -> str:
    try:
        from chunky.doctor import checks as doctor
    except ModuleNotFoundError as exc:
        if exc.name in ("chunky.doctor.checks", "chunky"):
            return ("The system check is not available in this version of Chunky "
                    "(chunky/doctor.py is missing).")
        return f"The system check could not start: {exc}"
    try:
        return str(doctor.format_report(doctor.collect()))
    except Exception as exc:
        log.exception("System check failed")
        return f"The system check failed: {type(exc).__name__}: {exc}"


# --- per-tab page logic (no Gradio) -------------------------------------------------------------------


@dataclass
class _View:
    job: str | None = None  # the job shown on the right
    flash: str | None = None  # an error that belongs to no job (nothing to transcribe, model missing)
    sent: dict[str, str] = field(default_factory=dict)  # fingerprints of what this tab was last sent
    version: int = 0  # bumped by every action; a poll that overlapped one does not record what it sent


class PageLogic:
    """Everything the page does, per owner (tab); the handlers in :func:`build_page` only translate."""

    OUTPUTS = ("status", "progress", "transcript", "downloads", "jobs", "picker", "cancel")

    def __init__(self, service: Service):
        self.service = service
        self._views: OrderedDict[str, _View] = OrderedDict()
        self._lock = threading.Lock()

    def _view(self, owner: str) -> _View:
        with self._lock:
            view = self._views.get(owner)
            if view is None:
                view = self._views[owner] = _View()
                while len(self._views) > MAX_VIEWS:
                    self._views.popitem(last=False)
            else:
                self._views.move_to_end(owner)
            return view

    def _touch(self, view: _View) -> None:
        with self._lock:
            view.version += 1
            view.sent = {}

    # --- actions

    def submit(self, owner: str, files: list[str] | None, recording: str | None, model: str | None) -> bool:
        """Queue a job of the uploaded files plus the recording; False (and a message) if none was queued."""
        view = self._view(owner)
        submitted = False
        paths: list[Path] = []
        names: list[str | None] = []
        for f in files or []:
            paths.append(Path(f))
            names.append(Path(f).name)
        if recording:
            paths.append(Path(recording))
            names.append(f"microphone-{time.strftime('%Y%m%d-%H%M%S')}{Path(recording).suffix or '.wav'}")
        try:
            job_id = self.service.submit(owner, paths, model, names)
        except ChunkyError as exc:
            view.flash = str(exc)
        except Exception as exc:  # a bug: say so on the page, keep the server going
            log.exception("Submitting a job failed")
            view.flash = f"Internal error: {type(exc).__name__}: {exc}"
        else:
            view.job, view.flash = job_id, None
            submitted = True
        self._touch(view)
        return submitted

    def cancel(self, owner: str) -> None:
        view = self._view(owner)
        if view.job:
            self.service.runner.cancel(view.job, owner)
        self._touch(view)

    def select(self, owner: str, job_id: str | None) -> None:
        view = self._view(owner)
        if job_id:
            try:
                self.service.runner.snapshot(job_id, owner)
            except KeyError:
                job_id = None
        if job_id:
            view.job, view.flash = job_id, None
        self._touch(view)

    # --- rendering

    def render(self, owner: str, force: bool = False) -> dict[str, Any]:
        """Output name -> new value, for the outputs that changed since this tab's last render."""
        view = self._view(owner)
        with self._lock:
            version, sent = view.version, dict(view.sent)
        runner = self.service.runner
        jobs = runner.jobs(owner)
        if view.job is None and jobs and not view.flash:
            view.job = jobs[0].id  # e.g. a tab whose view was forgotten: show its newest job
        earlier = runner.earlier(limit=EARLIER_JOBS_SHOWN)  # finished before this start: kept on disk
        snap = next((j for j in [*jobs, *earlier] if j.id == view.job), None)
        values: dict[str, Any] = {"status": status_html(self.service)}
        parts = [_message("error", view.flash)] if view.flash else []
        if snap is not None:
            parts.append(progress_html(snap))
            values["transcript"] = transcript_text(snap)
            values["downloads"] = [str(p) for p in snap.outputs if p.is_file()] or None
        else:
            if not parts:
                parts.append('<div class="chunky-empty">Add recordings on the left and press '
                             '<b>Transcribe</b>. Progress and the transcript appear here.</div>')
            values["transcript"] = ""
            values["downloads"] = None
        values["progress"] = "".join(parts)
        values["jobs"] = jobs_html(jobs, view.job, runner.outputs_dir)
        choices = [(_job_label(j), j.id) for j in jobs]
        choices += [(_job_label(j, earlier=True), j.id) for j in earlier]
        values["picker"] = (choices, view.job if snap is not None else None)
        values["cancel"] = bool(snap is not None and snap.active and not snap.cancel_requested)
        digests = {k: _digest(v) for k, v in values.items()}
        changed = {k: v for k, v in values.items() if force or sent.get(k) != digests[k]}
        with self._lock:
            if view.version == version:
                view.sent.update({k: digests[k] for k in changed})
        return changed


def _digest(value: Any) -> str:
    """A short fingerprint of an output value (a tab's memory of what it was sent stays small)."""
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


# --- the Gradio page ----------------------------------------------------------------------------------


def max_upload() -> str:
    return os.environ.get("CHUNKY_MAX_UPLOAD", "").strip() or DEFAULT_MAX_UPLOAD


def build_page(service: Service):
    """The Blocks of the page; every event queue=False. ``service`` should be started by the caller."""
    import gradio as gr

    logic = PageLogic(service)

    def owner_of(request: gr.Request | None) -> str:
        return (getattr(request, "session_hash", None) or "local") if request is not None else "local"

    def model_choices() -> tuple[list[str], str | None]:
        return service.model_names(max_age=0), service.default_model()

    with gr.Blocks(title="Chunky – local transcription", analytics_enabled=False,
                   delete_cache=(3600, 86400)) as page:
        gr.HTML(INTRO)
        status = gr.HTML(status_html(service), elem_id="chunky-status")
        names, default = model_choices()
        setup = gr.HTML(setup_html(), visible=not names, elem_id="chunky-setup")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                gr.HTML('<div class="chunky-step">1 · Add recordings</div>')
                with gr.Tabs():
                    with gr.Tab("Files"):
                        files = gr.File(label="Audio or video files",
                                        file_count="multiple", elem_id="chunky-files", height=170)
                    with gr.Tab("Microphone"):
                        recording = gr.Audio(sources=["microphone"], type="filepath", format="wav",
                                             label="Record from the microphone", elem_id="chunky-mic")
                gr.HTML('<div class="chunky-step">2 · Choose the model</div>')
                model = gr.Dropdown(choices=names, value=default, label="Model",
                                    info="The models in local_models/; the last one used comes first.",
                                    elem_id="chunky-model")
                with gr.Row():
                    refresh = gr.Button("↻ Look for new models", size="sm", elem_id="chunky-refresh",
                                        scale=0, min_width=200)
                with gr.Row():
                    transcribe = gr.Button("Transcribe", variant="primary", elem_id="chunky-transcribe",
                                           scale=3)
                    cancel = gr.Button("Cancel", variant="stop", interactive=False, elem_id="chunky-cancel",
                                       scale=1)
                with gr.Accordion("Your jobs in this tab", open=True):
                    jobs = gr.HTML(jobs_html([], None, service.runner.outputs_dir), elem_id="chunky-jobs")
                    picker = gr.Dropdown(choices=[], value=None, label="Show the result of",
                                         elem_id="chunky-picker", interactive=True, visible=False)
            with gr.Column(scale=3, min_width=420):
                gr.HTML('<div class="chunky-step">3 · Result</div>')
                progress = gr.HTML('<div class="chunky-empty">Add recordings on the left and press '
                                   '<b>Transcribe</b>. Progress and the transcript appear here.</div>',
                                   elem_id="chunky-progress")
                transcript = gr.Textbox(label="Transcript", lines=16, max_lines=40, interactive=False,
                                        buttons=["copy"], elem_id="chunky-transcript",
                                        placeholder="The transcript appears here, with [hh:mm:ss] times.")
                downloads = gr.File(label="Downloads: TXT, SRT, VTT, JSON, CSV (and a ZIP for several files)",
                                    file_count="multiple", interactive=False, elem_id="chunky-downloads",
                                    visible=False)
        with gr.Accordion("System check: GPU, drivers, folders, models", open=False):
            with gr.Row():
                check = gr.Button("Run the system check", size="sm", elem_id="chunky-check-button", scale=0,
                                  min_width=220)
            check_out = gr.Textbox(label="Report", lines=12, max_lines=60, interactive=False,
                                   buttons=["copy"], elem_id="chunky-check",
                                   placeholder="Checks this PC's set-up for Chunky and says what to fix.")
        timer = gr.Timer(POLL_SECONDS)

        comps = {"status": status, "progress": progress, "transcript": transcript, "downloads": downloads,
                 "jobs": jobs, "picker": picker, "cancel": cancel}
        outputs = [comps[k] for k in PageLogic.OUTPUTS]

        def to_updates(changed: dict[str, Any]) -> list:
            """One value per output, in order; gr.skip() leaves an output as it is in the browser."""
            out: list = []
            for key in PageLogic.OUTPUTS:
                if key not in changed:
                    out.append(gr.skip())
                elif key == "picker":
                    choices, selected = changed[key]
                    out.append(gr.update(choices=choices, value=selected, visible=bool(choices)))
                elif key == "downloads":
                    out.append(gr.update(value=changed[key], visible=bool(changed[key])))
                elif key == "cancel":
                    out.append(gr.update(interactive=changed[key]))
                else:
                    out.append(changed[key])
            return out

        def on_transcribe(files_in, recording_in, model_in, request: gr.Request):
            owner = owner_of(request)
            submitted = logic.submit(owner, files_in, recording_in, model_in)
            # Once queued, the inputs are emptied, so the next Transcribe does not send them again.
            cleared = [None, None] if submitted else [gr.skip(), gr.skip()]
            return [*to_updates(logic.render(owner, force=True)), *cleared]

        def on_poll(request: gr.Request):
            return to_updates(logic.render(owner_of(request)))

        def on_cancel(request: gr.Request):
            owner = owner_of(request)
            logic.cancel(owner)
            return to_updates(logic.render(owner, force=True))

        def on_pick(job_id, request: gr.Request):
            owner = owner_of(request)
            logic.select(owner, job_id)
            return to_updates(logic.render(owner, force=True))

        def on_models(request: gr.Request):
            names, default = model_choices()
            return [*to_updates(logic.render(owner_of(request), force=True)),
                    gr.update(choices=names, value=default), gr.update(visible=not names)]

        def on_check():
            return system_check_text()

        quiet = {"queue": False, "show_progress": "hidden"}
        transcribe.click(on_transcribe, [files, recording, model], [*outputs, files, recording],
                         api_name="transcribe", **quiet)
        cancel.click(on_cancel, None, outputs, api_name="cancel", **quiet)
        timer.tick(on_poll, None, outputs, api_name="poll", **quiet)
        picker.input(on_pick, [picker], outputs, api_name="show_job", **quiet)
        refresh.click(on_models, None, outputs + [model, setup], api_name="refresh_models", **quiet)
        page.load(on_models, None, outputs + [model, setup], api_name="page_load", **quiet)
        check.click(on_check, None, [check_out], api_name="system_check", queue=False)
    return page


def launch_kwargs(service: Service) -> dict[str, Any]:
    """Settings for ``Blocks.launch`` (the server and the security-relevant ones)."""
    import gradio as gr

    theme = gr.themes.Soft(
        primary_hue="indigo",
        font=["system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "Cascadia Mono", "Consolas", "monospace"],
    )
    return {
        "max_file_size": max_upload(),
        "enable_monitoring": False,
        "allowed_paths": [str(service.paths.outputs)],
        "footer_links": ["gradio", "settings"],
        "theme": theme,
        "css": CSS,
        "show_error": True,
        "quiet": True,
    }
