"""The page's endpoints over HTTP, as the browser calls them with queue=False: POST /gradio_api/upload,
then POST /gradio_api/run/<api_name> with a session hash per tab. Real app.py, real Gradio, real NeMo
(the digits test model), no mocks."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import requests
import srt

from tests.app_server import AUDIO, DIGITS_MODEL, REPO, Tab, free_port, truth

pytestmark = pytest.mark.slow

STAMP_LINE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] (.+)$")


def transcript_words(text: str) -> list[str]:
    """The words of the page's transcript, without the [hh:mm:ss] stamps and the file headers."""
    words: list[str] = []
    for line in text.splitlines():
        if line.startswith("===") or line.startswith("("):
            continue
        m = STAMP_LINE.match(line)
        words += (m.group(4) if m else line).replace("…", " ").split()
    return words


# --- without the app server: the page module alone ------------------------------------------------------


def test_building_the_page_imports_no_torch_or_nemo(tmp_path, app_server_started):
    # (app_server_started: the shared server starts warming up while this runs)
    code = (
        "import chunky.bootstrap, sys\n"
        "from chunky.app.service import Service\n"
        "from chunky.app.page import build_page\n"
        "build_page(Service(chunky.bootstrap.paths()))\n"
        "heavy = sorted(m for m in ('torch', 'nemo', 'lightning', 'pytorch_lightning') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    env = {**os.environ, "CHUNKY_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "HEAVY=\n" in out.stdout, out.stdout


@pytest.fixture
def empty_page(tmp_path, monkeypatch):
    """The page on an empty CHUNKY_HOME (no model), served in this process; the engine is never started."""
    from chunky.app.page import build_page, launch_kwargs
    from chunky.app.service import Service
    from chunky.bootstrap import paths
    from chunky.settings import Settings

    base = paths()
    cache = tmp_path / "model_cache"
    p = dataclasses.replace(base, local_models=tmp_path / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    for folder in (p.local_models, p.extracted, p.outputs):
        folder.mkdir(parents=True)
    service = Service(p, Settings(max_upload="2kb"))
    page = build_page(service)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **launch_kwargs(service))
    try:
        yield service, f"http://127.0.0.1:{port}/"
    finally:
        page.close()
        service.shutdown(timeout=5)


def test_no_model_installed_shows_the_setup_commands(empty_page):
    service, url = empty_page
    config = requests.get(url + "config", timeout=30).json()
    setup = [c for c in config["components"] if c.get("props", {}).get("elem_id") == "chunky-setup"]
    assert setup and setup[0]["props"]["visible"] is True
    shown = setup[0]["props"]["value"]
    assert "python setup_local_models.py</pre>" in shown
    assert "nvidia/parakeet-tdt-0.6b-v2" in shown
    assert "python setup_local_models.py --import PATH.nemo" in shown

    def run(api: str, data: list) -> list:
        r = requests.post(f"{url}gradio_api/run/{api}", json={"data": data, "session_hash": "empty-tab"},
                          timeout=30)
        assert r.status_code == 200, r.text
        return r.json()["data"]

    status, *_, model, setup_update = run("page_load", [])
    assert "No model is installed yet" in status
    assert model["choices"] == [] and setup_update["visible"] is True
    # Transcribe anyway: a clear message with the commands, no job, and the server goes on.
    upload = requests.post(f"{url}gradio_api/upload", timeout=30,
                           files=[("files", ("s.flac", (AUDIO / "sentence-1.flac").read_bytes()[:1500]))])
    assert upload.status_code == 200, upload.text
    fd = {"path": upload.json()[0], "orig_name": "s.flac", "meta": {"_type": "gradio.FileData"}}
    progress = run("transcribe", [[fd], None, None])[1]
    assert "No model is installed yet" in progress
    assert "python setup_local_models.py" in progress and "--import PATH.nemo" in progress
    assert service.runner.jobs("empty-tab") == []
    # The upload limit comes from the settings (max_upload="2kb" here).
    too_big = requests.post(f"{url}gradio_api/upload", timeout=30,
                            files=[("files", ("big.flac", (AUDIO / "sentence-1.flac").read_bytes()))])
    assert too_big.status_code == 413
    # No monitoring dashboard; files outside the outputs folder are not served.
    assert requests.get(url + "monitoring", timeout=30).status_code == 403  # enable_monitoring=False
    assert requests.get(f"{url}gradio_api/file={REPO / 'app.py'}", timeout=30).status_code in (403, 404)


def test_a_busy_port_is_skipped():
    import socket

    from chunky.app.server import browser_url, port_is_free

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        assert not port_is_free("127.0.0.1", busy)
    assert port_is_free("127.0.0.1", free_port())
    assert browser_url("0.0.0.0", 7860) == "http://127.0.0.1:7860/"


# --- against the app server ---------------------------------------------------------------------------


def test_transcribe_one_file_and_download_the_srt(app_server):
    tab = Tab(app_server, "http-tab-one")
    tab.transcribe([AUDIO / "sentence-1.flac"])
    assert tab.state in ("queued", "running", "done")
    tab.wait()
    assert tab.state == "done", tab.progress_text
    seen = [re.search(r'data-state="(\w+)"', str(h.get("progress"))) for h in tab.history]
    assert any(m and m.group(1) in ("queued", "running") for m in seen), "no progress state before done"

    expected = truth()["sentence-1.flac"].split()
    text = tab.shown["transcript"]
    assert all(STAMP_LINE.match(line) for line in text.splitlines()), text
    assert transcript_words(text) == expected

    names = sorted(Path(f["orig_name"]).suffix for f in tab.shown["downloads"])
    assert names == [".csv", ".json", ".srt", ".txt", ".vtt"]
    srt_url = next(u for u in tab.download_urls() if u.endswith(".srt"))
    assert "/gradio_api/file=" in srt_url
    r = app_server.get(srt_url)
    assert r.status_code == 200, r.text
    cues = list(srt.parse(r.content.decode("utf-8")))
    assert cues and " ".join(c.content for c in cues).split() == expected
    assert cues[0].start.total_seconds() < 1.0

    # On disk under model_cache/outputs/<job id>/, with job.json.
    job_id = tab.job_ids()[0]
    folder = app_server.home / "model_cache" / "outputs" / job_id
    assert (folder / "sentence-1.srt").is_file()
    assert json.loads((folder / "job.json").read_text(encoding="utf-8"))["state"] == "done"


def test_several_files_give_a_zip_and_one_transcript_each(app_server):
    tab = Tab(app_server, "http-tab-zip")
    tab.transcribe([AUDIO / "sentence-2.flac", AUDIO / "sentence-3.flac"])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    text = tab.shown["transcript"]
    assert "=== sentence-2.flac ===" in text and "=== sentence-3.flac ===" in text
    blocks = text.split("\n\n")
    assert transcript_words(blocks[0]) == truth()["sentence-2.flac"].split()
    assert transcript_words(blocks[1]) == truth()["sentence-3.flac"].split()
    zip_url = next(u for u in tab.download_urls() if u.endswith(".zip"))
    with zipfile.ZipFile(io.BytesIO(app_server.get(zip_url).content)) as zf:
        assert {"sentence-2.srt", "sentence-3.srt", "sentence-2.txt"} <= set(zf.namelist())


def test_a_bad_file_fails_clearly_and_the_next_job_works(app_server, tmp_path):
    bad = tmp_path / "notes.wav"
    bad.write_text("These are my notes, not a recording.\n" * 20, encoding="utf-8")
    tab = Tab(app_server, "http-tab-bad")
    tab.transcribe([bad])
    tab.wait()
    assert tab.state == "failed"
    message = tab.progress_text
    assert "notes.wav" in message and "chunky-msg error" in tab.shown["progress"], message
    assert "Traceback" not in message and "Internal error" not in message

    tab.transcribe([AUDIO / "sentence-3.flac"])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    assert transcript_words(tab.shown["transcript"]) == truth()["sentence-3.flac"].split()
    assert 'data-state="failed"' in tab.shown["jobs"] and 'data-state="done"' in tab.shown["jobs"]


def test_a_model_removed_after_the_page_loaded_says_how_to_install_it(app_server):
    extra = app_server.home / "local_models" / "my-model.nemo"
    shutil.copyfile(DIGITS_MODEL, extra)
    tab = Tab(app_server, "http-tab-model")
    try:
        values = app_server.run("refresh_models", [], tab.session_hash)
        assert ["my-model", "my-model"] in values[-2]["choices"]
    finally:
        extra.unlink()
    tab.transcribe([AUDIO / "sentence-1.flac"], model="my-model")
    message = tab.progress_text
    assert "my-model" in message and "local models: digits" in message
    assert "python setup_local_models.py --import PATH.nemo --name my-model" in message
    assert tab.job_ids() == []
    tab.call("poll")  # the server goes on; the message stays until the next action
    assert "my-model" in tab.progress_text


def test_tabs_see_only_their_own_jobs(app_server):
    a, b = Tab(app_server, "http-tab-a"), Tab(app_server, "http-tab-b")
    a.transcribe([AUDIO / "sentence-1.flac"])
    b.transcribe([AUDIO / "sentence-2.flac"])
    a.wait()
    b.wait()
    (job_a,), (job_b,) = a.job_ids(), b.job_ids()
    assert job_a != job_b
    assert job_b not in a.shown["jobs"] and job_a not in b.shown["jobs"]
    assert [c[1] for c in a.props["picker"]["choices"]] == [job_a]
    # Tab A asking for tab B's job gets nothing of it (Gradio refuses a value not among A's choices).
    r = requests.post(f"{app_server.url}gradio_api/run/show_job",
                      json={"data": [job_b], "session_hash": a.session_hash}, timeout=30)
    if r.status_code == 200:
        a.apply(r.json()["data"])
    a.call("poll")
    assert job_b not in str(a.shown["progress"]) and "sentence-2" not in a.shown["transcript"]
    assert transcript_words(a.shown["transcript"]) == truth()["sentence-1.flac"].split()
    # Cancelling in tab A does not touch tab B's jobs; tab B can pick its own job.
    a.call("cancel")
    b.call("show_job", [job_b])
    assert job_b in b.shown["progress"]
    assert transcript_words(b.shown["transcript"]) == truth()["sentence-2.flac"].split()


def test_status_and_system_check(app_server):
    tab = Tab(app_server, "http-tab-status")
    tab.call("page_load")
    assert 'data-phase="ready"' in tab.shown["status"] and "CPU" in tab.shown["status"]
    report = app_server.run("system_check", [], "http-tab-status")[0]
    assert isinstance(report, str) and report.strip()
    assert "Chunky doctor" in report or "not available" in report, report


def test_the_cli_and_the_page_give_the_same_transcript_for_the_same_settings(app_server, tmp_path):
    """The server runs with CHUNKY_BATCH_SIZE=1 and CHUNKY_CHUNK_SECONDS=10; the command line, given the
    same variables, cuts the same chunks and gives the same words at the same times."""
    from tests.app_server import make_home
    from tests.speech import assemble, write_flac

    recording = write_flac(tmp_path / "half a minute.flac", assemble(30.0, seed=21)[0])
    tab = Tab(app_server, "http-tab-same-settings")
    tab.transcribe([recording])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    page = json.loads((app_server.home / "model_cache" / "outputs" / tab.job_ids()[0] /
                       "half a minute.json").read_text("utf-8"))
    home = make_home(tmp_path / "cli-home", {"digits": DIGITS_MODEL})
    env = dict(os.environ, CHUNKY_HOME=str(home), CHUNKY_DEVICE="cpu", **app_server.extra_env)
    out = tmp_path / "cli"
    result = subprocess.run([sys.executable, "-m", "chunky", "transcribe", str(recording), "--out", str(out),
                             "--format", "json", "-q"], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    cli = json.loads((out / "half a minute.json").read_text("utf-8"))
    assert app_server.extra_env == {"CHUNKY_BATCH_SIZE": "1", "CHUNKY_CHUNK_SECONDS": "10"}
    assert len(page["words"]) > 20 and cli["words"] == page["words"] and cli["text"] == page["text"]
