"""Install Chunky's dependencies into the running (virtual) environment; called by run.sh / run.bat.

``python -m chunky.setup_env [--dev]`` picks the torch build for the machine (CUDA where an NVIDIA GPU
is present, CPU otherwise; Windows and Linux from the PyTorch index), installs requirements.txt
(and requirements-dev.txt with --dev), installs Chunky itself (editable: the venv runs this folder's
code, and the ``chunky`` command exists), and records a stamp so the next start skips pip entirely.
Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STAMP = Path(sys.prefix) / "chunky-env.json"
PYTORCH_INDEX = "https://download.pytorch.org/whl"
# The CPU build is pinned (newer releases may not be on the CPU index yet); CUDA builds take the newest
# release NeMo supports.
CPU_TORCH = "torch==2.13.0"
CUDA_TORCH = "torch>=2.6,<2.15"
CUDA_FLAVOR = "cu128"


@dataclass(frozen=True)
class TorchChoice:
    flavor: str  # "cpu", "cu128", "default"
    spec: str
    index_url: str | None  # None: the package index pip is configured with

    def describe(self) -> str:
        where = self.index_url or "the default package index"
        return f"{self.spec} ({self.flavor} build) from {where}"


def has_nvidia_gpu() -> bool:
    exe = shutil.which("nvidia-smi")
    if not exe:
        return False
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return out.returncode == 0 and "GPU" in out.stdout


def choose_torch(system: str, nvidia: bool, environ=os.environ) -> TorchChoice:
    """The torch build for this machine. ``CHUNKY_TORCH_INDEX`` / ``CHUNKY_TORCH_SPEC`` override."""
    index = environ.get("CHUNKY_TORCH_INDEX") or None
    spec = environ.get("CHUNKY_TORCH_SPEC") or None
    if system == "Darwin":  # PyPI's macOS wheels are the CPU/MPS build
        return TorchChoice("default", spec or "torch>=2.6", index)
    if nvidia:
        return TorchChoice(CUDA_FLAVOR, spec or CUDA_TORCH, index or f"{PYTORCH_INDEX}/{CUDA_FLAVOR}")
    return TorchChoice("cpu", spec or CPU_TORCH, index or f"{PYTORCH_INDEX}/cpu")


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


def stamp_matches(wanted: dict) -> bool:
    try:
        have = json.loads(STAMP.read_text("utf-8"))
    except (OSError, ValueError):
        return False
    # A dev install also satisfies a plain start.
    return all(have.get(k) == v for k, v in wanted.items() if v is not None)


def pip(*args: str) -> int:
    cmd = [sys.executable, "-m", "pip", "install", "--disable-pip-version-check", *args]
    print("+", " ".join(cmd), flush=True)
    return subprocess.call(cmd)


def torch_installed() -> bool:
    return subprocess.call([sys.executable, "-c", "import torch"], stderr=subprocess.DEVNULL) == 0


def install_torch(choice: TorchChoice) -> None:
    print(f"Installing PyTorch: {choice.describe()}", flush=True)
    if choice.index_url:
        # Fail fast when the PyTorch index cannot be reached, then fall back to the default index.
        extra = ["--retries", "1", "--timeout", "20"]
        if pip(*extra, "--index-url", choice.index_url, choice.spec) == 0:
            return
        print("The PyTorch index was not reachable; trying the default package index.", flush=True)
    if pip(choice.spec) != 0:
        raise SystemExit(f"Could not install {choice.spec}. Check the internet connection and try again.")


def ensure(dev: bool) -> None:
    nvidia = has_nvidia_gpu()
    choice = choose_torch(platform.system(), nvidia)
    wanted = stamp_for(choice, dev)
    if stamp_matches(wanted):
        return
    if not torch_installed():
        install_torch(choice)
    for f in requirement_files(dev):
        if pip("-r", str(f)) != 0:
            raise SystemExit(f"Installing {f.name} failed (see the messages above).")
    # Chunky itself, editable: the venv imports this folder's code and gets the `chunky` command. Its
    # dependencies are the requirements just installed (pyproject.toml lists the same).
    if pip("--no-deps", "-e", str(ROOT)) != 0:
        raise SystemExit("Installing Chunky itself into the virtual environment failed (see above).")
    STAMP.write_text(json.dumps(wanted, indent=2), "utf-8")
    print("Environment ready.", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m chunky.setup_env")
    p.add_argument("--dev", action="store_true", help="also install the test tools")
    p.add_argument("--show", action="store_true", help="print the torch build this machine gets and exit")
    args = p.parse_args(argv)
    if args.show:
        print(choose_torch(platform.system(), has_nvidia_gpu()).describe())
        return 0
    ensure(args.dev)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
