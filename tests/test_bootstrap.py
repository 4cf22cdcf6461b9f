"""The bootstrap's promises, each checked in a fresh interpreter (the real order of imports matters)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# Runs in the child: records, for the first import of torch/nemo/gradio, whether the bootstrap had
# already run, then imports the entry point and reports the temp state as JSON.
PROBE = textwrap.dedent(
    """
    import importlib, json, os, sys, tempfile
    seen = {}
    class Spy:
        def find_spec(self, name, path=None, target=None):
            top = name.split(".")[0]
            if top in ("torch", "nemo", "gradio") and top not in seen:
                seen[top] = "chunky.bootstrap" in sys.modules
            return None
    sys.meta_path.insert(0, Spy())
    entry = sys.argv[1]
    if entry == "chunky.__main__":
        sys.argv = ["chunky", "paths", "--json"]
        import contextlib, io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                import chunky.__main__
            except SystemExit:
                pass
    else:
        importlib.import_module(entry)
    if len(sys.argv) > 2 and sys.argv[2] == "heavy":
        import torch, gradio  # noqa
    from chunky.bootstrap import paths
    p = paths()
    print(json.dumps({
        "gettempdir": tempfile.gettempdir(),
        "env": {v: os.environ.get(v) for v in ("TMPDIR", "TEMP", "TMP", "GRADIO_TEMP_DIR")},
        "tmp_root": str(p.tmp_root), "local_models": str(p.local_models),
        "model_cache": str(p.model_cache), "fallback": p.fallback, "seen": seen,
        "upload_folder": __import__("gradio.utils").utils.get_upload_folder() if "gradio" in sys.modules
            else None,
        "route_temp": __import__("gradio.route_utils").route_utils.DEFAULT_TEMP_DIR
            if "gradio" in sys.modules else None,
    }))
    """
)


def run_probe(entry: str, env_extra: dict[str, str], *, script_dir: Path = REPO,
              heavy: bool = False) -> tuple[dict, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CHUNKY_HOME", "TMPDIR", "TEMP", "TMP",
                                                             "GRADIO_TEMP_DIR")}
    env.update(env_extra)
    env["PYTHONPATH"] = str(script_dir)  # the copy of the app under test (a read-only one, say), not REPO
    args = [sys.executable, "-c", PROBE, entry] + (["heavy"] if heavy else [])
    out = subprocess.run(args, cwd=script_dir, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def assert_redirected(state: dict, home: Path) -> None:
    tmp_root = (home / "model_cache" / "tmp").resolve()
    assert Path(state["tmp_root"]) == tmp_root
    assert Path(state["gettempdir"]).is_relative_to(tmp_root)
    for var in ("TMPDIR", "TEMP", "TMP", "GRADIO_TEMP_DIR"):
        assert Path(state["env"][var]).is_relative_to(tmp_root), var


@pytest.mark.parametrize("entry", ["app", "setup_local_models", "chunky.__main__"])
def test_each_entry_point_redirects_temp(entry: str, tmp_path: Path) -> None:
    state, _ = run_probe(entry, {"CHUNKY_HOME": str(tmp_path)})
    assert_redirected(state, tmp_path)
    assert state["seen"] == {}, "importing an entry point must not import torch, nemo or gradio"


@pytest.mark.slow  # imports torch and gradio in a subprocess (~10 s)
def test_bootstrap_runs_before_torch_and_gradio(tmp_path: Path) -> None:
    state, _ = run_probe("app", {"CHUNKY_HOME": str(tmp_path)}, heavy=True)
    assert state["seen"].get("torch") is True
    assert state["seen"].get("gradio") is True
    assert_redirected(state, tmp_path)
    # Gradio's uploads and its route cache land under model_cache, not the system temp folder.
    model_cache = (tmp_path / "model_cache").resolve()
    assert Path(state["upload_folder"]).is_relative_to(model_cache)
    assert Path(state["route_temp"]).is_relative_to(model_cache)


def test_chunky_home_moves_everything(tmp_path: Path) -> None:
    home = tmp_path / "Chunky Daten – Zoë"
    state, _ = run_probe("app", {"CHUNKY_HOME": str(home)})
    assert Path(state["local_models"]) == (home / "local_models").resolve()
    assert Path(state["model_cache"]) == (home / "model_cache").resolve()
    assert (home / "model_cache" / "extracted").is_dir()
    assert (home / "model_cache" / "outputs").is_dir()
    assert_redirected(state, home)


def test_unwritable_default_location_falls_back_to_platformdirs(tmp_path: Path) -> None:
    portable = tmp_path / "portable"
    portable.mkdir()
    shutil.copy(REPO / "app.py", portable / "app.py")
    shutil.copytree(REPO / "chunky", portable / "chunky", ignore=shutil.ignore_patterns("__pycache__"))
    # A file where the folder should be: nothing can be created there, even by root.
    (portable / "model_cache").write_text("not a folder")
    os.chmod(portable, 0o555)
    try:
        xdg = tmp_path / "xdg"
        state, stderr = run_probe(
            "app",
            {"XDG_DATA_HOME": str(xdg / "data"), "XDG_CACHE_HOME": str(xdg / "cache"), "HOME": str(xdg)},
            script_dir=portable,
        )
    finally:
        os.chmod(portable, 0o755)
    assert state["fallback"] is True
    assert Path(state["local_models"]).is_relative_to(xdg / "data")
    assert Path(state["model_cache"]).is_relative_to(xdg / "cache")
    assert Path(state["gettempdir"]).is_relative_to(xdg / "cache")
    assert stderr.count("not writable") == 1


def test_stale_session_cleaned_live_session_kept(tmp_path: Path) -> None:
    tmp_root = tmp_path / "model_cache" / "tmp"
    dead = tmp_root / "999999-deadbeef"
    (dead / "nested").mkdir(parents=True)
    (dead / "nested" / "leftover.wav").write_bytes(b"x" * 100)
    (dead / ".chunky-session.lock").write_bytes(b"")
    # A live session: another Chunky process that holds its lock.
    holder = subprocess.Popen(
        [sys.executable, "-c", "import chunky.bootstrap, sys; print(chunky.bootstrap.PATHS.tmp, flush=True); "
         "sys.stdin.read()"],
        cwd=REPO, env={**os.environ, "CHUNKY_HOME": str(tmp_path)},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        live = Path(holder.stdout.readline().strip())
        assert live.is_dir() and not dead.exists(), "the first start cleans the dead session"
        dead.mkdir()
        (dead / "again.tmp").write_bytes(b"")
        (dead / ".chunky-session.lock").write_bytes(b"")
        run_probe("app", {"CHUNKY_HOME": str(tmp_path)})
        assert not dead.exists()
        assert live.is_dir(), "a running instance's temp folder must survive another start"
    finally:
        holder.communicate("", timeout=30)
    run_probe("app", {"CHUNKY_HOME": str(tmp_path)})
    assert not live.exists(), "once its process has ended, its folder is cleaned"


def test_locked_leftover_is_skipped_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from chunky import bootstrap

    root = tmp_path / "tmp"
    dead = root / "1-dead"
    dead.mkdir(parents=True)
    (dead / "locked.bin").write_bytes(b"x")
    (dead / "free.bin").write_bytes(b"x")
    (dead / bootstrap.LOCK_NAME).write_bytes(b"")
    real_unlink = os.unlink

    def unlink(path, *args, **kwargs):
        if str(path).endswith("locked.bin"):
            err = PermissionError(13, "The process cannot access the file", str(path))
            err.winerror = 32
            raise err
        return real_unlink(path, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", unlink)
    skipped = bootstrap.clean_stale_temp(root)
    assert any(s.endswith("locked.bin") for s in skipped)
    assert (dead / "locked.bin").exists()
    assert not (dead / "free.bin").exists()


def test_bootstrap_is_idempotent() -> None:
    import importlib
    import tempfile

    from chunky import bootstrap

    before = bootstrap.paths()
    importlib.import_module("chunky.bootstrap")
    after = bootstrap.paths()
    assert before is after
    assert Path(tempfile.gettempdir()) == before.tmp


@pytest.mark.slow  # imports gradio in a subprocess (~10 s)
def test_warns_when_imported_after_heavy_module(tmp_path: Path) -> None:
    code = "import json; import chunky.bootstrap"
    env = {**os.environ, "CHUNKY_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", "import gradio; " + code], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "imported after gradio" in out.stderr


def test_importing_app_starts_no_server(tmp_path: Path) -> None:
    code = "import app, sys; print('uvicorn' in sys.modules, 'gradio' in sys.modules)"
    env = {**os.environ, "CHUNKY_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]


def test_cli_help_lists_commands() -> None:
    out = subprocess.run([sys.executable, "-m", "chunky", "--help"], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ})
    assert out.returncode == 0, out.stderr
    assert "paths" in out.stdout
