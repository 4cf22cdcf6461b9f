"""Run under the Windows CPython by tests/windows/test_core_windows.py (``python core_scenarios.py WORK``):
every scenario of the lock-proof core, each reported in one JSON line at the end. WORK holds demo.nemo,
changed.nemo, other.nemo (small fake archives) and names.json."""

import contextlib
import io
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import time
import traceback

WORK = sys.argv[1]
HOME = os.path.join(WORK, "home")
os.environ["CHUNKY_HOME"] = HOME
os.environ["CHUNKY_LOCK_RETRY_DELAYS"] = "0.25,0.5,1,2"

import chunky.bootstrap  # noqa: E402, F401, I001  (first, as in every entry point)

import winlane  # noqa: E402

from chunky.base import retry  # noqa: E402
from chunky.base.fs import atomic_write  # noqa: E402
from chunky.base.names import validate_model_name  # noqa: E402
from chunky.bootstrap import paths  # noqa: E402
from chunky.models.leftovers import clean_leftovers  # noqa: E402
from chunky.models.store import ModelStore  # noqa: E402

SHORT = (0.25, 0.5, 1, 2)
results: dict = {"python": sys.version}


class RetryCounter(logging.Handler):
    """Counts the lock retries the retry helper logs."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.n = 0

    def emit(self, record):
        if "retrying in" in record.getMessage():
            self.n += 1


counter = RetryCounter()
logging.getLogger("chunky.base.retry").addHandler(counter)


def scenario(name):
    def run(fn):
        counter.n = 0
        retry.configure(SHORT)
        try:
            results[name] = fn()
        except BaseException:
            results[name] = {"error": traceback.format_exc()}
        return fn

    return run


def fresh_store(tag, *archives):
    lm, ex = os.path.join(WORK, f"lm-{tag}"), os.path.join(WORK, f"ex-{tag}")
    os.makedirs(lm)
    for name in archives:
        shutil.copyfile(os.path.join(WORK, f"{name}.nemo"), os.path.join(lm, f"{name}.nemo"))
    return ModelStore(lm, ex)


@scenario("temp")
def _temp():
    p = paths()
    env = {v: os.environ.get(v) for v in ("TEMP", "TMP", "TMPDIR", "GRADIO_TEMP_DIR")}
    return {"gettempdir": tempfile.gettempdir(), "env": env, "model_cache": str(p.model_cache),
            "mkdtemp": tempfile.mkdtemp()}


for share in ("none", "read"):
    @scenario(f"archive held ({share})")
    def _archive_held(share=share):
        store = fresh_store(f"held-{share.replace('+', '-')}", "demo")
        holder = winlane.hold(str(store.archive_path("demo")), share=share, seconds=1.2)
        try:
            folder = store.ensure_extracted("demo")
        finally:
            holder.wait()
        return {"extracted": os.path.isfile(os.path.join(folder, "model_weights.ckpt")),
                "verified": store.verify("demo").ok, "retries": counter.n}


def run_setup_cli(args, delays, hold_path, hold_seconds):
    """``setup_local_models.py ARGS`` as the user runs it (the CLI's own settings and retries), while a
    second process holds ``hold_path``."""
    from chunky.cli.setup import main

    os.environ["CHUNKY_LOCK_RETRY_DELAYS"] = delays
    out, err = io.StringIO(), io.StringIO()
    holder = winlane.hold(hold_path, share="none", seconds=hold_seconds)
    started = time.monotonic()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(args)
        seconds = time.monotonic() - started
    finally:
        holder.wait()
        os.environ["CHUNKY_LOCK_RETRY_DELAYS"] = ",".join(str(d) for d in SHORT)
    return {"code": code, "stdout": out.getvalue(), "stderr": err.getvalue(), "seconds": seconds}


def home_weights():
    p = paths()
    archive = os.path.join(str(p.local_models), "demo.nemo")
    if not os.path.exists(archive):
        shutil.copyfile(os.path.join(WORK, "demo.nemo"), archive)
    folder = ModelStore(p.local_models, p.extracted).ensure_extracted("demo")
    return os.path.join(str(folder), "model_weights.ckpt")


@scenario("verify with weights held")
def _verify_held():
    return run_setup_cli(["--verify", "demo"], "0.25,0.5,1,2", home_weights(), 1.5)


@scenario("verify with weights held for good")
def _verify_held_for_good():
    return run_setup_cli(["--verify", "demo"], "0.1,0.2", home_weights(), 4.0)


@scenario("replace onto a held file")
def _replace_held():
    target = os.path.join(WORK, "talk.srt")
    with open(target, "w", encoding="utf-8") as f:
        f.write("old")
    first = None
    holder = winlane.hold(target, share="read", seconds=1.2)
    try:
        try:
            other = target + ".new"
            with open(other, "w", encoding="utf-8") as f:
                f.write("x")
            os.replace(other, target)
        except OSError as exc:
            first = [exc.errno, getattr(exc, "winerror", None)]
        counter.n = 0
        atomic_write(target, "new")
    finally:
        holder.wait()
    with open(target, encoding="utf-8") as f:
        replaced = f.read() == "new"
    return {"first_error": first, "replaced": replaced, "retries": counter.n}


@scenario("rebuild with the old weights held")
def _rebuild_held():
    store = fresh_store("rebuild", "demo")
    folder = store.ensure_extracted("demo")
    weights = os.path.join(str(folder), "model_weights.ckpt")
    with open(weights, "rb") as f:
        old = f.read()
    time.sleep(0.05)
    shutil.copyfile(os.path.join(WORK, "changed.nemo"), str(store.archive_path("demo")))
    holder = winlane.hold(weights, share="read", seconds=1.2)
    try:
        folder = store.ensure_extracted("demo")
    finally:
        holder.wait()
    with open(os.path.join(str(folder), "model_weights.ckpt"), "rb") as f:
        new = f.read()
    store.clean_staging()  # the old folder's trash, kept while held, goes now
    return {"rebuilt": True, "verified": store.verify("demo").ok, "content_is_new": new != old,
            "trash_left": [n for n in os.listdir(str(store.extracted_root)) if n.startswith(".trash-")]}


@scenario("leftovers held")
def _leftovers_held():
    store = fresh_store("leftovers")
    dead = os.path.join(str(store.extracted_root), ".staging-demo-killedrun")
    os.makedirs(dead)
    half = os.path.join(dead, "model_weights.ckpt")
    with open(half, "wb") as f:
        f.write(b"half" * 1000)
    holder = winlane.hold(half, share="none", seconds=1.0)
    try:
        clean_leftovers(store.extracted_root, store.local_models)
        kept = os.path.exists(half)
    finally:
        holder.wait()
    clean_leftovers(store.extracted_root, store.local_models)  # the next start
    return {"kept_while_held": kept, "removed_after": not os.path.exists(dead)}


@scenario("read-only archive")
def _read_only():
    from chunky.base.retry import held_by_another_program

    store = fresh_store("readonly", "other")
    archive = str(store.archive_path("other"))
    os.chmod(archive, stat.S_IREAD)
    retry.configure((2, 2, 2))
    raised = None
    started = time.monotonic()
    try:
        store.remove("other")
    except PermissionError as exc:
        raised = [exc.errno, getattr(exc, "winerror", None)]
    seconds = time.monotonic() - started
    held = held_by_another_program(archive)
    os.chmod(archive, stat.S_IREAD | stat.S_IWRITE)
    return {"raised": raised, "seconds": seconds, "held": held}


@scenario("probe")
def _probe():
    from chunky.base.retry import held_by_another_program, is_lock_error

    path = os.path.join(WORK, "probe.bin")
    with open(path, "wb") as f:
        f.write(b"x")
    seen = {}
    for share in ("none", "read", "read+write"):
        holder = winlane.hold(path, share=share, seconds=0.6)
        seen[share] = held_by_another_program(path)
        holder.wait()
    seen["after"] = held_by_another_program(path)
    folder = os.path.join(WORK, "probe-folder")
    os.makedirs(folder)
    inner = os.path.join(folder, "model_weights.ckpt")
    with open(inner, "wb") as f:
        f.write(b"x")
    denied = PermissionError(13, "Access is denied", folder, 5)  # what renaming it gives on Windows
    holder = winlane.hold(inner, share="read", seconds=0.6)
    seen["folder"] = is_lock_error(denied)
    holder.wait()
    seen["folder after"] = is_lock_error(denied)
    return seen


@scenario("names")
def _names():
    with open(os.path.join(WORK, "names.json"), encoding="utf-8") as f:
        names = json.load(f)
    verdicts = {}
    for name in names:
        try:
            validate_model_name(name)
            verdicts[name] = "ok"
        except Exception:
            verdicts[name] = "invalid"
    return {"verdicts": verdicts}


print("RESULT " + json.dumps(results))
