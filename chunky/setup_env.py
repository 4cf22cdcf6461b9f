"""Install Chunky's dependencies into the running (virtual) environment; called by run.sh / run.bat.

``python -m chunky.setup_env [--dev]`` picks the torch build for the machine, installs it,
installs requirements.txt (and requirements-dev.txt with --dev) without letting them replace that torch,
installs Chunky itself (editable: the venv runs this folder's code, and the ``chunky`` command exists),
and records a stamp so the next start skips pip entirely. ``--show`` prints the choice and why.

The torch build: the CPU build where no NVIDIA GPU is found; otherwise the CUDA build of the PyTorch
index that the driver runs (nvidia-smi's "CUDA Version") and that has kernels for the GPU (its compute
capability), newest first; the CPU build, with the reason, when none fits. A change of build (a new
driver, a GPU added) reinstalls torch. The build actually installed (``torch.__version__``,
``torch.version.cuda``) is what the stamp records.

Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath

ROOT = Path(__file__).resolve().parent.parent
STAMP = Path(sys.prefix) / "chunky-env.json"
CONSTRAINTS = Path(sys.prefix) / "chunky-torch-constraint.txt"
PYTORCH_INDEX = "https://download.pytorch.org/whl"
# The CPU build is pinned (the version the project is tested with); CUDA builds take the newest release
# below 2.15 that their index holds; macOS gets PyPI's own build.
CPU_TORCH = "torch==2.13.0"
DEFAULT_TORCH = "torch>=2.6,<2.15"


@dataclass(frozen=True)
class CudaBuild:
    """A CUDA build of torch on the PyTorch index."""

    flavor: str  # the index folder: https://download.pytorch.org/whl/<flavor>
    cuda: tuple[int, int]
    min_cc: tuple[int, int]  # oldest GPU architecture (compute capability) it has kernels for
    max_cc_major: int  # newest architecture family it has kernels for (12: Blackwell RTX 50xx)
    spec: str  # the torch releases the index holds for it, within what Chunky supports

    @property
    def cuda_text(self) -> str:
        return f"{self.cuda[0]}.{self.cuda[1]}"


# What download.pytorch.org publishes for Windows and Linux x86-64 (PyTorch's release notes and the
# CUDA support matrix of its RELEASE.md; checked for 2.6 to 2.14):
#   2.6: cu118 cu124 cu126 | 2.7: cu118 cu126 cu128 | 2.8: cu126 cu128 cu129 | 2.9-2.11: cu126 cu128 cu130
#   2.12-2.14: cu126 cu130 (and cu132: experimental in 2.12/2.13, not used here) | 2.15 drops cu126.
# cu126 has kernels for Maxwell (5.0) to Hopper (9.0); cu128 (2.11 dropped Volta) and cu130 for Turing
# (7.5) to Blackwell (10.0, 12.0). A CUDA 12.x build runs on any driver for CUDA 12.0 or newer, a 13.x
# build on any driver for 13.0 or newer (NVIDIA's minor version compatibility: R525+ / R580+).
# Preference: the newest CUDA; among 12.x builds cu126 first, as it has the newer torch releases.
CUDA_BUILDS = (
    CudaBuild("cu130", (13, 0), (7, 5), 12, "torch>=2.9,<2.15"),
    CudaBuild("cu126", (12, 6), (5, 0), 9, "torch>=2.6,<2.15"),
    CudaBuild("cu128", (12, 8), (7, 5), 12, "torch>=2.7,<2.12"),
)
# The newest CUDA each driver branch runs, for when nvidia-smi does not print it (first match wins).
DRIVER_CUDA = ((580, (13, 0)), (575, (12, 9)), (570, (12, 8)), (560, (12, 6)), (555, (12, 5)),
               (550, (12, 4)), (545, (12, 3)), (535, (12, 2)), (530, (12, 1)), (525, (12, 0)),
               (520, (11, 8)), (450, (11, 0)))
# The longest file name torch 2.13's wheel writes below site-packages (a licence file in its
# torch-2.13.0+cu130.dist-info folder), in characters: with Windows' 260-character limit (MAX_PATH)
# a site-packages path longer than 260 - 1 - this breaks the install.
TORCH_LONGEST_RELPATH = 175
MAX_PATH = 260
SYNC_FOLDERS = (("onedrive", "OneDrive"), ("dropbox", "Dropbox"), ("google drive", "Google Drive"),
                ("my drive", "Google Drive"), ("iclouddrive", "iCloud Drive"),
                ("icloud drive", "iCloud Drive"))


@dataclass(frozen=True)
class Gpu:
    name: str
    driver: str  # e.g. "581.57"
    compute_cap: tuple[int, int] | None  # None: the driver cannot tell (older than R510)


@dataclass(frozen=True)
class NvidiaInfo:
    gpus: tuple[Gpu, ...]
    cuda: tuple[int, int] | None  # the newest CUDA the driver runs ("CUDA Version" of nvidia-smi)
    exe: str

    @property
    def driver(self) -> str:
        return self.gpus[0].driver


@dataclass(frozen=True)
class TorchChoice:
    flavor: str  # "cpu", "cu130", ..., "default" (PyPI's own, macOS), "custom" (CHUNKY_TORCH_INDEX)
    spec: str
    index_url: str | None  # None: the package index pip is configured with
    reason: str = ""

    def describe(self) -> str:
        where = self.index_url or "the default package index"
        return f"{self.spec} ({self.flavor} build) from {where}"

    def accepts(self, installed: InstalledTorch) -> bool:
        """Whether the installed torch is this build (any torch will do for "default" and "custom")."""
        return self.flavor in ("default", "custom") or installed.flavor == self.flavor


@dataclass(frozen=True)
class InstalledTorch:
    version: str  # torch.__version__, e.g. "2.13.0+cu130"
    cuda: str | None  # torch.version.cuda, e.g. "13.0"; None for a CPU build

    @property
    def flavor(self) -> str:
        local = self.version.partition("+")[2]
        if local:
            return local
        if self.cuda:  # PyPI's Linux wheels are CUDA builds without a local version label
            major, _, minor = self.cuda.partition(".")
            return f"cu{major}{minor[:1]}"
        return "cpu"


# ------------------------------------------------------------------------------------- the NVIDIA driver


def nvidia_smi_candidates(system: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """Where nvidia-smi may be besides PATH: older Windows drivers put it in Program Files\\NVIDIA
    Corporation\\NVSMI (not on PATH), newer ones in System32."""
    if system != "Windows":
        return []
    program_files = environ.get("ProgramW6432") or environ.get("ProgramFiles") or "C:\\Program Files"
    system_root = environ.get("SystemRoot") or "C:\\Windows"
    return [str(PureWindowsPath(program_files, "NVIDIA Corporation", "NVSMI", "nvidia-smi.exe")),
            str(PureWindowsPath(system_root, "System32", "nvidia-smi.exe"))]


def find_nvidia_smi(system: str | None = None) -> str | None:
    found = shutil.which("nvidia-smi")
    if found:
        return found
    for candidate in nvidia_smi_candidates(system or platform.system()):
        if os.path.isfile(candidate):
            return candidate
    return None


def parse_gpus(text: str) -> tuple[Gpu, ...]:
    """``nvidia-smi --query-gpu=name,driver_version[,compute_cap] --format=csv,noheader`` lines."""
    gpus = []
    for line in text.splitlines():
        fields = [f.strip() for f in line.split(",")]
        if len(fields) < 2 or not re.fullmatch(r"\d+(\.\d+)*", fields[1]):
            continue
        cc = None
        if len(fields) > 2:
            m = re.fullmatch(r"(\d+)\.(\d+)", fields[2])
            cc = (int(m.group(1)), int(m.group(2))) if m else None
        gpus.append(Gpu(fields[0], fields[1], cc))
    return tuple(gpus)


def parse_cuda_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"CUDA Version\s*:\s*(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def cuda_from_driver(driver: str) -> tuple[int, int] | None:
    try:
        branch = int(driver.split(".")[0])
    except ValueError:
        return None
    return next((cuda for first, cuda in DRIVER_CUDA if branch >= first), None)


def _output(cmd: Sequence[str], timeout: float = 30) -> str | None:
    try:
        out = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout if out.returncode == 0 else None


def query_nvidia(exe: str | None = None, output: Callable[[Sequence[str]], str | None] = _output,
                 ) -> NvidiaInfo | None:
    """The GPUs and driver nvidia-smi reports, or None without an NVIDIA driver."""
    exe = exe or find_nvidia_smi()
    if not exe:
        return None
    text = output([exe, "--query-gpu=name,driver_version,compute_cap", "--format=csv,noheader"])
    if text is None:  # drivers older than R510 do not know compute_cap
        text = output([exe, "--query-gpu=name,driver_version", "--format=csv,noheader"])
    gpus = parse_gpus(text or "")
    if not gpus:
        return None
    cuda = parse_cuda_version(output([exe]) or "") or cuda_from_driver(gpus[0].driver)
    return NvidiaInfo(gpus, cuda, exe)


# ------------------------------------------------------------------------------------- the choice


def pick_cuda_build(info: NvidiaInfo) -> tuple[CudaBuild | None, str]:
    """The CUDA build for this driver and these GPUs, and why (or why none)."""
    ccs = [g.compute_cap for g in info.gpus if g.compute_cap]
    gpu = info.gpus[0]
    what = f"{gpu.name} (compute capability {'.'.join(map(str, gpu.compute_cap))})" if gpu.compute_cap \
        else gpu.name
    driver_cuda = f"CUDA {info.cuda[0]}.{info.cuda[1]}" if info.cuda else "an unknown CUDA version"
    for build in CUDA_BUILDS:
        if info.cuda is None or info.cuda < (build.cuda[0], 0):
            continue  # the driver cannot run this CUDA major version
        if ccs and not all(build.min_cc <= cc and cc[0] <= build.max_cc_major for cc in ccs):
            continue  # no kernels for one of the GPUs
        if not ccs and build.min_cc > (5, 0):
            continue  # unknown GPU: only the build with the widest range of GPUs is safe
        return build, f"driver {info.driver} runs {driver_cuda}; {build.flavor} has kernels for {what}"
    if gpu.compute_cap and gpu.compute_cap < (5, 0):
        return None, (f"{what} is older than any CUDA build of current PyTorch supports (Maxwell, compute "
                      "capability 5.0); Chunky runs on the CPU")
    if gpu.compute_cap and gpu.compute_cap[0] >= 10:
        need = "570 or newer (CUDA 12.8)"
    else:
        need = "560 or newer (CUDA 12.6)"
    return None, (f"NVIDIA driver {info.driver} runs {driver_cuda}, too old for the CUDA builds of PyTorch "
                  f"for {what}; Chunky runs on the CPU. Install driver {need} from "
                  "https://www.nvidia.com/drivers, then start again: it installs the CUDA build")


def _flavor_of(index_url: str) -> str:
    last = index_url.rstrip("/").rsplit("/", 1)[-1]
    return last if re.fullmatch(r"cpu|cu\d+", last) else "custom"


def choose_torch(system: str, nvidia: NvidiaInfo | None, environ: Mapping[str, str] = os.environ,
                 ) -> TorchChoice:
    """The torch build for this machine. ``CHUNKY_TORCH_INDEX`` / ``CHUNKY_TORCH_SPEC`` override it;
    ``CHUNKY_TORCH_INDEX_BASE`` replaces https://download.pytorch.org/whl (a mirror of it)."""
    index = environ.get("CHUNKY_TORCH_INDEX") or None
    spec = environ.get("CHUNKY_TORCH_SPEC") or None
    base = (environ.get("CHUNKY_TORCH_INDEX_BASE") or PYTORCH_INDEX).rstrip("/")
    if index:
        return TorchChoice(_flavor_of(index), spec or DEFAULT_TORCH, index, "CHUNKY_TORCH_INDEX is set")
    if system == "Darwin":  # PyPI's macOS wheels are the CPU/MPS build
        return TorchChoice("default", spec or DEFAULT_TORCH, None, "macOS: PyPI's build")
    if nvidia is None:
        return TorchChoice("cpu", spec or CPU_TORCH, f"{base}/cpu", "no NVIDIA GPU found (nvidia-smi)")
    build, reason = pick_cuda_build(nvidia)
    if build is None:
        return TorchChoice("cpu", spec or CPU_TORCH, f"{base}/cpu", reason)
    return TorchChoice(build.flavor, spec or build.spec, f"{base}/{build.flavor}", reason)


# ------------------------------------------------------------------------------------- warnings


def _win_len(path: str) -> int:
    return len(path.encode("utf-16-le")) // 2


def long_paths_enabled() -> bool:
    """Windows' LongPathsEnabled policy (then Python and pip can use paths past 260 characters)."""
    try:
        import winreg  # Windows only

        with winreg.OpenKey(winreg.HKEY_LOCAL_MACHINE, r"SYSTEM\CurrentControlSet\Control\FileSystem") as k:
            return winreg.QueryValueEx(k, "LongPathsEnabled")[0] == 1
    except (ImportError, OSError):
        return False


def path_warnings(folder: str, site_packages: str, system: str, environ: Mapping[str, str] = os.environ,
                  long_paths: bool = False) -> list[str]:
    """Warnings, each with its fix, about where Chunky is installed: a synced folder, or (on Windows) a
    path so long that the torch install breaks the 260-character limit."""
    warnings = []
    windows = system == "Windows"
    parts = [p.lower() for p in (PureWindowsPath(folder).parts if windows else Path(folder).parts)]
    service = next((name for key, name in SYNC_FOLDERS if any(p.startswith(key) for p in parts)), None)
    for var in ("OneDrive", "OneDriveConsumer", "OneDriveCommercial"):
        root = environ.get(var)
        if root and windows and (folder.lower() + "\\").startswith(root.lower().rstrip("\\") + "\\"):
            service = "OneDrive"
    if service:
        warnings.append(
            f"{folder} is inside {service}. It would upload the thousands of files of .venv and the "
            "models, and lock files while it uploads them ([WinError 32]). Fix: close this window, move "
            "the Chunky folder out of it (for example to C:\\Chunky), delete the .venv folder there, and "
            "start Chunky again (see docs/windows.md, section 'OneDrive, Dropbox and Google Drive').")
    longest = _win_len(site_packages) + 1 + TORCH_LONGEST_RELPATH
    if windows and longest >= MAX_PATH and not long_paths:
        warnings.append(
            f"The folder is too deep for PyTorch's install: its files would reach {longest} characters "
            f"below {site_packages}, past Windows' {MAX_PATH}-character limit, and the install fails "
            "with 'No such file or directory' or '[WinError 206]'. Fix: move the Chunky folder to a short "
            "path such as C:\\Chunky (delete .venv there and start again), or allow long paths: in "
            "PowerShell as administrator run  New-ItemProperty -Path "
            "\"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem\" -Name LongPathsEnabled -Value 1 "
            "-PropertyType DWORD -Force  and restart Windows (see docs/windows.md, section 'Long paths and "
            "network shares').")
    return warnings


# ------------------------------------------------------------------------------------- installing


def requirement_files(dev: bool) -> list[Path]:
    return [ROOT / "requirements.txt"] + ([ROOT / "requirements-dev.txt"] if dev else [])


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stamp_for(choice: TorchChoice, dev: bool) -> dict:
    return {
        "requirements": _digest(ROOT / "requirements.txt"),
        "project": _digest(ROOT / "pyproject.toml"),
        "dev_requirements": _digest(ROOT / "requirements-dev.txt") if dev else None,
        "torch": choice.flavor,
        "python": platform.python_version(),
    }


def read_stamp() -> dict:
    try:
        have = json.loads(STAMP.read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return have if isinstance(have, dict) else {}


def stamp_matches(wanted: dict, have: dict | None = None) -> bool:
    """The environment is set up as ``wanted``: same requirements, and the torch build installed is the
    one wanted (a fallback install from another index does not count). A dev install also serves a
    plain start."""
    have = read_stamp() if have is None else have
    if not all(have.get(k) == v for k, v in wanted.items() if v is not None):
        return False
    installed = have.get("torch_installed")
    if not isinstance(installed, dict):
        return False
    choice = TorchChoice(wanted["torch"], "", None)
    return choice.accepts(InstalledTorch(str(installed.get("version")), installed.get("cuda")))


def pip(*args: str) -> int:
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def installed_torch() -> InstalledTorch | None:
    """The torch in this environment, as it reports itself (None: not installed or broken)."""
    code = "import json, torch; print(json.dumps([torch.__version__, torch.version.cuda]))"
    out = _output([sys.executable, "-c", code], timeout=600)  # a first import of torch can be slow
    try:
        version, cuda = json.loads((out or "").strip().splitlines()[-1])
    except (ValueError, IndexError, TypeError):
        return None
    return InstalledTorch(str(version), cuda)


def index_reachable(index_url: str, timeout: float = 15) -> bool:
    """Whether the package index answers at all (any HTTP answer counts: the network is not the problem)."""
    try:
        with urllib.request.urlopen(f"{index_url.rstrip('/')}/torch/", timeout=timeout) as r:
            r.read(1)
        return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError, http.client.HTTPException):
        return False


def install_torch(choice: TorchChoice, installed: InstalledTorch | None, hint: str = "") -> str:
    """Install the chosen build (replacing another build). Returns "installed", "fallback" (pip failed
    because the PyTorch index cannot be reached: PyPI's build instead) or "kept" (replacing: the index
    cannot be reached, so the torch there is kept). Any other pip failure stops with SystemExit."""
    print(f"Installing PyTorch: {choice.describe()}", flush=True)
    if installed is not None:
        if choice.index_url and not index_reachable(choice.index_url):
            print(f"WARNING: {choice.index_url} cannot be reached, so the {choice.flavor} build of PyTorch "
                  f"cannot be installed; keeping torch {installed.version} for now. The next start tries "
                  "again.", flush=True)
            return "kept"
        print(f"Replacing torch {installed.version} ({installed.flavor} build) by the {choice.flavor} build.",
              flush=True)
        if pip("uninstall", "-y", "torch") != 0:
            raise SystemExit("Could not remove the torch installed before (see pip's messages above); close "
                             "other Chunky windows and try again.")
    args = ["install", "--retries", "2"] + (["--index-url", choice.index_url] if choice.index_url else [])
    if pip(*args, choice.spec) == 0:
        return "installed"
    if choice.index_url and not index_reachable(choice.index_url):
        print(f"WARNING: {choice.index_url} cannot be reached (no connection, proxy or firewall). "
              "Installing torch from the default package index instead"
              + (": on Windows that is the CPU-only build, so Chunky runs on the CPU until the next start "
                 "with the PyTorch index reachable installs the CUDA build." if choice.flavor != "cpu"
                 else "."), flush=True)
        if pip("install", "--retries", "2", choice.spec) != 0:
            raise SystemExit(f"Could not install {choice.spec}. Check the internet connection and try again.")
        return "fallback"
    raise SystemExit(
        f"Installing {choice.describe()} failed (see pip's messages above). The index could be reached, "
        "so this is not a connection problem: check the free disk space and the antivirus, then start "
        "again." + (f" {hint}" if hint else ""))


def ensure(dev: bool) -> None:
    system = platform.system()
    nvidia = query_nvidia() if system != "Darwin" else None
    choice = choose_torch(system, nvidia)
    wanted = stamp_for(choice, dev)
    have = read_stamp()
    if stamp_matches(wanted, have):
        return
    print(f"PyTorch build for this PC: {choice.flavor} ({choice.reason}).", flush=True)
    site_packages = sysconfig.get_paths()["purelib"]
    warnings = path_warnings(str(ROOT), site_packages, system, long_paths=long_paths_enabled())
    for w in warnings:
        print(f"WARNING: {w}", flush=True)
    hint = "If pip's error names a missing file or [WinError 206], see the warning about the path above." \
        if any("260" in w for w in warnings) else ""
    installed = installed_torch()
    if installed is None or not choice.accepts(installed):
        outcome = install_torch(choice, installed, hint)
        if outcome == "kept" and all(have.get(k) == v for k, v in wanted.items() if v is not None):
            return  # nothing else changed: start with the torch that is there
        installed = installed_torch()
        if installed is None:
            raise SystemExit("torch was installed but cannot be imported (see the messages above). Delete "
                             "the .venv folder and start again.")
    print(f"PyTorch installed: torch {installed.version} ({installed.flavor} build"
          + (f", CUDA {installed.cuda})" if installed.cuda else ")"), flush=True)
    # The requirements must not swap this torch for another build (PyPI's CPU-only one on Windows):
    # pin it; a requirement that needs another torch then fails loudly instead.
    CONSTRAINTS.write_text(f"torch=={installed.version}\n", "utf-8")
    for f in requirement_files(dev):
        if pip("install", "-r", str(f), "-c", str(CONSTRAINTS)) != 0:
            raise SystemExit(f"Installing {f.name} failed (see the messages above).")
    # Chunky itself, editable: the venv imports this folder's code and gets the `chunky` command. Its
    # dependencies are the requirements just installed (pyproject.toml lists the same).
    if pip("install", "--no-deps", "-e", str(ROOT)) != 0:
        raise SystemExit("Installing Chunky itself into the virtual environment failed (see above).")
    stamp = {**wanted, "torch_installed": {"version": installed.version, "cuda": installed.cuda,
                                           "flavor": installed.flavor}}
    STAMP.write_text(json.dumps(stamp, indent=2), "utf-8")
    print("Environment ready.", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chunky.setup_env")
    p.add_argument("--dev", action="store_true", help="also install the test tools")
    p.add_argument("--show", action="store_true", help="print the torch build this machine gets and exit")
    args = p.parse_args(argv)
    if args.show:
        system = platform.system()
        choice = choose_torch(system, query_nvidia() if system != "Darwin" else None)
        print(f"{choice.describe()}\n  because: {choice.reason}")
        return 0
    ensure(args.dev)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
