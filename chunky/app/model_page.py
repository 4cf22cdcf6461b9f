"""The page's "Language and vocabulary" controls: the spoken language and translation only for a model
that takes them (Canary), what the chosen model does, and the vocabulary box with saved lists. Built
inside :func:`chunky.app.page.build_page`; the choices go to the job through PageLogic and the service.

No ``from __future__ import annotations`` here (as in page.py): Gradio finds the ``gr.Request`` parameter
by its annotation object."""

from typing import Any

from chunky.app.model_choices import SAME
from chunky.asr.vocabulary import VocabularyError, resolve

VOCABULARY_HELP = ("Names, places and jargon to spell right, one per line (or commas). A stronger one: "
                   "Siobhan:2. Or the name of a saved list.")


def model_controls(gr, service, model_name: str | None) -> dict[str, Any]:
    """The controls, showing what ``model_name`` takes."""
    choices = service.model_choices
    lc = choices.controls(model_name)
    saved = service.settings.vocabulary or ""
    c: dict[str, Any] = {}
    with gr.Accordion("Language and vocabulary", open=False, elem_id="chunky-model-options"):
        c["about"] = gr.HTML(_about(lc.about), elem_id="chunky-model-about")
        with gr.Row(visible=lc.visible, elem_id="chunky-language-row") as row:
            c["language"] = gr.Dropdown(choices=lc.sources, value=lc.source, label="Spoken language",
                                        elem_id="chunky-language", interactive=True)
            c["target_language"] = gr.Dropdown(choices=lc.targets, value=lc.target, label="Write in",
                                               elem_id="chunky-target-language", interactive=True,
                                               visible=lc.translation)
            c["punctuation"] = gr.Checkbox(value=lc.punctuation is not False,
                                           label="Punctuation and capitals", elem_id="chunky-punctuation",
                                           interactive=True,
                                           visible=lc.punctuation is not None)
        c["language_row"] = row
        c["vocabulary"] = gr.Textbox(value=saved, label="Vocabulary", lines=3, max_lines=12,
                                     placeholder="Siobhan\nLlanelli:2\nDaVinci Resolve", info=VOCABULARY_HELP,
                                     elem_id="chunky-vocabulary")
        with gr.Row():
            c["lists"] = gr.Dropdown(choices=choices.lists.names(), value=None, label="Saved lists",
                                     elem_id="chunky-vocabulary-lists", interactive=True, scale=2)
            c["list_name"] = gr.Textbox(label="Save the box as", placeholder="show or client name",
                                        elem_id="chunky-vocabulary-name", scale=2)
            c["save_list"] = gr.Button("Save list", size="sm", elem_id="chunky-vocabulary-save", scale=1)
        c["list_note"] = gr.HTML("", elem_id="chunky-vocabulary-note")
    return c


def _about(text: str) -> str:
    import html

    return f'<div class="chunky-model-about">{html.escape(text)}</div>' if text else ""


def wire_model_controls(gr, service, logic, model, c: dict[str, Any], owner_of, quiet: dict) -> Any:
    """Events of the controls; returns the handler the Transcribe button calls first (the tab's
    language and vocabulary, kept for its next job)."""
    choices = service.model_choices

    def on_model(name):
        lc = choices.controls(name)
        return [_about(lc.about), gr.update(visible=lc.visible),
                gr.update(choices=lc.sources, value=lc.source),
                gr.update(choices=lc.targets, value=lc.target, visible=lc.translation),
                gr.update(value=lc.punctuation is not False, visible=lc.punctuation is not None)]

    def on_pick_list(name):
        if not name:
            return gr.skip(), ""
        try:
            v = choices.lists.load(name)
        except VocabularyError as exc:
            return gr.skip(), _note(str(exc))
        text = "\n".join(p.text if p.strength == 1 else f"{p.text}:{p.strength:g}" for p in v.phrases)
        return text, _note(f"Loaded {len(v.phrases)} phrases from {name!r}.")

    def on_save_list(name, text):
        try:
            path = choices.lists.save(name or "", resolve(text, None))
        except VocabularyError as exc:
            return gr.skip(), _note(str(exc))
        return (gr.update(choices=choices.lists.names(), value=path.stem),
                _note(f"Saved {path.stem!r}; choose it under Saved lists for another show."))

    def on_choose(language, target_language, vocabulary, punctuation, request: gr.Request):
        logic.set_model_choices(owner_of(request), {"language": language, "target_language":
                                                    target_language or SAME, "vocabulary": vocabulary or "",
                                                    "punctuation": punctuation})

    model.change(on_model, [model], [c["about"], c["language_row"], c["language"], c["target_language"],
                                     c["punctuation"]], api_name="model_options", **quiet)
    c["lists"].input(on_pick_list, [c["lists"]], [c["vocabulary"], c["list_note"]],
                     api_name="vocabulary_list", **quiet)
    c["save_list"].click(on_save_list, [c["list_name"], c["vocabulary"]], [c["lists"], c["list_note"]],
                         api_name="save_vocabulary", **quiet)
    return on_choose, [c["language"], c["target_language"], c["vocabulary"], c["punctuation"]]


def _note(text: str) -> str:
    import html

    return f'<div class="chunky-note">{html.escape(text)}</div>'


def catalogue_html(gpu, installed, busy=()) -> str:
    """The known NeMo models as a table: download size, GPU memory needed, whether it fits this PC,
    languages, licence, what it supports, and a Download button (``busy``: the repo ids on their way)."""
    import html

    from chunky.models.catalogue import CPU, FITS, SETUP_COMMAND, TIGHT, catalogue_rows

    words = {FITS: "fits", TIGHT: "close other programs", CPU: "CPU only"}
    rows = []
    for r in catalogue_rows(gpu, installed=installed):
        fit = words.get(r["fit"], "too big: CPU")
        have = " (installed)" if r["installed"] else ""
        note = "; " + html.escape(r["note"]) if r["note"] else ""
        repo = html.escape(r["id"])
        if r["installed"]:
            get = '<span class="chunky-meta">installed</span>'
        elif r["id"] in busy:
            get = '<span class="chunky-meta">downloading…</span>'
        else:
            get = (f'<button type="button" class="chunky-mbtn primary" data-action="download" '
                   f'data-repo="{repo}">Download</button>')
        rows.append(
            f'<tr data-fit="{html.escape(r["fit"])}"><td><b>{repo}</b>{have}<br>'
            f'<small>{html.escape(r["supports"])}{note}</small></td>'
            f'<td>{html.escape(r["size"])}</td><td>{html.escape(r["gpu"])}</td><td>{html.escape(fit)}</td>'
            f'<td>{html.escape(r["languages"])}</td><td>{html.escape(r["licence"])}</td>'
            f'<td data-get="{repo}">{get}</td></tr>')
    command = html.escape(SETUP_COMMAND)
    return (f'<div class="chunky-catalogue"><p>{html.escape(gpu.describe())} Press <b>Download</b> on a '
            "model (it downloads in the background; the progress shows above, and the model is in the Model "
            "list once it is in). CC-BY-NC models are for non-commercial use. From a terminal instead: "
            f"<code>{command} nvidia/MODEL</code> (or <code>--import PATH.nemo</code>).</p>"
            '<table><tr><th>model</th><th>download</th><th>GPU memory</th><th>this PC</th><th>languages</th>'
            f'<th>licence</th><th></th></tr>{"".join(rows)}</table></div>')
