"""A simulated Windows PC for run.bat and setup_env tests in the Windows lane.

:class:`Machine` decides what the PC has: which Pythons the ``py`` launcher knows, which ``python`` is on
PATH (the Microsoft Store's ``python.exe`` alias is always there, as on Windows 10/11), whether an
NVIDIA driver is installed, and how each program behaves. The programs are the stub (tests/windows/
stubs/stub.c) under each name; version checks that run.bat asks of "Python 3.x" are answered by the real
Windows CPython 3.13 (for 3.11 and newer) or 3.10, so run.bat's own check expression is evaluated by a
real interpreter. Every call is logged with its exact command line; :meth:`Machine.calls` reads them.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.windows.lane import REPO, WINSIDE, LaneSession, Launched

CHUNKY_FOLDER = "C:\\Users\\Ünïcode Üser\\My Apps\\Chunky test"
SYSTEM_PATH = "C:\\windows\\system32;C:\\windows;C:\\windows\\system32\\wbem"
NOT_FOUND_103 = ("No suitable Python runtime found\\nPass --list (-0) to see all detected environments on "
                 "your machine\\nor open the Microsoft Store to the requested version.")
STORE_ALIAS = ("Python was not found; run without arguments to install from the Microsoft Store, or "
               "disable this shortcut from Settings > Manage App Execution Aliases.")
CRASH_CODES = {"0xC0000005": -1073741819, "0xC0000409": -1073740791, "0xC000013A": -1073741510}
NVSMI = "C:\\Program Files\\NVIDIA Corporation\\NVSMI"


@dataclass
class Gpu:
    """What nvidia-smi reports."""

    name: str = "NVIDIA GeForce RTX 4070"
    driver: str = "581.57"
    cuda: str | None = "13.0"  # the "CUDA Version" of nvidia-smi's header
    compute_cap: str | None = "8.9"  # None: a driver too old for --query-gpu=compute_cap

    def rules(self) -> str:
        header = ("+---------------------------------------------------------------------------+\\n"
                  f"| NVIDIA-SMI {self.driver}   Driver Version: {self.driver}   "
                  f"CUDA Version: {self.cuda or 'N/A'}   |")
        lines = []
        if self.compute_cap:
            lines.append(f"--query-gpu=name,driver_version,compute_cap\t0\t"
                         f"out:{self.name}, {self.driver}, {self.compute_cap}")
        else:
            lines.append('--query-gpu=name,driver_version,compute_cap\t2\t'
                         'err:Field "compute_cap" is not a valid field to query.')
        lines.append(f"--query-gpu=name,driver_version\t0\tout:{self.name}, {self.driver}")
        lines.append(f"-L\t0\tout:GPU 0: {self.name} (UUID: GPU-5d1e0f6a)")
        lines.append(f"*\t0\tout:{header}")
        return "\n".join(lines) + "\n"


@dataclass
class VenvPython:
    """How the venv's python.exe (a stub) behaves."""

    has_pip: bool = True
    setup_exit: int = 0
    app_exit: int = 0
    ruff_exit: int = 0

    def rules(self, real_python: str) -> str:
        pip = "0" if self.has_pip else "1\terr:ModuleNotFoundError: No module named 'pip'"
        setup = (f"{self.setup_exit}\terr:ERROR: pip failed (simulated)" if self.setup_exit
                 else "0\tout:setup_env done (stub)")
        return "\n".join([
            f"import pip\t{pip}",
            f"-m chunky.setup_env\t{setup}",
            f"app.py\t{self.app_exit}\tout:app.py ran (stub)",
            f"-m ruff check\t{self.ruff_exit}\tout:ruff ran (stub)",
            f"import sys, pytest\t0\trun:{real_python}",
            f"-m pytest\t0\trun:{real_python}",
            "*\t97\terr:venv python stub: unexpected call",
        ]) + "\n"


@dataclass
class Machine:
    """A Windows PC as run.bat sees it. ``py``: the versions the py launcher knows ({} = no launcher);
    ``python``: the version of python.exe on PATH (None = only the Store alias); ``venv``: the venv's
    python; ``real_venv``: make the venv from the real Windows CPython 3.13 instead (to run the real
    setup_env); ``gpu``: an NVIDIA driver (nvidia-smi in the NVSMI folder, not on PATH)."""

    session: LaneSession
    case: Path
    py: tuple[str, ...] = ("3.12",)
    python: str | None = None
    venv: VenvPython = field(default_factory=VenvPython)
    venv_exit: int = 0  # exit code of "py -m venv" (the venv is still made: ensurepip failing)
    real_venv: bool = False
    gpu: Gpu | None = None
    folder: str = CHUNKY_FOLDER

    def __post_init__(self) -> None:
        self.case.mkdir(parents=True, exist_ok=True)
        self.log = self.case / "stub.log"
        self.write()

    # -- the PC
    def real(self, version: str) -> str:
        return self.session.python_exe("3.10" if version == "3.10" else "3.13")

    def write(self) -> None:
        """(Re)write every stub and rule from the current settings."""
        s, stub = self.session, self.session.build.tools / "bin" / "stub.exe"
        for sub in ("py", "python", "WindowsApps", "stubvenv"):
            shutil.rmtree(self.case / sub, ignore_errors=True)
            (self.case / sub).mkdir()
        template = s.win(self.case / "stubvenv")
        if self.real_venv:
            template = f"{s.tools_win}\\python313"
        else:
            shutil.copy(stub, self.case / "stubvenv" / "python.exe")
            (self.case / "stubvenv" / "python.rules").write_text(self.venv.rules(self.real("3.13")), "utf-8")
        venv_rule = f"{self.venv_exit}\tvenv:{template}"
        if self.venv_exit:
            venv_rule += ("\terr:Error: Command '['.venv\\\\Scripts\\\\python.exe', '-m', 'ensurepip', "
                          "'--upgrade', '--default-pip']' returned non-zero exit status 1.")
        if self.py:
            rules = []
            for v in self.py:
                rules += [f"-{v} &&-m venv\t{venv_rule}", f"-{v} \t0\tdrop:1\trun:{self.real(v)}"]
            newest = max(self.py, key=lambda v: tuple(int(x) for x in v.split(".")))
            rules += [f"-3 &&-m venv\t{venv_rule}", f"-3 \t0\tdrop:1\trun:{self.real(newest)}"]
            listing = "\\n".join(f" -V:{v}{' *' if v == newest else '  '}        "
                                 f"C:\\Users\\Ünïcode Üser\\AppData\\Local\\Programs\\Python\\"
                                 f"Python{v.replace('.', '')}\\python.exe" for v in self.py)
            rules += [f"-0p\t0\tout:{listing}", f"*\t103\terr:{NOT_FOUND_103}"]
            shutil.copy(stub, self.case / "py" / "py.exe")
            (self.case / "py" / "py.rules").write_text("\n".join(rules) + "\n", "utf-8")
        if self.python:
            patch = "11" if self.python == "3.10" else "2"
            shutil.copy(stub, self.case / "python" / "python.exe")
            rules = [f"-m venv\t{venv_rule}", f"-V\t0\tout:Python {self.python}.{patch}",
                     f"*\t0\trun:{self.real(self.python)}"]
            (self.case / "python" / "python.rules").write_text("\n".join(rules) + "\n", "utf-8")
        shutil.copy(stub, self.case / "WindowsApps" / "python.exe")
        (self.case / "WindowsApps" / "python.rules").write_text(f"*\t9009\terr:{STORE_ALIAS}\n", "utf-8")
        nvsmi = s.host(NVSMI)
        shutil.rmtree(nvsmi, ignore_errors=True)
        if self.gpu:
            nvsmi.mkdir(parents=True)
            shutil.copy(stub, nvsmi / "nvidia-smi.exe")
            (nvsmi / "nvidia-smi.rules").write_text(self.gpu.rules(), "utf-8")

    def path(self) -> str:
        s = self.session
        return ";".join([SYSTEM_PATH, s.win(self.case / "py"), s.win(self.case / "python"),
                         s.win(self.case / "WindowsApps")])

    def env(self, **extra: str) -> dict[str, str]:
        s = self.session
        return {"PATH": self.path(), "CHUNKY_STUB_LOG": s.win(self.log),
                "PYTHONPATH": f"{s.win(WINSIDE / 'fakepip')};{s.win(WINSIDE / 'fakepytest')}",
                "PYTHONDONTWRITEBYTECODE": "1", **extra}

    # -- the Chunky folder
    @property
    def chunky(self) -> Path:
        return self.session.host(self.folder)

    def install_chunky(self, run_bat: bytes | None = None) -> None:
        """A fresh Chunky folder: run.bat (the committed file, byte for byte), the files setup_env reads,
        chunky/setup_env.py itself, and an app.py that only logs its arguments."""
        shutil.rmtree(self.chunky, ignore_errors=True)
        (self.chunky / "chunky").mkdir(parents=True)
        if run_bat is None:
            run_bat = (REPO / "run.bat").read_bytes()
        (self.chunky / "run.bat").write_bytes(run_bat)
        for name in ("requirements.txt", "requirements-dev.txt", "pyproject.toml"):
            shutil.copy(REPO / name, self.chunky / name)
        for name in ("__init__.py", "setup_env.py"):
            shutil.copy(REPO / "chunky" / name, self.chunky / "chunky" / name)
        (self.chunky / "app.py").write_text(
            "import json, os, sys\n"
            "with open(os.environ['CHUNKY_STUB_LOG'], 'a', encoding='utf-8') as f:\n"
            "    f.write(json.dumps({'exe': 'app.py', 'argv': sys.argv}, ensure_ascii=False) + '\\n')\n"
            "print('app.py ran (real Python)')\n"
            "sys.exit(int(os.environ.get('CHUNKY_FAKE_APP_EXIT', '0')))\n", "utf-8")

    # -- running
    def double_click(self, args: str = "", env: dict[str, str] | None = None,
                     timeout: float = 120) -> Launched:
        """Start run.bat as Explorer does: ``cmd.exe /c ""<folder>\\run.bat" ARGS"`` in System32."""
        self.log.unlink(missing_ok=True)
        cmdline = f'cmd.exe /c ""{self.folder}\\run.bat" {args}"'
        return self.session.launch(cmdline, cwd="C:\\windows\\system32", env=self.env(**(env or {})),
                                   stdin=b"\r\n", timeout=timeout)

    def calls(self, program: str | None = None) -> list[dict]:
        """The logged calls, in order; ``program`` filters by file name (``py.exe``, ``python.exe``,
        ``pip``, ``app.py``, ``nvidia-smi.exe``)."""
        if not self.log.exists():
            return []
        records = [json.loads(line) for line in self.log.read_text("utf-8").splitlines() if line.strip()]
        if program is None:
            return records
        return [r for r in records if _program(r) == program.lower()]

    def venv_python_calls(self) -> list[list[str]]:
        return [c["argv"] for c in self.calls("python.exe") if "\\.venv\\Scripts\\" in c["exe"]]


def case_dir(session: LaneSession, test_name: str) -> Path:
    """A folder of its own for each test (letters, digits and - only, from the test's name)."""
    return session.work / "cases" / re.sub(r"[^A-Za-z0-9]+", "-", test_name).strip("-")[:80]


def _program(record: dict) -> str:
    if record["argv"][:1] == ["pip"]:
        return "pip"
    return record["exe"].replace("\\", "/").rsplit("/", 1)[-1].lower()
