"""The page's language and vocabulary controls over HTTP and in a real browser (the shared app server,
digits model: a CTC model that takes no language, so its language controls never show)."""

from __future__ import annotations

import uuid

import pytest

from tests.app_server import AUDIO, Tab
from tests.test_browser import browser, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def _component(config: dict, elem_id: str) -> dict:
    (found,) = [c for c in config["components"] if c.get("props", {}).get("elem_id") == elem_id]
    return found


def test_a_model_without_a_language_shows_no_language_control(app_server) -> None:
    config = app_server.get(f"{app_server.url}config").json()
    assert _component(config, "chunky-language-row")["props"]["visible"] is False
    assert _component(config, "chunky-vocabulary")["props"]["visible"] is not False
    about = _component(config, "chunky-model-about")["props"]["value"]
    assert "CTC" in about and "vocabulary boosting" in about
    tab = Tab(app_server, uuid.uuid4().hex)
    about_html, row, language, target, punctuation = app_server.run("model_options", ["digits"],
                                                                     tab.session_hash)
    assert row["visible"] is False and target["visible"] is False and language["choices"] == []
    assert punctuation["visible"] is False  # a CTC model writes what it writes: no choice
    assert "lower case, no punctuation" in about_html


def test_saved_lists_and_the_box_reach_the_engine(app_server) -> None:
    tab = Tab(app_server, uuid.uuid4().hex)
    name = f"show-{uuid.uuid4().hex[:6]}"
    lists, note = app_server.run("save_vocabulary", [name, "seven\nnine:2"], tab.session_hash)
    assert name in [c[0] if isinstance(c, list) else c for c in lists["choices"]] and "Saved" in note
    text, note = app_server.run("vocabulary_list", [name], tab.session_hash)
    assert text == "seven\nnine:2" and "Loaded 2 phrases" in note
    _, note = app_server.run("save_vocabulary", ["../bad", "seven"], tab.session_hash)
    assert "cannot name a vocabulary list" in note
    before = app_server.log_text().count("Boosting 2 phrase(s) in digits")
    app_server.run("model_choices", [None, "same", name, True], tab.session_hash)
    tab.transcribe([AUDIO / "sentence-1.flac"])
    assert tab.wait()["progress"] and tab.state == "done", tab.progress_text()
    assert app_server.log_text().count("Boosting 2 phrase(s) in digits") == before + 1
    # A bad strength in the box: a clear error, no job.
    app_server.run("model_choices", [None, "same", "seven:99", True], tab.session_hash)
    shown = tab.transcribe([AUDIO / "sentence-2.flac"])
    assert "must be between 0 and 10" in str(shown["progress"]) + str(shown["status"])
    app_server.run("model_choices", [None, "same", "", True], tab.session_hash)  # the box as it was


def test_browser_language_controls_hidden_and_the_vocabulary_box(page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    page.get_by_text("Language and vocabulary").click()
    expect(page.locator("#chunky-vocabulary textarea")).to_be_visible()
    expect(page.locator("#chunky-language")).to_be_hidden()  # not shown (or not rendered at all)
    expect(page.locator("#chunky-model-about")).to_contain_text("vocabulary boosting")
    page.locator("#chunky-vocabulary textarea").fill("eight\nzero:1.5")
    page.locator("#chunky-vocabulary-name").locator("input, textarea").fill("browser-list")
    page.locator("#chunky-vocabulary-save").click()
    expect(page.locator("#chunky-vocabulary-note")).to_contain_text("Saved 'browser-list'")


def test_the_page_lists_the_catalogue_with_what_fits_this_pc(app_server) -> None:
    config = app_server.get(f"{app_server.url}config").json()
    html = _component(config, "chunky-catalogue")["props"]["value"]
    assert "nvidia/parakeet-tdt-0.6b-v2" in html and "nvidia/canary-1b-flash" in html
    assert "No NVIDIA GPU found" in html and 'data-fit="cpu"' in html  # this machine has no GPU
    assert "python setup_local_models.py nvidia/MODEL" in html and "CC-BY-NC" in html
