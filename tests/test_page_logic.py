"""The page without Gradio: PageLogic (per-tab actions, render-what-changed) and the HTML it renders, on a
real Service and job runner whose transcribe function reads text files (tests/test_jobs.py's FakeEngine).
No NeMo, no browser: milliseconds."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pytest

from chunky.app.html import clock, jobs_html, progress_html, stamp, status_html, transcript_text
from chunky.app.logic import PageLogic
from chunky.app.service import Phase, Service
from chunky.bootstrap import paths
from chunky.jobs.runner import JobRunner
from chunky.jobs.state import JobState
from tests.test_jobs import WAIT, FakeEngine, speech


@pytest.fixture
def service(tmp_path: Path):
    cache = tmp_path / "model_cache"
    p = dataclasses.replace(paths(), local_models=tmp_path / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    for folder in (p.local_models, p.extracted, p.outputs):
        folder.mkdir(parents=True)
    (p.local_models / "demo.nemo").write_bytes(b"listed, never loaded here")
    svc = Service(p)
    engine = FakeEngine()
    svc.runner = JobRunner(engine, p.outputs)
    svc.engine_stub = engine
    yield svc
    engine.release_all()
    assert svc.runner.shutdown(WAIT)


def recording(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def finished(logic: PageLogic, owner: str, timeout: float = WAIT) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        values = logic.render(owner, force=True)
        if 'data-state="done"' in values["progress"] or 'data-state="failed"' in values["progress"]:
            return values
        time.sleep(0.01)
    raise AssertionError("the job did not finish")


def test_clock_and_stamp():
    assert [clock(s) for s in (None, 0, 59.4, 61, 3600, 3725)] == ["–", "0:00", "0:59", "1:01", "1:00:00",
                                                                  "1:02:05"]
    assert stamp(3725.9) == "[01:02:05]"


def test_a_job_from_submit_to_the_transcript_and_downloads(service, tmp_path):
    logic = PageLogic(service)
    assert logic.submit("tab1", [recording(tmp_path, "talk.txt", speech("hello", "world"))], None, "demo")
    values = finished(logic, "tab1")
    assert "100%" in values["progress"] and "talk.txt" in values["progress"]
    assert values["transcript"].startswith("[00:00:00] hello world")
    assert {Path(p).suffix for p in values["downloads"]} == {".txt", ".srt", ".vtt", ".json", ".csv"}
    assert values["cancel"] is False
    choices, selected = values["picker"]
    assert selected and [job_id for _, job_id in choices] == [selected]
    assert service.saved.load()["model"] == "demo", "the model choice is kept for the next start"


def test_a_poll_sends_only_what_changed(service, tmp_path):
    logic = PageLogic(service)
    logic.submit("tab", [recording(tmp_path, "a.txt", speech("one"))], None, "demo")
    finished(logic, "tab")
    logic.render("tab")
    assert logic.render("tab") == {}, "nothing changed: nothing is sent again"
    logic.submit("tab", [recording(tmp_path, "b.txt", speech("two"))], None, "demo")
    assert "progress" in logic.render("tab")


def test_nothing_to_transcribe_and_an_unknown_model_say_so_and_queue_nothing(service, tmp_path):
    logic = PageLogic(service)
    assert not logic.submit("tab", [], None, "demo")
    assert "No recording was given" in logic.render("tab", force=True)["progress"]
    assert not logic.submit("tab", [recording(tmp_path, "a.txt", speech("x"))], None, "gone")
    shown = logic.render("tab", force=True)["progress"]
    assert "No local model named &#x27;gone&#x27;" in shown and "setup_local_models.py" in shown
    assert service.runner.jobs("tab") == []


def test_a_tab_never_sees_another_tabs_job(service, tmp_path):
    logic = PageLogic(service)
    logic.submit("alice", [recording(tmp_path, "secret.txt", speech("private"))], None, "demo")
    job = finished(logic, "alice")["picker"][1]
    logic.select("mallory", job)
    values = logic.render("mallory", force=True)
    assert "secret" not in values["progress"] + values["jobs"] + values["transcript"]
    assert values["downloads"] is None and values["picker"][0] == []


def test_cancel_keeps_what_was_finished(service, tmp_path):
    logic = PageLogic(service)
    text = speech("a", "b") + "!waitcancel\n" + speech("c", start=5)
    logic.submit("tab", [recording(tmp_path, "long.txt", text)], None, "demo")
    assert service.engine_stub.gate("cancel")[1].wait(WAIT)
    assert logic.render("tab", force=True)["cancel"] is True
    logic.cancel("tab")
    deadline = time.monotonic() + WAIT
    while 'data-state="cancelled"' not in (values := logic.render("tab", force=True))["progress"]:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert "What was finished is kept" in values["progress"]
    assert any(p.endswith("long.partial.txt") for p in values["downloads"])


def test_html_escapes_names_and_messages(service, tmp_path):
    logic = PageLogic(service)
    name = recording(tmp_path, "<img src=x onerror=alert(1)>.txt", speech("hi"))
    logic.submit("tab", [name], None, "demo")
    values = finished(logic, "tab")
    for key in ("progress", "jobs"):
        assert "<img" not in values[key] and "&lt;img" in values[key]


def test_progress_of_a_failed_file_names_it(service, tmp_path):
    logic = PageLogic(service)
    logic.submit("tab", [recording(tmp_path, "bad.txt", "!chunky\n")], None, "demo")
    values = finished(logic, "tab")
    assert 'data-state="failed"' in values["progress"] and "holds no audio stream" in values["progress"]
    snap = service.runner.jobs("tab")[0]
    assert snap.state is JobState.FAILED
    assert "(Failed: " in transcript_text(snap)
    assert "failed" in jobs_html([snap], snap.id, service.paths.outputs)
    assert progress_html(snap) == progress_html(snap), "rendering is a pure function of the snapshot"


def test_status_banner_before_the_engine_starts(service):
    html = status_html(service)
    assert 'data-phase="starting"' in html and "Starting the speech engine" in html
    (service.paths.local_models / "demo.nemo").unlink()
    service._models_cache = None
    assert f'data-phase="{Phase.NO_MODEL.value}"' in status_html(service)
