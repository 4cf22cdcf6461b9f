"""Who may use the running page, tried as an attacker and as its user would: the real ``python app.py``
over HTTP, on every route Gradio mounts.

Two servers: the shared app server (127.0.0.1, no key: one person's own PC) and ``network_server`` (the
same app as other computers reach it: it answers as ``studio-pc.test`` too and asks for the key it printed
at start). Every request goes to 127.0.0.1; a ``Host`` header stands in for other names. The route list is
read from Gradio's own route table (a page launched in this process with the same launch settings), so a
route a newer Gradio adds is tried too. The counts per route kind are written to
``tests/_artifacts/access-routes.md``; docs/reliability.md's security table sums them up. The rules as
functions: test_security.py.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests

from chunky.app.guard import REFUSED
from tests.app_server import ARTIFACTS, AUDIO, Tab, free_port, truth
from tests.conftest import NETWORK_NAME

pytestmark = pytest.mark.slow

EVIL = "https://evil.example"
API_NAMES = {"transcribe", "cancel", "poll", "show_job", "refresh_models", "page_load", "system_check",
             "export_choices", "export_again", "preset_rules", "review_save", "review_restore", "review_file",
             "review_threshold", "audio_streams", "model_choices", "model_options", "vocabulary_list",
             "save_vocabulary", "models_poll", "models_action", "catalogue_action", "setup_action",
             "download_model", "download_model_enter", "import_model"}
# Routes that must answer 200 when the guard lets a request through (the rest answer what Gradio answers a
# request without a body: 4xx for most).
MUST_WORK = {("GET", "/"), ("HEAD", "/"), ("GET", "/config"), ("GET", "/gradio_api/info"), ("GET", "{asset}"),
             ("GET", "/theme.css"), ("GET", "/favicon.ico"), ("GET", "/manifest.json"),
             ("GET", "/gradio_api/file={path_or_url:path}"), ("HEAD", "/gradio_api/file={path_or_url:path}"),
             ("GET", "/gradio_api/heartbeat/{session_hash}")}
_FOUND: dict[str, Counter] = {}  # server -> (kind -> requests that held), for the summary
_ROUTES: Counter = Counter()  # kind -> (route, method) pairs tried


# --- the routes ---------------------------------------------------------------------------------------


KINDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (kind, path prefixes); the first that matches, in this order
    ("page", ("=/",)),
    ("config and API description", ("=/config", "=/config/", "/gradio_api/info", "/gradio_api/openapi.json",
                                    "=/openapi.json")),
    ("events without the queue (/run, /api)", ("/gradio_api/run/", "/gradio_api/api/")),
    ("event streams (SSE)", ("/gradio_api/heartbeat/", "/gradio_api/dev/reload", "/gradio_api/queue/data",
                             "/gradio_api/stream/")),
    ("queue, call and cancel", ("/gradio_api/call/", "/gradio_api/queue/", "/gradio_api/cancel",
                                "/gradio_api/reset", "/gradio_api/component_server",
                                "/gradio_api/process_recording")),
    ("uploads", ("/gradio_api/upload",)),
    ("file downloads", ("/gradio_api/file=", "/gradio_api/file/", "/gradio_api/proxy=")),
    ("static assets", ("/assets/", "/static/", "/svelte/", "/gradio_api/custom_component/", "=/favicon.ico",
                       "=/theme.css", "=/gradio_api/theme.css", "=/robots.txt", "=/manifest.json",
                       "/pwa_icon")),
    ("sign-in and session", ("/login", "=/logout", "/gradio_api/user", "/gradio_api/token",
                             "/gradio_api/login_check", "/gradio_api/app_id", "/gradio_api/deep_link")),
    ("everything else Gradio mounts", ("",)),  # monitoring, startup-events, the vibe editor, runs
)


def kind_of(template: str) -> str:
    for kind, prefixes in KINDS:
        for prefix in prefixes:
            if (template == prefix[1:]) if prefix.startswith("=") else template.startswith(prefix):
                return kind
    raise AssertionError(template)


@dataclass(frozen=True)
class Probe:
    kind: str
    method: str
    template: str
    extra_headers: tuple[tuple[str, str], ...] = ()

    def path(self, values: dict[str, str]) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values.get(m.group(1), "x"), self.template)

    @property
    def is_page(self) -> bool:
        return self.template == "/" and self.method in ("GET", "HEAD")


def _walk(routes, prefix: str = ""):
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from _walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
        elif type(route).__name__ == "Mount":
            yield from _walk(getattr(route, "routes", []) or [], prefix + route.path)
        elif hasattr(route, "path"):
            for method in sorted(getattr(route, "methods", None) or ["WEBSOCKET"]):
                yield prefix + route.path, method


@pytest.fixture(scope="module")
def probes(tmp_path_factory, app_server_started) -> list[Probe]:
    """Every (route, method) Gradio mounts for Chunky's page, with the same launch settings as app.py,
    plus what no route table lists: a path that is no route, a websocket handshake, a real asset."""
    from chunky.app.page import launch_kwargs

    page, service = in_process_page(tmp_path_factory.mktemp("routes"))
    page.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True,
                **launch_kwargs(service))
    try:
        found = sorted(set(_walk(page.server_app.routes)))
    finally:
        page.close()
        service.shutdown(timeout=5)
    templates = {t for t, _ in found}
    for needed in ("/", "/config", "/gradio_api/run/{api_name}", "/gradio_api/upload",
                   "/gradio_api/file={path_or_url:path}", "/assets/{path:path}",
                   "/gradio_api/heartbeat/{session_hash}", "/gradio_api/queue/join"):
        assert needed in templates, f"{needed} is not in Gradio's route table any more: {sorted(templates)}"
    assert not any(t.startswith("/gradio_api/run-history") for t in templates), "run history is on"
    result = [Probe(kind_of(t), m, t) for t, m in found if m != "WEBSOCKET"]
    assert not [t for t, m in found if m == "WEBSOCKET"], "Gradio mounts a websocket route now: add it here"
    result += [
        Probe("not a route", "GET", "/no-such-page"),
        Probe("not a route", "POST", "/gradio_api/no-such-endpoint"),
        Probe("websocket handshake", "GET", "/gradio_api/ws",
              (("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Version", "13"),
               ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="))),
        Probe("static assets", "GET", "{asset}"),
    ]
    return result


def in_process_page(folder: Path):
    """Chunky's page and service on an empty home in ``folder`` (no model; the engine never starts)."""
    from chunky.app.page import build_page
    from chunky.app.service import Service
    from chunky.bootstrap import paths

    cache = folder / "model_cache"
    p = dataclasses.replace(paths(), local_models=folder / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    for sub in (p.local_models, p.extracted, p.outputs):
        sub.mkdir(parents=True)
    service = Service(p)
    return build_page(service), service


def test_why_not_gradios_auth(tmp_path, app_server_started):
    """What Gradio's own ``auth=`` does with queue-free events (the reason for a guard of Chunky's own):
    it does cover them (POST /gradio_api/run/<name> answers 401 before the login and 200 after it), and
    config, upload and info; but the heartbeat stream, cancel, reset, streams and the static assets reach
    their handlers without a login, and a forged Host is no concern of it (the guard refuses it)."""
    from chunky.app.page import launch_kwargs

    page, service = in_process_page(tmp_path)
    port = free_port()
    page.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, auth=("editor", "pw"),
                **launch_kwargs(service))
    url = f"http://127.0.0.1:{port}"

    def status(method: str, path: str, session: requests.Session | None = None, **kwargs) -> int:
        with (session or requests).request(method, url + path, stream=True, timeout=30, allow_redirects=False,
                                           **kwargs) as r:
            return r.status_code

    event = {"json": {"data": [], "session_hash": "auth-check"}}
    try:
        assert status("POST", "/gradio_api/run/poll", **event) == 401
        for path in ("/config", "/gradio_api/info"):
            assert status("GET", path) == 401, path
        assert status("POST", "/gradio_api/upload") == 401
        asset = re.search(r'(?:src|href)="\.?(/assets/[^"]+\.js)"', requests.get(url, timeout=30).text)
        assert asset
        open_without_login = {("GET", "/gradio_api/heartbeat/auth-check"): 200, ("GET", asset.group(1)): 200,
                              ("GET", "/theme.css"): 200, ("GET", "/manifest.json"): 200,
                              ("POST", "/gradio_api/cancel"): 422, ("POST", "/gradio_api/reset"): 422,
                              ("POST", "/gradio_api/stream/x"): 422}  # 422: the handler read the body
        for (method, path), expected in open_without_login.items():
            assert status(method, path) == expected, (method, path)
        session = requests.Session()
        assert session.post(url + "/login", data={"username": "editor", "password": "pw"}, timeout=30).ok
        assert status("POST", "/gradio_api/run/poll", session, **event) == 200
        forged = {"Host": "evil.example"}
        assert status("POST", "/gradio_api/run/poll", session, headers=forged, **event) == 403
    finally:
        page.close()
        service.shutdown(timeout=5)
    record("this PC", "Gradio's auth= (why a guard of our own)", 14)


def values_for(server, output_file: Path) -> dict[str, str]:
    """Values for the templates' parameters: a real output file, a real asset of the page."""
    html = requests.get(server.url, headers=server.headers, cookies=server.cookies, timeout=30).text
    asset = re.search(r'(?:src|href)="\.?(/assets/[^"]+\.js)"', html)
    assert asset, html[:2000]
    return {"path_or_url": str(output_file), "api_name": "poll", "session_hash": "access-sweep",
            "url_path": "http://127.0.0.1:9/x", "path": "x.js", "size": "192", "asset": asset.group(1)}


def send(server, probe: Probe, path: str, headers: dict[str, str], cookies: dict[str, str] | None = None
         ) -> tuple[int, str]:
    """One request, as raw as a browser's: no body; event streams are closed once their headers arrived.
    The status and the start of the body. (One kept-alive connection; no cookie kept between requests.)"""
    url = server.url.rstrip("/") + path
    headers = {**dict(probe.extra_headers), **headers}
    _HTTP.cookies.clear()
    with _HTTP.request(probe.method, url, headers=headers, cookies=cookies, timeout=30, stream=True,
                       allow_redirects=False) as r:
        streaming = r.headers.get("content-type", "").startswith("text/event-stream")
        start = next(r.iter_content(400), b"") if probe.method != "HEAD" and not streaming else b""
        return r.status_code, start.decode("utf-8", "replace")


_HTTP = requests.Session()


def refused(probe: Probe, answer: tuple[int, str], status: int) -> bool:
    """Refused by the guard with ``status``: its text, or its key page (HEAD: no body to look at)."""
    status_ok, body = answer[0] == status, answer[1]
    if probe.method == "HEAD":
        return status_ok and body == ""
    return status_ok and (body.startswith(REFUSED) or "<title>Chunky – enter the key" in body)


def passed(probe: Probe, answer: tuple[int, str]) -> bool:
    """Answered by Gradio, not refused by the guard; 200 for the routes of :data:`MUST_WORK`."""
    if (probe.method, probe.template) in MUST_WORK and answer[0] != 200:
        return False
    return not answer[1].startswith(REFUSED) and "enter the key" not in answer[1] and answer[0] != 401


def record(server: str, kind: str, n: int = 1) -> None:
    _FOUND.setdefault(server, Counter())[kind] += n


@pytest.fixture(scope="module")
def loopback_output(app_server) -> Path:
    tab = Tab(app_server, "access-output")
    tab.transcribe([AUDIO / "sentence-1.flac"])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    return app_server.home / "model_cache" / "outputs" / tab.job_ids()[0] / "sentence-1.txt"


# --- this PC: the shared app server --------------------------------------------------------------------


def test_every_route_refuses_a_forged_host_and_another_origin(app_server, probes, loopback_output):
    """DNS rebinding (a web site's own name pointing at 127.0.0.1) and cross-site requests, on every route:
    403 before Gradio sees them. The same requests as this PC sends them pass (Gradio answers)."""
    values = values_for(app_server, loopback_output)
    port = app_server.port
    ours = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    for probe in probes:
        path = probe.path(values)
        tries = {
            "forged Host": ({"Host": f"evil.example:{port}"}, 403),
            "forged Host, no port": ({"Host": "evil.example"}, 403),
            "Origin of another site": ({"Host": f"127.0.0.1:{port}", "Origin": EVIL}, 403),
            "Referer of another site": ({"Host": f"127.0.0.1:{port}", "Referer": f"{EVIL}/page"},
                                        None if probe.is_page else 403),
            "Sec-Fetch-Site: cross-site": ({"Host": f"127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site",
                                            "Sec-Fetch-Dest": "empty"}, 403),
            "127.0.0.1": ({"Host": f"127.0.0.1:{port}"}, None),
            "localhost": ({"Host": f"localhost:{port}"}, None),
            "same origin": ({"Host": f"127.0.0.1:{port}", "Origin": ours, "Sec-Fetch-Site": "same-origin"},
                            None),
        }
        for name, (headers, status) in tries.items():
            answer = send(app_server, probe, path, headers)
            held = refused(probe, answer, status) if status else passed(probe, answer)
            if not held:
                failures.append(f"{probe.method} {path} with {name}: {answer[0]} {answer[1][:120]!r}")
            record("this PC", probe.kind)
        _ROUTES[probe.kind] += 1
    assert not failures, "\n".join(failures)


def test_a_cors_preflight_gets_no_data_and_its_request_is_refused(app_server):
    """Gradio's CORS layer, which sits in front of the guard, answers preflights (OPTIONS) itself: an
    empty "OK". The request it announces is refused."""
    port = app_server.port
    for host in (f"evil.example:{port}", f"127.0.0.1:{port}"):
        origin = "http://evil.example" if host.startswith("evil") else EVIL
        r = requests.options(f"{app_server.url}gradio_api/run/page_load", timeout=30,
                             headers={"Host": host, "Origin": origin, "Access-Control-Request-Method": "POST",
                                      "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 200 and r.text == "OK"
        after = requests.post(f"{app_server.url}gradio_api/run/page_load", timeout=30,
                              headers={"Host": host, "Origin": origin},
                              json={"data": [], "session_hash": "preflight"})
        assert after.status_code == 403 and after.text.startswith(REFUSED)
        record("this PC", "CORS preflight, then its request", 2)


def test_cross_origin_posts_to_every_api_endpoint_are_refused(app_server):
    """Every event of the page (queue-free POSTs to /gradio_api/run/<name>), as a web page elsewhere would
    send them: with its Origin (JSON, and as a "simple" text/plain request that needs no preflight), with
    only its Referer, with only Sec-Fetch-Site. All 403, and the transcribe attempts made no job. The
    same requests from 127.0.0.1 and localhost work."""
    config = requests.get(f"{app_server.url}config", timeout=30).json()
    names = {d["api_name"] for d in config["dependencies"] if d.get("api_name")}
    assert names == API_NAMES, names
    victim = Tab(app_server, "csrf-victim")
    victim.transcribe([AUDIO / "sentence-2.flac"])
    victim.wait()
    (job,) = victim.job_ids()
    upload = app_server.upload(AUDIO / "sentence-3.flac")
    # Each event's inputs as the page first shows them (the export controls' values, the preset), the
    # files and the job for transcribe and show_job.
    defaults = {c["id"]: c.get("props", {}).get("value") for c in config["components"]}
    data = {d["api_name"]: [defaults.get(i) for i in d["inputs"]] for d in config["dependencies"]
            if d.get("api_name")}
    data.update({"transcribe": [[upload], None, "digits"], "show_job": [job]})
    port = app_server.port
    attacks = {
        "Origin, JSON": {"Origin": EVIL, "Content-Type": "application/json"},
        "Origin, text/plain": {"Origin": EVIL, "Content-Type": "text/plain;charset=UTF-8"},
        "Origin null": {"Origin": "null", "Content-Type": "text/plain;charset=UTF-8"},
        "Referer only": {"Referer": f"{EVIL}/attack.html", "Content-Type": "text/plain;charset=UTF-8"},
        "Sec-Fetch-Site only": {"Sec-Fetch-Site": "cross-site", "Content-Type": "text/plain;charset=UTF-8"},
        "another port of this PC": {"Origin": "http://127.0.0.1:8080", "Content-Type": "application/json"},
    }
    for name in sorted(names):
        body = json.dumps({"data": data.get(name, []), "session_hash": victim.session_hash})
        for attack, headers in attacks.items():
            r = requests.post(f"{app_server.url}gradio_api/run/{name}", data=body, timeout=30,
                              headers={"Host": f"127.0.0.1:{port}", **headers})
            assert r.status_code == 403 and r.text.startswith(REFUSED), (name, attack, r.status_code, r.text)
            assert job not in r.text and "sentence" not in r.text
            record("this PC", "cross-origin POST to each event")
    victim.call("poll")
    assert victim.job_ids() == [job], "a refused cross-origin transcribe made a job"
    # From this PC, by either name, with and without the page's own Origin: every event works.
    for host in (f"127.0.0.1:{port}", f"localhost:{port}"):
        for name in sorted(names - {"transcribe"}):
            r = requests.post(f"{app_server.url}gradio_api/run/{name}", timeout=120,
                              headers={"Host": host, "Origin": f"http://{host}"},
                              json={"data": data.get(name, []), "session_hash": victim.session_hash})
            assert r.status_code == 200 and "data" in r.json(), (host, name, r.text[:500])
            record("this PC", "each event from 127.0.0.1 / localhost")
    shown = requests.post(f"{app_server.url}gradio_api/run/show_job", timeout=30,
                          headers={"Host": f"localhost:{port}"},
                          json={"data": [job], "session_hash": victim.session_hash}).json()["data"]
    assert truth()["sentence-2.flac"].split()[0] in shown[2]
    fresh = Tab(app_server, "csrf-victim-2")
    fresh.transcribe([AUDIO / "sentence-3.flac"])
    fresh.wait()
    assert fresh.state == "done" and len(fresh.job_ids()) == 1


def test_a_rebinding_page_reads_nothing(app_server):
    """What issue 11 saw: a page whose own name points at 127.0.0.1 listing the jobs, reading a transcript
    and downloading its file. Each step is refused and carries none of the data."""
    tab = Tab(app_server, "rebinding-victim")
    tab.transcribe([AUDIO / "sentence-1.flac"])
    tab.wait()
    (job,) = tab.job_ids()
    srt_url = next(u for u in tab.download_urls() if u.endswith(".srt"))
    words = truth()["sentence-1.flac"].split()
    host = {"Host": f"rebind.evil.example:{app_server.port}"}
    answers = [
        requests.post(f"{app_server.url}gradio_api/run/page_load", headers=host, timeout=30,
                      json={"data": [], "session_hash": tab.session_hash}),
        requests.post(f"{app_server.url}gradio_api/run/show_job", headers=host, timeout=30,
                      json={"data": [job], "session_hash": tab.session_hash}),
        requests.get(app_server.loopback(srt_url), headers=host, timeout=30),
        requests.get(f"{app_server.url}config", headers=host, timeout=30),
        requests.get(app_server.url, headers=host, timeout=30),
    ]
    for r in answers:
        assert r.status_code == 403 and r.text.startswith(REFUSED), (r.url, r.status_code)
        assert job not in r.text and not set(words) & set(r.text.split())
    assert app_server.get(srt_url).status_code == 200  # the page itself still gets it
    record("this PC", "a rebinding page's steps (list, read, download)", len(answers))


# --- other computers: the network server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def network_output(network_server) -> Path:
    network_server.login()
    tab = Tab(network_server, "network-output")
    tab.transcribe([AUDIO / "sentence-2.flac"])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    return network_server.home / "model_cache" / "outputs" / tab.job_ids()[0] / "sentence-2.txt"


def test_network_mode_every_route_asks_for_the_key(network_server, probes, network_output):
    """Without the key: 401 on every route (a browser opening a page gets the small "enter the key" page)
    but Gradio's own start-up call. With it (the cookie of the printed address, or a Bearer header): the
    same requests pass. A key is no way around the Host and Origin checks."""
    server = network_server
    values = values_for(server, network_output)
    port = server.port
    name = f"{NETWORK_NAME}:{port}"
    failures: list[str] = []
    for probe in probes:
        path = probe.path(values)
        open_anyway = probe.method == "GET" and probe.template == "/gradio_api/startup-events"
        no = None if open_anyway else 401
        bearer = {"Host": name, "Authorization": f"Bearer {server.key}"}
        tries = {
            "no key": ({"Host": name}, None, no),
            "no key, as 127.0.0.1": ({"Host": f"127.0.0.1:{port}"}, None, no),
            "a wrong key": ({"Host": name, "Authorization": "Bearer not-the-key-at-all"}, None, no),
            "a forged cookie": ({"Host": name}, {f"chunky-key-{port}": "0" * 64}, no),
            "the key's cookie": ({"Host": name}, server.cookies, None),
            "the key as a Bearer header": (bearer, None, None),
            "the key, forged Host": ({"Host": f"evil.example:{port}"}, server.cookies, 403),
            "the key, another Origin": ({"Host": name, "Origin": EVIL}, server.cookies, 403),
        }
        for what, (headers, cookies, status) in tries.items():
            answer = send(server, probe, path, headers, cookies)
            held = refused(probe, answer, status) if status else passed(probe, answer)
            if not held:
                failures.append(f"{probe.method} {path} with {what}: {answer[0]} {answer[1][:120]!r}")
            record("network mode", probe.kind)
    assert not failures, "\n".join(failures)


def test_network_mode_the_key_page_and_the_printed_address(network_server):
    server = network_server
    host = {"Host": f"{NETWORK_NAME}:{server.port}"}
    page = requests.get(server.url, headers={**host, "Accept": "text/html"}, timeout=30)
    assert page.status_code == 401 and 'action="/chunky-key"' in page.text and server.key not in page.text
    assert page.headers["X-Frame-Options"] == "DENY"
    form = {**host, "Origin": f"http://{host['Host']}"}
    wrong = requests.post(f"{server.url}chunky-key", headers=form, data={"key": "wrong-key-typed-in-1"},
                          allow_redirects=False, timeout=30)
    assert wrong.status_code == 401 and "not right" in wrong.text and "set-cookie" not in wrong.headers
    right = requests.post(f"{server.url}chunky-key", headers=form, allow_redirects=False, timeout=30,
                          data={"key": server.key, "next": "/?__theme=dark"})
    assert right.status_code == 303 and right.headers["Location"] == "/?__theme=dark"
    cookie = right.cookies.get_dict()
    assert requests.get(server.url, headers=host, cookies=cookie, timeout=30).status_code == 200
    typo = requests.get(f"{server.url}?key={server.key[:-1]}x", headers=host, allow_redirects=False,
                        timeout=30)
    assert typo.status_code == 401 and "not right" in typo.text
    printed = requests.get(f"{server.url}?key={server.key}", headers=host, allow_redirects=False, timeout=30)
    assert printed.status_code == 303 and printed.headers["Location"] == "/"
    assert server.key not in printed.headers["Set-Cookie"]
    record("network mode", "the key page, the form and the printed address", 6)


def test_network_mode_a_whole_job_with_the_key(network_server):
    """Upload, transcribe, poll, read and download, as another computer does once it has the key."""
    server = network_server.login()
    tab = Tab(server, "network-job")
    tab.transcribe([AUDIO / "sentence-3.flac"])
    tab.wait()
    assert tab.state == "done", tab.progress_text
    urls = tab.download_urls()
    assert urls and all(u.startswith(f"http://{NETWORK_NAME}:{server.port}/") for u in urls), urls
    srt_text = server.get(next(u for u in urls if u.endswith(".srt"))).text
    assert truth()["sentence-3.flac"].split()[0] in srt_text
    without = requests.get(server.loopback(urls[0]), headers=server.headers, timeout=30)
    assert without.status_code == 401  # the download links need the key too
    record("network mode", "a whole job (upload, events, download) with the key")


def test_network_mode_nothing_listens_beside_the_guard(network_server):
    """GRADIO_SSR_MODE=true and GRADIO_NUM_WORKERS=2 are set for this server: Gradio's Node front-end and
    its static-file workers would answer on ports of their own, past the guard. Chunky turns them off."""
    proc = psutil.Process(network_server.proc.pid)
    ports = set()
    for p in [proc, *proc.children(recursive=True)]:
        ports |= {c.laddr.port for c in p.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
        assert "node" not in p.name().lower(), p.cmdline()
    assert ports == {network_server.port}


def test_network_mode_the_key_is_only_in_the_start_up_lines(network_server):
    """After every request above (right and wrong keys, in addresses, forms and headers), the key shows up
    in the app's output only in the start-up lines' addresses; the wrong keys nowhere."""
    server = network_server
    text = server.log_text()
    logs = sorted((server.home / "model_cache").glob("logs/*.log*"))
    text_files = "".join(p.read_text("utf-8", "replace") for p in logs)
    banner = text.split("=" * 64)
    assert len(banner) >= 3, text
    start_up = banner[1]
    lines = [line for line in text.splitlines() if server.key in line]
    assert lines and all(line in start_up.splitlines() for line in lines), lines
    assert all(re.match(r"^\s+(http://\S+\?key=|Also answers as )", line) for line in lines), lines
    assert server.key not in text_files
    for wrong in ("wrong-key-typed-in-1", "not-the-key-at-all", server.key[:-1] + "x"):
        assert wrong not in text + text_files
    assert "Refused" in text  # the refusals were logged, without the key


def test_zz_write_the_counts(request):
    """The counts per route kind, for docs/reliability.md (runs last in this module)."""
    if not _FOUND:
        pytest.skip("no sweep ran")
    lines = ["# Requests of tests/test_access_app.py, by route kind", "",
             "Routes (route x method) Gradio mounts, by kind:", "", "| route kind | routes |", "|---|---|"]
    lines += [f"| {kind} | {n} |" for kind, n in sorted(_ROUTES.items())]
    lines += [f"| **all** | **{sum(_ROUTES.values())}** |", ""]
    for server, counts in _FOUND.items():
        lines += [f"## {server}", "", "| route kind | requests |", "|---|---|"]
        lines += [f"| {kind} | {n} |" for kind, n in sorted(counts.items())]
        lines += [f"| **all** | **{sum(counts.values())}** |", ""]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "access-routes.md").write_text("\n".join(lines), encoding="utf-8")
