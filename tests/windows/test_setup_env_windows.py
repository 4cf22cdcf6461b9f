"""run.bat and the real chunky/setup_env.py under Windows CPython 3.13 in Wine.

The venv is made from the real embeddable CPython; pip is a stand-in that logs its command line and
writes a fake ``torch`` whose version follows the index it came from (tests/windows/winside/fakepip);
nvidia-smi is a stub in ``C:\\Program Files\\NVIDIA Corporation\\NVSMI`` (not on PATH, as older drivers
install it). The PyTorch index is a small HTTP server on this machine (``CHUNKY_TORCH_INDEX_BASE``), or
a closed port for "unreachable".
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.windows.lane import LaneSession
from tests.windows.machine import CHUNKY_FOLDER, Gpu, Machine, case_dir

pytestmark = [pytest.mark.windows, pytest.mark.slow]

PAUSED = "Press any key"


@pytest.fixture(scope="module")
def index_base() -> Iterator[str]:
    """A stand-in for download.pytorch.org/whl: answers every page."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html><body>torch</body></html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/whl"
    server.shutdown()


@pytest.fixture
def closed_base() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/whl"


def _machine(winlane: LaneSession, request, gpu: Gpu | None, folder: str = CHUNKY_FOLDER) -> Machine:
    m = Machine(winlane, case_dir(winlane, request.node.name), py=("3.13",), real_venv=True, gpu=gpu,
                folder=folder)
    m.install_chunky()
    return m


def _pip(m: Machine) -> list[list[str]]:
    return [[a for a in c["argv"][1:] if a != "--disable-pip-version-check"] for c in m.calls("pip")]


def _stamp(m: Machine) -> dict:
    return json.loads((m.chunky / ".venv" / "chunky-env.json").read_text("utf-8"))


def _start(m: Machine, base: str, **env: str):
    r = m.double_click("--no-browser", env={"CHUNKY_TORCH_INDEX_BASE": base, **env}, timeout=180)
    return r


def test_gpu_machine_gets_the_cuda_build_its_driver_runs(winlane, request, index_base) -> None:
    m = _machine(winlane, request, Gpu(driver="581.57", cuda="13.0", compute_cap="8.9"))
    r = _start(m, index_base)
    assert r.code == 0 and PAUSED not in r.output, r.output
    pip = _pip(m)
    assert pip[0][-2:] == [f"{index_base}/cu130", "torch>=2.9,<2.15"], pip[0]
    assert pip[0][:1] == ["install"] and pip[0][-3] == "--index-url"
    req = pip[1]
    assert req[:2] == ["install", "-r"] and req[2].endswith("\\requirements.txt") and req[3] == "-c"
    assert (m.chunky / ".venv" / "chunky-torch-constraint.txt").read_text() == "torch==2.14.0+cu130\n"
    assert _stamp(m)["torch_installed"] == {"version": "2.14.0+cu130", "cuda": "13.0", "flavor": "cu130"}
    # nvidia-smi was found in the NVSMI folder, although it is not on PATH.
    smi = [c["argv"][1:] for c in m.calls("nvidia-smi.exe")]
    assert ["--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"] in smi
    assert "driver 581.57 runs CUDA 13.0" in r.stdout
    assert [c["argv"][1:] for c in m.calls("app.py")] == [["--no-browser"]]
    # The second start: the stamp matches, no pip at all.
    r = _start(m, index_base)
    assert r.code == 0 and _pip(m) == [], r.output


def test_cpu_machine_gets_the_cpu_build_and_a_new_gpu_replaces_it(winlane, request, index_base) -> None:
    m = _machine(winlane, request, None)
    r = _start(m, index_base)
    assert r.code == 0, r.output
    assert _pip(m)[0][-1:] == ["torch==2.13.0"] and _pip(m)[0][-2].endswith("/cpu")
    assert _stamp(m)["torch_installed"]["flavor"] == "cpu"
    # An NVIDIA driver from before compute_cap could be asked (the first query fails): cu126.
    m.gpu = Gpu(name="NVIDIA Quadro P4000", driver="536.23", cuda="12.2", compute_cap=None)
    m.write()
    r = _start(m, index_base)
    assert r.code == 0, r.output
    pip = _pip(m)
    assert [p for p in pip if "torch" in " ".join(p)][:1] == [["uninstall", "-y", "torch"]], "replaced"
    assert pip[1][-2:] == [f"{index_base}/cu126", "torch>=2.6,<2.15"], pip[1]
    assert _stamp(m)["torch_installed"]["flavor"] == "cu126"


def test_a_pip_failure_stops_with_a_message_instead_of_installing_pypis_cpu_torch(winlane, request,
                                                                                  index_base) -> None:
    m = _machine(winlane, request, Gpu())
    r = _start(m, index_base, CHUNKY_FAKE_PIP_FAIL="--index-url")
    installs = [p for p in _pip(m) if p[:1] == ["install"]]
    assert len(installs) == 1 and "--index-url" in installs[0], f"no second try from PyPI: {installs}"
    assert PAUSED in r.stdout and r.code != 0, r.output
    assert "not a connection problem" in r.output and "setting up the environment" in r.stdout
    assert not (m.chunky / ".venv" / "chunky-env.json").exists()
    assert not m.calls("app.py")


def test_an_unreachable_index_falls_back_with_a_warning_and_the_stamp_says_so(winlane, request,
                                                                              closed_base) -> None:
    m = _machine(winlane, request, Gpu())
    r = _start(m, closed_base)
    assert r.code == 0, r.output
    assert "WARNING" in r.stdout and "cannot be reached" in r.stdout and "CPU-only" in r.stdout
    pip = _pip(m)
    assert pip[0][-2:] == [f"{closed_base}/cu130", "torch>=2.9,<2.15"], "the PyTorch index first"
    assert pip[1] == ["install", "--retries", "2", "torch>=2.9,<2.15"], "then the default index"
    stamp = _stamp(m)
    assert stamp["torch"] == "cu130" and stamp["torch_installed"]["flavor"] == "cpu"


@pytest.mark.parametrize("folder, text", [
    ("C:\\Users\\Ünïcode Üser\\OneDrive\\Documents\\Chunky", "inside OneDrive"),
    ("C:\\Users\\Ünïcode Üser\\Documents\\" + "\\".join(["Speech to text projects 2026"] * 3) + "\\Chunky",
     "260-character limit"),
])
def test_a_risky_folder_is_warned_about_before_installing(winlane, request, index_base, folder: str,
                                                          text: str) -> None:
    m = _machine(winlane, request, None, folder=folder)
    r = _start(m, index_base)
    assert r.code == 0, r.output
    assert text in r.stdout, r.stdout
    assert r.stdout.index(text) < r.stdout.index("Successfully installed torch"), "warned before installing"
