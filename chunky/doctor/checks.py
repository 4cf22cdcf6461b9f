"""``python -m chunky doctor``: check this PC's set-up for Chunky and say what to fix.

Looks at the Python, PyTorch, NeMo and Gradio versions, the GPU (or why there is none), the temp folder
in effect, where ``local_models`` and ``model_cache`` are, free disk space, whether a sync client
(OneDrive, Dropbox, Google Drive, iCloud) syncs those folders, and every local model (archive present,
extracted, manifest verified). Each finding is ``ok``, ``warning`` or ``problem``; problems come with a
fix. Nothing here changes the system: fixes such as a Windows Defender exclusion are printed for the user
to run.

Fast: versions come from package metadata (NeMo and Gradio are never imported), torch is imported only
when ``probe_gpu`` is true, and model archives are hashed only for ``verify=True`` or when a model's quick
check already failed. Every input can be injected (environment, folders, store, probes), so tests simulate
Windows set-ups on any OS.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from chunky import __version__

if TYPE_CHECKING:
    from chunky.bootstrap import AppPaths
    from chunky.models.store import ModelInfo, ModelStore

Level = Literal["ok", "warning", "problem"]
OK: Level = "ok"
WARNING: Level = "warning"
PROBLEM: Level = "problem"

GB = 10**9
LOW_DISK_WARNING = 5 * GB  # below this much free space: a warning
LOW_DISK_PROBLEM = 1 * GB  # below this: a problem (a model cannot be extracted, outputs may fail)
# Longest member path of a NeMo archive (``<32 hex>_tokenizer.model`` and the like) plus a model name: an
# extracted folder whose path is longer than this leaves too little of Windows' 260-character MAX_PATH.
LONG_PATH_WARNING = 150
# The CUDA build run.bat installs (cu128) needs an NVIDIA driver of the R570 branch or newer.
MIN_DRIVER_MAJOR = 570
NVIDIA_DRIVERS_URL = "https://www.nvidia.com/drivers"
VC_REDIST_URL = "https://aka.ms/vs/17/release/vc_redist.x64.exe"

DOC = "docs/windows.md"
# Sections of docs/windows.md that findings point to (tests check that each exists).
SECTION_INSTALL = "Installing and starting Chunky"
SECTION_GPU = "NVIDIA GPU and drivers"
SECTION_FOLDERS = "Where Chunky keeps its files"
SECTION_DEFENDER = "Excluding model_cache from Windows Defender"
SECTION_SYNC = "OneDrive, Dropbox and Google Drive"
SECTION_LOCKS = "WinError 32: file in use"
SECTION_MOVE = "Moving the folders with CHUNKY_HOME"
SECTION_MODELS = "Models: missing, damaged or not extracted"
SECTIONS = (
    SECTION_INSTALL,
    SECTION_GPU,
    SECTION_FOLDERS,
    SECTION_DEFENDER,
    SECTION_SYNC,
    SECTION_LOCKS,
    SECTION_MOVE,
    SECTION_MODELS,
)

TEMP_ENV_VARS = ("TEMP", "TMP", "TMPDIR", "GRADIO_TEMP_DIR")
ONEDRIVE_ENV_VARS = ("OneDrive", "OneDriveConsumer", "OneDriveCommercial")
# Folder names sync clients use; matched against each part of a path, case-insensitively.
_SYNC_FOLDER_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("OneDrive", re.compile(r"^onedrive(\s*-\s*.*|-.*)?$", re.IGNORECASE)),
    ("Dropbox", re.compile(r"^dropbox(\s*\(.*\))?$", re.IGNORECASE)),
    ("Google Drive", re.compile(r"^(google ?drive(-.*)?|my drive)$", re.IGNORECASE)),
    ("iCloud Drive", re.compile(r"^(icloud ?drive|com~apple~clouddocs)$", re.IGNORECASE)),
)


# --- the report -----------------------------------------------------------------------------------------


@dataclass
class Finding:
    check: str  # what was checked: "python", "packages", "gpu", "folders", "temp", "sync", "disk", ...
    level: Level
    summary: str  # one line
    details: list[str] = field(default_factory=list)
    fix: str = ""  # what to do (always set for a problem); for an ok finding, an optional tip
    section: str | None = None  # the section of docs/windows.md that explains more


@dataclass
class Report:
    versions: dict[str, str | None]  # "python", "chunky", "torch", "nemo_toolkit", "gradio" -> version
    folders: dict[str, str]  # "app", "local_models", "model_cache", "extracted", "outputs", "temp"
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        """True when nothing is a problem (warnings allowed)."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": len(self.problems),
            "warnings": len(self.warnings),
            "versions": dict(self.versions),
            "folders": dict(self.folders),
            "findings": [asdict(f) for f in self.findings],
        }


# --- probes (each replaceable in tests) -------------------------------------------------------------------


def dist_version(name: str) -> str | None:
    """The installed version of a distribution, from its metadata (nothing is imported)."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


@dataclass
class GpuDevice:
    name: str
    total_bytes: int
    free_bytes: int | None = None


@dataclass
class TorchInfo:
    version: str | None  # None: torch is not installed
    error: str | None = None  # importing torch, or asking it about CUDA, failed
    imported: bool = True  # False: torch is installed but importing it failed
    cuda_build: str | None = None  # torch.version.cuda; None for a CPU-only build
    cuda_available: bool = False
    devices: list[GpuDevice] = field(default_factory=list)


def probe_torch() -> TorchInfo:
    """Import torch (seconds) and ask it about CUDA. Never raises."""
    try:
        import torch
    except ImportError as exc:
        installed = dist_version("torch")
        if installed is None:
            return TorchInfo(version=None)
        return TorchInfo(version=installed, error=f"{type(exc).__name__}: {exc}", imported=False)
    except Exception as exc:  # e.g. OSError: [WinError 126] ... a DLL failed to load
        return TorchInfo(version=dist_version("torch") or "?", error=f"{type(exc).__name__}: {exc}",
                         imported=False)
    info = TorchInfo(version=str(torch.__version__), cuda_build=getattr(torch.version, "cuda", None))
    try:
        info.cuda_available = bool(torch.cuda.is_available())
        if info.cuda_available:
            for i in range(torch.cuda.device_count()):
                props = torch.cuda.get_device_properties(i)
                device = GpuDevice(str(props.name), int(props.total_memory))
                try:
                    device.free_bytes = int(torch.cuda.mem_get_info(i)[0])
                except Exception:
                    pass
                info.devices.append(device)
    except Exception as exc:
        info.error = f"{type(exc).__name__}: {exc}"
    return info


@dataclass
class NvidiaSmiGpu:
    name: str
    driver: str
    memory_mib: int | None = None


@dataclass
class NvidiaSmiInfo:
    path: str | None  # None: nvidia-smi was not found (no NVIDIA driver)
    ran: bool = False
    error: str | None = None
    gpus: list[NvidiaSmiGpu] = field(default_factory=list)


def find_nvidia_smi(
    env: Mapping[str, str], which: Callable[[str], str | None] = shutil.which, windows: bool = os.name == "nt"
) -> str | None:
    found = which("nvidia-smi")
    if found or not windows:
        return found
    for base in (_getenv(env, "SystemRoot"), _getenv(env, "ProgramFiles")):
        if not base:
            continue
        for candidate in (
            Path(base) / "System32" / "nvidia-smi.exe",
            Path(base) / "NVIDIA Corporation" / "NVSMI" / "nvidia-smi.exe",
        ):
            if candidate.is_file():
                return str(candidate)
    return None


def probe_nvidia_smi(path: str | None, timeout: float = 15.0) -> NvidiaSmiInfo:
    """Ask nvidia-smi for each GPU's name, driver version and memory. Never raises."""
    info = NvidiaSmiInfo(path)
    if path is None:
        return info
    cmd = [path, "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        info.error = f"{type(exc).__name__}: {exc}"
        return info
    info.ran = True
    if out.returncode != 0:
        text = (out.stdout + out.stderr).strip().splitlines()
        info.error = text[0] if text else f"exit status {out.returncode}"
        return info
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0]:
            memory = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            info.gpus.append(NvidiaSmiGpu(parts[0], parts[1], memory))
    return info


# --- small helpers -------------------------------------------------------------------------------------


def _getenv(env: Mapping[str, str], name: str) -> str:
    """``env[name]``, case-insensitively (Windows variables are; a plain dict in a test is not)."""
    value = env.get(name)
    if value is None:
        folded = name.casefold()
        value = next((v for k, v in env.items() if k.casefold() == folded), None)
    return (value or "").strip()


def _norm(path: Path | str) -> str:
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def _resolved(path: Path | str) -> Path:
    try:
        return Path(path).expanduser().resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(os.fspath(path)))


def is_inside(child: Path | str, parent: Path | str) -> bool:
    """True when ``child`` is ``parent`` or lies inside it (case-insensitive on Windows, links resolved)."""
    for c, p in ((_norm(child), _norm(parent)), (_norm(_resolved(child)), _norm(_resolved(parent)))):
        if c == p or c.startswith(p.rstrip(os.sep) + os.sep):
            return True
    return False


def _gb(n: float) -> str:
    return f"{n / GB:,.1f} GB"


def _home(env: Mapping[str, str]) -> Path | None:
    for var in ("USERPROFILE", "HOME"):
        value = _getenv(env, var)
        if value:
            return Path(value)
    return None


def _quote(path: Path | str) -> str:
    return f'"{path}"'


# --- sync clients ---------------------------------------------------------------------------------------


def dropbox_roots(env: Mapping[str, str]) -> list[Path]:
    """Dropbox folders named in Dropbox's ``info.json`` (``%APPDATA%``/``%LOCALAPPDATA%``, ``~/.dropbox``)."""
    candidates: list[Path] = []
    for var in ("APPDATA", "LOCALAPPDATA"):
        base = _getenv(env, var)
        if base:
            candidates.append(Path(base) / "Dropbox" / "info.json")
    home = _home(env)
    if home is not None:
        candidates.append(home / ".dropbox" / "info.json")
    roots: list[Path] = []
    for info in candidates:
        try:
            data = json.loads(info.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        for account in data.values():  # {"personal": {"path": ...}, "business": {"path": ...}}
            path = account.get("path") if isinstance(account, dict) else None
            if isinstance(path, str) and path.strip() and Path(path) not in roots:
                roots.append(Path(path))
    return roots


def sync_roots(env: Mapping[str, str]) -> list[tuple[str, Path]]:
    """(provider, folder) for the sync folders this environment names: OneDrive's variables, Dropbox's
    info.json."""
    roots: list[tuple[str, Path]] = []
    for var in ONEDRIVE_ENV_VARS:
        value = _getenv(env, var)
        if value and ("OneDrive", Path(value)) not in roots:
            roots.append(("OneDrive", Path(value)))
    roots += [("Dropbox", p) for p in dropbox_roots(env)]
    return roots


def synced_by(path: Path | str, roots: list[tuple[str, Path]]) -> list[tuple[str, Path]]:
    """The sync clients whose folder holds ``path``: from ``roots`` and from folder names in the path
    (``OneDrive``, ``OneDrive - Contoso``, ``Dropbox``, ``Google Drive``, ``My Drive``, ``iCloudDrive``)."""
    found: list[tuple[str, Path]] = []
    for provider, root in roots:
        if is_inside(path, root):
            found.append((provider, root))
    parts = Path(os.path.abspath(os.fspath(path))).parts
    for i, part in enumerate(parts):
        for provider, pattern in _SYNC_FOLDER_NAMES:
            if pattern.match(part):
                root = Path(*parts[: i + 1])
                if not any(p == provider for p, _ in found):
                    found.append((provider, root))
    return found


# --- the checks -----------------------------------------------------------------------------------------


class _Doctor:
    def __init__(
        self,
        paths: AppPaths,
        env: Mapping[str, str],
        *,
        windows: bool,
        tempdir: str,
        disk_usage: Callable[[Path], Any],
        version_of: Callable[[str], str | None],
        which: Callable[[str], str | None],
    ):
        self.paths = paths
        self.env = env
        self.windows = windows
        self.tempdir = tempdir
        self.disk_usage = disk_usage
        self.version_of = version_of
        self.which = which
        venv_python = Path(".venv") / ("Scripts" if windows else "bin") / "python"
        has_venv = (paths.app_root / ".venv").is_dir()
        python = str(venv_python) if has_venv else "python"
        if windows:
            python = python.replace("/", "\\")
        self.python = python
        self.findings: list[Finding] = []

    # -- helpers

    def add(self, check: str, level: Level, summary: str, details: list[str] | None = None, fix: str = "",
            section: str | None = None) -> Finding:
        finding = Finding(check, level, summary, list(details or []), fix, section)
        self.findings.append(finding)
        return finding

    def in_app(self, command: str) -> str:
        return f"{command}   (in a terminal in {self.paths.app_root})"

    def setup_cmd(self, args: str) -> str:
        return f"{self.python} setup_local_models.py {args}".rstrip()

    def defender_lines(self, *folders: Path) -> str:
        lines = [f"Add-MpPreference -ExclusionPath {_quote(f)}" for f in folders]
        return (
            "In PowerShell run as administrator (Chunky never changes these settings itself):\n"
            + "\n".join(f"  {line}" for line in lines)
        )

    def suggested_home(self) -> str:
        return r"C:\ChunkyData" if self.windows else "~/chunky-data"

    def set_home_cmd(self) -> str:
        home = self.suggested_home()
        return f'setx CHUNKY_HOME "{home}"' if self.windows else f"export CHUNKY_HOME={home}"

    # -- python and packages

    def check_python(self) -> None:
        bits = 64 if sys.maxsize > 2**32 else 32
        version = platform.python_version()
        venv = sys.prefix != getattr(sys, "base_prefix", sys.prefix)
        details = [sys.executable, "in a virtual environment" if venv else "not in a virtual environment"]
        if bits == 32:
            self.add("python", PROBLEM, f"Python {version} is a 32-bit build: PyTorch needs 64-bit Python",
                     details, "Install the 64-bit Python 3.11 or newer from "
                     "https://www.python.org/downloads/windows/, delete the .venv folder and start run.bat "
                     "again.", SECTION_INSTALL)
        else:
            self.add("python", OK, f"Python {version} ({bits}-bit)", details)

    def check_packages(self, versions: dict[str, str | None]) -> None:
        labels = {"torch": "PyTorch", "nemo_toolkit": "NeMo", "gradio": "Gradio"}
        missing = [labels[k] for k in labels if versions.get(k) is None]
        present = [f"{labels[k]} {versions[k]}" for k in labels if versions.get(k) is not None]
        if missing:
            self.add(
                "packages", PROBLEM, f"Not installed: {', '.join(missing)}", present,
                "Install what is missing: "
                + self.in_app(f"{self.python} -m pip install -r requirements.txt")
                + ("\nWithout PyTorch, delete the .venv folder and start run.bat instead: it installs the "
                   "right PyTorch build for this PC first." if "PyTorch" in missing else ""),
                SECTION_INSTALL,
            )
        else:
            self.add("packages", OK, ", ".join(present))

    # -- GPU

    def check_gpu(self, torch: TorchInfo | None, smi: NvidiaSmiInfo) -> None:
        device_pref = _getenv(self.env, "CHUNKY_DEVICE").lower()
        if device_pref and device_pref not in ("auto", "cpu", "cuda"):
            self.add("gpu", PROBLEM, f"CHUNKY_DEVICE={device_pref!r} is not a device Chunky knows",
                     fix="Set CHUNKY_DEVICE to auto, cpu or cuda, or remove the variable.",
                     section=SECTION_GPU)
        if torch is None:  # not probed
            version = self.version_of("torch")
            self.add("gpu", OK, "GPU not checked (run without --no-gpu to check it)", [
                f"PyTorch {version}" if version else "PyTorch not installed",
                f"nvidia-smi found: {smi.path}" if smi.path else "nvidia-smi not found",
            ])
            return
        if torch.version is None:
            return  # check_packages reports it
        if not torch.imported:
            dll = "dll" in (torch.error or "").lower() or "winerror 126" in (torch.error or "").lower()
            reinstall_fix = "delete the .venv folder and start run.bat again (it reinstalls PyTorch)."
            fix = (
                f"Install the Microsoft Visual C++ Redistributable (x64) from {VC_REDIST_URL}, restart the "
                f"PC and start Chunky again. If that does not help, {reinstall_fix}"
                if dll else reinstall_fix[0].upper() + reinstall_fix[1:]
            )
            self.add("gpu", PROBLEM, "PyTorch is installed but cannot be imported", [str(torch.error)], fix,
                     SECTION_GPU)
            return
        if torch.cuda_available:
            for d in torch.devices or [GpuDevice("CUDA device", 0)]:
                memory = f", {_gb(d.total_bytes)} memory" if d.total_bytes else ""
                free = f" ({_gb(d.free_bytes)} free)" if d.free_bytes is not None else ""
                details = [f"CUDA {torch.cuda_build}, PyTorch {torch.version}"]
                details += [f"driver {g.driver}" for g in smi.gpus[:1]]
                if device_pref == "cpu":
                    self.add("gpu", WARNING, f"GPU: {d.name}{memory}{free}, but CHUNKY_DEVICE=cpu keeps "
                             "Chunky on the CPU", details,
                             "Remove the CHUNKY_DEVICE variable (or set it to auto) to use the GPU.",
                             SECTION_GPU)
                else:
                    self.add("gpu", OK, f"GPU: {d.name}{memory}{free}", details)
            return
        # No usable GPU: say why.
        runs_on_cpu = "transcription runs on the CPU (it works, but much more slowly)"
        driver_fix = (
            f"install or update the NVIDIA driver (version {MIN_DRIVER_MAJOR} or newer) from "
            f"{NVIDIA_DRIVERS_URL}, restart, and check that `nvidia-smi` lists the GPU"
        )
        reinstall = (
            f"delete the .venv folder in {self.paths.app_root} and start run.bat again: its first start "
            "installs the CUDA build of PyTorch when nvidia-smi finds the GPU"
        )
        details = [f"PyTorch {torch.version}"]
        if smi.path is None:
            details.append("nvidia-smi not found (no NVIDIA driver installed)")
        elif smi.error:
            details.append(f"nvidia-smi failed: {smi.error}")
        elif smi.gpus:
            details.append("nvidia-smi: " + ", ".join(f"{g.name} (driver {g.driver})" for g in smi.gpus))
        if torch.error:
            details.append(torch.error)
        if torch.cuda_build is None:
            if smi.gpus:
                summary = (
                    f"PyTorch is a CPU-only build although this PC has an NVIDIA GPU ({smi.gpus[0].name})"
                )
                fix = f"To get the CUDA build, {reinstall}."
            elif smi.path is not None:
                summary = "PyTorch is a CPU-only build and the NVIDIA driver does not answer"
                fix = f"{driver_fix[0].upper()}{driver_fix[1:]}; then {reinstall}."
            else:
                summary = "No NVIDIA GPU found and PyTorch is a CPU-only build"
                fix = f"If this PC has an NVIDIA GPU: {driver_fix}; then {reinstall}."
            self.add("gpu", WARNING, f"{summary}: {runs_on_cpu}", details, fix, SECTION_GPU)
            return
        old = [g for g in smi.gpus if (_driver_major(g.driver) or MIN_DRIVER_MAJOR) < MIN_DRIVER_MAJOR]
        if old:
            why = f"the NVIDIA driver {old[0].driver} is too old for CUDA {torch.cuda_build}"
        elif smi.path is None:
            why = "no NVIDIA driver was found (nvidia-smi is missing)"
        elif smi.error or not smi.gpus:
            why = "the NVIDIA driver does not answer"
        else:
            why = "PyTorch cannot use the GPU"
        self.add("gpu", WARNING, f"CUDA {torch.cuda_build} build of PyTorch, but {why}: {runs_on_cpu}",
                 details, f"{driver_fix[0].upper()}{driver_fix[1:]}, then start Chunky again.", SECTION_GPU)

    # -- folders, temp, sync, disk

    def check_folders(self) -> None:
        p = self.paths
        home = _getenv(self.env, "CHUNKY_HOME")
        details = []
        if home:
            details.append(f"moved with CHUNKY_HOME={home}")
        elif p.fallback:
            details.append(f"the folder beside app.py ({p.app_root}) is not writable; using the user folders")
        else:
            details.append("beside app.py (the default)")
        not_writable = [f for f in (p.local_models, p.model_cache, p.outputs) if not _writable(f)]
        if not_writable:
            self.add(
                "folders", PROBLEM, "Chunky cannot write to " + ", ".join(str(f) for f in not_writable),
                details,
                "Give your user write access to these folders, or move them to a folder you own with "
                f"CHUNKY_HOME: {self.set_home_cmd()}. On Windows, 'Controlled folder access' (Windows "
                "Security > Ransomware protection) blocks unknown programs from Documents and Desktop: allow "
                "python.exe there, or use another folder.", SECTION_MOVE)
        else:
            self.add("folders", OK, "Chunky can write to local_models and model_cache", details)
        if self.windows and len(str(p.extracted)) > LONG_PATH_WARNING:
            self.add(
                "folders", WARNING,
                f"The path of model_cache\\extracted is {len(str(p.extracted))} characters long: files of a "
                "model may exceed Windows' 260-character limit", [str(p.extracted)],
                f"Move Chunky's data to a short path with CHUNKY_HOME: {self.set_home_cmd()}, or enable long "
                "paths (PowerShell as administrator): New-ItemProperty -Path "
                '"HKLM:\\SYSTEM\\CurrentControlSet\\Control\\FileSystem" -Name LongPathsEnabled -Value 1 '
                "-PropertyType DWORD -Force", SECTION_MOVE)

    def check_temp(self) -> None:
        root = self.paths.tmp_root
        in_effect = self.tempdir
        details = [f"tempfile.gettempdir(): {in_effect}"]
        outside: list[str] = []
        if not is_inside(in_effect, root):
            outside.append(f"Python's temp folder ({in_effect})")
        for var in TEMP_ENV_VARS:
            value = _getenv(self.env, var)
            details.append(f"{var}={value or '(not set)'}")
            if not value or not is_inside(value, root):
                outside.append(f"{var}={value or '(not set)'}")
        if not outside:
            gradio = _getenv(self.env, "GRADIO_TEMP_DIR")
            self.add("temp", OK, f"Temporary files go to {in_effect} (inside model_cache)",
                     [f"TEMP, TMP and TMPDIR point there; GRADIO_TEMP_DIR={gradio}"])
            return
        fix = (
            "Start Chunky with run.bat, app.py or python -m chunky: they redirect temp files into "
            f"{root} before anything else is loaded. If something resets TEMP/TMP afterwards (a "
            "sitecustomize, a wrapper script, a program that starts Chunky), remove that. Do not exclude "
            "the system temp folder from antivirus scanning instead: exclude model_cache only."
        )
        tmp = "model_cache\\tmp" if self.windows else "model_cache/tmp"
        self.add("temp", PROBLEM, f"Temporary files are not redirected into {tmp}: " + "; ".join(outside),
                 details, fix, SECTION_LOCKS)

    def check_sync(self) -> None:
        roots = sync_roots(self.env)
        p = self.paths
        folders = [
            ("local_models", p.local_models), ("model_cache", p.model_cache), ("the app folder", p.app_root)
        ]
        grouped: dict[tuple[str, str], tuple[Path, list[str]]] = {}
        for label, folder in folders:
            for provider, root in synced_by(folder, roots):
                key = (provider, _norm(root))
                grouped.setdefault(key, (root, []))[1].append(label)
        if not grouped:
            self.add("sync", OK, "No OneDrive, Dropbox, Google Drive or iCloud folder holds Chunky's folders")
            return
        for (provider, _), (root, labels) in grouped.items():
            details = [f"{provider} folder: {root}"]
            if provider == "Google Drive" and self.windows and str(root)[:2].upper() == "G:":
                details.append("G: is usually Google Drive's virtual drive")
            lines = [
                f"Keep Chunky's data outside the {provider} folder: close Chunky, move local_models and "
                f"model_cache to a folder that is not synced (e.g. {self.suggested_home()}), then run "
                f"{self.set_home_cmd()} and start Chunky from a new window."
            ]
            if "the app folder" in labels:
                lines.append(
                    "The app folder is synced too (thousands of files in .venv): move the whole Chunky "
                    "folder out, delete its .venv folder and start run.bat again."
                )
            if provider == "OneDrive":
                lines.append("If it must stay: pause syncing while Chunky runs, and right-click the "
                             "folders > 'Always keep on this device'.")
            elif provider == "Dropbox" and self.windows:
                lines.append("If it must stay, tell Dropbox to ignore the cache (PowerShell): Set-Content "
                             f"-Path {_quote(p.model_cache)} -Stream com.dropbox.ignored -Value 1")
            elif provider in ("Google Drive", "iCloud Drive"):
                lines.append(f"{provider} cannot exclude a folder inside it: move the data out.")
            self.add("sync", WARNING, f"{provider} syncs {', '.join(labels)}: sync clients lock fresh files "
                     "(WinError 32) and fill the disk with copies", details, "\n".join(lines), SECTION_SYNC)

    def check_disk(self) -> None:
        p = self.paths
        volumes: dict[Any, list[tuple[str, Path]]] = {}
        for label, folder in (("local_models", p.local_models), ("model_cache", p.model_cache)):
            try:
                key: Any = os.stat(folder).st_dev
            except OSError:
                key = label
            volumes.setdefault(key, []).append((label, folder))
        for members in volumes.values():
            labels = " and ".join(label for label, _ in members)
            folder = members[0][1]
            try:
                usage = self.disk_usage(folder)
            except OSError as exc:
                self.add("disk", WARNING, f"Cannot tell the free space for {labels}: {exc}")
                continue
            summary = f"{_gb(usage.free)} free of {_gb(usage.total)} on the disk of {labels}"
            details = [str(f) for _, f in members]
            fix = (
                "Free some space on that disk (empty the Recycle Bin, delete old transcripts in "
                f"{p.outputs}, remove unused models: {self.setup_cmd('--remove NAME')}), or move Chunky's "
                f"data to a larger disk with CHUNKY_HOME: {self.set_home_cmd()}"
            )
            if usage.free < LOW_DISK_PROBLEM:
                self.add("disk", PROBLEM, "Almost no disk space left: " + summary, details, fix, SECTION_MOVE)
            elif usage.free < LOW_DISK_WARNING:
                self.add("disk", WARNING, f"Low disk space (under {_gb(LOW_DISK_WARNING)}): " + summary,
                         details, fix, SECTION_MOVE)
            else:
                self.add("disk", OK, summary)

    def check_antivirus(self) -> None:
        if not self.windows:
            return
        p = self.paths
        self.add(
            "antivirus", OK,
            "Windows Defender exclusions: not checked (reading them needs administrator rights)",
            ["scanners lock the files Chunky writes (WinError 32); an exclusion of model_cache avoids that"],
            "Recommended once. " + self.defender_lines(p.model_cache, p.local_models)
            + "\nWith another antivirus, add the same folders to its exclusions.",
            SECTION_DEFENDER,
        )

    def check_retry_setting(self) -> None:
        from chunky.base.retry import DEFAULT_DELAYS, DELAYS_ENV

        raw = _getenv(self.env, DELAYS_ENV)
        if not raw:
            return
        try:
            delays = tuple(float(part) for part in raw.split(",") if part.strip())
            if any(d < 0 for d in delays):
                raise ValueError(raw)
        except ValueError:
            default = ",".join(f"{d:g}" for d in DEFAULT_DELAYS)
            self.add("retries", WARNING, f"{DELAYS_ENV}={raw!r} is ignored: not a list of seconds",
                     fix=f"Set it to comma-separated seconds, e.g. {DELAYS_ENV}={default}, or remove it.",
                     section=SECTION_LOCKS)
            return
        total = sum(delays)
        self.add("retries", OK, f"Locked files are retried {len(delays)} time(s) over {total:g} s "
                 f"({DELAYS_ENV}={raw})")

    # -- models

    def check_models(self, store: ModelStore | None, verify: bool) -> None:
        from chunky.base.errors import ChunkyError

        if store is None:
            from chunky.models.store import ModelStore

            try:
                store = ModelStore(self.paths.local_models, self.paths.extracted)
            except (OSError, ChunkyError) as exc:
                self.add("models", PROBLEM, f"Cannot open the model folders: {exc}",
                         fix="Check that local_models and model_cache exist and are writable.",
                         section=SECTION_FOLDERS)
                return
        try:
            models = store.list_models()
            sources = store.sources.all()
        except (OSError, ChunkyError) as exc:
            self.add("models", PROBLEM, f"Cannot list the models in {store.local_models}: {exc}",
                     fix="Check that the folder exists and is readable.", section=SECTION_FOLDERS)
            return
        names = {m.name for m in models}
        gone = {n: e for n, e in sources.items() if n not in names}
        if not models:
            self.add("models", PROBLEM, f"No model in {store.local_models}: nothing can be transcribed yet",
                     fix=f"In a terminal in {self.paths.app_root}, download the default model "
                     f"(nvidia/parakeet-tdt-0.6b-v2):\n  {self.setup_cmd('')}\n"
                     f"or import a .nemo file you have:\n  {self.setup_cmd('--import PATH.nemo')}",
                     section=SECTION_MODELS)
        for model in models:
            self.check_model(store, model, sources.get(model.name) or {}, verify)
        for name, entry in sorted(gone.items()):
            self.add(f"model:{name}", WARNING,
                     f"{name}: its .nemo file and its extracted folder are both gone",
                     [f"was {entry.get('source', 'added')} ({entry.get('original') or 'no original path'})"],
                     "Get it again: " + self.in_app(self.get_again_cmd(name, entry))
                     + f"\n  or forget it: {self.setup_cmd('--remove ' + name)}", SECTION_MODELS)

    def get_again_cmd(self, name: str, entry: dict[str, Any]) -> str:
        source = str(entry.get("source") or "")
        if source.startswith("hub:"):
            return self.setup_cmd(source[len("hub:"):])
        original = entry.get("original")
        if original:
            return self.setup_cmd(f"--import {_quote(original)} --name {name}")
        return self.setup_cmd(f"--import PATH.nemo --name {name}")

    def check_model(self, store: ModelStore, m: ModelInfo, entry: dict[str, Any], verify: bool) -> None:
        from chunky.base.errors import ChunkyError, FileLockedError
        from chunky.models.store import human_size

        check = f"model:{m.name}"
        folder = store.extracted_root / m.name
        needs_verify = (
            verify or m.archive is None or m.verified is False or (not m.extracted and folder.is_dir())
        )
        result = None
        if needs_verify:
            try:
                result = store.verify(m.name)
            except FileLockedError as exc:
                fix = "Close other programs using the model (another Chunky), then run the doctor again."
                if self.windows:
                    fix += "\n" + self.defender_lines(self.paths.model_cache, self.paths.local_models)
                self.add(check, PROBLEM, f"{m.name}: a file stayed locked while checking it", [str(exc)], fix,
                         SECTION_LOCKS)
                return
            except (ChunkyError, OSError) as exc:
                self.add(check, PROBLEM, f"{m.name}: cannot be checked: {exc}",
                         fix=f"Get it again: {self.in_app(self.get_again_cmd(m.name, entry))}",
                         section=SECTION_MODELS)
                return
        get_again = self.get_again_cmd(m.name, entry)
        details = [f"source: {m.source}", f"size: {human_size(m.size)}"]
        if result is not None:
            details += result.problems[:8] + [f"({note})" for note in result.notes]
        if m.archive is None:
            assert result is not None
            if result.ok:
                self.add(check, WARNING, f"{m.name}: only its extracted folder is left ({m.name}.nemo is "
                         f"not in {store.local_models})", details,
                         "It still works, but cannot be extracted again or fully verified. Put the archive "
                         f"back: {self.in_app(get_again)}", SECTION_MODELS)
            else:
                self.add(check, PROBLEM,
                         f"{m.name}: the extracted folder is damaged and {m.name}.nemo is gone", details,
                         f"Get the model again: {self.in_app(get_again)}", SECTION_MODELS)
            return
        reextract = self.setup_cmd(f"--import {_quote(m.archive)}")
        if result is not None and not result.ok:
            archive_problems = [p for p in result.problems if not p.startswith("extracted ")]
            if archive_problems:
                if str(entry.get("source") or m.source).startswith("hub:"):
                    fix = ("Download it again: " + self.in_app(self.setup_cmd(f"--remove {m.name}"))
                           + f"\n  then: {get_again}")
                else:
                    fix = (f"Replace {m.archive} with a good copy (copy or download it again), then: "
                           f"{self.in_app(reextract)}")
                self.add(check, PROBLEM, f"{m.name}: the archive {m.archive.name} is damaged", details, fix,
                         SECTION_MODELS)
            else:
                self.add(check, PROBLEM, f"{m.name}: the extracted folder does not match its manifest",
                         details, f"Chunky extracts it again from {m.archive.name} on its next use; to do it "
                         f"now: {self.in_app(reextract)}", SECTION_MODELS)
            return
        if m.extracted or (result is not None and not result.notes):
            if result is not None:
                state = "extracted, verified now"
            elif m.verified:
                state = "extracted, verified"
            else:
                state = "extracted (quick check passed; `python -m chunky doctor --verify` reads every file)"
            self.add(check, OK, f"{m.name}: {state}", details)
            return
        why = "its extracted folder is out of date" if folder.is_dir() else "not extracted yet"
        self.add(check, WARNING, f"{m.name}: {why}; its first use extracts it (needs time and "
                 f"{human_size(m.size)} of disk)", details, f"To extract it now: {self.in_app(reextract)}",
                 SECTION_MODELS)


def _driver_major(version: str) -> int | None:
    match = re.match(r"^\s*(\d+)", version)
    return int(match.group(1)) if match else None


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".doctor-write-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        probe.write_bytes(b"")
        probe.unlink()
        return True
    except OSError:
        return False


# --- entry points ---------------------------------------------------------------------------------------


def collect(
    paths: AppPaths | None = None,
    env: Mapping[str, str] | None = None,
    store: ModelStore | None = None,
    probe_gpu: bool = True,
    *,
    verify: bool = False,
    windows: bool | None = None,
    tempdir: str | None = None,
    disk_usage: Callable[[Path], Any] = shutil.disk_usage,
    version_of: Callable[[str], str | None] = dist_version,
    which: Callable[[str], str | None] = shutil.which,
    torch_probe: Callable[[], TorchInfo] = probe_torch,
    smi_probe: Callable[[str | None], NvidiaSmiInfo] = probe_nvidia_smi,
) -> Report:
    """Check the set-up and return a :class:`Report`.

    ``paths``: Chunky's folders (default: :func:`chunky.bootstrap.paths`). ``env``: the environment
    (default ``os.environ``; also where OneDrive's variables, ``%APPDATA%`` and the home folder come from).
    ``store``: the model store (default: one on ``paths``). ``probe_gpu``: import torch and run nvidia-smi
    (seconds); without it only their presence is reported. ``verify``: hash every archive and compare every
    extracted file (slow for big models; by default only models whose quick check failed are verified).
    ``windows`` (default: this OS), ``tempdir`` (default ``tempfile.gettempdir()``), ``disk_usage``,
    ``version_of``, ``which``, ``torch_probe`` and ``smi_probe`` let tests simulate other machines.
    """
    if paths is None:
        from chunky.bootstrap import paths as app_paths

        paths = app_paths()
    env = os.environ if env is None else env
    windows = os.name == "nt" if windows is None else windows
    tempdir = tempfile.gettempdir() if tempdir is None else tempdir
    doctor = _Doctor(paths, env, windows=windows, tempdir=tempdir, disk_usage=disk_usage,
                     version_of=version_of, which=which)
    bits = 64 if sys.maxsize > 2**32 else 32
    versions: dict[str, str | None] = {
        "python": f"{platform.python_version()} ({bits}-bit)",
        "chunky": __version__,
        "torch": version_of("torch"),
        "nemo_toolkit": version_of("nemo_toolkit"),
        "gradio": version_of("gradio"),
    }
    folders = {
        "app": str(paths.app_root),
        "local_models": str(paths.local_models),
        "model_cache": str(paths.model_cache),
        "extracted": str(paths.extracted),
        "outputs": str(paths.outputs),
        "temp": tempdir,
    }
    doctor.check_python()
    doctor.check_packages(versions)
    smi_path = find_nvidia_smi(env, which, windows)
    if probe_gpu:
        torch_info = torch_probe() if versions["torch"] is not None else TorchInfo(version=None)
        if torch_info.version and torch_info.imported:
            versions["torch"] = torch_info.version
        doctor.check_gpu(torch_info, smi_probe(smi_path))
    else:
        doctor.check_gpu(None, NvidiaSmiInfo(smi_path))
    doctor.check_folders()
    doctor.check_temp()
    doctor.check_sync()
    doctor.check_disk()
    doctor.check_antivirus()
    doctor.check_retry_setting()
    doctor.check_models(store, verify)
    return Report(versions, folders, doctor.findings)


_MARK = {OK: "ok", WARNING: "WARNING", PROBLEM: "PROBLEM"}


def format_report(report: Report) -> str:
    """The report as plain text (the terminal, and the page's panel)."""
    v = report.versions
    lines = [f"Chunky doctor (chunky {v.get('chunky') or __version__})", ""]
    labels = (("Python", "python"), ("PyTorch", "torch"), ("NeMo", "nemo_toolkit"), ("Gradio", "gradio"))
    for label, key in labels:
        lines.append(f"  {label:<13}{v.get(key) or 'not installed'}")
    lines.append("")
    for key in ("app", "local_models", "model_cache", "temp"):
        if key in report.folders:
            lines.append(f"  {key:<13}{report.folders[key]}")
    lines.append("")
    width = max(len(m) for m in _MARK.values()) + 2
    indent = " " * (width + 1)
    for f in report.findings:
        lines.append(f"{'[' + _MARK[f.level] + ']':<{width}} {f.summary}")
        for detail in f.details:
            lines.append(f"{indent}- {detail}")
        if f.fix:
            label = "tip: " if f.level == OK else "fix: "
            fix_lines = f.fix.splitlines()
            lines.append(f"{indent}{label}{fix_lines[0]}")
            lines += [f"{indent}     {line}" for line in fix_lines[1:]]
        if f.section and f.level != OK:
            lines.append(f"{indent}(see {DOC}, section '{f.section}')")
    lines.append("")
    n_problems, n_warnings = len(report.problems), len(report.warnings)
    if not n_problems and not n_warnings:
        lines.append("Everything looks fine.")
    else:
        parts = []
        if n_problems:
            parts.append(f"{n_problems} problem{'s' if n_problems != 1 else ''}")
        if n_warnings:
            parts.append(f"{n_warnings} warning{'s' if n_warnings != 1 else ''}")
        lines.append(f"Found {' and '.join(parts)}." + ("" if n_problems else " Chunky can run."))
    return "\n".join(lines) + "\n"


def run_doctor(args: argparse.Namespace) -> int:
    """``python -m chunky doctor [--json] [--verify] [--no-gpu]``: exit status 1 when there is a problem."""
    report = collect(probe_gpu=not getattr(args, "no_gpu", False), verify=getattr(args, "verify", False))
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report), end="")
    return report.exit_code
