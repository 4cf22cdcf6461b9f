"""The access rules as functions, and the guard as an ASGI app in front of a small stand-in app: the Host
allowlist, the Origin check, the key (generated, set, compared, cookie, form), the settings that carry it.
No Gradio, no server: these run in milliseconds. The same rules against the running app, on every route
Gradio mounts, are in test_access_app.py."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import subprocess
import sys

import pytest

from chunky.app.guard import REFUSED, Guard
from chunky.app.security import (
    KEY_FORM_PATH,
    Access,
    access_for,
    is_loopback,
    new_key,
    same_secret,
    split_host,
)
from chunky.settings import HIDDEN, MIN_KEY_LENGTH, load_settings

PORT = 7860
LOOPBACK = access_for("127.0.0.1")
KEY = "k7q2-mz9x-p4rt-w8ne-3hcd-u5vy"
NETWORK = access_for("0.0.0.0", key=KEY, machine_names=["edit-pc", "edit-pc.local"])
PROXIED = access_for("127.0.0.1", allowed_hosts=["chunky.example.org", "studio:8443"], key=KEY)


# --- names ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, expected", [
    ("127.0.0.1:7860", ("127.0.0.1", 7860)),
    ("LOCALHOST:7860", ("localhost", 7860)),
    ("localhost.:7860", ("localhost", 7860)),
    ("[::1]:7860", ("::1", 7860)),
    ("[::1]", ("::1", None)),
    ("edit-pc", ("edit-pc", None)),
    ("::1:7860", None),  # IPv6 without brackets
    ("[zz::1]:7860", None),
    ("evil.example:7860/x", None),
    ("user@127.0.0.1:7860", None),
    ("127.0.0.1:0", None),
    ("127.0.0.1:99999", None),
    ("127.0.0.1:７８６０", None),  # full-width digits
    ("127.0.0.1:", None),
    ("", None),
    ("a" * 300, None),
])
def test_split_host(header, expected):
    assert split_host(header) == expected


@pytest.mark.parametrize("host, loop", [("127.0.0.1", True), ("127.5.6.7", True), ("localhost", True),
                                        ("::1", True), ("[::1]", True), ("::ffff:127.0.0.1", True),
                                        ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
                                        ("localhost.evil.example", False), ("", False)])
def test_loopback_addresses(host, loop):
    assert is_loopback(host) is loop


# --- Host -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("access, host, allowed", [
    # on loopback: loopback names and addresses at Chunky's port, nothing else
    (LOOPBACK, "127.0.0.1:7860", True),
    (LOOPBACK, "localhost:7860", True),
    (LOOPBACK, "[::1]:7860", True),
    (LOOPBACK, "127.0.0.2:7860", True),
    (LOOPBACK, "evil.example:7860", False),  # DNS rebinding: the attacker's name pointing at 127.0.0.1
    (LOOPBACK, "evil.example", False),
    (LOOPBACK, "localhost.evil.example:7860", False),
    (LOOPBACK, "127.0.0.1.nip.io:7860", False),
    (LOOPBACK, "192.168.1.20:7860", False),  # not listening there
    (LOOPBACK, "127.0.0.1:8080", False),  # another port: not Chunky's
    (LOOPBACK, "127.0.0.1", False),  # port 80
    (LOOPBACK, None, False),
    (LOOPBACK, "", False),
    # on the network: any IP address and this computer's names, at Chunky's port
    (NETWORK, "192.168.1.20:7860", True),
    (NETWORK, "[fd00::20]:7860", True),
    (NETWORK, "edit-pc:7860", True),
    (NETWORK, "EDIT-PC.local:7860", True),
    (NETWORK, "localhost:7860", True),
    (NETWORK, "edit-pc.evil.example:7860", False),
    (NETWORK, "evil.example:7860", False),
    (NETWORK, "192.168.1.20:8080", False),
    # --allow-host names: at any port, or the one given
    (PROXIED, "chunky.example.org", True),
    (PROXIED, "chunky.example.org:443", True),
    (PROXIED, "studio:8443", True),
    (PROXIED, "studio:7860", False),
    (PROXIED, "127.0.0.1:7860", True),
    (PROXIED, "example.org", False),
])
def test_host_allowlist(access: Access, host, allowed):
    refusal = access.host_refusal(host, PORT, "http")
    assert (refusal is None) is allowed, refusal


# --- Origin ---------------------------------------------------------------------------------------------


def refusal_of(access: Access, method="POST", path="/gradio_api/run/poll", host="127.0.0.1:7860",
               scheme="http", **headers: str) -> str | None:
    named = {k.replace("_", "-"): v for k, v in headers.items()}
    return access.source_refusal(method, path, named, host, scheme)


@pytest.mark.parametrize("headers, refused", [
    ({}, False),  # a script or command-line client: no browser headers
    ({"origin": "http://127.0.0.1:7860"}, False),
    ({"origin": "http://127.0.0.1:7860", "sec_fetch_site": "same-origin"}, False),
    ({"origin": "https://evil.example"}, True),
    ({"origin": "http://localhost:7860"}, True),  # another origin, even if loopback
    ({"origin": "http://127.0.0.1:8080"}, True),  # another port: another origin
    ({"origin": "https://127.0.0.1:7860"}, True),  # another scheme
    ({"origin": "null"}, True),  # sandboxed frames, file:// pages
    ({"origin": "evil"}, True),
    ({"referer": "http://127.0.0.1:7860/?__theme=dark"}, False),
    ({"referer": "https://evil.example/page"}, True),
    ({"sec_fetch_site": "cross-site"}, True),  # e.g. <img referrerpolicy=no-referrer>
    ({"sec_fetch_site": "same-site"}, True),  # another port of localhost
    ({"sec_fetch_site": "none"}, False),  # typed into the address bar
])
def test_origin_check_on_an_api_endpoint(headers, refused):
    refusal = refusal_of(LOOPBACK, **headers)
    assert (refusal is not None) is refused, refusal


def test_opening_the_page_from_a_link_elsewhere_is_allowed_but_not_framing_it():
    link = {"referer": "https://mail.example/inbox", "sec_fetch_site": "cross-site",
            "sec_fetch_dest": "document"}
    assert refusal_of(LOOPBACK, "GET", "/", **link) is None
    assert refusal_of(LOOPBACK, "GET", "/", referer="https://mail.example/") is None  # no Sec-Fetch-*
    assert refusal_of(LOOPBACK, "GET", "/", sec_fetch_site="cross-site", sec_fetch_dest="iframe")
    assert refusal_of(LOOPBACK, "GET", "/config", **link)  # data: no
    assert refusal_of(LOOPBACK, "GET", "/gradio_api/file=/x/y.srt", **link)
    assert refusal_of(LOOPBACK, "POST", "/", **link)
    assert refusal_of(LOOPBACK, "GET", "/", origin="https://evil.example")  # a fetch(), not a link


def test_a_reverse_proxy_name_is_a_same_origin():
    assert refusal_of(PROXIED, host="127.0.0.1:7860", origin="https://chunky.example.org") is None
    behind = refusal_of(PROXIED, host="chunky.example.org", scheme="http", origin="https://chunky.example.org")
    assert behind is None
    assert refusal_of(PROXIED, host="studio:8443", origin="https://studio:8443") is None
    assert refusal_of(PROXIED, host="studio:8443", origin="https://studio:9999")
    assert refusal_of(PROXIED, host="127.0.0.1:7860", origin="https://evil.example")


def test_refusals_quote_header_text_safely():
    refusal = LOOPBACK.host_refusal("evil.example\r\nSet-Cookie: x=1", PORT, "http")
    assert refusal and "\r" not in refusal and "\n" not in refusal
    refusal = refusal_of(LOOPBACK, origin="https://" + "e" * 500 + ".example")
    assert refusal and len(refusal) < 200


# --- the key --------------------------------------------------------------------------------------------


def test_who_needs_a_key():
    assert access_for("127.0.0.1").key is None
    assert access_for("localhost").key is None
    assert access_for("::1").key is None
    for host in ("0.0.0.0", "::", "192.168.1.20", "studio-pc.lan"):
        assert access_for(host).key, host  # listening on the network
    assert access_for("127.0.0.1", share=True).key  # a public share link
    assert access_for("127.0.0.1", allowed_hosts=["chunky.example.org"]).key  # a reverse proxy
    assert access_for("127.0.0.1", key=KEY).key == KEY  # asked for
    assert access_for("0.0.0.0", key=KEY).key == KEY
    assert access_for("studio-pc.lan").names == {"studio-pc.lan"}


def test_generated_keys():
    keys = {new_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert re.fullmatch(r"([2-9a-hjkmnp-z]{4}-){5}[2-9a-hjkmnp-z]{4}", key), key
    assert len(set("".join(keys).replace("-", ""))) == 31  # the whole alphabet is used


def test_keys_are_compared_by_digest():
    assert same_secret(KEY, KEY)
    assert not same_secret(KEY, KEY[:-1])
    assert not same_secret(KEY + "x", KEY)
    assert not same_secret(None, KEY) and not same_secret(KEY, None)
    assert NETWORK.key_matches(KEY) and not NETWORK.key_matches(KEY.upper()) and not LOOPBACK.key_matches(KEY)
    assert NETWORK.cookie_value and KEY not in NETWORK.cookie_value
    assert access_for("0.0.0.0", key=KEY).cookie_value == NETWORK.cookie_value
    assert access_for("0.0.0.0").cookie_value != NETWORK.cookie_value
    assert KEY not in repr(NETWORK)


# --- the settings ---------------------------------------------------------------------------------------


def test_chunky_key_is_a_setting_that_is_never_shown(caplog):
    settings = load_settings({"CHUNKY_KEY": KEY,
                              "CHUNKY_ALLOWED_HOSTS": "Studio-PC.lan, chunky.example.org:8443"})
    assert settings.key == KEY
    assert settings.allowed_hosts == ("studio-pc.lan", "chunky.example.org:8443")
    assert KEY not in repr(settings)
    shown = dict((name, value) for name, value, _ in settings.describe())
    assert shown["key"] == HIDDEN and shown["allowed_hosts"] == "studio-pc.lan,chunky.example.org:8443"
    assert settings.public_values()["key"] == HIDDEN
    assert dict((n, o) for n, _, o in settings.describe())["key"] == "environment CHUNKY_KEY"
    assert load_settings({}).describe()[-1] == ("key", "-", "default")
    # A key too short is ignored with a warning that does not show it; a new key is made at start instead.
    weak = "hunter2hunter2"
    assert len(weak) < MIN_KEY_LENGTH
    with caplog.at_level(logging.WARNING):
        settings = load_settings({"CHUNKY_KEY": weak})
    assert settings.key is None
    assert "CHUNKY_KEY" in caplog.text and "too short" in caplog.text and weak not in caplog.text
    assert weak not in repr(settings.rejected) and settings.rejected["key"][1] == HIDDEN
    assert load_settings({"CHUNKY_KEY": "with a space in it, long enough"}).key is None
    assert load_settings({"CHUNKY_ALLOWED_HOSTS": "http://x.example/"}).rejected["allowed_hosts"]


def test_python_m_chunky_config_masks_the_key(repo_root, tmp_path):
    import os

    env = {**os.environ, "CHUNKY_HOME": str(tmp_path), "CHUNKY_KEY": KEY}
    for extra in ([], ["--json"]):
        out = subprocess.run([sys.executable, "-m", "chunky", "config", *extra], cwd=repo_root, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert KEY not in out.stdout + out.stderr
        if extra:
            shown = json.loads(out.stdout)["settings"]["key"]
            assert shown == {"value": HIDDEN, "from": "environment CHUNKY_KEY"}
        else:
            assert re.search(r"^key\s+\(hidden\)\s+environment CHUNKY_KEY$", out.stdout, re.M), out.stdout


# --- the guard, as an ASGI app --------------------------------------------------------------------------


async def stand_in(scope, receive, send):
    """What the guard protects: answers 200 "page data" (or accepts a websocket)."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"page data"})


class Answer:
    def __init__(self, messages: list[dict]):
        self.messages = messages
        start = next((m for m in messages if m["type"].endswith("response.start")), {})
        self.status = start.get("status")
        self.headers = {k.decode().lower(): v.decode() for k, v in start.get("headers", [])}
        self.text = b"".join(m.get("body", b"") for m in messages if m["type"].endswith("response.body")
                             ).decode()
        self.accepted = any(m["type"] == "websocket.accept" for m in messages)
        self.closed = any(m["type"] == "websocket.close" for m in messages)


def call(access: Access, method="GET", path="/", *, host="127.0.0.1:7860", query="", body=b"",
         kind="http", extensions=None, raw_headers=(), guard: Guard | None = None, **headers: str) -> Answer:
    raw = [(b"host", host.encode())] if host is not None else []
    raw += [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()] + list(raw_headers)
    scope = {"type": kind, "method": method, "path": path, "query_string": query.encode(), "headers": raw,
             "scheme": "http" if kind == "http" else "ws", "server": ("127.0.0.1", PORT),
             "extensions": extensions or {}}
    incoming = [{"type": "http.request", "body": body, "more_body": False}] if kind == "http" else \
        [{"type": "websocket.connect"}]
    sent: list[dict] = []

    async def receive():
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    asyncio.run((guard or Guard(stand_in, access))(scope, receive, send))
    return Answer(sent)


def test_guard_refuses_a_forged_host_and_a_foreign_origin():
    assert call(LOOPBACK).text == "page data"
    forged = call(LOOPBACK, host="evil.example:7860")
    assert forged.status == 403 and forged.text.startswith(REFUSED) and "evil.example" in forged.text
    assert forged.headers["content-type"].startswith("text/plain")
    assert call(LOOPBACK, host=None).status == 403
    assert call(LOOPBACK, "POST", "/gradio_api/run/poll", origin="https://evil.example").status == 403
    assert call(LOOPBACK, "POST", "/gradio_api/run/poll", origin="http://127.0.0.1:7860").status == 200
    # Two Host or Origin headers: refused (which one would the app believe?)
    answer = call(LOOPBACK, raw_headers=[(b"host", b"evil.example")])
    assert answer.status == 403 and "more than one host header" in answer.text
    answer = call(LOOPBACK, "POST", raw_headers=[(b"origin", b"http://127.0.0.1:7860"),
                                                 (b"origin", b"https://evil.example")])
    assert answer.status == 403 and "more than one origin header" in answer.text


def test_guard_adds_headers_that_stop_framing_and_sniffing():
    headers = call(LOOPBACK).headers
    assert headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"] == "frame-ancestors 'none'"
    assert headers["referrer-policy"] == "same-origin" and headers["x-content-type-options"] == "nosniff"


def test_guard_on_websockets():
    assert call(LOOPBACK, kind="websocket", path="/ws", origin="http://127.0.0.1:7860").accepted
    refused = call(LOOPBACK, kind="websocket", path="/ws", origin="https://evil.example")
    assert refused.closed and not refused.accepted
    # With the server's HTTP-answer extension, the handshake gets a real 403 and the reason.
    refused = call(LOOPBACK, kind="websocket", path="/ws", host="evil.example:7860",
                   extensions={"websocket.http.response": {}})
    assert refused.status == 403 and refused.text.startswith(REFUSED) and not refused.accepted
    answer = call(NETWORK, kind="websocket", path="/ws", extensions={"websocket.http.response": {}})
    assert answer.status == 401
    cookie = f"{Access.cookie_name(PORT)}={NETWORK.cookie_value}"
    assert call(NETWORK, kind="websocket", path="/ws", cookie=cookie).accepted


def test_guard_asks_for_the_key():
    page = call(NETWORK)
    assert page.status == 401 and page.headers["content-type"].startswith("text/html")
    assert f'action="{KEY_FORM_PATH}"' in page.text and 'name="key"' in page.text and KEY not in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    api = call(NETWORK, "POST", "/gradio_api/run/page_load")
    assert api.status == 401 and api.text.startswith(REFUSED) and "key" in api.text
    assert call(NETWORK, path="/gradio_api/file=/x/y.srt").status == 401
    assert call(NETWORK, path="/assets/index.js").status == 401
    assert call(NETWORK, "HEAD").status == 401 and call(NETWORK, "HEAD").text == ""
    assert call(NETWORK, path="/gradio_api/startup-events").text == "page data"  # launch() needs it
    # The key from the address: a cookie, and on to the page without the key in the address.
    opened = call(NETWORK, query=f"key={KEY}&__theme=dark")
    assert opened.status == 303 and opened.headers["location"] == "/?__theme=dark"
    cookie = opened.headers["set-cookie"]
    assert cookie.startswith(f"chunky-key-{PORT}={NETWORK.cookie_value};") and KEY not in cookie
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie and "Secure" not in cookie
    jar = cookie.split(";", 1)[0]
    assert call(NETWORK, cookie=jar).text == "page data"
    assert call(NETWORK, "POST", "/gradio_api/run/poll", cookie=f"other=1; {jar}").text == "page data"
    assert call(NETWORK, cookie=f"chunky-key-{PORT}=forged").status == 401
    assert call(NETWORK, cookie=f"chunky-key-9999={NETWORK.cookie_value}").status == 401  # another Chunky's
    wrong = call(NETWORK, query="key=k7q2-mz9x-p4rt-w8ne-3hcd-u5vz")
    assert wrong.status == 401 and "not right" in wrong.text and "set-cookie" not in wrong.headers
    assert "k7q2" not in wrong.text
    # With the cookie already, the printed address again (or an old one): on to the page, no key left.
    again = call(NETWORK, query=f"key={KEY}", cookie=jar)
    assert again.status == 303 and again.headers["location"] == "/" and "set-cookie" in again.headers
    old = call(NETWORK, query="key=an-old-key-of-yesterday&__theme=dark", cookie=jar)
    assert old.status == 303 and old.headers["location"] == "/?__theme=dark"
    assert "set-cookie" not in old.headers
    # Scripts: the Authorization header.
    assert call(NETWORK, "POST", "/gradio_api/run/poll", authorization=f"Bearer {KEY}").text == "page data"
    assert call(NETWORK, "POST", "/gradio_api/run/poll", authorization="Bearer nope").status == 401
    # A key is no way around the Host and Origin rules.
    assert call(NETWORK, host="evil.example:7860", cookie=jar).status == 403
    answer = call(NETWORK, "POST", "/gradio_api/run/poll", cookie=jar, origin="https://evil.example")
    assert answer.status == 403


def test_the_key_form():
    form = f"key={KEY}&next=%2Fgradio_api%2Ffile%3D%2Fx%2Fy.srt".encode()
    ok = call(NETWORK, "POST", KEY_FORM_PATH, body=form, origin="http://127.0.0.1:7860",
              content_type="application/x-www-form-urlencoded")
    assert ok.status == 303 and ok.headers["location"] == "/gradio_api/file=/x/y.srt"
    assert ok.headers["set-cookie"].startswith(f"chunky-key-{PORT}={NETWORK.cookie_value};")
    wrong = call(NETWORK, "POST", KEY_FORM_PATH, body=b"key=nope&next=/")
    assert wrong.status == 401 and "not right" in wrong.text
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)",
                   KEY_FORM_PATH):
        answer = call(NETWORK, "POST", KEY_FORM_PATH, body=f"key={KEY}&next={target}".encode())
        assert answer.headers["location"] == "/", target  # never sent on to another site
    assert call(NETWORK, "POST", KEY_FORM_PATH, body=b"key=" + b"x" * 10000).status == 413
    # The form is no way around the Origin rule (no logging in from another site).
    assert call(NETWORK, "POST", KEY_FORM_PATH, body=f"key={KEY}".encode(),
                origin="https://evil.example").status == 403
    # A browser opening another address without the key gets the form, sent back there afterwards.
    page = call(NETWORK, path="/gradio_api/file=/x/y.srt", accept="text/html,*/*")
    assert page.status == 401 and 'value="/gradio_api/file=/x/y.srt"' in page.text


def test_guard_logs_refusals_without_the_key(caplog):
    guard = Guard(stand_in, NETWORK)
    with caplog.at_level(logging.DEBUG, logger="chunky.app.guard"):
        call(NETWORK, host="evil.example:7860", query=f"key={KEY}", guard=guard)
        call(NETWORK, host="evil.example:7860", query=f"key={KEY}", guard=guard)
        call(NETWORK, "POST", KEY_FORM_PATH, body=b"key=typo-of-the-key", guard=guard)
        call(NETWORK, query="key=typo-of-the-key", guard=guard)
    assert "evil.example" in caplog.text
    assert [r.levelno for r in caplog.records if "evil.example" in r.getMessage()] == \
        [logging.WARNING, logging.DEBUG]  # once as a warning, then quietly
    assert KEY not in caplog.text and "typo-of-the-key" not in caplog.text


# --- the start-up lines ---------------------------------------------------------------------------------


def test_the_start_up_lines_show_where_to_open_the_page():
    from chunky.app.server import start_lines

    text = "\n".join(start_lines(LOOPBACK, "127.0.0.1", PORT))
    assert "http://127.0.0.1:7860/\n" in text and "key" not in text
    lines = start_lines(NETWORK, "0.0.0.0", PORT, ["192.168.1.20", "fd00::20"])
    text = "\n".join(lines)
    for url in ("http://127.0.0.1:7860/", "http://edit-pc:7860/", "http://192.168.1.20:7860/",
                "http://[fd00::20]:7860/"):
        assert f"      {url}?key={KEY}\n" in text, text
    assert "Listening on 0.0.0.0" in text
    assert all(re.match(r"^      http://\S+/\?key=", line) for line in lines if KEY in line)
    bound = "\n".join(start_lines(access_for("192.168.1.20", key=KEY), "192.168.1.20", PORT))
    assert bound.count(f"http://192.168.1.20:7860/?key={KEY}") == 1
    proxied = "\n".join(start_lines(PROXIED, "127.0.0.1", PORT))
    assert f"http://127.0.0.1:7860/?key={KEY}" in proxied
    assert "Also answers as chunky.example.org" in proxied and "studio:8443" in proxied


def test_this_computer_names_itself():
    """Its names, and its addresses without loopback, link-local and repeats (a stand-in resolver: the
    real one may ask a DNS server on the network)."""
    import socket

    from chunky.app.security import this_computer

    def resolve(name, port, proto=0):
        assert name == "edit-pc.studio.lan"
        found = ["127.0.1.1", "192.168.1.20", "192.168.1.20", "fe80::1%12", "fd00::20", "::1"]
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, 1, 6, "", (a, 0)) for a in found]

    names, addresses = this_computer(lambda: "EDIT-PC.studio.lan.", resolve)
    assert names == ["edit-pc.studio.lan", "edit-pc", "edit-pc.local"]
    assert addresses == ["192.168.1.20", "fd00::20"]
    assert this_computer(lambda: "", resolve) == ([], [])

    def fails(*args, **kwargs):
        raise socket.gaierror("no such name")

    assert this_computer(lambda: "edit-pc", fails) == (["edit-pc", "edit-pc.local"], [])
