"""The page's Models panel: the catalogue with a Download button per model (and a box for any other
``nvidia/...`` id or huggingface.co address), the downloads and imports with their progress (bytes done of
the total, speed, time left) and Cancel, the import of a ``.nemo`` the user picks, and the installed models
with Remove (after a confirmation). Someone who double-clicked run.bat never needs a terminal.

Every button only starts something in the service (:class:`~chunky.models.downloads.ModelTasks`: a thread
per download or import) and returns; the panel's own ``gr.Timer`` polls it and sends a tab only what
changed (the panel, the model dropdown's choices when a model arrived or went, the setup notice, the
catalogue's marks). :class:`ModelsPanel` knows no Gradio; :func:`build_models_panel` wires it.

No ``from __future__ import annotations`` here (as in page.py): Gradio finds ``gr.Request`` by its
annotation object.
"""

import logging
import threading
from collections import OrderedDict
from typing import Any

from chunky.app.html import clock
from chunky.app.html import escape as _e
from chunky.base.errors import ChunkyError
from chunky.base.fs import human_size
from chunky.models.catalogue import DEFAULT_REPO_ID
from chunky.models.downloads import CANCELLED, DONE, EXTRACTING, FAILED, RUNNING, STOPPED, Task
from chunky.models.kinds import DESCRIPTIONS

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
TABS_KEPT = 200  # tabs whose last view is remembered
# The panel's, the catalogue's and the setup notice's buttons: one event with what was pressed.
ACTIONS_JS = """
element.addEventListener('click', (event) => {
  const b = event.target.closest('button[data-action]');
  if (!b || b.disabled) return;
  const d = b.dataset;
  trigger('models_action', {action: d.action, name: d.name || '', repo: d.repo || ''});
});
"""
OUTPUTS = ("panel", "model", "setup", "catalogue")
_STATE_WORDS = {RUNNING: "Downloading", EXTRACTING: "Unpacking", DONE: "Ready", FAILED: "Failed",
                CANCELLED: "Cancelled", STOPPED: "Not finished"}


def progress_line(t: Task) -> str:
    """``1.2 MB of 2.47 GB · 12.3 MB/s · 3:12 left`` (what is known of it)."""
    parts = [f"{human_size(t.done)} of {human_size(t.total)}" if t.total else human_size(t.done)]
    if t.active and t.speed:
        parts.append(f"{human_size(t.speed)}/s")
        if t.left is not None:
            parts.append(f"{clock(t.left)} left")
    return " · ".join(parts)


def _button(label: str, action: str, *, name: str = "", repo: str = "", kind: str = "") -> str:
    extra = f' data-name="{_e(name)}"' if name else ""
    extra += f' data-repo="{_e(repo)}"' if repo else ""
    return (f'<button type="button" class="chunky-mbtn {kind}" data-action="{action}"{extra}>'
            f"{_e(label)}</button>")


def task_row(t: Task) -> str:
    what = t.repo_id or t.name
    if t.kind == "import":
        what = f"{t.name} (import)"
    bar = ""
    if t.state in (RUNNING, CANCELLED, STOPPED, FAILED) and t.total and t.kind == "download":
        bar = f'<progress class="chunky-bar" max="{t.total}" value="{t.done}"></progress>'
    elif t.active:
        bar = '<progress class="chunky-bar"></progress>'
    figures = progress_line(t) if t.kind == "download" and t.state != DONE else ""
    buttons = ""
    if t.state == RUNNING and t.kind == "download":
        buttons = _button("Cancel", "cancel", name=t.name, kind="stop")
    elif t.resumable and t.repo_id and not t.active:
        buttons = (_button("Continue the download", "download", repo=t.repo_id, kind="primary")
                   + _button("Discard", "discard", name=t.name))
    elif t.state == FAILED and t.repo_id:
        buttons = _button("Try again", "download", repo=t.repo_id)
    return (f'<tr data-task="{_e(t.name)}" data-state="{t.state}" data-done="{t.done}" '
            f'data-total="{t.total or 0}"><td><b>{_e(what)}</b> '
            f'<span class="chunky-badge {t.state}">{_STATE_WORDS.get(t.state, t.state)}</span>'
            f'<div class="chunky-task-note">{_e(t.message)}</div></td>'
            f'<td class="chunky-task-figures">{bar}<div class="chunky-meta">{_e(figures)}</div></td>'
            f"<td>{buttons}</td></tr>")


def panel_html(tasks: list[Task], models: list[Any], note: tuple[str, str] | None, confirm: str | None,
               in_use: set[str]) -> str:
    """The panel of one tab: its last note, a removal to confirm, the downloads and imports, the models."""
    out = ['<div class="chunky-models">']
    if note:
        out.append(f'<div class="chunky-msg {note[0]}" data-note="{note[0]}">{_e(note[1])}</div>')
    if confirm:
        out.append(f'<div class="chunky-msg warn chunky-confirm" data-confirm="{_e(confirm)}">Remove '
                   f"<b>{_e(confirm)}</b>? This deletes local_models/{_e(confirm)}.nemo and its unpacked "
                   "copy; you would have to download or import it again. "
                   + _button(f"Yes, remove {confirm}", "remove_yes", name=confirm, kind="stop")
                   + _button("Keep it", "remove_no") + "</div>")
    if tasks:
        out.append('<div class="chunky-step-small">Downloads and imports</div><table class="chunky-jobs '
                   'chunky-tasks">' + "".join(task_row(t) for t in tasks) + "</table>")
    out.append('<div class="chunky-step-small">Installed models</div>')
    if models:
        rows = []
        for m in models:
            used = m.name in in_use
            remove = ('<span class="chunky-meta">in use by a job</span>' if used
                      else _button("Remove…", "remove", name=m.name))
            rows.append(f'<tr data-model="{_e(m.name)}"><td><b>{_e(m.name)}</b></td>'
                        f"<td>{_e(DESCRIPTIONS.get(m.kind, m.kind))}</td><td>{_e(human_size(m.size))}</td>"
                        f"<td>{_e(_source(m.source))}</td><td>{remove}</td></tr>")
        out.append('<table class="chunky-jobs chunky-installed"><tr><th>model</th><th>for</th><th>size</th>'
                   f'<th>from</th><th></th></tr>{"".join(rows)}</table>')
    else:
        out.append('<div class="chunky-empty">No model is installed yet: press Download on one below '
                   f"(<b>{_e(DEFAULT_REPO_ID)}</b> is a good first one), or import a .nemo file.</div>")
    out.append("</div>")
    return "".join(out)


def _source(source: str) -> str:
    if source.startswith("hub:"):
        return f"downloaded ({source[4:]})"
    return {"imported": "imported", "local": "copied in by hand"}.get(source, source)


class _Tab:
    def __init__(self, shown: dict[str, Any] | None = None) -> None:
        self.note: tuple[str, str] | None = None  # ("error" | "info", text)
        self.confirm: str | None = None  # the model whose removal waits for Yes
        self.shown: dict[str, Any] = dict(shown or {})  # output -> what it was last sent


class ModelsPanel:
    """What each tab's Models panel shows and does (no Gradio). ``render`` gives the outputs that changed
    since the tab's last call (all with ``force``)."""

    def __init__(self, service, gpu=None):
        self.service = service
        self.gpu = gpu if gpu is not None else service.gpu_memory()  # nvidia-smi once, not every poll
        self._tabs: OrderedDict[str, _Tab] = OrderedDict()
        self._lock = threading.Lock()
        self._page: dict[str, Any] = {}  # what the page itself carries (a new tab's first view)

    def page_values(self) -> dict[str, Any]:
        """The panel as the page is built with it: a new tab's poll then sends only what changed since."""
        values = self.render("(page)", force=True)
        with self._lock:
            self._page = dict(self._tabs["(page)"].shown)
            self._tabs.pop("(page)", None)
        return values

    def _tab(self, owner: str) -> _Tab:
        with self._lock:
            tab = self._tabs.pop(owner, None) or _Tab(self._page)
            self._tabs[owner] = tab
            while len(self._tabs) > TABS_KEPT:
                self._tabs.popitem(last=False)
            return tab

    def _try(self, owner: str, fn, done: str | None = None) -> None:
        tab = self._tab(owner)
        try:
            said = fn()
            tab.note = ("info", said or done) if (said or done) else None
        except ChunkyError as exc:
            tab.note = ("error", str(exc))
        except Exception as exc:  # the page keeps serving
            log.exception("Models panel")
            tab.note = ("error", f"{type(exc).__name__}: {exc}")

    # --- the buttons ----------------------------------------------------------------------------------

    def download(self, owner: str, text: str | None) -> None:
        def start() -> str:
            if not (text or "").strip():
                raise ChunkyError(f"Type a Hugging Face model id first, e.g. {DEFAULT_REPO_ID}, or paste its "
                                  "huggingface.co address.")
            task, started = self.service.download_model(text or "")
            if not started:
                return (f"{task.repo_id or task.name} is already downloading ({progress_line(task)}): "
                        "it goes on.")
            return f"Downloading {task.repo_id}: the progress shows below."
        self._try(owner, start)

    def import_model(self, owner: str, upload: Any, path: str | None, name: str | None) -> None:
        def start() -> str:
            picked = _upload_path(upload)
            src = picked or (path or "").strip().strip('"')
            if not src:
                raise ChunkyError("Choose a .nemo file to import (or type its path on this PC).")
            task = self.service.import_model(src, name or None, uploaded=bool(picked))
            return f"Importing {task.name}: it is copied and checked, then listed under Installed models."
        self._try(owner, start)

    def action(self, owner: str, data: Any) -> None:
        """A button of the panel, the catalogue or the setup notice: ``{"action", "name", "repo"}``."""
        data = data if isinstance(data, dict) else {}
        what, name, repo = (str(data.get(k) or "") for k in ("action", "name", "repo"))
        tab = self._tab(owner)
        if what == "download":
            tab.confirm = None
            self.download(owner, repo)
        elif what == "cancel":
            self._try(owner, lambda: None if self.service.cancel_download(name)
                      else f"{name} is not downloading.", "Cancelling: the part downloaded so far is kept.")
        elif what == "discard":
            self._try(owner, lambda: self.service.discard_download(name) and None,
                      f"The unfinished download of {name} was deleted.")
        elif what == "remove":
            tab.confirm, tab.note = (name or None), None
        elif what == "remove_yes":
            asked, tab.confirm = tab.confirm, None
            if asked != name:  # only the model this tab was asked about
                tab.note = ("error", f"Press Remove… beside {name} first." if name else "Nothing to remove.")
                return
            self._try(owner, lambda: self.service.remove_model(name), f"Removed {name}.")
        elif what == "remove_no":
            tab.confirm, tab.note = None, None

    # --- what the tab shows -------------------------------------------------------------------------

    def render(self, owner: str, selected: str | None = None, force: bool = False) -> dict[str, Any]:
        """``panel`` (HTML), ``model`` ((choices, value) when the speech models changed), ``setup`` (whether
        the setup notice shows), ``catalogue`` (HTML): the ones that changed, or all with ``force``."""
        from chunky.app.model_page import catalogue_html

        tab = self._tab(owner)
        service = self.service
        tasks = service.model_tasks_now()
        models = service.models()
        names = service.model_names()
        try:
            in_use = service.runner.models_in_use()
        except Exception:
            in_use = set()
        busy = {t.repo_id for t in tasks if t.active and t.repo_id}
        now: dict[str, Any] = {
            "panel": panel_html(tasks, models, tab.note, tab.confirm, in_use),
            "names": names,
            "setup": not names,
            "catalogue": catalogue_html(self.gpu, [m.name for m in models], busy),
        }
        changed: dict[str, Any] = {}
        for key, value in now.items():
            if force or tab.shown.get(key) != value:
                changed[key] = value
        tab.shown.update(now)
        if "names" in changed:
            value = selected if selected in names else service.default_model()
            changed["model"] = (names, value)
        changed.pop("names", None)
        return changed


def _upload_path(upload: Any) -> str | None:
    if not upload:
        return None
    if isinstance(upload, list):
        upload = upload[0] if upload else None
    if isinstance(upload, dict):
        return upload.get("path")
    return str(getattr(upload, "path", None) or getattr(upload, "name", None) or upload)


# --- the Gradio components ----------------------------------------------------------------------------


def build_models_panel(gr, service, panel: ModelsPanel, names: list[str]) -> dict[str, Any]:
    """The panel's components (inside an accordion, open when no model is installed)."""
    c: dict[str, Any] = {}
    with gr.Accordion("Models: download, import, remove", open=not names, elem_id="chunky-models-box"):
        first = panel.page_values()
        c["panel"] = gr.HTML(first["panel"], elem_id="chunky-models-panel", js_on_load=ACTIONS_JS)
        with gr.Row(equal_height=False):
            c["repo"] = gr.Textbox(label="Another model from Hugging Face", max_lines=1, scale=4,
                                   placeholder="nvidia/canary-1b-flash, or paste its huggingface.co address",
                                   elem_id="chunky-download-repo")
            c["download"] = gr.Button("Download", variant="primary", scale=1, min_width=140, size="md",
                                      elem_id="chunky-download-button")
        c["catalogue"] = gr.HTML(first["catalogue"], elem_id="chunky-catalogue", js_on_load=ACTIONS_JS)
        gr.HTML('<div class="chunky-step-small">Import a .nemo file you have</div>')
        with gr.Row(equal_height=False):
            c["file"] = gr.File(label="The .nemo file", file_count="single", file_types=[".nemo"], scale=2,
                                elem_id="chunky-import-file", height=110)
            with gr.Column(scale=2):
                c["path"] = gr.Textbox(label="…or its path on this PC (a big file: no upload needed)",
                                       max_lines=1, placeholder=r"D:\models\my-model.nemo",
                                       elem_id="chunky-import-path")
                c["name"] = gr.Textbox(label="Name (default: the file's)", max_lines=1,
                                       elem_id="chunky-import-name")
                c["import"] = gr.Button("Import", elem_id="chunky-import-button")
    c["timer"] = gr.Timer(POLL_SECONDS)
    return c


def wire_models_panel(gr, panel: ModelsPanel, c: dict[str, Any], model, setup, owner_of, quiet: dict) -> None:
    """The panel's events; ``model``: the page's model dropdown, ``setup``: its setup notice (which has a
    Download button of its own)."""
    outputs = [c["panel"], model, setup, c["catalogue"]]

    def updates(changed: dict[str, Any]) -> list:
        out: list = []
        for key in OUTPUTS:
            if key not in changed:
                out.append(gr.skip())
            elif key == "model":
                choices, value = changed[key]
                out.append(gr.update(choices=choices, value=value))
            elif key == "setup":
                out.append(gr.update(visible=changed[key]))
            else:
                out.append(changed[key])
        return out

    def on_poll(selected, request: gr.Request):
        return updates(panel.render(owner_of(request), selected))

    def on_action(selected, evt: gr.EventData, request: gr.Request):
        owner = owner_of(request)
        panel.action(owner, getattr(evt, "_data", None))
        return updates(panel.render(owner, selected, force=True))

    def on_download(text, selected, request: gr.Request):
        owner = owner_of(request)
        panel.download(owner, text)
        return [*updates(panel.render(owner, selected, force=True)), gr.skip()]

    def on_import(upload, path, name, selected, request: gr.Request):
        owner = owner_of(request)
        panel.import_model(owner, upload, path, name)
        return [*updates(panel.render(owner, selected, force=True)), None]

    c["timer"].tick(on_poll, [model], outputs, api_name="models_poll", **quiet)
    c["panel"].models_action(on_action, [model], outputs, api_name="models_action", **quiet)
    c["catalogue"].models_action(on_action, [model], outputs, api_name="catalogue_action", **quiet)
    setup.models_action(on_action, [model], outputs, api_name="setup_action", **quiet)
    c["download"].click(on_download, [c["repo"], model], [*outputs, c["repo"]], api_name="download_model",
                        **quiet)
    c["repo"].submit(on_download, [c["repo"], model], [*outputs, c["repo"]], api_name="download_model_enter",
                     **quiet)
    c["import"].click(on_import, [c["file"], c["path"], c["name"], model], [*outputs, c["file"]],
                      api_name="import_model", **quiet)
