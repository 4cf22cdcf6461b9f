"""The ASGI middleware in front of every route of the page: applies :mod:`chunky.app.security`'s rules.

Every HTTP request and websocket, whatever Gradio mounts (pages, config, API, uploads, files, static
assets, event streams), passes :class:`Guard` first:

1. a ``Host`` that is not a name of this Chunky: **403**;
2. a browser request from another origin (``Origin``, ``Referer``, ``Sec-Fetch-Site``): **403**;
3. when a key is asked and the request brings none (cookie, ``Authorization: Bearer``): **401**, with a
   small "enter the key" page for a browser opening a page, plain text otherwise. ``/?key=...`` and the
   form set the cookie and send the browser on to the page (303), so the key leaves the address bar.

Answers that pass get a few headers that keep other sites from framing the page (``X-Frame-Options``,
``frame-ancestors``), from seeing its address (``Referrer-Policy``) and browsers from guessing file types.
Refusals never echo the key, the cookie or the query string, and are logged without them.

:func:`launch_kwargs` gives what ``Blocks.launch`` needs for the guard to see every request: the guard as
middleware of Gradio's own FastAPI app, and no server that would answer beside it (Gradio's Node
front-end and its static-file worker processes stay off whatever GRADIO_* variables say).
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

from chunky.app.security import KEY_FORM_PATH, KEY_PARAM, OPEN_WITHOUT_KEY, PAGE_PATHS, Access

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

REFUSED = "Chunky refused this request: "  # the start of every refusal's text
MAX_FORM_BYTES = 8192
SAFE_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
)
KEY_PAGE_CSP = (b"default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                b"frame-ancestors 'none'; base-uri 'none'")


class Request:
    """What the rules need of one ASGI scope: lower-case headers (a repeated Host, Origin, Referer or
    Cookie header makes it invalid), path, method, query, scheme and the port it came in on."""

    SINGLE = ("host", "origin", "referer", "sec-fetch-site", "sec-fetch-dest", "authorization")

    def __init__(self, scope: Scope):
        self.kind: str = scope["type"]
        self.method: str = scope.get("method", "GET") if self.kind == "http" else "GET"
        self.path: str = scope.get("path", "/") or "/"
        self.query: str = scope.get("query_string", b"").decode("latin-1")
        self.scheme: str = scope.get("scheme", "http")
        server = scope.get("server")
        self.server_port: int | None = server[1] if server and len(server) > 1 else None
        self.extensions: dict[str, Any] = scope.get("extensions") or {}
        self.headers: dict[str, str] = {}
        self.repeated: list[str] = []
        cookies: list[str] = []
        for raw_name, raw_value in scope.get("headers", []):
            name, value = raw_name.decode("latin-1").lower(), raw_value.decode("latin-1")
            if name == "cookie":
                cookies.append(value)
            elif name in self.headers and name in self.SINGLE:
                self.repeated.append(name)
            else:
                self.headers[name] = value
        self.cookie_header = "; ".join(cookies)

    def cookie(self, name: str) -> str | None:
        for part in self.cookie_header.split(";"):
            key, sep, value = part.strip().partition("=")
            if sep and key == name:
                return value.strip().strip('"')
        return None

    def bearer(self) -> str | None:
        scheme, _, token = self.headers.get("authorization", "").partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def query_value(self, name: str) -> str | None:
        for key, value in parse_qsl(self.query, keep_blank_values=True, max_num_fields=50):
            if key == name:
                return value
        return None

    def query_without(self, name: str) -> str:
        return urlencode([(k, v) for k, v in parse_qsl(self.query, keep_blank_values=True, max_num_fields=50)
                          if k != name])

    @property
    def wants_html(self) -> bool:
        return self.method in ("GET", "HEAD") and (
            self.path in PAGE_PATHS or "text/html" in self.headers.get("accept", "")
            or self.headers.get("sec-fetch-dest") == "document")


class Guard:
    """ASGI middleware: the Host, Origin and key rules of ``access`` before ``app`` sees a request."""

    def __init__(self, app: ASGIApp, access: Access):
        self.app = app
        self.access = access
        self._logged: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)  # lifespan
            return
        request = Request(scope)
        access = self.access
        refusal = (f"it has more than one {request.repeated[0]} header" if request.repeated else None) \
            or access.host_refusal(request.headers.get("host"), request.server_port, request.scheme) \
            or access.source_refusal(request.method, request.path, request.headers,
                                     request.headers.get("host"), request.scheme)
        if refusal:
            self._log_refusal(request, refusal)
            await self._refuse(request, receive, send, 403, REFUSED + refusal + ".")
            return
        if access.needs_key:
            has_key = self._has_key(request)
            if request.kind == "http" and request.method in ("GET", "HEAD") and request.path in PAGE_PATHS \
                    and request.query_value(KEY_PARAM) is not None:
                await self._key_in_address(request, send, has_key)  # never left in the address bar
                return
            if not has_key:
                await self._ask_for_key(request, receive, send)
                return
        await self.app(scope, receive, _with_safe_headers(send) if request.kind == "http" else send)

    # --- the key --------------------------------------------------------------------------------------

    def _has_key(self, request: Request) -> bool:
        access = self.access
        if request.method == "GET" and request.path in OPEN_WITHOUT_KEY:
            return True
        if access.cookie_matches(request.cookie(access.cookie_name(request.server_port))):
            return True
        return access.key_matches(request.bearer())

    async def _ask_for_key(self, request: Request, receive: Receive, send: Send) -> None:
        if request.kind == "http" and request.method == "POST" and request.path == KEY_FORM_PATH:
            await self._key_form(request, receive, send)
            return
        if request.kind == "http" and request.wants_html:
            next_path = request.path + (f"?{request.query}" if request.query else "")
            await self._key_page(request, send, "", next_path=next_path)
            return
        await self._refuse(request, receive, send, 401, REFUSED + "this Chunky asks for its key. Open the "
                           "address with ?key=... that Chunky printed when it started, or send the header "
                           "'Authorization: Bearer <key>'.")

    async def _key_in_address(self, request: Request, send: Send, has_key: bool) -> None:
        """``/?key=...``: the right key sets the cookie; either way the browser goes on to the address
        without it (a wrong one, without a cookie already: the key page)."""
        rest = request.query_without(KEY_PARAM)
        target = request.path + (f"?{rest}" if rest else "")
        if self.access.key_matches(request.query_value(KEY_PARAM)):
            await self._key_accepted(request, send, target)
        elif has_key:
            location = _safe_next(target).encode("latin-1", "replace")
            await _respond(send, 303, "", headers=[(b"location", location)], head=request.method == "HEAD")
        else:
            await self._key_page(request, send, "That key is not right. Copy the whole address Chunky "
                                 "printed when it started, or type the key again.", next_path=target)

    async def _key_form(self, request: Request, receive: Receive, send: Send) -> None:
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > MAX_FORM_BYTES:
                await _respond(send, 413, REFUSED + "the form is too large.", head=False)
                return
            if not message.get("more_body", False):
                break
        fields = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True, max_num_fields=10))
        next_path = _safe_next(fields.get("next", "/"))
        if self.access.key_matches(fields.get("key", "").strip()):
            await self._key_accepted(request, send, next_path)
        else:
            log.info("A wrong key was entered on the page.")
            await self._key_page(request, send, "That key is not right. It is in the address Chunky printed "
                                 "when it started, after ?key=.", next_path=next_path)

    async def _key_accepted(self, request: Request, send: Send, location: str) -> None:
        access = self.access
        cookie = (f"{access.cookie_name(request.server_port)}={access.cookie_value}; Path=/; HttpOnly; "
                  "SameSite=Lax" + ("; Secure" if request.scheme in ("https", "wss") else ""))
        target = _safe_next(location).encode("latin-1", "replace")
        headers = [(b"location", target), (b"set-cookie", cookie.encode("latin-1"))]
        await _respond(send, 303, "", headers=headers, head=request.method == "HEAD")

    async def _key_page(self, request: Request, send: Send, message: str, *, next_path: str) -> None:
        await _respond(send, 401, key_page(message, _safe_next(next_path)),
                       content_type=b"text/html; charset=utf-8",
                       headers=[(b"content-security-policy", KEY_PAGE_CSP)], head=request.method == "HEAD")

    # --- refusals -------------------------------------------------------------------------------------

    async def _refuse(self, request: Request, receive: Receive, send: Send, status: int, text: str) -> None:
        if request.kind == "websocket":
            await receive()  # websocket.connect
            if "websocket.http.response" in request.extensions:  # a real HTTP answer to the handshake
                await send({"type": "websocket.http.response.start", "status": status,
                            "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
                await send({"type": "websocket.http.response.body", "body": text.encode("utf-8")})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await _respond(send, status, text, head=request.method == "HEAD")

    def _log_refusal(self, request: Request, refusal: str) -> None:
        """The first refusal of each kind as a warning (a web page may be trying to reach Chunky), the rest
        at debug level. Never the query string or cookies (they may hold a key)."""
        kind = refusal.split(" (", 1)[0][:60]
        level = logging.DEBUG if kind in self._logged or len(self._logged) >= 50 else logging.WARNING
        self._logged.add(kind)
        log.log(level, "Refused %s %s: %s.", request.method, request.path[:120], refusal)


def _safe_next(path: str) -> str:
    """Where to send the browser after the key: a path on this page, never another site."""
    path = (path or "/").replace("\r", "").replace("\n", "")
    if not path.startswith("/") or path.startswith("//") or path.startswith("/\\") \
            or path.split("?", 1)[0] == KEY_FORM_PATH:
        return "/"
    return path


async def _respond(send: Send, status: int, body: str, *, content_type: bytes = b"text/plain; charset=utf-8",
                   headers: list[tuple[bytes, bytes]] | None = None, head: bool = False) -> None:
    data = body.encode("utf-8")
    all_headers = [(b"content-type", content_type), (b"content-length", str(len(data)).encode()),
                   (b"cache-control", b"no-store"), *(headers or [])]
    names = {name for name, _ in all_headers}
    all_headers += [(n, v) for n, v in SAFE_HEADERS if n not in names]
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": b"" if head else data})


def _with_safe_headers(send: Send) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = list(message.get("headers", []))
            present = {bytes(name).lower() for name, _ in headers}
            headers += [(n, v) for n, v in SAFE_HEADERS if n not in present]
            message = {**message, "headers": headers}
        await send(message)

    return sending


def key_page(message: str, next_path: str) -> str:
    """The small "enter the key" page (self-contained: no script, no other file)."""
    note = f'<p class="error" role="alert">{html.escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Chunky – enter the key</title>
<style>
body{{font-family:system-ui,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;background:#f5f6fb;color:#1f2333;
margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}}
main{{background:#fff;border-radius:12px;box-shadow:0 2px 12px rgba(0,0,0,.08);padding:28px 32px;
max-width:440px}}
h1{{font-size:1.3rem;margin:0 0 12px}} p{{line-height:1.45}} .error{{color:#b3261e;font-weight:600}}
input{{width:100%;box-sizing:border-box;font:inherit;padding:9px 10px;margin:6px 0 14px;
border:1px solid #c5c8d6;border-radius:8px}}
button{{font:inherit;background:#4f46e5;color:#fff;border:0;border-radius:8px;padding:9px 18px;
cursor:pointer}}
</style></head>
<body><main>
<h1>Chunky asks for its key</h1>
<p>This Chunky can be reached from other computers, so it opens only with its key. The key is in the
address Chunky printed in its window when it started (after <code>?key=</code>).</p>
{note}
<form method="post" action="{KEY_FORM_PATH}">
<label for="key">Key</label>
<input id="key" name="key" type="password" autocomplete="current-password" autofocus required>
<input type="hidden" name="next" value="{html.escape(next_path, quote=True)}">
<button type="submit">Open Chunky</button>
</form>
<p><small>Your browser keeps the key until it is closed (a cookie for this address only).</small></p>
</main></body></html>
"""


def launch_kwargs(access: Access) -> dict[str, Any]:
    """What ``Blocks.launch`` needs so that every request meets the guard first: the guard as middleware
    of Gradio's FastAPI app; Gradio's Node front-end (``ssr_mode``) and static-file worker processes
    (``num_workers``) off, whatever GRADIO_SSR_MODE / GRADIO_NUM_WORKERS say, since they answer beside it;
    no MCP server; no run history (it would keep the transcripts in the browser's storage)."""
    from starlette.middleware import Middleware

    return {
        "app_kwargs": {"middleware": [Middleware(Guard, access=access)]},
        "ssr_mode": False,
        "num_workers": 0,
        "mcp_server": False,
        "run_history": False,
        "strict_cors": True,
    }
