"""run.sh with a stand-in Python, and checks of run.bat's file that need no Windows (fast).

run.bat itself runs under Wine's cmd.exe in the Windows lane (tests/windows/test_run_bat.py).
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

FAKE_PYTHON = r"""#!/usr/bin/env bash
# A stand-in for python3 (and for the venv's python and ruff): "-m venv DIR" makes DIR/bin/python and
# DIR/bin/ruff (copies of this script); every call is logged, one argument a line, after a CALL line.
printf '%s\n' "CALL $(basename "$0")" "$@" >> "$FAKE_LOG"
if [[ "$1" == -c && "$2" == "import pip" && -e "$(dirname "$0")/../no-pip" ]]; then exit 1; fi
if [[ "$1" == -m && "$2" == venv ]]; then
  mkdir -p "$3/bin"; cp "$0" "$3/bin/python"; cp "$0" "$3/bin/ruff"
  if [[ -n "${FAKE_VENV_FAIL:-}" ]]; then touch "$3/no-pip"; echo "Error: ensurepip failed" >&2; exit 1; fi
fi
exit 0
"""


@pytest.fixture
def chunky(tmp_path: Path) -> Path:
    folder = tmp_path / "Chunky app"
    folder.mkdir()
    shutil.copy(REPO / "run.sh", folder / "run.sh")
    fake = tmp_path / "fakepython"
    fake.write_text(FAKE_PYTHON)
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    return folder


def _run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "CHUNKY_PYTHON": str(folder.parent / "fakepython"),
            "FAKE_LOG": str(folder.parent / "log"), **env}
    return subprocess.run(["bash", str(folder / "run.sh"), *args], capture_output=True, text=True, env=full,
                          cwd="/", timeout=60)


def _log(folder: Path) -> str:
    return (folder.parent / "log").read_text() if (folder.parent / "log").exists() else ""


def _calls(folder: Path) -> list[list[str]]:
    """The logged calls: [program, arg, arg, ...]."""
    calls: list[list[str]] = []
    for line in _log(folder).split("\n")[:-1]:
        if line.startswith("CALL "):
            calls.append([line[5:]])
        else:
            calls[-1].append(line)
    return calls


def test_run_sh_passes_the_arguments_through_intact(chunky: Path) -> None:
    args = ["--title", "Q&A ^ night", "100%", "--lang=de;fr", "", "Ünïcödé", *map(str, range(1, 11))]
    r = _run(chunky, *args)
    assert r.returncode == 0, r.stderr
    assert _calls(chunky)[-1] == ["python", str(chunky / "app.py"), *args]


def test_run_sh_rebuilds_a_half_built_venv(chunky: Path) -> None:
    r = _run(chunky, FAKE_VENV_FAIL="1")
    assert r.returncode != 0 and "Creating the virtual environment with" in r.stderr + r.stdout
    assert "python3-venv" in r.stderr
    assert (chunky / ".venv" / "bin" / "python").exists(), "the half-built venv is left"
    r = _run(chunky)
    assert r.returncode == 0, r.stderr
    assert "incomplete" in r.stdout
    assert not (chunky / ".venv" / "no-pip").exists(), "rebuilt"
    assert ["python", "-m", "chunky.setup_env"] in _calls(chunky)


def test_run_sh_test_passes_pytest_arguments_intact(chunky: Path) -> None:
    r = _run(chunky, "test", "-o", "addopts=", "-k", "a and b", "x=1;2")
    assert r.returncode == 0, r.stderr
    calls = [c for c in _calls(chunky) if c[0] in ("python", "ruff")]
    assert calls[-3:] == [["python", "-m", "chunky.setup_env", "--dev"], ["ruff", "check", "."],
                          ["python", "-m", "pytest", "-o", "addopts=", "-k", "a and b", "x=1;2"]]


def test_run_bat_is_crlf_in_the_checkout_and_stays_so_in_a_fresh_clone() -> None:
    data = (REPO / "run.bat").read_bytes()
    assert data.count(b"\n") > 50 and data.count(b"\r\n") == data.count(b"\n"), \
        "run.bat must be CRLF throughout: real cmd.exe mis-jumps to labels in LF-only batch files"
    attr = subprocess.run(["git", "check-attr", "eol", "run.bat"], capture_output=True, text=True, cwd=REPO)
    assert attr.stdout.strip() == "run.bat: eol: crlf", "a fresh clone must check run.bat out as CRLF"
    assert data.isascii(), "cmd.exe reads the file in the console's code page: keep it ASCII"


def test_run_bat_avoids_the_known_cmd_pitfalls() -> None:
    text = (REPO / "run.bat").read_text("ascii")
    code = "\n".join(ln for ln in text.splitlines() if not ln.lower().startswith("rem "))
    assert not re.search(r"%[2-9]", code), "%2..%9 split at = , ; and stop after nine: use %*"
    assert "cd /d" not in code.lower(), "cd /d fails on a network share: use pushd"
    assert "pushd" in code.lower()
    assert "if errorlevel" not in code.lower(), "'if errorlevel 1' is false for negative crash codes"
    assert code.lower().count("pause") >= 2
