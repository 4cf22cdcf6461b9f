"""run.bat under Wine 10's cmd.exe, started as a double-click starts it, on simulated Windows PCs.

The Chunky folder is ``C:\\Users\\Ünïcode Üser\\My Apps\\Chunky test`` and the window starts in
``C:\\Windows\\System32``. py.exe, python.exe and the venv's python.exe are stubs that log their exact
command line (tests/windows/machine.py); version checks are answered by real Windows CPython.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.windows.lane import LaneSession, Launched
from tests.windows.machine import CHUNKY_FOLDER, CRASH_CODES, Machine, VenvPython, case_dir

pytestmark = [pytest.mark.windows, pytest.mark.slow]

VPY = f"{CHUNKY_FOLDER}\\.venv\\Scripts\\python.exe"
# Arguments as a user would type them after run.bat: spaces, & and ^ (quoted, as cmd.exe needs),
# %, = and ; (which %1..%9 split on), an empty "", non-ASCII letters, and more than nine in all.
TYPED = '--title "Q&A ^ night" 100% --lang=de;fr "" "Ünïcödé Straße" 1 2 3 4 5 6 7 8 9 10'
EXPECTED = ["--title", "Q&A ^ night", "100%", "--lang=de;fr", "", "Ünïcödé Straße",
            "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"]
PAUSED = "Press any key"


@pytest.fixture
def machine(winlane: LaneSession, request: pytest.FixtureRequest) -> Machine:
    """A PC with the py launcher knowing Python 3.12 and no python on PATH (the installer's default);
    tests change it and call ``machine.write()``."""
    m = Machine(winlane, case_dir(winlane, request.node.name))
    m.install_chunky()
    return m


def _app_calls(m: Machine) -> list[list[str]]:
    return [argv for argv in m.venv_python_calls() if len(argv) > 1 and argv[1].endswith("\\app.py")]


def _no_pause(r: Launched) -> None:
    assert PAUSED not in r.output, r.output
    assert r.code == 0, r.output


def test_first_start_makes_the_venv_sets_up_and_starts_the_app_with_args_intact(machine: Machine) -> None:
    r = machine.double_click(TYPED)
    _no_pause(r)
    py = [c["argv"] for c in machine.calls("py.exe")]
    assert py[-1] == ["py", "-3.12", "-m", "venv", f"{CHUNKY_FOLDER}\\.venv"], py
    venv = machine.venv_python_calls()
    assert [VPY, "-m", "chunky.setup_env"] in venv
    assert _app_calls(machine) == [[VPY, f"{CHUNKY_FOLDER}\\app.py", *EXPECTED]]
    # Every program ran in the Chunky folder although the window started in System32.
    assert {c["cwd"] for c in machine.calls()} == {CHUNKY_FOLDER}
    assert "Creating the virtual environment in .venv with py -3.12" in r.output


def test_second_start_reuses_the_venv(machine: Machine) -> None:
    assert machine.double_click().code == 0
    r = machine.double_click("--no-browser")
    _no_pause(r)
    assert machine.calls("py.exe") == [], "the second start must not look for Python again"
    assert machine.venv_python_calls() == [
        [VPY, "-c", "import pip"], [VPY, "-m", "chunky.setup_env"],
        [VPY, f"{CHUNKY_FOLDER}\\app.py", "--no-browser"]]
    assert "Creating the virtual environment" not in r.output


def test_test_mode_runs_ruff_then_pytest_with_its_arguments_intact(machine: Machine) -> None:
    typed = 'test -o addopts= -k "a and not b" -m "not slow" --tb=short 1 2 3 4 5 6 7 8 9 ü'
    r = machine.double_click(typed)
    # What pytest received, evaluated by real Windows CPython from the command line run.bat built.
    line = next((ln for ln in r.stdout.splitlines() if ln.startswith("FAKE-PYTEST-ARGS ")), "none")
    got = json.loads(line.removeprefix("FAKE-PYTEST-ARGS ")) if line != "none" else None
    assert got == ["-o", "addopts=", "-k", "a and not b", "-m", "not slow", "--tb=short",
                   "1", "2", "3", "4", "5", "6", "7", "8", "9", "ü"], r.output
    _no_pause(r)
    venv = machine.venv_python_calls()
    assert venv[1] == [VPY, "-m", "chunky.setup_env", "--dev"]
    assert venv[2] == [VPY, "-m", "ruff", "check", "."]
    assert venv[3][1:3] == ["-c", "import sys, pytest; sys.exit(pytest.main(sys.argv[2:]))"]
    assert r.output.index("== ruff check") < r.output.index("== pytest")


def _assert_failure_shown(r: Launched, *texts: str) -> None:
    assert PAUSED in r.output, f"no pause: the window would close on the message\n{r.output}"
    assert r.code != 0, r.output
    for text in texts:
        assert text in r.output, r.output
    in_stdout = [r.stdout.index(t) for t in texts if t in r.stdout]
    assert r.stdout.rindex(PAUSED) > max(in_stdout, default=0), "message, then pause"


def test_no_python_at_all_says_what_to_install_and_pauses(machine: Machine) -> None:
    machine.py = ()
    machine.write()
    r = machine.double_click()
    _assert_failure_shown(r, "needs a 64-bit Python 3.11 or newer", "python.org/downloads/windows")
    assert not machine.venv_python_calls()


def test_only_python_310_is_named_as_too_old_and_pauses(machine: Machine) -> None:
    machine.py = ("3.10",)
    machine.python = "3.10"
    machine.write()
    r = machine.double_click()
    _assert_failure_shown(r, "needs a 64-bit Python 3.11 or newer", "3.10")
    # The version check itself ran in real CPython 3.10 and 3.13 ("py -3" asks the newest, 3.10 here).
    assert not machine.venv_python_calls()


def test_a_machine_whose_only_python_is_314_starts(machine: Machine) -> None:
    machine.py = ("3.14",)
    machine.write()
    r = machine.double_click("--no-browser")
    _no_pause(r)
    assert [c["argv"] for c in machine.calls("py.exe")][-1][:4] == ["py", "-3.14", "-m", "venv"]
    assert _app_calls(machine) == [[VPY, f"{CHUNKY_FOLDER}\\app.py", "--no-browser"]]


def test_a_machine_with_only_the_py_launcher_and_python_313_starts(machine: Machine) -> None:
    machine.py = ("3.13",)
    machine.python = None  # only the Microsoft Store alias answers "python"
    machine.write()
    r = machine.double_click()
    _no_pause(r)
    assert [c["argv"][:2] for c in machine.calls("py.exe")][-1] == ["py", "-3.13"]


def test_python_on_path_without_the_py_launcher_starts(machine: Machine) -> None:
    machine.py = ()
    machine.python = "3.13"
    machine.write()
    r = machine.double_click()
    _no_pause(r)
    on_path = [c["argv"][1:3] for c in machine.calls("python.exe") if "\\python\\" in c["exe"]]
    assert on_path[-1] == ["-m", "venv"]


def test_a_failed_venv_creation_is_shown_and_paused(machine: Machine) -> None:
    machine.venv_exit = 1
    machine.venv = VenvPython(has_pip=False, setup_exit=1)  # ensurepip failed: python.exe, no pip
    machine.write()
    r = machine.double_click()
    _assert_failure_shown(r, "creating the virtual environment", "ensurepip")
    assert not _app_calls(machine)


def test_a_half_built_venv_is_noticed_and_rebuilt(machine: Machine) -> None:
    # An earlier start stopped in ensurepip: .venv\Scripts\python.exe exists, pip does not.
    machine.venv_exit = 1
    machine.venv = VenvPython(has_pip=False, setup_exit=1)
    machine.write()
    machine.double_click()
    assert (machine.chunky / ".venv" / "Scripts" / "python.exe").exists(), "the half-built venv stays"
    # This start, with venv creation working again.
    machine.venv_exit = 0
    machine.venv = VenvPython()
    machine.write()
    r = machine.double_click()
    _no_pause(r)
    assert [c["argv"][2:4] for c in machine.calls("py.exe")][-1:] == [["-m", "venv"]], "rebuilt"
    assert _app_calls(machine), "the app starts after the rebuild"
    assert "incomplete" in r.output


@pytest.mark.parametrize("step, venv, text", [
    ("setup", VenvPython(setup_exit=1), "setting up the environment"),
    ("app exit 1", VenvPython(app_exit=1), "Chunky (app.py), exit code 1"),
    *[(f"app crash {name}", VenvPython(app_exit=code), name) for name, code in CRASH_CODES.items()],
])
def test_every_failure_of_a_start_shows_a_message_and_pauses(machine: Machine, step: str, venv: VenvPython,
                                                             text: str) -> None:
    machine.venv = venv
    machine.write()
    r = machine.double_click()
    _assert_failure_shown(r, "Chunky stopped with an error", text)
    if step == "setup":
        assert not _app_calls(machine), "the app must not start after a failed set-up"


def test_a_native_crash_code_is_passed_on_as_the_exit_code(machine: Machine) -> None:
    machine.venv = VenvPython(app_exit=CRASH_CODES["0xC0000005"])
    machine.write()
    assert machine.double_click().code == 0xC0000005


@pytest.mark.parametrize("step, venv, text", [
    ("ruff", VenvPython(ruff_exit=1), "ruff check"),
    ("pytest", VenvPython(), "pytest"),
])
def test_a_failing_check_of_run_bat_test_shows_a_message_and_pauses(machine: Machine, step: str,
                                                                    venv: VenvPython, text: str) -> None:
    machine.venv = venv
    machine.write()
    r = machine.double_click("test", env={"CHUNKY_FAKE_PYTEST_EXIT": "1"})
    _assert_failure_shown(r, "Chunky stopped with an error", f"The step that failed: {text}")
    ran_pytest = "FAKE-PYTEST-ARGS" in r.stdout
    assert ran_pytest == (step == "pytest"), "pytest runs only after ruff passed"


def test_the_pause_waits_for_a_key(machine: Machine) -> None:
    """The pause really holds the window: with no key pressed (stdin kept open) run.bat does not end."""
    machine.venv = VenvPython(app_exit=1)
    machine.write()
    with pytest.raises(subprocess.TimeoutExpired):
        machine.session.launch(f'cmd.exe /c ""{CHUNKY_FOLDER}\\run.bat" "', env=machine.env(), stdin=None,
                               timeout=8)

