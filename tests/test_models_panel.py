"""The Models panel over HTTP, as the browser calls it with queue=False (POST /gradio_api/run/<api_name>,
the panel's buttons as the ``models_action`` event with its data): download from the catalogue and the
setup notice against the local stand-in Hub, progress, a second click, cancel and continue, errors,
import (an upload or a path), remove with its confirmation and not while a job uses the model.

The page is served in this process on an empty CHUNKY_HOME with the engine never started (no NeMo, so
these run in the fast tier); the Hub address comes from the settings (``hub_endpoint``)."""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from chunky.models.catalogue import DEFAULT_REPO_ID
from chunky.models.download import CHUNK
from tests.app_server import AUDIO, free_port, is_skip
from tests.fake_hub import closed_port_url, running_hub
from tests.nemo_archives import build_nemo

PANEL_OUTPUTS = ("panel", "model", "setup", "catalogue")


@pytest.fixture(scope="module")
def hub():
    with running_hub() as server:
        yield server


@pytest.fixture(scope="module")
def nemo_bytes(tmp_path_factory) -> bytes:
    return build_nemo(tmp_path_factory.mktemp("src") / "src.nemo", weights_size=1_500_000).read_bytes()


def serve(folder: Path, endpoint: str):
    """The page on an empty home in ``folder``, downloading from ``endpoint``; (service, page, url)."""
    from chunky.app.page import build_page, launch_kwargs
    from chunky.app.service import Service
    from chunky.bootstrap import paths
    from chunky.settings import Settings

    cache = folder / "model_cache"
    p = dataclasses.replace(paths(), local_models=folder / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    for f in (p.local_models, p.extracted, p.outputs):
        f.mkdir(parents=True)
    service = Service(p, Settings(hub_endpoint=endpoint))
    page = build_page(service)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **launch_kwargs(service))
    return service, page, f"http://127.0.0.1:{port}/"


@pytest.fixture(scope="module")
def site(tmp_path_factory, hub):
    service, page, url = serve(tmp_path_factory.mktemp("panel-home"), hub.url)
    try:
        yield service, url
    finally:
        page.close()
        service.shutdown(timeout=5)


class Tab:
    def __init__(self, url: str, session: str):
        self.url, self.session = url, session
        self.shown: dict[str, Any] = {}
        self.model: dict[str, Any] = {}

    def run(self, api: str, data: list | None = None, event: dict | None = None) -> list:
        body: dict[str, Any] = {"data": data or [], "session_hash": self.session}
        if event is not None:
            body["event_data"] = event
        r = requests.post(f"{self.url}gradio_api/run/{api}", json=body, timeout=30)
        assert r.status_code == 200, (api, r.status_code, r.text[:2000])
        values = r.json()["data"]
        for name, value in zip(PANEL_OUTPUTS, values, strict=False):
            if isinstance(value, dict) and value.get("__type__") == "update":
                if name == "model":
                    self.model.update({k: v for k, v in value.items() if k != "__type__"})
                elif "visible" in value:
                    self.shown[name] = value["visible"]
            else:
                self.shown[name] = value
        return values

    def press(self, action: str, *, name: str = "", repo: str = "", api: str = "models_action") -> str:
        self.run(api, [self.model.get("value")], {"action": action, "name": name, "repo": repo})
        return self.panel

    def poll(self) -> str:
        self.run("models_poll", [self.model.get("value")])
        return self.panel

    @property
    def panel(self) -> str:
        return str(self.shown.get("panel", ""))

    def row(self, name: str) -> str:
        found = re.search(rf'<tr data-task="{re.escape(name)}".*?</tr>', self.panel)
        return found.group(0) if found else ""

    def state(self, name: str) -> str | None:
        found = re.search(r'data-state="(\w+)"', self.row(name))
        return found.group(1) if found else None

    def note(self) -> str:
        found = re.search(r'<div class="chunky-msg (\w+)" data-note="\w+">(.*?)</div>', self.panel)
        return f"{found.group(1)}: {found.group(2)}" if found else ""

    def until(self, ok, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if ok(self):
                return self.panel
            time.sleep(0.05)
        raise AssertionError(f"still: {self.panel}")

    def choices(self) -> list[str]:
        return [c[0] if isinstance(c, list) else c for c in self.model.get("choices", [])]


def test_the_page_offers_the_download_when_no_model_is_installed(site) -> None:
    service, url = site
    config = requests.get(url + "config", timeout=30).json()
    by_id = {c.get("props", {}).get("elem_id"): c["props"] for c in config["components"]}
    setup = by_id["chunky-setup"]
    assert setup["visible"] is True
    button = f'data-action="download"\n    data-repo="{DEFAULT_REPO_ID}">Download {DEFAULT_REPO_ID}'
    assert button in setup["value"]
    assert "under <b>Models</b>" in setup["value"]
    assert "python setup_local_models.py</pre>" in setup["value"]  # the terminal way, folded away
    catalogue = by_id["chunky-catalogue"]["value"]
    assert f'data-action="download" data-repo="{DEFAULT_REPO_ID}">Download</button>' in catalogue
    assert "No model is installed yet" in by_id["chunky-models-panel"]["value"]
    apis = {d.get("api_name") for d in config["dependencies"]}
    assert {"models_poll", "models_action", "catalogue_action", "setup_action", "download_model",
            "import_model"} <= apis


def test_download_from_the_catalogue_progress_then_the_model_in_the_list(site, hub, nemo_bytes) -> None:
    service, url = site
    # A catalogue entry, served by the stand-in Hub.
    REPO, NAME, FILE = DEFAULT_REPO_ID, "parakeet-tdt-0.6b-v2", "parakeet-tdt-0.6b-v2.nemo"
    hub.add(REPO, {"README.md": b"card", FILE: nemo_bytes})
    hub.release.clear()
    hub.hold_after[FILE] = 2 * CHUNK
    tab = Tab(url, "panel-download")
    values = tab.run("models_poll", [None])
    assert all(is_skip(v) for v in values), values  # a new tab's page is up to date: nothing sent
    panel = tab.press("download", repo=REPO, api="catalogue_action")
    assert f"info: Downloading {REPO}" in tab.note(), panel
    tab.until(lambda t: f"of {1.5:.1f} MB" in t.row(NAME) and 'value="0"' not in t.row(NAME))
    assert tab.state(NAME) == "running"
    row = tab.row(NAME)
    assert f'data-total="{len(nemo_bytes)}"' in row and 'data-action="cancel"' in row
    assert "downloading…" in str(tab.shown["catalogue"])  # no second Download button meanwhile
    # A second click starts nothing: one GET of the file.
    tab.press("download", repo=REPO, api="catalogue_action")
    assert "already downloading" in tab.note()
    hub.release.set()
    tab.until(lambda t: t.state(NAME) == "done")
    assert f"{NAME} is ready" in tab.row(NAME)
    tab.until(lambda t: NAME in t.choices())
    assert tab.model["value"] == NAME and tab.shown["setup"] is False
    assert hub.gets(FILE) == 1
    assert f'<tr data-model="{NAME}">' in tab.panel
    assert f"{REPO}</b> (installed)" in str(tab.shown["catalogue"])
    assert NAME in service.model_names(max_age=0)


def test_cancel_then_continue_fetches_only_the_rest(site, hub, nemo_bytes) -> None:
    service, url = site
    hub.add("nvidia/second-model", {"second-model.nemo": nemo_bytes})
    hub.release.clear()
    hub.hold_after["second-model.nemo"] = 3 * CHUNK
    tab = Tab(url, "panel-cancel")
    tab.press("download", repo="nvidia/second-model")
    tab.until(lambda t: 'data-done="0"' not in t.row("second-model") and t.state("second-model") == "running")
    tab.press("cancel", name="second-model")
    assert "Cancelling" in tab.note()
    hub.release.set()
    tab.until(lambda t: t.state("second-model") == "cancelled")
    row = tab.row("second-model")
    assert "downloaded so far are kept" in row and 'data-action="download"' in row and "Continue" in row
    kept = int(re.search(r'data-done="(\d+)"', row).group(1))
    assert 0 < kept < len(nemo_bytes)
    local = service.paths.local_models
    assert not (local / "second-model.nemo").exists() and "second-model" not in service.model_names(max_age=0)
    hub.ranges.clear()
    tab.press("download", repo="nvidia/second-model")
    tab.until(lambda t: t.state("second-model") == "done")
    assert hub.ranges == [(f"/nvidia/second-model/resolve/{'a' * 40}/second-model.nemo", f"bytes={kept}-")]
    assert (local / "second-model.nemo").read_bytes() == nemo_bytes


def test_clear_errors_in_the_panel(site, hub, nemo_bytes) -> None:
    service, url = site
    tab = Tab(url, "panel-errors")
    tab.run("download_model", ["parakeet please", None])
    assert "error: " in tab.note() and "not a Hugging Face model id" in tab.note()
    tab.run("download_model", ["", None])
    assert "Type a Hugging Face model id first" in tab.note()
    tab.run("download_model", ["https://huggingface.co/nvidia/no-such-model", None])
    tab.until(lambda t: t.state("no-such-model") == "failed")
    assert "no model &#x27;nvidia/no-such-model&#x27;" in tab.row("no-such-model")
    hub.add("nvidia/huge-model", {"huge-model.nemo": nemo_bytes})
    hub.sizes["huge-model.nemo"] = 10**16
    tab.run("download_model", ["nvidia/huge-model", None])
    tab.until(lambda t: t.state("huge-model") == "failed")
    assert "Not enough disk space" in tab.row("huge-model")
    # The page goes on serving.
    assert requests.get(url + "config", timeout=30).status_code == 200


def test_offline_points_at_the_import(tmp_path) -> None:
    service, page, url = serve(tmp_path, closed_port_url())
    try:
        tab = Tab(url, "panel-offline")
        tab.press("download", repo=DEFAULT_REPO_ID, api="setup_action")
        tab.until(lambda t: t.state("parakeet-tdt-0.6b-v2") == "failed")
        row = tab.row("parakeet-tdt-0.6b-v2")
        assert "Cannot reach" in row and "import it under Models" in row and "Try again" in row
    finally:
        page.close()
        service.shutdown(timeout=5)


def upload(url: str, path: Path, name: str | None = None) -> dict[str, Any]:
    with open(path, "rb") as f:
        r = requests.post(f"{url}gradio_api/upload", files=[("files", (name or path.name, f))], timeout=60)
    assert r.status_code == 200, r.text
    return {"path": r.json()[0], "orig_name": name or path.name, "meta": {"_type": "gradio.FileData"}}


def test_import_an_upload_or_a_path_and_the_errors(site, tmp_path) -> None:
    service, url = site
    tab = Tab(url, "panel-import")
    src = build_nemo(tmp_path / "my-import.nemo", weights_size=40_000)
    tab.run("import_model", [upload(url, src), "", "", None])
    assert "Importing my-import" in tab.note()
    tab.until(lambda t: t.state("my-import") == "done")
    tab.until(lambda t: "my-import" in t.choices())
    tab.run("import_model", [upload(url, src), "", "", None])
    assert "error: " in tab.note() and "already exists" in tab.note()
    tab.run("import_model", [None, str(src), "by-path", None])  # the path box, another name
    tab.until(lambda t: t.state("by-path") == "done")
    text = tmp_path / "notes.nemo"
    text.write_text("just text")
    tab.run("import_model", [upload(url, text), "", "", None])
    assert "not a NeMo model" in tab.note() and "tar archive" in tab.note()
    tab.run("import_model", [None, "", "", None])
    assert "Choose a .nemo file" in tab.note()
    tab.run("import_model", [None, str(tmp_path / "missing.nemo"), "", None])
    assert "no such file" in tab.note()
    assert {"my-import", "by-path"} <= set(service.model_names(max_age=0))


def test_remove_asks_first_and_not_while_a_job_uses_the_model(site, tmp_path) -> None:
    service, url = site
    tab = Tab(url, "panel-remove")
    for name in ("keep-me", "drop-me"):
        src = build_nemo(tmp_path / f"{name}.nemo", weights_size=20_000)
        tab.run("import_model", [None, str(src), "", None])
        tab.until(lambda t, n=name: t.state(n) == "done")
    panel = tab.press("remove", name="drop-me")
    assert 'data-confirm="drop-me"' in panel and "Yes, remove drop-me" in panel
    assert "drop-me" in service.model_names(max_age=0)  # nothing removed yet
    panel = tab.press("remove_no")
    assert "data-confirm" not in panel and "drop-me" in service.model_names(max_age=0)
    tab.press("remove", name="drop-me")
    panel = tab.press("remove_yes", name="drop-me")
    assert "info: Removed drop-me." in tab.note() and '<tr data-model="drop-me">' not in panel
    assert "drop-me" not in tab.choices() and "keep-me" in tab.choices()
    assert not (service.paths.local_models / "drop-me.nemo").exists()
    # A job that uses keep-me (it waits for the speech engine, which this page never starts).
    up = upload(url, AUDIO / "sentence-1.flac")
    r = requests.post(f"{url}gradio_api/run/transcribe", timeout=60,
                      json={"data": [[up], None, "keep-me"], "session_hash": "panel-remove"})
    assert r.status_code == 200 and service.runner.models_in_use() == {"keep-me"}
    assert "in use by a job" in tab.poll() or "in use by a job" in tab.until(lambda t: "in use" in t.panel)
    tab.press("remove_yes", name="keep-me")  # not asked: nothing happens
    assert "error: Press Remove… beside keep-me first." in tab.note()
    tab.press("remove", name="keep-me")  # (a page sent before the job started)
    tab.press("remove_yes", name="keep-me")
    assert "error: keep-me is in use by a queued or running job" in tab.note()
    assert "keep-me" in service.model_names(max_age=0)
    tab.press("remove", name="no-such")
    tab.press("remove_yes", name="no-such")
    assert "There is no model named" in tab.note()


def test_a_typed_path_is_not_imported_when_other_computers_reach_the_page(tmp_path) -> None:
    from chunky.app.service import Service
    from chunky.base.errors import ChunkyError
    from chunky.bootstrap import paths
    from chunky.settings import Settings

    cache = tmp_path / "model_cache"
    p = dataclasses.replace(paths(), local_models=tmp_path / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    src = build_nemo(tmp_path / "shared.nemo", weights_size=10_000)
    for settings in (Settings(host="0.0.0.0"), Settings(allowed_hosts=("studio.example.org",)),
                     Settings(share=True)):
        service = Service(p, settings)
        assert not service.page_is_private()
        with pytest.raises(ChunkyError, match="a typed path is not imported"):
            service.import_model(src, uploaded=False)
    assert Service(p, Settings()).page_is_private()
    assert not (p.local_models / "shared.nemo").exists()


def test_the_progress_line_says_bytes_total_speed_and_time_left() -> None:
    from chunky.app.models_panel import progress_line, task_row
    from chunky.models.downloads import Task

    running = Task("m", "download", "running", "nvidia/m", done=1_200_000, total=2_470_000_000,
                   speed=12_300_000.0, left=192.0)
    assert progress_line(running) == "1.2 MB of 2.47 GB · 12.3 MB/s · 3:12 left"
    assert progress_line(dataclasses.replace(running, speed=None, left=None)) == "1.2 MB of 2.47 GB"
    row = task_row(running)
    assert '<progress class="chunky-bar" max="2470000000" value="1200000">' in row
    assert 'data-action="cancel" data-name="m"' in row
    stopped = dataclasses.replace(running, state="stopped", speed=None, left=None, resumable=True)
    assert "Continue the download" in task_row(stopped) and 'data-action="discard"' in task_row(stopped)
