"""The Gradio page. Every event runs with queue=False (Gradio's queue hangs on some Windows setups).

The click handlers only submit to / cancel in the service's job runner and return at once; a ``gr.Timer``
polls the job state. Each browser tab is one owner (its Gradio session hash) and sees only its own jobs.
What a tab was last sent is remembered per tab, so a poll sends only what changed (a transcript being read
is not re-rendered every second, download files are not copied again).

The page logic (:class:`~chunky.app.logic.PageLogic`) knows no Gradio; :func:`build_page` wires it to
components. Importing this module imports neither gradio, torch nor nemo.

This module deliberately has no ``from __future__ import annotations``: Gradio finds the ``gr.Request``
parameter of a handler from its evaluated annotation.
"""

import logging
from typing import Any

from chunky.app import guard, review
from chunky.app.html import jobs_html, setup_html, status_html, system_check_text
from chunky.app.logic import CHOICE_FIELDS, RULE_FIELDS, PageLogic
from chunky.app.model_page import model_controls, wire_model_controls
from chunky.app.models_panel import ACTIONS_JS, ModelsPanel, build_models_panel, wire_models_panel
from chunky.app.security import Access, access_for_settings
from chunky.app.service import Service
from chunky.app.style import CSS, INTRO

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5


# --- the Gradio page ----------------------------------------------------------------------------------


def build_page(service: Service):
    """The Blocks of the page; every event queue=False. ``service`` should be started by the caller."""
    import gradio as gr

    logic = PageLogic(service)
    models_panel = ModelsPanel(service)

    def owner_of(request: gr.Request | None) -> str:
        return (getattr(request, "session_hash", None) or "local") if request is not None else "local"

    def model_choices() -> tuple[list[str], str | None]:
        return service.model_names(max_age=0), service.default_model()

    with gr.Blocks(title="Chunky – local transcription", analytics_enabled=False,
                   delete_cache=(3600, 86400)) as page:
        gr.HTML(INTRO)
        status = gr.HTML(status_html(service), elem_id="chunky-status")
        names, default = model_choices()
        setup = gr.HTML(setup_html(), visible=not names, elem_id="chunky-setup", js_on_load=ACTIONS_JS)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=340):
                gr.HTML('<div class="chunky-step">1 · Add recordings</div>')
                with gr.Tabs():
                    with gr.Tab("Files"):
                        files = gr.File(label="Audio or video files",
                                        file_count="multiple", elem_id="chunky-files", height=170)
                        streams = gr.HTML("", elem_id="chunky-streams")
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
                options = model_controls(gr, service, default)
                initial = logic.initial_choices()
                controls = speaker_controls(gr, initial)
                controls.update(export_controls(gr, initial))
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
                downloads = gr.File(label="Downloads (and a ZIP for several files)",
                                    file_count="multiple", interactive=False, elem_id="chunky-downloads",
                                    visible=False)
                export_again = gr.Button("Export this job again with the subtitle and format choices",
                                         size="sm", elem_id="chunky-export-again")
        gr.HTML('<div class="chunky-step" id="chunky-review-step">4 · Review and correct</div>')
        review_view = gr.HTML(
            review.descriptor_json(review.descriptor(None, None, roots=(),
                                                     threshold=service.confidence_threshold())),
            html_template=review.TEMPLATE, js_on_load=review.script(), apply_default_css=False,
            elem_id="chunky-review", container=False, padding=False)
        panel = build_models_panel(gr, service, models_panel, names)
        with gr.Accordion("System check: GPU, drivers, folders, models", open=False):
            with gr.Row():
                check = gr.Button("Run the system check", size="sm", elem_id="chunky-check-button", scale=0,
                                  min_width=220)
            check_out = gr.Textbox(label="Report", lines=12, max_lines=60, interactive=False,
                                   buttons=["copy"], elem_id="chunky-check",
                                   placeholder="Checks this PC's set-up for Chunky and says what to fix.")
        timer = gr.Timer(POLL_SECONDS)

        comps = {"status": status, "progress": progress, "transcript": transcript, "downloads": downloads,
                 "jobs": jobs, "picker": picker, "cancel": cancel, "review": review_view}
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

        # Gradio passes gr.Request only to a named parameter: the export fields are spelled out.
        def on_choices(formats, subtitle_preset, max_chars, max_lines, max_cps, min_duration, max_duration,
                       min_gap_frames, fps, start_timecode, karaoke, fcpxml, markers, rename_speakers,
                       speakers, track, num_speakers, request: gr.Request):
            values = locals()
            logic.set_choices(owner_of(request), {k: values[k] for k in CHOICE_FIELDS})

        def on_files(files_in):
            return logic.audio_streams(files_in)

        def on_preset(name):
            values = PageLogic.preset_values(name)
            return [values[k] for k in RULE_FIELDS]

        def on_export_again(formats, subtitle_preset, max_chars, max_lines, max_cps, min_duration,
                            max_duration, min_gap_frames, fps, start_timecode, karaoke, fcpxml, markers,
                            rename_speakers, speakers, track, num_speakers, request: gr.Request):
            values = locals()
            owner = owner_of(request)
            logic.set_choices(owner, {k: values[k] for k in CHOICE_FIELDS})
            logic.export_again(owner)
            return to_updates(logic.render(owner, force=True))

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
            return system_check_text(service)

        def review_handler(action: str):
            """The handler of one of the review view's events; its data is the event's (review.js)."""
            def handle(evt: gr.EventData, request: gr.Request):
                owner = owner_of(request)
                logic.review(owner, action, getattr(evt, "_data", None))
                if action == "review_threshold":
                    return None
                return to_updates(logic.render(owner, force=True))
            return handle

        quiet = {"queue": False, "show_progress": "hidden"}
        choice_inputs = [controls[k] for k in CHOICE_FIELDS]
        on_choose, choose_inputs = wire_model_controls(gr, service, logic, model, options, owner_of, quiet)
        wire_models_panel(gr, models_panel, panel, model, setup, owner_of, quiet)
        # The language/vocabulary and export choices go first (their own calls), then the job: the
        # transcribe call keeps its inputs.
        transcribe.click(on_choose, choose_inputs, None, api_name="model_choices", **quiet).then(
            on_choices, choice_inputs, None, api_name="export_choices", **quiet).then(
            on_transcribe, [files, recording, model], [*outputs, files, recording], api_name="transcribe",
            **quiet)
        files.change(on_files, [files], [streams], api_name="audio_streams", **quiet)
        preset = controls["subtitle_preset"]
        rule_fields = [controls[k] for k in RULE_FIELDS]
        preset.input(on_preset, [preset], rule_fields, api_name="preset_rules", **quiet)
        export_again.click(on_export_again, choice_inputs, outputs, api_name="export_again", **quiet)
        cancel.click(on_cancel, None, outputs, api_name="cancel", **quiet)
        timer.tick(on_poll, None, outputs, api_name="poll", **quiet)
        picker.input(on_pick, [picker], outputs, api_name="show_job", **quiet)
        refresh.click(on_models, None, outputs + [model, setup], api_name="refresh_models", **quiet)
        page.load(on_models, None, outputs + [model, setup], api_name="page_load", **quiet)
        check.click(on_check, None, [check_out], api_name="system_check", queue=False)
        for action in review.EVENTS:
            listen = getattr(review_view, action)  # the component's own event (review.js triggers it)
            listen(review_handler(action), None, None if action == "review_threshold" else outputs,
                   api_name=action, **quiet)
    return page


def speaker_controls(gr, values: dict[str, Any]) -> dict[str, Any]:
    """Who spoke: the speaker mode, one track, the number of speakers (keyed by SPEAKER_FIELDS)."""
    c: dict[str, Any] = {}
    c["speakers"] = gr.Radio(
        [("Mix every track (no speakers)", "mix"), ("One speaker per track or channel", "tracks"),
         ("Find the speakers (diarization)", "diarize")], value=values["speakers"], label="Speakers",
        info="Each person on their own microphone (tracks of a video, channels of a WAV): one speaker per "
             "track. One microphone for everyone: find the speakers.", elem_id="chunky-speakers")
    with gr.Row():
        c["track"] = gr.Number(values["track"], label="Only track (0: all)", precision=0, minimum=0,
                               elem_id="chunky-track")
        c["num_speakers"] = gr.Number(values["num_speakers"], label="Number of speakers (0: find out)",
                                      precision=0, minimum=0, elem_id="chunky-num-speakers")
    return c


def export_controls(gr, values: dict[str, Any]) -> dict[str, Any]:
    """The subtitle, timecode and format controls (closed by default), keyed by EXPORT_FIELDS."""
    from chunky.export import WRITERS
    from chunky.transcript.layout import PRESETS
    from chunky.transcript.timecode import RATES

    c: dict[str, Any] = {}
    with gr.Accordion("Subtitles, timecode and formats", open=False, elem_id="chunky-export"):
        c["formats"] = gr.CheckboxGroup(
            choices=[(f"{name.upper()}: {w.label}", name) for name, w in WRITERS.items()],
            value=values["formats"], label="Formats to produce", elem_id="chunky-formats")
        with gr.Row():
            c["subtitle_preset"] = gr.Dropdown(
                choices=[("Streaming: 42 characters, 2 lines, 20 cps", "streaming"),
                         ("Broadcast: 37 characters, 2 lines", "broadcast"),
                         ("Social: one line of 32", "social"), ("Word by word", "word"),
                         ("Paragraphs", "paragraph")],
                value=values["subtitle_preset"], label="Subtitle rules", elem_id="chunky-preset")
            c["fps"] = gr.Dropdown(choices=[("From the video (else 25)", "auto")]
                                   + [(r.describe(), label) for label, r in RATES.items()],
                                   value=values["fps"], label="Frame rate", elem_id="chunky-fps")
            c["start_timecode"] = gr.Textbox(value=values["start_timecode"], label="Start timecode",
                                             placeholder="from the video, else 00:00:00:00",
                                             elem_id="chunky-start-timecode", max_lines=1)
        with gr.Row():
            c["max_chars"] = gr.Number(values["max_chars"], label="Characters per line", precision=0,
                                       minimum=1, elem_id="chunky-max-chars")
            c["max_lines"] = gr.Number(values["max_lines"], label="Lines", precision=0, minimum=1,
                                       elem_id="chunky-max-lines")
            c["max_cps"] = gr.Number(values["max_cps"], label="Characters per second", minimum=1,
                                     elem_id="chunky-max-cps")
        with gr.Row():
            c["min_duration"] = gr.Number(values["min_duration"], label="Shortest cue, s", minimum=0,
                                          elem_id="chunky-min-duration")
            c["max_duration"] = gr.Number(values["max_duration"], label="Longest cue, s", minimum=0.1,
                                          elem_id="chunky-max-duration")
            c["min_gap_frames"] = gr.Number(values["min_gap_frames"], label="Gap between cues, frames",
                                            precision=0, minimum=0, elem_id="chunky-min-gap")
        with gr.Row():
            c["fcpxml"] = gr.Radio([("Captions", "captions"), ("Markers", "markers")], value=values["fcpxml"],
                                   label="FCPXML carries", elem_id="chunky-fcpxml")
            c["markers"] = gr.Radio([("Paragraph", "paragraph"), ("Speaker turn", "speaker"), ("Cue", "cue")],
                                    value=values["markers"], label="One marker per", elem_id="chunky-markers")
            c["karaoke"] = gr.Checkbox(values["karaoke"], label="ASS: karaoke timing per word",
                                       elem_id="chunky-karaoke")
        c["rename_speakers"] = gr.Textbox(value=values["rename_speakers"], label="Rename speakers",
                                          placeholder="Speaker 1=Host, Speaker 2=Guest", max_lines=1,
                                          elem_id="chunky-rename-speakers")
        gr.HTML('<div class="chunky-where">Picking a preset fills in its rules; change any of them for this '
                f"and later jobs (an empty field: the preset's). {len(PRESETS)} presets; the formats and how "
                "to import them into Premiere Pro, Resolve, Final Cut Pro and Media Composer: "
                "docs/output-formats.md.</div>")
    return c


def launch_kwargs(service: Service, access: Access | None = None) -> dict[str, Any]:
    """Settings for ``Blocks.launch`` (the server and the security-relevant ones). ``access``: who may use
    the page (:mod:`chunky.app.security`; by default the rules for the service's settings), enforced on
    every request by :mod:`chunky.app.guard`."""
    import gradio as gr

    theme = gr.themes.Soft(
        primary_hue="indigo",
        font=["system-ui", "Segoe UI", "Roboto", "Helvetica", "Arial", "sans-serif"],
        font_mono=["ui-monospace", "Cascadia Mono", "Consolas", "monospace"],
    )
    return {
        "max_file_size": service.settings.max_upload,
        "enable_monitoring": False,
        "allowed_paths": [str(service.paths.outputs)],
        "footer_links": ["gradio", "settings"],
        "theme": theme,
        "css": CSS + review.style(),
        "show_error": True,
        "quiet": True,
        **guard.launch_kwargs(access or access_for_settings(service.settings)),
    }
