"""The launcher's choice of PyTorch build, its install steps and stamp, and its warnings (no pip is run).

The Windows side of the same code (nvidia-smi found in the NVSMI folder, the real Windows paths) runs
under Windows CPython in the Windows lane: tests/windows/test_setup_env_windows.py.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
from pathlib import Path

import pytest

from chunky import setup_env
from chunky.setup_env import Gpu, InstalledTorch, NvidiaInfo

RTX4070 = ("NVIDIA GeForce RTX 4070", (8, 9))
RTX5090 = ("NVIDIA GeForce RTX 5090", (12, 0))
GTX1080 = ("NVIDIA GeForce GTX 1080", (6, 1))
K80 = ("Tesla K80", (3, 7))


def nvidia(*gpus: tuple[str, tuple[int, int] | None], driver: str = "581.57",
           cuda: tuple[int, int] | None = (13, 0)) -> NvidiaInfo:
    return NvidiaInfo(tuple(Gpu(name, driver, cc) for name, cc in gpus), cuda, "nvidia-smi")


# ------------------------------------------------------------------------------------- the choice


def test_cpu_machine_gets_pinned_cpu_build_from_pytorch_index() -> None:
    c = setup_env.choose_torch("Linux", None, environ={})
    assert c.flavor == "cpu" and c.spec == setup_env.CPU_TORCH
    assert c.index_url == "https://download.pytorch.org/whl/cpu"


@pytest.mark.parametrize("gpus, driver, cuda, flavor", [
    ([RTX4070], "581.57", (13, 0), "cu130"),  # current driver: the newest build
    ([RTX4070], "566.36", (12, 7), "cu126"),  # a 12.x driver: no CUDA 13 build
    ([RTX4070], "536.23", (12, 2), "cu126"),  # CUDA 12.x minor version compatibility (R525+)
    ([RTX5090], "572.16", (12, 8), "cu128"),  # Blackwell on a 12.8 driver: cu126 has no sm_120 kernels
    ([RTX5090], "581.57", (13, 0), "cu130"),
    ([GTX1080], "581.57", (13, 0), "cu126"),  # Pascal: CUDA 13 dropped it, even on a new driver
    ([GTX1080, RTX4070], "581.57", (13, 0), "cu126"),  # every GPU must have kernels
    ([("NVIDIA Quadro P4000", None)], "536.23", (12, 2), "cu126"),  # unknown architecture: widest build
])
def test_cuda_build_follows_the_driver_and_the_gpu(gpus, driver, cuda, flavor) -> None:
    for system in ("Windows", "Linux"):
        c = setup_env.choose_torch(system, nvidia(*gpus, driver=driver, cuda=cuda), environ={})
        assert c.flavor == flavor, c.reason
        assert c.index_url == f"https://download.pytorch.org/whl/{flavor}"
        build = next(b for b in setup_env.CUDA_BUILDS if b.flavor == flavor)
        assert c.spec == build.spec and driver in c.reason


def test_cu128_is_capped_at_the_last_release_that_has_it() -> None:
    """torch 2.12 and later publish no cu128 wheels: asking that index for them would fail."""
    cu128 = next(b for b in setup_env.CUDA_BUILDS if b.flavor == "cu128")
    assert cu128.spec == "torch>=2.7,<2.12"
    assert {b.flavor for b in setup_env.CUDA_BUILDS} == {"cu126", "cu128", "cu130"}


@pytest.mark.parametrize("gpus, driver, cuda, words", [
    ([RTX4070], "472.12", (11, 4), ["472.12", "too old", "560 or newer"]),
    ([RTX5090], "566.36", (11, 8), ["570 or newer"]),
    ([K80], "470.82", (11, 4), ["older than any CUDA build"]),
])
def test_no_fitting_cuda_build_gives_the_cpu_build_and_says_why(gpus, driver, cuda, words) -> None:
    c = setup_env.choose_torch("Windows", nvidia(*gpus, driver=driver, cuda=cuda), environ={})
    assert c.flavor == "cpu" and c.spec == setup_env.CPU_TORCH
    for word in words:
        assert word in c.reason


def test_macos_uses_default_index() -> None:
    c = setup_env.choose_torch("Darwin", None, environ={})
    assert c.index_url is None and c.flavor == "default"


def test_environment_overrides() -> None:
    env = {"CHUNKY_TORCH_INDEX": "https://example.invalid/whl/cu126", "CHUNKY_TORCH_SPEC": "torch==2.9.1"}
    c = setup_env.choose_torch("Windows", nvidia(RTX4070), environ=env)
    assert (c.spec, c.index_url, c.flavor) == ("torch==2.9.1", "https://example.invalid/whl/cu126", "cu126")
    c = setup_env.choose_torch("Windows", nvidia(RTX4070), environ={"CHUNKY_TORCH_INDEX_BASE": "http://m/whl/"})
    assert c.index_url == "http://m/whl/cu130"


# ------------------------------------------------------------------------------------- nvidia-smi


def test_nvidia_smi_output_is_parsed() -> None:
    gpus = setup_env.parse_gpus("NVIDIA GeForce RTX 4070, 581.57, 8.9\nTesla K80, 470.82, 3.7\n")
    assert gpus == (Gpu("NVIDIA GeForce RTX 4070", "581.57", (8, 9)), Gpu("Tesla K80", "470.82", (3, 7)))
    assert setup_env.parse_gpus("Quadro P4000, 472.12\n") == (Gpu("Quadro P4000", "472.12", None),)
    assert setup_env.parse_gpus('Field "compute_cap" is not a valid field to query.\n') == ()
    header = "| NVIDIA-SMI 572.16   Driver Version: 572.16   CUDA Version: 12.8     |"
    assert setup_env.parse_cuda_version(header) == (12, 8)
    assert setup_env.parse_cuda_version("CUDA Version : 13.0") == (13, 0)
    assert setup_env.parse_cuda_version("no header") is None
    assert setup_env.cuda_from_driver("581.57") == (13, 0)
    assert setup_env.cuda_from_driver("572.16") == (12, 8)
    assert setup_env.cuda_from_driver("536.23") == (12, 2)
    assert setup_env.cuda_from_driver("390.1") is None


def test_query_falls_back_for_old_drivers_and_reads_the_cuda_version() -> None:
    asked = []

    def output(cmd):
        asked.append(cmd[1:])
        if "--query-gpu=name,driver_version,compute_cap" in cmd:
            return None  # an old driver: unknown field
        if "--query-gpu=name,driver_version" in cmd:
            return "Quadro P4000, 536.23\n"
        return "| Driver Version: 536.23   CUDA Version: 12.2 |"

    info = setup_env.query_nvidia("C:\\nvidia-smi.exe", output)
    assert info == NvidiaInfo((Gpu("Quadro P4000", "536.23", None),), (12, 2), "C:\\nvidia-smi.exe")
    assert asked[0][0].endswith("compute_cap") and asked[1][0] == "--query-gpu=name,driver_version"
    assert setup_env.query_nvidia("x", lambda cmd: None) is None
    # No "CUDA Version" in the header: the driver branch tells.
    info = setup_env.query_nvidia("x", lambda cmd: "RTX, 581.57, 8.9" if len(cmd) > 1 else "")
    assert info is not None and info.cuda == (13, 0)


def test_nvidia_smi_is_looked_for_in_nvsmi_and_system32_on_windows() -> None:
    env = {"ProgramW6432": "D:\\Programs", "ProgramFiles": "C:\\Program Files (x86)", "SystemRoot": "C:\\WIN"}
    assert setup_env.nvidia_smi_candidates("Windows", env) == [
        "D:\\Programs\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe", "C:\\WIN\\System32\\nvidia-smi.exe"]
    assert setup_env.nvidia_smi_candidates("Windows", {}) == [
        "C:\\Program Files\\NVIDIA Corporation\\NVSMI\\nvidia-smi.exe",
        "C:\\Windows\\System32\\nvidia-smi.exe"]
    assert setup_env.nvidia_smi_candidates("Linux", env) == []


def test_find_nvidia_smi_uses_the_candidates_when_not_on_path(monkeypatch) -> None:
    monkeypatch.setattr(setup_env.shutil, "which", lambda name: None)
    wanted = "C:\\Windows\\System32\\nvidia-smi.exe"
    monkeypatch.setattr(setup_env.os.path, "isfile", lambda p: p == wanted)
    assert setup_env.find_nvidia_smi("Windows") == wanted
    assert setup_env.find_nvidia_smi("Linux") is None


# ------------------------------------------------------------------------------------- installing


def test_installed_build_is_read_from_the_version() -> None:
    assert InstalledTorch("2.13.0+cu130", "13.0").flavor == "cu130"
    assert InstalledTorch("2.13.0+cpu", None).flavor == "cpu"
    assert InstalledTorch("2.13.0", None).flavor == "cpu"  # PyPI's Windows wheel
    assert InstalledTorch("2.13.0", "12.8").flavor == "cu128"  # PyPI's Linux wheel


class Pip:
    """Records pip calls; ``fail`` makes calls containing that text fail."""

    def __init__(self, fail: str | None = None):
        self.calls: list[tuple[str, ...]] = []
        self.fail = fail

    def __call__(self, *args: str) -> int:
        self.calls.append(args)
        return 1 if self.fail and self.fail in " ".join(args) else 0


@pytest.fixture
def pip(monkeypatch) -> Pip:
    recorder = Pip()
    monkeypatch.setattr(setup_env, "pip", recorder)
    return recorder


CU130 = setup_env.TorchChoice("cu130", "torch>=2.9,<2.15", "https://download.pytorch.org/whl/cu130", "")


def test_unreachable_index_falls_back_to_pypi_with_a_warning(monkeypatch, capsys) -> None:
    pip = Pip(fail="--index-url")
    monkeypatch.setattr(setup_env, "pip", pip)
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: False)
    assert setup_env.install_torch(CU130, None) == "fallback"
    assert pip.calls == [("install", "--retries", "2", "--index-url", CU130.index_url, CU130.spec),
                         ("install", "--retries", "2", "torch>=2.9,<2.15")]
    out = capsys.readouterr().out
    assert "WARNING" in out and "cannot be reached" in out and "CPU-only" in out


def test_a_pip_failure_with_the_index_reachable_stops_without_falling_back(monkeypatch, capsys) -> None:
    pip = Pip(fail="torch")
    monkeypatch.setattr(setup_env, "pip", pip)
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: True)
    with pytest.raises(SystemExit, match="not a connection problem"):
        setup_env.install_torch(CU130, None)
    assert len(pip.calls) == 1 and "--index-url" in pip.calls[0], "no second try from PyPI"


def test_another_build_is_uninstalled_first(pip, monkeypatch) -> None:
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: True)
    assert setup_env.install_torch(CU130, InstalledTorch("2.13.0+cpu", None)) == "installed"
    assert pip.calls == [("uninstall", "-y", "torch"),
                         ("install", "--retries", "2", "--index-url", CU130.index_url, CU130.spec)]


def test_the_index_is_not_probed_when_pip_succeeds(pip, monkeypatch) -> None:
    """pip may reach the build another way (a proxy it is configured with, --find-links)."""
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: pytest.fail("probed"))
    assert setup_env.install_torch(CU130, None) == "installed"
    assert len(pip.calls) == 1


def test_unreachable_index_keeps_the_torch_there(pip, monkeypatch) -> None:
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: False)
    assert setup_env.install_torch(CU130, InstalledTorch("2.13.0", None)) == "kept"
    assert pip.calls == []


@pytest.fixture
def env_files(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(setup_env, "STAMP", tmp_path / "chunky-env.json")
    monkeypatch.setattr(setup_env, "CONSTRAINTS", tmp_path / "constraint.txt")
    monkeypatch.setattr(setup_env, "path_warnings", lambda *a, **k: [])
    return tmp_path


def _machine(monkeypatch, info: NvidiaInfo | None, installed: list[InstalledTorch | None],
             reachable: bool = True, pip: Pip | None = None) -> None:
    """``installed``: what installed_torch() answers, call after call (the last one repeats). An
    unreachable index also makes pip's installs from it fail."""
    monkeypatch.setattr(setup_env.platform, "system", lambda: "Windows")
    monkeypatch.setattr(setup_env, "query_nvidia", lambda: info)
    monkeypatch.setattr(setup_env, "index_reachable", lambda url: reachable)
    if pip is not None:
        pip.fail = None if reachable else "--index-url"
    answers = list(installed)
    monkeypatch.setattr(setup_env, "installed_torch",
                        lambda: answers.pop(0) if len(answers) > 1 else answers[0])


def test_ensure_installs_the_build_pins_it_for_the_requirements_and_records_it(env_files, pip,
                                                                              monkeypatch) -> None:
    _machine(monkeypatch, nvidia(RTX4070), [None, InstalledTorch("2.14.0+cu130", "13.0")])
    setup_env.ensure(dev=False)
    assert pip.calls[0] == ("install", "--retries", "2", "--index-url",
                            "https://download.pytorch.org/whl/cu130", "torch>=2.9,<2.15")
    constraint = str(env_files / "constraint.txt")
    assert pip.calls[1] == ("install", "-r", str(setup_env.ROOT / "requirements.txt"), "-c", constraint)
    assert (env_files / "constraint.txt").read_text() == "torch==2.14.0+cu130\n"
    stamp = json.loads((env_files / "chunky-env.json").read_text())
    assert stamp["torch"] == "cu130"
    assert stamp["torch_installed"] == {"version": "2.14.0+cu130", "cuda": "13.0", "flavor": "cu130"}
    # The next start: nothing to do.
    pip.calls.clear()
    setup_env.ensure(dev=False)
    assert pip.calls == []


def test_a_change_of_build_reinstalls_torch(env_files, pip, monkeypatch) -> None:
    _machine(monkeypatch, None, [None, InstalledTorch("2.13.0+cpu", None)])
    setup_env.ensure(dev=False)
    # An NVIDIA driver got installed: the next start replaces the CPU build.
    pip.calls.clear()
    _machine(monkeypatch, nvidia(RTX4070), [InstalledTorch("2.13.0+cpu", None),
                                            InstalledTorch("2.14.0+cu130", "13.0")])
    setup_env.ensure(dev=False)
    assert pip.calls[0] == ("uninstall", "-y", "torch")
    assert "--index-url" in pip.calls[1] and pip.calls[1][-2:] == ("https://download.pytorch.org/whl/cu130",
                                                                    "torch>=2.9,<2.15")
    assert json.loads((env_files / "chunky-env.json").read_text())["torch_installed"]["flavor"] == "cu130"


def test_a_fallback_install_is_retried_at_the_next_start(env_files, pip, monkeypatch) -> None:
    _machine(monkeypatch, nvidia(RTX4070), [None, InstalledTorch("2.13.0", None)], reachable=False, pip=pip)
    setup_env.ensure(dev=False)
    stamp = json.loads((env_files / "chunky-env.json").read_text())
    assert stamp["torch"] == "cu130", "the build wanted"
    assert stamp["torch_installed"]["flavor"] == "cpu", "the build installed"
    assert not setup_env.stamp_matches(setup_env.stamp_for(CU130, dev=False))
    # Still offline: the CPU build is kept and nothing is reinstalled.
    pip.calls.clear()
    _machine(monkeypatch, nvidia(RTX4070), [InstalledTorch("2.13.0", None)], reachable=False, pip=pip)
    setup_env.ensure(dev=False)
    assert pip.calls == []
    # Online again: the CUDA build replaces it.
    _machine(monkeypatch, nvidia(RTX4070), [InstalledTorch("2.13.0", None),
                                            InstalledTorch("2.14.0+cu130", "13.0")], reachable=True, pip=pip)
    setup_env.ensure(dev=False)
    assert pip.calls[0] == ("uninstall", "-y", "torch")


def test_stamp_changes_with_requirements_and_flavor(env_files) -> None:
    cpu = setup_env.choose_torch("Linux", None, environ={})
    gpu = setup_env.choose_torch("Linux", nvidia(RTX4070), environ={})
    dev_stamp = setup_env.stamp_for(cpu, dev=True)
    assert not setup_env.stamp_matches(dev_stamp)
    installed = {"torch_installed": {"version": "2.13.0+cpu", "cuda": None, "flavor": "cpu"}}
    (env_files / "chunky-env.json").write_text(json.dumps({**dev_stamp, **installed}))
    assert setup_env.stamp_matches(dev_stamp)
    assert setup_env.stamp_matches(setup_env.stamp_for(cpu, dev=False)), "a dev install serves a plain start"
    assert not setup_env.stamp_matches(setup_env.stamp_for(gpu, dev=True))
    (env_files / "chunky-env.json").write_text(json.dumps(dev_stamp))
    assert not setup_env.stamp_matches(dev_stamp), "an old stamp without the installed build is redone"


def test_index_reachable_tells_an_answer_from_no_connection() -> None:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(404 if "missing" in self.path else 200)
            self.end_headers()
            self.wfile.write(b"<html></html>")

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert setup_env.index_reachable(f"{base}/whl/cu130")
        assert setup_env.index_reachable(f"{base}/missing"), "an HTTP error is still an answer"
    finally:
        server.shutdown()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    assert not setup_env.index_reachable(f"http://127.0.0.1:{closed}/whl/cu130", timeout=5)


# ------------------------------------------------------------------------------------- warnings

SITE = "\\.venv\\Lib\\site-packages"


@pytest.mark.parametrize("folder, env, service", [
    ("C:\\Users\\ana\\OneDrive\\Documents\\Chunky", {}, "OneDrive"),
    ("C:\\Users\\ana\\OneDrive - Contoso\\Chunky", {}, "OneDrive"),
    ("D:\\Sync\\Work\\Chunky", {"OneDriveCommercial": "D:\\Sync\\Work"}, "OneDrive"),
    ("C:\\Users\\ana\\Dropbox\\Chunky", {}, "Dropbox"),
    ("G:\\My Drive\\Chunky", {}, "Google Drive"),
])
def test_a_synced_folder_is_warned_about_with_the_fix(folder, env, service) -> None:
    (w,) = setup_env.path_warnings(folder, folder + SITE, "Windows", env)
    assert f"inside {service}" in w and "move the Chunky folder out" in w and "delete the .venv" in w


def test_a_path_too_long_for_the_torch_install_is_warned_about_with_the_fix() -> None:
    deep = "C:\\Users\\ana\\Projects\\" + "\\".join(["speech-transcription-tools"] * 3) + "\\Chunky"
    site = deep + SITE
    assert len(site) + 1 + setup_env.TORCH_LONGEST_RELPATH >= 260
    (w,) = setup_env.path_warnings(deep, site, "Windows", {})
    assert "260-character limit" in w and "C:\\Chunky" in w and "LongPathsEnabled" in w
    assert setup_env.path_warnings(deep, site, "Windows", {}, long_paths=True) == []
    assert setup_env.path_warnings(deep, site, "Linux", {}) == []


def test_a_short_unsynced_folder_gets_no_warning() -> None:
    folder = "C:\\Users\\Ünïcode Üser\\My Apps\\Chunky test"
    env = {"OneDrive": "C:\\Users\\x\\OneDrive"}
    assert setup_env.path_warnings(folder, folder + SITE, "Windows", env) == []
    assert setup_env.path_warnings("/home/ana/chunky", "/home/ana/chunky/.venv/lib", "Linux", {}) == []
