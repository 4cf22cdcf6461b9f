"""The lane's helpers for item-3 style tests: Windows CPython with a folder on its path, and a second
Windows process holding a file the way a virus scanner or sync client does (tests/windows/README.md)."""

from __future__ import annotations

import json

import pytest

from tests.windows.lane import REPO, LaneSession

pytestmark = [pytest.mark.windows, pytest.mark.slow]

PROBE = r'''
import json, os, sys, time
import winlane

path, share = sys.argv[1], sys.argv[2]
result = {"python": sys.version, "platform": sys.platform}


def attempt(name, action):
    try:
        action()
        result[name] = "ok"
    except OSError as e:
        result[name] = {"type": type(e).__name__, "errno": e.errno, "winerror": getattr(e, "winerror", None),
                        "text": str(e)}


holder = winlane.hold(path, share=share, seconds=2.5)
attempt("read while held", lambda: open(path, "rb").close())
attempt("write while held", lambda: open(path, "ab").close())
attempt("remove while held", lambda: os.remove(path))
attempt("replace while held", lambda: os.replace(path, path + ".moved"))
holder.wait()
attempt("read after release", lambda: open(path, "rb").close())
attempt("remove after release", lambda: os.remove(path))
result["gone"] = not os.path.exists(path)
print("RESULT " + json.dumps(result))
'''


def _result(output: str) -> dict:
    line = next(ln for ln in output.splitlines() if ln.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.mark.parametrize("share", ["none", "read"])
def test_a_held_file_gives_the_errors_windows_users_see_until_it_is_released(winlane: LaneSession,
                                                                             share: str) -> None:
    folder = winlane.work / f"held-{share}"
    folder.mkdir()
    weights = folder / "model_weights.ckpt"
    weights.write_bytes(b"\0" * 4096)
    r = winlane.run_python(PROBE, args=[winlane.win(weights), share])
    assert r.code == 0, r.output
    res = _result(r.stdout)
    assert "MSC" in res["python"] and res["platform"] == "win32", "a real Windows CPython"
    # os.remove / os.replace: the sharing violation itself, as WinError 32.
    for op in ("remove while held", "replace while held"):
        assert res[op]["winerror"] == 32, res[op]
        # Windows words it "The process cannot access the file because it is being used by another
        # process"; Wine's message table says "Sharing violation". The code is what Chunky tests.
        assert res[op]["text"].startswith("[WinError 32] "), res[op]
        assert res[op]["type"] == "PermissionError"
    if share == "none":
        # open(): the C runtime maps the sharing violation to EACCES, with no winerror at all.
        assert res["read while held"] == {"type": "PermissionError", "errno": 13, "winerror": None,
                                          "text": f"[Errno 13] Permission denied: {winlane.win(weights)!r}"}
    else:
        assert res["read while held"] == "ok", "read sharing lets others read..."
        assert res["write while held"]["errno"] == 13, "...but not write"
    assert res["read after release"] == res["remove after release"] == "ok"
    assert res["gone"] is True


def test_run_python_puts_the_given_folders_and_the_wheels_on_the_path(winlane: LaneSession) -> None:
    r = winlane.run_python(
        "import chunky, filelock, platformdirs, sys\n"
        "print('VERSIONS', chunky.__version__, filelock.__version__, sys.version_info[:2])\n",
        path=[REPO], version="3.10")
    assert r.code == 0, r.output
    assert "VERSIONS 0.1.0 4.0.8 (3, 10)" in r.stdout


def test_a_lock_held_from_the_test_side_is_waited_out(winlane: LaneSession) -> None:
    target = winlane.work / "waited" / "model_weights.ckpt"
    target.parent.mkdir()
    target.write_bytes(b"\0" * 16)
    script = (
        "import os, sys, time\n"
        "start, first = time.monotonic(), None\n"
        "while True:\n"
        "    try:\n"
        "        os.remove(sys.argv[1]); break\n"
        "    except PermissionError as e:\n"
        "        first = first or str(e); time.sleep(0.05)\n"
        "print('WAITED', round(time.monotonic() - start, 2), first)\n")
    with winlane.hold(target, share="read", seconds=2.0):
        r = winlane.run_python(script, args=[winlane.win(target)])
    assert r.code == 0, r.output
    waited = r.stdout.split("WAITED ", 1)[1]
    assert float(waited.split()[0]) > 0.3 and "[WinError 32]" in waited
    assert not target.exists()
