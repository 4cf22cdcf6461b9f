"""The lock-proof core on a real Windows CPython (under Wine): the bootstrap's temp redirection, the store's
extraction, manifest, verify and rebuild, leftovers cleaning, the lock retry and the model-name checks,
with a second Windows process holding files the way virus scanners and sync clients do (share mode none;
read allowed but not delete). Each held file is waited out and the work succeeds once it is released; a
lock that never clears ends in the clear error naming the file and the docs/windows.md section; a real
permission problem fails at once.

One Windows process runs every scenario (tests/windows/winside/core_scenarios.py) and reports each as
JSON; the tests below check one scenario each.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chunky.base.errors import InvalidNameError
from chunky.base.names import validate_model_name
from tests.nemo_archives import build_nemo
from tests.windows.lane import REPO, LaneSession

pytestmark = [pytest.mark.windows, pytest.mark.slow]

SCENARIOS = Path(__file__).resolve().parent / "winside" / "core_scenarios.py"
NAMES = ["parakeet-tdt-0.6b-v2", "CON", "con.nemo", "COM1", "LPT9.x", "a:b", "a|b", "what?", "trailing.",
         "trailing ", ".hidden", "..", "a/b", "a\\b", "C:x", "nul", "Prise n°1 – été", "x" * 101]


@pytest.fixture(scope="module")
def results(winlane: LaneSession) -> dict:
    work = winlane.work / "core"
    work.mkdir()
    for name, seed in (("demo", 1), ("changed", 2), ("other", 3)):
        build_nemo(work / f"{name}.nemo", weights_size=256 * 1024, seed=seed)
    (work / "names.json").write_text(json.dumps(NAMES), "utf-8")
    r = winlane.run_python(SCENARIOS, path=[REPO], args=[winlane.win(work)], timeout=300,
                           env={"TMPDIR": r"C:\stray-git-bash-tmp"})
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.code == 0 and lines, r.output[-4000:]
    out = json.loads(lines[-1].removeprefix("RESULT "))
    assert "MSC" in out["python"], "a real Windows CPython"
    return out


def scenario(results: dict, name: str) -> dict:
    got = results[name]
    assert "error" not in got, got.get("error")
    return got


def test_temp_goes_into_model_cache_tmp_on_windows(results):
    s = scenario(results, "temp")
    tmp_root = s["model_cache"] + "\\tmp\\"
    assert s["gettempdir"].startswith(tmp_root), s
    for var in ("TEMP", "TMP", "TMPDIR"):
        assert s["env"][var] == s["gettempdir"], (var, s)
    assert s["env"]["GRADIO_TEMP_DIR"].startswith(s["gettempdir"])
    assert s["mkdtemp"].startswith(tmp_root), "tempfile itself lands there, a stray TMPDIR is overridden"


@pytest.mark.parametrize("share", ["none", "read"])
def test_extraction_waits_for_a_held_archive(results, share):
    s = scenario(results, f"archive held ({share})")
    if share == "none":
        assert s["retries"] >= 1, "the archive could not be opened while held: waited out"
    assert s["extracted"] and s["verified"], s


def test_verify_waits_for_weights_held_while_it_reads_them(results):
    """The defect the issue names: `setup_local_models.py --verify` failed at once with the raw
    `[Errno 13] Permission denied` while another process held model_weights.ckpt."""
    s = scenario(results, "verify with weights held")
    assert s["code"] == 0, s
    assert "OK" in s["stdout"] and "Errno 13" not in s["stderr"], s
    assert s["seconds"] >= 1.0, "it waited for the holder"


def test_a_lock_that_never_clears_names_the_file_and_the_guide(results):
    s = scenario(results, "verify with weights held for good")
    assert s["code"] == 1, s
    line = s["stderr"].strip().splitlines()[-1]
    assert line.startswith("error: ") and "model_weights.ckpt" in line
    assert "docs/windows.md, section 'WinError 32: file in use'" in line
    assert s["seconds"] < 5, "gave up after the configured retries"


def test_the_rename_into_place_waits_for_a_held_target(results):
    """os.replace onto a file another program holds is `[WinError 5] Access is denied` on Windows (a
    manifest being replaced, an output open in an editor): retried while the holder has it."""
    s = scenario(results, "replace onto a held file")
    assert s["first_error"] == [13, 5], s
    assert s["replaced"] and s["retries"] >= 1, s


def test_a_rebuild_of_a_changed_archive_waits_for_the_held_old_folder(results):
    s = scenario(results, "rebuild with the old weights held")
    assert s["rebuilt"] and s["verified"] and s["content_is_new"], s


def test_leftovers_held_by_a_scanner_stay_and_go_at_the_next_start(results):
    s = scenario(results, "leftovers held")
    assert s["kept_while_held"] and s["removed_after"], s


def test_a_real_permission_problem_fails_at_once(results):
    s = scenario(results, "read-only archive")
    assert s["raised"] == [13, 5], s
    assert s["seconds"] < 1.5, "a read-only file is no lock: no retries (they would take 6 s)"
    assert s["held"] is False


def test_the_lock_probe_sees_every_share_mode(results):
    s = scenario(results, "probe")
    assert s == {"none": True, "read": True, "read+write": True, "after": False, "folder": True,
                 "folder after": False}


def test_model_names_are_judged_the_same_on_windows(results):
    expected = {}
    for name in NAMES:
        try:
            validate_model_name(name)
            expected[name] = "ok"
        except InvalidNameError:
            expected[name] = "invalid"
    assert scenario(results, "names")["verdicts"] == expected
    assert expected["CON"] == expected["a:b"] == "invalid" and expected["parakeet-tdt-0.6b-v2"] == "ok"
