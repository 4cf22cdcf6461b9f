"""The Models panel in a real Chromium, against the real app.py on an empty CHUNKY_HOME whose Hub is the
local stand-in (CHUNKY_HUB_ENDPOINT): click Download on a catalogue entry, watch the progress (size, then
the bytes arriving), then find the model in the Model list without a restart. The stand-in serves the
digits test model under the default model's id, so what arrives is a real NeMo model.
A screenshot of the panel midway goes to tests/_artifacts/models-panel.png."""

from __future__ import annotations

import re

import pytest

from chunky.models.catalogue import DEFAULT_REPO_ID
from chunky.models.download import CHUNK
from tests.app_server import ARTIFACTS, DIGITS_MODEL, AppServer, make_home
from tests.fake_hub import FakeHub
from tests.test_browser import chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

NAME = DEFAULT_REPO_ID.split("/")[1]
WAIT_MS = 120_000


@pytest.fixture(scope="module")
def hub():
    server = FakeHub()
    server.add(DEFAULT_REPO_ID, {"README.md": b"# card", f"{NAME}.nemo": DIGITS_MODEL.read_bytes()})
    server.hold_after[f"{NAME}.nemo"] = 2 * CHUNK  # the rest once the test has seen the progress
    yield server
    server.release.set()
    server.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, hub):
    home = make_home(tmp_path_factory.mktemp("models-home"))
    s = AppServer(home, ARTIFACTS / "models-server.log", env={"CHUNKY_HUB_ENDPOINT": hub.url})
    s.start().wait_ready()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


def test_download_from_the_catalogue_then_the_model_is_in_the_list(browser, server, hub) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1440, "height": 1200})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    try:
        tab.goto(server.url)
        expect(tab.locator("#chunky-setup-box")).to_be_visible()
        expect(tab.locator("#chunky-setup-box")).to_contain_text("No speech model is installed yet")
        get = tab.locator(f'#chunky-catalogue button[data-repo="{DEFAULT_REPO_ID}"]')
        get.scroll_into_view_if_needed()
        expect(get).to_have_text("Download")
        get.click()
        row = tab.locator(f'#chunky-models-panel tr[data-task="{NAME}"]')
        size = f"of {DIGITS_MODEL.stat().st_size / 1e6:.1f} MB"
        expect(row).to_have_attribute("data-state", "running", timeout=WAIT_MS)
        expect(row).to_contain_text(size, timeout=WAIT_MS)
        expect(row.locator('button[data-action="cancel"]')).to_be_visible()
        expect(row).not_to_have_attribute("data-done", "0", timeout=WAIT_MS)  # bytes arrived, held midway
        done = int(row.get_attribute("data-done") or 0)
        assert 0 < done < DIGITS_MODEL.stat().st_size
        assert re.search(r"\d+(\.\d+)? MB of ", row.inner_text())
        get_cell = tab.locator(f'#chunky-catalogue td[data-get="{DEFAULT_REPO_ID}"]')
        expect(get_cell).to_contain_text("downloading")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.locator("#chunky-models-box").screenshot(path=str(ARTIFACTS / "models-panel.png"))
        hub.release.set()
        expect(row).to_have_attribute("data-state", "done", timeout=WAIT_MS)
        expect(row).to_contain_text(f"{NAME} is ready")
        # In the Model list without a restart, chosen; the setup notice gone.
        expect(tab.locator("#chunky-model input")).to_have_value(NAME, timeout=WAIT_MS)
        expect(tab.locator("#chunky-setup-box")).to_be_hidden()
        expect(tab.locator(f'#chunky-models-panel tr[data-model="{NAME}"]')).to_be_visible()
        expect(get_cell).to_contain_text("installed")
        assert hub.gets(f"{NAME}.nemo") == 1
        assert (server.home / "local_models" / f"{NAME}.nemo").read_bytes() == DIGITS_MODEL.read_bytes()
    finally:
        context.close()
