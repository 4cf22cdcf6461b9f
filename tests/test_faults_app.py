"""The fault and security suite against the running app (``python app.py`` in a subprocess, the page's own
HTTP endpoints as the browser calls them). The engine-side faults are in test_faults.py; docs/reliability.md
sums both up.
"""

from __future__ import annotations

import dataclasses
import re
import threading
import urllib.parse
from pathlib import Path

import psutil
import pytest
import requests

from tests.app_server import AUDIO, REPO, TERMINAL_STATES, Tab, free_port, truth
from tests.test_faults import bad_inputs

pytestmark = pytest.mark.slow  # NeMo (the trained digits model, the real pipeline)


def outputs_of(app_server) -> Path:
    return app_server.home / "model_cache" / "outputs"


def test_every_bad_input_through_the_page(app_server, tmp_path) -> None:
    cases = bad_inputs(tmp_path / "in")
    tab = Tab(app_server, "faults-bad-inputs")
    tab.transcribe([p for p, _ in cases.values()])
    tab.wait(timeout=240)
    assert tab.state == "partial", tab.progress_text
    text = tab.progress_text
    for key, (path, phrase) in cases.items():
        if phrase is not None:
            assert path.name in text or path.stem in text, f"{key}: no message for {path.name}"
    assert "not an audio file" in text and "has no audio track" in text and "too short" in text
    assert "Internal error" not in text and "Traceback" not in text
    # The good ones (misleading extension, non-ASCII name, silence) have their downloads, and a zip.
    names = {Path(f["orig_name"]).name for f in tab.shown["downloads"]}
    assert "Entretien n°2 — prise ü.srt" in names and "really an m4a.srt" in names
    assert any(n.endswith(".zip") for n in names)
    # The server goes on.
    tab.transcribe([AUDIO / "sentence-2.flac"])
    tab.wait()
    assert tab.state == "done"


def test_twenty_files_in_one_job_through_the_page(app_server, tmp_path) -> None:
    import shutil

    files = [Path(shutil.copy(AUDIO / f"sentence-{i % 3 + 1}.flac", tmp_path / f"take {i:02d}.flac"))
             for i in range(20)]
    tab = Tab(app_server, "faults-twenty")
    tab.transcribe(files)
    tab.wait(timeout=300)
    assert tab.state == "done", tab.progress_text
    names = [Path(f["orig_name"]).name for f in tab.shown["downloads"]]
    assert len(names) == 101 and sum(n.endswith(".zip") for n in names) == 1


def test_five_sessions_submitting_twenty_jobs_together(app_server) -> None:
    """5 tabs x 4 jobs submitted at once: every job finishes, each tab's in the order submitted, and each
    tab sees only its own."""
    expected = truth()
    tabs = [Tab(app_server, f"load-tab-{i}") for i in range(5)]
    submitted: dict[str, list[str]] = {t.session_hash: [] for t in tabs}
    errors: list[BaseException] = []

    def submit_all(tab: Tab, k: int) -> None:
        try:
            for j in range(4):
                n = (k + j) % 3 + 1
                tab.transcribe([AUDIO / f"sentence-{n}.flac"])
                submitted[tab.session_hash].append(f"sentence-{n}.flac")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit_all, args=(t, k)) for k, t in enumerate(tabs)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    assert not errors, errors

    import time

    deadline = time.monotonic() + 300
    for tab in tabs:
        while True:
            tab.call("poll")
            states = re.findall(r'data-state="(\w+)"', str(tab.shown.get("jobs", "")))
            if len(states) == 4 and all(s in TERMINAL_STATES for s in states):
                break
            assert time.monotonic() < deadline, app_server.fail_message(f"{tab.session_hash}: {states}")
            time.sleep(0.3)
    runner_jobs = {}
    for tab in tabs:
        ids = tab.job_ids()
        assert len(ids) == 4
        runner_jobs[tab.session_hash] = ids
        # Only this tab's jobs, and each one opens with the right words.
        others = {i for t, v in runner_jobs.items() if t != tab.session_hash for i in v}
        assert not others & set(ids)
    all_ids = [i for v in runner_jobs.values() for i in v]
    assert len(set(all_ids)) == 20
    for tab in tabs:
        ids = tab.job_ids()  # newest first
        finished_order = []
        for job_id, name in zip(reversed(ids), submitted[tab.session_hash], strict=True):
            tab.call("show_job", [job_id])
            assert tab.state == "done"
            lines = tab.shown["transcript"].splitlines()
            words = " ".join(re.sub(r"^\[[\d:]+\]\s*", "", line) for line in lines)
            assert words.split() == expected[name].split()
            job = (outputs_of(app_server) / job_id / "job.json").read_text("utf-8")
            finished_order.append(float(re.search(r'"finished": ([\d.]+)', job).group(1)))
        assert finished_order == sorted(finished_order), "a tab's jobs ran out of order"
        # Another tab's job id is refused.
        foreign = next(i for t, v in runner_jobs.items() if t != tab.session_hash for i in v)
        before = tab.shown.get("transcript")
        try:
            tab.call("show_job", [foreign])
        except AssertionError:
            pass  # refused by the dropdown's validation: fine
        assert tab.shown.get("transcript") == before


# --- security ------------------------------------------------------------------------------------------

def test_the_server_listens_on_localhost_only(app_server) -> None:
    conns = [c for c in psutil.Process(app_server.proc.pid).net_connections(kind="inet")
             if c.status == psutil.CONN_LISTEN]
    assert conns, "no listening socket found"
    assert {c.laddr.ip for c in conns} <= {"127.0.0.1", "::1"}
    assert app_server.port in {c.laddr.port for c in conns}


def _served(app_server, target: str) -> int:
    return requests.get(f"{app_server.url}gradio_api/file={target}", timeout=30).status_code


def test_no_file_outside_the_outputs_folder_can_be_read(app_server) -> None:
    tab = Tab(app_server, "security-files")
    tab.transcribe([AUDIO / "sentence-3.flac"])
    tab.wait()
    outputs = outputs_of(app_server)
    job = tab.job_ids()[0]
    legit = outputs / job / "sentence-3.txt"
    assert _served(app_server, str(legit)) == 200
    secret = app_server.home / "local_models" / "digits.nemo"
    settings = app_server.home / "model_cache" / "settings.json"
    tries = [
        str(secret), str(settings), "/etc/passwd", str(REPO / "app.py"),
        f"{outputs}/../local_models/digits.nemo",
        f"{outputs}/{job}/../../../local_models/digits.nemo",
        f"{outputs}/{job}/..%2F..%2F..%2Flocal_models%2Fdigits.nemo",
        urllib.parse.quote(f"{outputs}/../local_models/digits.nemo", safe=""),
        f"{outputs}/{job}/%2e%2e/%2e%2e/%2e%2e/local_models/digits.nemo",
        f"{outputs}\\..\\..\\local_models\\digits.nemo",
        "../../../../../../etc/passwd",
        "%2Fetc%2Fpasswd",
    ]
    served = {t: _served(app_server, t) for t in tries}
    assert all(code in (400, 403, 404, 405) for code in served.values()), served
    # Direct paths too (/file=, no prefix).
    assert requests.get(f"{app_server.url}file={secret}", timeout=30).status_code != 200


def test_uploads_cannot_choose_where_they_land(app_server, tmp_path) -> None:
    data = (AUDIO / "sentence-1.flac").read_bytes()
    gradio_tmp_root = app_server.home / "model_cache" / "tmp"
    for name in ("../../../escaped.flac", "/tmp/chunky-escaped.flac", "..\\..\\escaped2.flac",
                 "sub/dir/escaped3.flac"):
        r = requests.post(f"{app_server.url}gradio_api/upload", files=[("files", (name, data))], timeout=30)
        if r.status_code != 200:
            continue
        landed = Path(r.json()[0]).resolve()
        assert landed.is_relative_to(gradio_tmp_root.resolve()), landed
        assert landed.parent.parent.name == "gradio", landed  # <gradio temp>/<sha256>/<sanitised name>
    assert not Path("/tmp/chunky-escaped.flac").exists()
    assert not (app_server.home / "escaped.flac").exists() and not (REPO / "escaped.flac").exists()
    # A path that was not uploaded is refused as an input.
    fake = {"path": str(app_server.home / "local_models" / "digits.nemo"), "orig_name": "x.flac",
            "meta": {"_type": "gradio.FileData"}}
    r = requests.post(f"{app_server.url}gradio_api/run/transcribe",
                      json={"data": [[fake], None, "digits"], "session_hash": "security-upload"}, timeout=30)
    assert r.status_code in (200, 400, 403, 422, 500), r.status_code
    tab = Tab(app_server, "security-upload")
    tab.call("poll")
    assert not tab.job_ids(), "a job was made from a file that was never uploaded"


@pytest.mark.parametrize("name", ["../local_models/digits", "..", "/etc/passwd", "C:\\Windows\\x",
                                  "digits/../../x"])
def test_model_names_cannot_escape_local_models(app_server, name) -> None:
    upload = app_server.upload(AUDIO / "sentence-1.flac")
    r = requests.post(f"{app_server.url}gradio_api/run/transcribe",
                      json={"data": [[upload], None, name], "session_hash": f"security-model-{name}"},
                      timeout=30)
    if r.status_code == 200:  # accepted by the page: the job must fail with a clear message
        tab = Tab(app_server, f"security-model-{name}")
        tab.call("poll")
        if tab.job_ids():
            tab.wait()
            assert tab.state == "failed"
            assert "name" in tab.progress_text.lower() or "No model" in tab.progress_text
    assert not list(app_server.home.glob("**/extracted/..*"))
    assert sorted(p.name for p in (app_server.home / "model_cache" / "extracted").iterdir()
                  if not p.name.startswith(".")) == ["digits"]


def test_a_restart_loses_no_finished_transcript(app_server, tmp_path) -> None:
    """Jobs of an earlier run (read back from model_cache/outputs) can be opened from a new tab."""
    import shutil

    from chunky.app.page import build_page, launch_kwargs
    from chunky.app.service import Service
    from chunky.bootstrap import paths

    tab = Tab(app_server, "restart-before")
    tab.transcribe([AUDIO / "sentence-2.flac"])
    tab.wait()
    job = tab.job_ids()[0]
    cache = tmp_path / "model_cache"
    shutil.copytree(outputs_of(app_server), cache / "outputs")
    base = paths()
    p = dataclasses.replace(base, local_models=tmp_path / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    p.local_models.mkdir()
    p.extracted.mkdir()
    service = Service(p)
    page = build_page(service)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, **launch_kwargs(service))
    try:
        url = f"http://127.0.0.1:{port}/"

        def run(api: str, data: list) -> list:
            r = requests.post(f"{url}gradio_api/run/{api}", json={"data": data, "session_hash": "new-tab"},
                              timeout=30)
            assert r.status_code == 200, r.text
            return r.json()["data"]

        out = run("poll", [])
        picker = out[5]
        choices = [c[1] if isinstance(c, list | tuple) else c for c in picker.get("choices", [])]
        assert job in choices
        out = run("show_job", [job])
        assert " ".join(out[2].split()[1:]) == truth()["sentence-2.flac"]
    finally:
        page.close()
        service.shutdown(timeout=5)
