"""What every check shares: the machine being checked, the findings so far, and the wording of fixes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chunky.doctor.probes import GB, _quote
from chunky.doctor.report import Finding, Level
from chunky.settings import load_settings

if TYPE_CHECKING:
    from chunky.bootstrap import AppPaths

LOW_DISK_WARNING = 5 * GB  # below this much free space: a warning
LOW_DISK_PROBLEM = 1 * GB  # below this: a problem (a model cannot be extracted, outputs may fail)
# Longest member path of a NeMo archive (``<32 hex>_tokenizer.model`` and the like) plus a model name: an
# extracted folder whose path is longer than this leaves too little of Windows' 260-character MAX_PATH.
LONG_PATH_WARNING = 150
# The CUDA build run.bat installs (cu128) needs an NVIDIA driver of the R570 branch or newer.
MIN_DRIVER_MAJOR = 570
NVIDIA_DRIVERS_URL = "https://www.nvidia.com/drivers"
VC_REDIST_URL = "https://aka.ms/vs/17/release/vc_redist.x64.exe"

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


class Checkup:
    """One run of the doctor: the machine it looks at and the findings so far; the checks add to it."""

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
        self.settings = load_settings(env)  # the CHUNKY_* settings this environment gives Chunky
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
