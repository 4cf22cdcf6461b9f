"""What the doctor looks at: package versions, PyTorch and its GPU, nvidia-smi, the sync clients' folders.
Each probe can be replaced in tests, so they simulate other machines on any OS."""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

GB = 10**9
ONEDRIVE_ENV_VARS = ("OneDrive", "OneDriveConsumer", "OneDriveCommercial")
# Folder names sync clients use; matched against each part of a path, case-insensitively.
_SYNC_FOLDER_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("OneDrive", re.compile(r"^onedrive(\s*-\s*.*|-.*)?$", re.IGNORECASE)),
    ("Dropbox", re.compile(r"^dropbox(\s*\(.*\))?$", re.IGNORECASE)),
    ("Google Drive", re.compile(r"^(google ?drive(-.*)?|my drive)$", re.IGNORECASE)),
    ("iCloud Drive", re.compile(r"^(icloud ?drive|com~apple~clouddocs)$", re.IGNORECASE)),
)


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
    free_mib: int | None = None


@dataclass
class NvidiaSmiInfo:
    path: str | None  # None: nvidia-smi was not found (no NVIDIA driver)
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
    cmd = [path, "--query-gpu=name,driver_version,memory.total,memory.free", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.SubprocessError) as exc:
        info.error = f"{type(exc).__name__}: {exc}"
        return info
    if out.returncode != 0:
        text = (out.stdout + out.stderr).strip().splitlines()
        info.error = text[0] if text else f"exit status {out.returncode}"
        return info
    for line in out.stdout.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) >= 2 and parts[0]:
            memory = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
            free = int(parts[3]) if len(parts) > 3 and parts[3].isdigit() else None
            info.gpus.append(NvidiaSmiGpu(parts[0], parts[1], memory, free))
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


def _driver_major(version: str) -> int | None:
    match = re.match(r"^\s*(\d+)", version)
    return int(match.group(1)) if match else None
