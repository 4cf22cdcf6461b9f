"""A local stand-in for the Hugging Face Hub (a tiny HTTP server on 127.0.0.1) for the download tests:
the API's model info, HEAD and GET (with Range) on resolve, dropped connections, a held response (to watch
a download midway or cancel it), a claimed size (a disk that is too small), and what it was asked."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT = "a" * 40


class FakeHub:
    """Just enough of the Hub API for huggingface_hub: model info, HEAD and GET (with Range) on resolve."""

    def __init__(self) -> None:
        self.repos: dict[str, dict[str, bytes]] = {}
        self.drop_after: dict[str, int] = {}  # filename -> bytes sent before the connection drops
        self.drops_left: dict[str, int] = {}  # filename -> how many GETs drop (default: all)
        self.api_status: int | None = None
        self.sizes: dict[str, int] = {}  # filename -> the size the API claims (default: the real one)
        self.hold_after: dict[str, int] = {}  # filename -> bytes the next GET sends, then waits for `release`
        self.release = threading.Event()
        self.requests: list[tuple[str, str]] = []
        self.ranges: list[tuple[str, str | None]] = []  # (path, Range header) of every GET of a file
        self.answers: list[tuple[int, int]] = []  # (status, Content-Length) of every GET of a file
        self.sent: dict[str, int] = {}  # filename -> file bytes sent in all
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def do_GET(self) -> None:
                hub.handle(self, body=True)

            def do_HEAD(self) -> None:
                hub.handle(self, body=False)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def add(self, repo_id: str, files: dict[str, bytes]) -> None:
        self.repos[repo_id] = files

    def gets(self, filename: str) -> int:
        return sum(1 for method, path in self.requests if method == "GET" and path.endswith("/" + filename))

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes = b"") -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        if body and h.command != "HEAD":
            h.wfile.write(body)

    def _send_held(self, h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], filename: str,
                   body: bytes) -> None:
        """The first ``hold_after`` bytes, then (once :attr:`release` is set) the rest; a client that
        goes away meanwhile just ends it."""
        first = body[: self.hold_after.pop(filename)]
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key, value)
        h.end_headers()
        try:
            h.wfile.write(first)
            h.wfile.flush()
            self.sent[filename] = self.sent.get(filename, 0) + len(first)
            self.release.wait(60)
            h.wfile.write(body[len(first):])
            h.wfile.flush()
            self.sent[filename] += len(body) - len(first)
        except OSError:
            h.close_connection = True

    def handle(self, h: BaseHTTPRequestHandler, body: bool) -> None:
        path = unquote(urlsplit(h.path).path)
        self.requests.append((h.command, path))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"]:
            repo_id = "/".join(parts[2:4])
            if self.api_status:
                return self._send(h, self.api_status, {"Content-Length": "0"})
            files = self.repos.get(repo_id)
            if files is None:
                return self._send(h, 404, {"X-Error-Code": "RepoNotFound", "Content-Length": "0"})
            siblings = []
            for name, data in files.items():
                sha = hashlib.sha256(data).hexdigest()
                size = self.sizes.get(name, len(data))
                siblings.append(
                    {
                        "rfilename": name,
                        "size": size,
                        "lfs": {"size": size, "sha256": sha, "pointerSize": 134},
                    }
                )
            payload = json.dumps(
                {"id": repo_id, "sha": COMMIT, "siblings": siblings, "private": False}
            ).encode()
            return self._send(
                h, 200, {"Content-Type": "application/json", "Content-Length": str(len(payload))}, payload
            )
        if len(parts) >= 5 and parts[2] == "resolve":
            repo_id, filename = "/".join(parts[:2]), "/".join(parts[4:])
            files = self.repos.get(repo_id)
            if files is None:
                return self._send(h, 404, {"X-Error-Code": "RepoNotFound", "Content-Length": "0"})
            if filename not in files:
                return self._send(
                    h, 404, {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": COMMIT, "Content-Length": "0"}
                )
            data = files[filename]
            headers = {
                "X-Repo-Commit": COMMIT,
                "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
                "Accept-Ranges": "bytes",
                "Content-Type": "application/octet-stream",
            }
            start = 0
            rng = h.headers.get("Range")
            if h.command == "GET":
                self.ranges.append((path, rng))
            if rng and rng.startswith("bytes=") and h.command == "GET":
                start = int(rng[len("bytes=") :].split("-")[0])
                headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
            headers["Content-Length"] = str(len(data) - start)
            status = 206 if start else 200
            if h.command == "GET":
                self.answers.append((status, len(data) - start))
            if h.command == "GET" and filename in self.drop_after and self.drops_left.get(filename, 1) > 0:
                if filename in self.drops_left:
                    self.drops_left[filename] -= 1
                cut = self.drop_after[filename] if start == 0 else 0
                h.send_response(status)
                for key, value in headers.items():
                    h.send_header(key, value)
                h.end_headers()
                h.wfile.write(data[start : start + cut])
                h.wfile.flush()
                self.sent[filename] = self.sent.get(filename, 0) + len(data[start : start + cut])
                h.close_connection = True
                return None
            if h.command == "GET" and filename in self.hold_after:
                return self._send_held(h, status, headers, filename, data[start:])
            if h.command == "GET":
                self.sent[filename] = self.sent.get(filename, 0) + len(data) - start
            return self._send(h, status, headers, data[start:])
        return self._send(h, 404, {"Content-Length": "0"})


@contextmanager
def running_hub() -> Iterator[FakeHub]:
    """A FakeHub for a test or a module, closed after it (a held download let go first)."""
    server = FakeHub()
    try:
        yield server
    finally:
        server.release.set()
        server.close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
