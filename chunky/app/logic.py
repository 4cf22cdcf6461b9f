"""Everything the page does, per browser tab, without Gradio: submit, cancel, pick a job, and render only
what changed since the tab's last poll."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chunky.app import review
from chunky.app.html import (
    job_label,
    jobs_html,
    message_html,
    progress_html,
    status_html,
    transcript_text,
)
from chunky.app.service import Service
from chunky.base.errors import ChunkyError
from chunky.transcript.layout import DEFAULT_PRESET, PRESETS

log = logging.getLogger(__name__)

MAX_VIEWS = 1000  # tabs remembered (one small entry each; the oldest is forgotten first)
# The page's export controls, in the order the page sends them (setting names of chunky.settings).
EXPORT_FIELDS = ("formats", "subtitle_preset", "max_chars", "max_lines", "max_cps", "min_duration",
                 "max_duration", "min_gap_frames", "fps", "start_timecode", "karaoke", "fcpxml", "markers")
RULE_FIELDS = EXPORT_FIELDS[2:8]
EARLIER_JOBS_SHOWN = 30  # jobs of earlier runs offered in the picker


@dataclass
class _View:
    job: str | None = None  # the job shown on the right
    flash: str | None = None  # an error that belongs to no job (nothing to transcribe, model missing)
    sent: dict[str, str] = field(default_factory=dict)  # fingerprints of what this tab was last sent
    version: int = 0  # bumped by every action; a poll that overlapped one does not record what it sent
    choices: dict[str, Any] | None = None  # the export controls as this tab last sent them (None: defaults)
    notice: str | None = None  # a message that belongs to the shown job (e.g. what an export wrote)
    review_file: int | None = None  # the file of the shown job in the review (None: the first finished)
    review_note: dict[str, Any] | None = None  # what the last review action did, for the review view
    model_choices: dict[str, Any] = field(default_factory=dict)  # language, target, vocabulary box


class PageLogic:
    """Everything the page does, per owner (tab); the handlers in :func:`build_page` only translate."""

    OUTPUTS = ("status", "progress", "transcript", "downloads", "jobs", "picker", "cancel", "review")

    def __init__(self, service: Service):
        self.service = service
        self._views: OrderedDict[str, _View] = OrderedDict()
        self._lock = threading.Lock()
        self._notes = 0  # numbers the review notes (the view shows each one once)

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

    # --- the export controls

    def initial_choices(self) -> dict[str, Any]:
        """What the export controls show when a tab opens: the settings (settings.json's saved choices,
        the environment, the command line), each rule at the preset's value unless it was changed."""
        s = self.service.settings
        values: dict[str, Any] = {"formats": list(s.formats), "subtitle_preset": s.subtitle_preset,
                                  "fps": s.fps or "auto", "start_timecode": s.start_timecode or "",
                                  "karaoke": s.karaoke, "fcpxml": s.fcpxml, "markers": s.markers}
        rules = self.preset_values(s.subtitle_preset)
        for name in RULE_FIELDS:
            values[name] = getattr(s, name) if getattr(s, name) is not None else rules[name]
        return values

    @staticmethod
    def preset_values(name: str) -> dict[str, Any]:
        """The rule values of a preset, for the number fields (None: no limit of that kind)."""
        rules = PRESETS.get(name or "", PRESETS[DEFAULT_PRESET])
        return {"max_chars": rules.max_chars, "max_lines": rules.max_lines, "max_cps": rules.max_cps,
                "min_duration": round(rules.min_duration, 3), "max_duration": rules.max_duration,
                "min_gap_frames": rules.min_gap_frames}

    # --- actions

    def set_model_choices(self, owner: str, choices: dict[str, Any]) -> None:
        """Remember the tab's language and vocabulary controls for its next job."""
        view = self._view(owner)
        with self._lock:
            view.model_choices = dict(choices)

    def set_choices(self, owner: str, choices: dict[str, Any]) -> None:
        """Remember the tab's export controls (formats, preset, rules, timecode, ...) for its next job."""
        view = self._view(owner)
        with self._lock:
            view.choices = dict(choices)

    def export_again(self, owner: str) -> None:
        """Write the shown job's files again with the tab's export choices; say what was written."""
        view = self._view(owner)
        if not view.job:
            view.flash = "Choose a finished job (under \u201cYour jobs\u201d) to export it again."
        else:
            try:
                written = self.service.export_again(owner, view.job, view.choices)
            except ChunkyError as exc:
                view.flash = str(exc)
            except Exception as exc:  # a bug: say so on the page, keep the server going
                log.exception("Exporting job %s again failed", view.job)
                view.flash = f"Internal error: {type(exc).__name__}: {exc}"
            else:
                view.flash = None
                view.notice = "Exported again: " + ", ".join(p.name for p in written)
        self._touch(view)

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
            choices = {**(view.choices or {}), **view.model_choices} if view.model_choices else view.choices
            job_id = self.service.submit(owner, paths, model, names, choices)
        except ChunkyError as exc:
            view.flash = str(exc)
        except Exception as exc:  # a bug: say so on the page, keep the server going
            log.exception("Submitting a job failed")
            view.flash = f"Internal error: {type(exc).__name__}: {exc}"
        else:
            view.job, view.flash, view.notice = job_id, None, None
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
        if job_id and job_id != view.job:
            view.review_file, view.review_note = None, None
        if job_id:
            view.job, view.flash, view.notice = job_id, None, None
        self._touch(view)

    # --- the review

    def review(self, owner: str, action: str, data: Any) -> None:
        """A review action of the tab (``review.EVENTS``): save corrections, restore a revision, show
        another file of the job, keep the confidence threshold. What happened becomes the view's note."""
        view = self._view(owner)
        data = data if isinstance(data, dict) else {}
        try:
            if action == "review_threshold":
                self.service.set_confidence_threshold(data.get("value"))
                return  # nothing on the page changes
            if action == "review_file":
                index = data.get("file")
                view.review_file = index if isinstance(index, int) and not isinstance(index, bool) else None
                view.review_note = None
            elif action in ("review_save", "review_restore"):
                self._save(owner, view, action, data)
            else:
                raise ChunkyError(f"Unknown review action {action!r}.")
        except ChunkyError as exc:
            self._note(view, "error", str(exc))
        except Exception as exc:  # a bug: say so in the view, keep the server going
            log.exception("Review action %s failed", action)
            self._note(view, "error", f"Internal error: {type(exc).__name__}: {exc}")
        self._touch(view)

    def _save(self, owner: str, view: _View, action: str, data: dict[str, Any]) -> None:
        job, index, base = data.get("job"), data.get("file"), data.get("base")
        if not view.job or job != view.job or not isinstance(index, int) or isinstance(index, bool):
            raise ChunkyError("This transcript is no longer the one shown: your corrections were not saved. "
                              "Open the job again under \u201cYour jobs\u201d.")
        if action == "review_restore":
            revision = data.get("revision")
            ops: Any = [{"op": "restore", "revision": revision}]
        else:
            ops = data.get("ops")
            if not isinstance(ops, list):
                raise ChunkyError("The corrections did not arrive: save again.")
        if not isinstance(base, int) or isinstance(base, bool):
            raise ChunkyError("The corrections do not say which revision they were made on: reload the page.")
        try:
            saved = self.service.runner.save_correction(job, owner, index, base, ops)
        except KeyError:
            raise ChunkyError("This job or file is not one of yours any more: reload the page.") from None
        if action == "review_restore":
            text = f"Revision {revision} restored as revision {saved.revision}."
        else:
            text = f"Saved as revision {saved.revision} ({saved.summary})."
        text += " Every output of this file was written again."
        kind = "info"
        if saved.replaced is not None:
            kind = "warn"
            text += (f" Another tab had saved revision {saved.replaced} after you opened this file; yours "
                     f"replaces it (revision {saved.replaced} stays in the history).")
        self._note(view, kind, text, saved=saved.revision, restored=action == "review_restore")

    def _note(self, view: _View, kind: str, text: str, **more: Any) -> None:
        with self._lock:
            self._notes += 1
            view.review_note = {"id": self._notes, "kind": kind, "text": text, **more}

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
        parts = [message_html("error", view.flash)] if view.flash else []
        if snap is not None:
            parts.append(progress_html(snap))
            if view.notice:
                parts.append(message_html("info", view.notice))
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
        choices = [(job_label(j), j.id) for j in jobs]
        choices += [(job_label(j, earlier=True), j.id) for j in earlier]
        values["picker"] = (choices, view.job if snap is not None else None)
        values["cancel"] = bool(snap is not None and snap.active and not snap.cancel_requested)
        shown = review.descriptor(snap, view.review_file, roots=self.service.media_roots(),
                                  threshold=self.service.confidence_threshold(), note=view.review_note)
        values["review"] = review.descriptor_json(shown)
        if shown["state"] == "ready":
            values["progress"] += ('<a class="chunky-review-link" href="#chunky-review-step">&#9660; Play it '
                                   'and correct it below: every download follows your corrections</a>')
        digests = {k: _digest(v) for k, v in values.items()}
        # A corrected transcript rewrites its files under the same names: the page must fetch them again
        # (Gradio serves a copy of each download made by its content).
        digests["downloads"] = _digest([(p, _stamp(p)) for p in values["downloads"] or []])
        changed = {k: v for k, v in values.items() if force or sent.get(k) != digests[k]}
        with self._lock:
            if view.version == version:
                view.sent.update({k: digests[k] for k in changed})
        return changed


def _stamp(path: str) -> tuple[int, int]:
    try:
        st = Path(path).stat()
    except OSError:
        return (0, 0)
    return (st.st_mtime_ns, st.st_size)


def _digest(value: Any) -> str:
    """A short fingerprint of an output value (a tab's memory of what it was sent stays small)."""
    return hashlib.blake2b(repr(value).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
