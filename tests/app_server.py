"""Start ``python app.py`` in a subprocess for the UI tests, and talk to it like the browser does.

The server runs with its own CHUNKY_HOME (a temp folder whose local_models/ holds the digits test model),
on the CPU, with its output captured in a log file that failure messages quote. Stop it with
:meth:`AppServer.stop`: SIGTERM (Ctrl+Break on Windows) makes app.py shut its job runner down cleanly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

REPO = Path(__file__).resolve().parent.parent
DIGITS_MODEL = REPO / "tests" / "assets" / "digits-ctc.nemo"
AUDIO = REPO / "tests" / "assets" / "audio"
ARTIFACTS = REPO / "tests" / "_artifacts"
TERMINAL_STATES = ("done", "partial", "failed", "cancelled")
# Names of the page's outputs, in the order every main endpoint returns them
# (chunky.app.logic.PageLogic.OUTPUTS).
OUTPUTS = ("status", "progress", "transcript", "downloads", "jobs", "picker", "cancel")


def truth() -> dict[str, str]:
    return json.loads((AUDIO / "truth.json").read_text(encoding="utf-8"))


def make_home(folder: Path, models: dict[str, Path] | None = None) -> Path:
    """A CHUNKY_HOME with ``local_models/<name>.nemo`` for each of ``models`` (none: an empty one)."""
    (folder / "local_models").mkdir(parents=True, exist_ok=True)
    for name, src in (models or {}).items():
        shutil.copyfile(src, folder / "local_models" / f"{name}.nemo")
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """One ``python app.py --no-browser`` process.

    ``args``: more command-line flags. When the server asks for a key (its start-up line prints the address
    with ``?key=``), :attr:`key` holds it; :meth:`login` opens that address once, as a browser would, and
    every request after it carries the cookie it set. :attr:`headers` go with every request (a ``Host``
    header can stand in for a machine name); every request still goes to 127.0.0.1."""

    def __init__(self, home: Path, log_path: Path, *, env: dict[str, str] | None = None,
                 args: Sequence[str] = ()):
        self.home = Path(home)
        self.log_path = Path(log_path)
        self.extra_env = dict(env or {})
        self.args = list(args)
        self.proc: subprocess.Popen | None = None
        self.url = ""
        self.port = 0
        self.key: str | None = None
        self.headers: dict[str, str] = {}
        self.cookies: dict[str, str] = {}
        self._log = None

    def start(self) -> AppServer:
        env = {k: v for k, v in os.environ.items()
               if k not in ("GRADIO_TEMP_DIR", "TMPDIR", "TEMP", "TMP", "GRADIO_SERVER_PORT")}
        env.update({"CHUNKY_HOME": str(self.home), "CHUNKY_DEVICE": "cpu", "PYTHONUNBUFFERED": "1",
                    "PYTHONUTF8": "1", "GRADIO_ANALYTICS_ENABLED": "False"})
        env.update(self.extra_env)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        kwargs: dict[str, Any] = {}
        if os.name == "nt":
            kwargs["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "app.py"), "--no-browser", "--port", str(self.port), *self.args],
            cwd=str(REPO), env=env, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            **kwargs,
        )
        return self

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def fail_message(self, what: str) -> str:
        return f"{what}\n--- app.py log ({self.log_path}), last lines ---\n{self.log_tail()}"

    def wait_ready(self, timeout: float = 90.0) -> AppServer:
        """Wait for the printed address, then for GET / to answer (200; 401 when a key is asked)."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.fail_message(f"app.py exited with status {self.proc.returncode}"))
            if not self.url:
                found = re.search(r"(http://127\.0\.0\.1:\d+/)(\?key=([\w.~-]+))?", self.log_text())
                if found:
                    self.url, self.key = found.group(1), found.group(3)
            if self.url:
                try:
                    answered = requests.get(self.url, headers=self.headers, timeout=5).status_code
                    if answered == (401 if self.key else 200):
                        return self
                except requests.RequestException:
                    pass
            time.sleep(0.1)
        raise RuntimeError(self.fail_message(f"app.py did not answer within {timeout:.0f} s"))

    def login(self) -> AppServer:
        """Open the printed address with its key, as a browser does: the cookie it sets is kept."""
        r = requests.get(f"{self.url}?key={self.key}", headers=self.headers, allow_redirects=False,
                         timeout=30)
        assert r.status_code == 303, self.fail_message(f"/?key= answered {r.status_code}: {r.text[:500]}")
        self.cookies.update(r.cookies.get_dict())
        assert self.cookies, r.headers
        return self

    def loopback(self, url: str) -> str:
        """``url`` (perhaps built by the page from a Host header naming another machine) on 127.0.0.1."""
        if not url.startswith("http"):
            return self.url.rstrip("/") + "/" + url.lstrip("/")
        parts = urlsplit(url)
        return self.url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop the server cleanly (kill it if it does not stop in time); its exit status."""
        proc = self.proc
        if proc is None:
            return None
        try:
            if proc.poll() is None:
                if os.name == "nt":
                    proc.send_signal(signal.CTRL_BREAK_EVENT)
                else:
                    proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
            return proc.returncode
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None

    # --- the browser's requests -------------------------------------------------------------------

    def upload(self, path: Path, name: str | None = None) -> dict[str, Any]:
        """POST /gradio_api/upload; the FileData the page then sends for a gr.File input."""
        with open(path, "rb") as f:
            r = requests.post(f"{self.url}gradio_api/upload", headers=self.headers, cookies=self.cookies,
                              files=[("files", (name or Path(path).name, f))], timeout=60)
        assert r.status_code == 200, self.fail_message(f"upload answered {r.status_code}: {r.text}")
        server_path = r.json()[0]
        return {"path": server_path, "orig_name": name or Path(path).name, "size": Path(path).stat().st_size,
                "meta": {"_type": "gradio.FileData"}}

    def run(self, api_name: str, data: list[Any], session_hash: str) -> list[Any]:
        """POST /gradio_api/run/<api_name> (what a queue=False event of the page sends); the output values."""
        r = requests.post(f"{self.url}gradio_api/run/{api_name}", headers=self.headers, cookies=self.cookies,
                          json={"data": data, "session_hash": session_hash}, timeout=60)
        assert r.status_code == 200, self.fail_message(
            f"{api_name} answered {r.status_code}: {r.text[:2000]}")
        return r.json()["data"]

    def get(self, url: str) -> requests.Response:
        return requests.get(self.loopback(url), headers=self.headers, cookies=self.cookies, timeout=60)


def is_skip(value: Any) -> bool:
    """An output the server left as it was (gr.skip())."""
    return (isinstance(value, dict) and value.get("__type__") == "update"
            and set(value) <= {"__type__", "props"})


class Tab:
    """One simulated browser tab: a constant session hash and the outputs as the page would show them."""

    def __init__(self, server: AppServer, session_hash: str):
        self.server = server
        self.session_hash = session_hash
        self.shown: dict[str, Any] = {}  # output name -> value
        self.props: dict[str, dict[str, Any]] = {}  # output name -> properties set by updates (choices...)
        self.history: list[dict[str, Any]] = []  # every state seen, for progress checks

    def apply(self, values: list[Any]) -> dict[str, Any]:
        for name, value in zip(OUTPUTS, values, strict=False):
            if is_skip(value):
                continue
            if isinstance(value, dict) and value.get("__type__") == "update":
                props = {k: v for k, v in value.items() if k not in ("__type__", "value")}
                self.props.setdefault(name, {}).update(props)
                if "value" in value:
                    self.shown[name] = value["value"]
            else:
                self.shown[name] = value
        self.history.append(dict(self.shown))
        return self.shown

    def call(self, api_name: str, data: list[Any] | None = None) -> dict[str, Any]:
        return self.apply(self.server.run(api_name, data or [], self.session_hash))

    def transcribe(self, files: Iterable[Path], model: str | None = "digits") -> dict[str, Any]:
        uploads = [self.server.upload(p) for p in files]
        return self.call("transcribe", [uploads, None, model])

    @property
    def state(self) -> str | None:
        found = re.search(r'class="chunky-job[^"]*" data-state="(\w+)"', str(self.shown.get("progress", "")))
        return found.group(1) if found else None

    @property
    def progress_text(self) -> str:
        return re.sub(r"<[^>]+>", " ", str(self.shown.get("progress", "")))

    def wait(self, timeout: float = 120.0, states: tuple[str, ...] = TERMINAL_STATES) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.call("poll")
            if self.state in states:
                return self.shown
            time.sleep(0.2)
        raise AssertionError(self.server.fail_message(
            f"tab {self.session_hash}: still {self.state!r} after {timeout:.0f} s: {self.progress_text}"))

    def job_ids(self) -> list[str]:
        return re.findall(r'<tr data-job="(\w+)"', str(self.shown.get("jobs", "")))

    def download_urls(self) -> list[str]:
        files = self.shown.get("downloads") or []
        return [f["url"] for f in files]
