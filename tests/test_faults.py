"""The fault suite: bad inputs and injected faults against the real pipeline (trained digits model, real
audio, the real job runner). Each test checks that nothing is lost, nothing half-written is left behind,
and the next job still works. The page's side (uploads, HTTP, browser sessions) is in test_faults_app.py;
docs/reliability.md sums both up.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from chunky.base.errors import ChunkyError
from chunky.jobs.runner import JobRunner
from chunky.jobs.state import FileState, JobState
from tests.audio_fixtures import write_png, write_pyav
from tests.nemo_archives import nemo_members, write_nemo
from tests.speech import RATE, assemble, write_flac

pytestmark = pytest.mark.slow  # NeMo (the trained digits model, the real pipeline)

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tests" / "assets"
TRUTH = json.loads((ASSETS / "audio" / "truth.json").read_text("utf-8"))
FAST_RETRIES = "0.001,0.001,0.001,0.001,0.001"


# --- the bad inputs every entry point must survive ----------------------------------------------------

def bad_inputs(folder: Path) -> dict[str, tuple[Path, str | None]]:
    """name -> (file, a phrase the error must contain; None: not an error)."""
    folder.mkdir(parents=True, exist_ok=True)
    speech, _ = sf.read(str(ASSETS / "audio" / "sentence-1.flac"), dtype="float32")
    cases: dict[str, tuple[Path, str | None]] = {}

    def add(key: str, path: Path, phrase: str | None) -> None:
        cases[key] = (path, phrase)

    (folder / "zero bytes.wav").write_bytes(b"")
    add("zero bytes", folder / "zero bytes.wav", "empty")
    (folder / "notes.wav").write_text("meeting notes, not a recording\n" * 40, "utf-8")
    add("not audio (text)", folder / "notes.wav", "not an audio file")
    add("not audio (image)", write_png(folder / "picture.mp3"), "not an audio file")
    whole = folder / "whole.wav"
    sf.write(str(whole), speech, RATE, subtype="PCM_16")
    data = whole.read_bytes()
    (folder / "truncated header.wav").write_bytes(data[:30])
    add("truncated header", folder / "truncated header.wav", "")
    add("video without audio", write_pyav(folder / "screen capture.mp4", None, RATE, None, "mp4", "mpeg4"),
        "no audio track")
    add("zero length", write_flac(folder / "zero length.flac", np.zeros(0, np.float32)), "zero length")
    add("under 0.1 s", write_flac(folder / "blip.flac", speech[: int(0.05 * RATE)]), "too short")
    bad = np.full(RATE, np.nan, np.float32)
    sf.write(str(folder / "nan.wav"), bad, RATE, subtype="FLOAT")
    add("NaN samples", folder / "nan.wav", "invalid samples")
    sf.write(str(folder / "inf.wav"), np.full(RATE, np.inf, np.float32), RATE, subtype="FLOAT")
    add("infinite samples", folder / "inf.wav", "invalid samples")
    add("silence only", write_flac(folder / "silence.flac", np.zeros(3 * RATE, np.float32)), None)
    # Good files with traps in their names or extensions: must transcribe.
    m4a = write_pyav(folder / "really an m4a.wav", speech[:, None], RATE, "aac", "mp4")
    add("misleading extension", m4a, None)
    fancy = folder / "Entretien n°2 — prise ü.flac"
    shutil.copy(ASSETS / "audio" / "sentence-1.flac", fancy)
    add("non-ASCII name with spaces", fancy, None)
    return cases


def test_every_bad_input_through_the_command_line(tmp_path) -> None:
    home = tmp_path / "home"
    (home / "local_models").mkdir(parents=True)
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    cases = bad_inputs(tmp_path / "in")
    out = tmp_path / "out"
    env = dict(os.environ, CHUNKY_HOME=str(home), CHUNKY_DEVICE="cpu", PYTHONIOENCODING="utf-8")
    files = [str(p) for p, _ in cases.values()]
    result = subprocess.run([sys.executable, "-m", "chunky", "transcribe", *files, "--model", "digits",
                             "--out", str(out), "-q"], env=env, capture_output=True, text=True,
                            encoding="utf-8", timeout=600)
    errors = [p for p, phrase in cases.values() if phrase is not None]
    assert result.returncode == 1
    assert f"{len(errors)} of {len(cases)} file(s) failed" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Internal error" not in result.stderr
    failed_lines = result.stderr.split("file(s) failed:", 1)[1].splitlines()
    for key, (path, phrase) in cases.items():
        line = next((x for x in failed_lines if str(path) in x), None)
        if phrase is None:
            assert line is None, f"{key}: {line}"
            assert (out / f"{path.stem}.json").is_file(), key
        else:
            assert line is not None, f"{key} did not fail"
            assert phrase.lower() in line.lower(), f"{key}: {line}"
    assert (out / "silence.txt").read_text("utf-8").strip() == ""
    assert (out / "really an m4a.txt").read_text("utf-8").strip() == TRUTH["sentence-1.flac"]
    assert (out / "Entretien n°2 — prise ü.txt").read_text("utf-8").strip() == TRUTH["sentence-1.flac"]
    assert not [p for p in out.iterdir() if p.name.endswith(".partial")]


# --- the real engine behind the real job runner -------------------------------------------------------

@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("faults-home")
    (home / "local_models").mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits-b.nemo")
    return home


@pytest.fixture(scope="module")
def stack(home):
    from chunky.asr.engine import Engine
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    store = ModelStore(home / "local_models", home / "extracted", retry_delays=(0.001,) * 5)
    manager = ModelManager(store, device="cpu", retry_delays=(0.001,) * 5)
    engine = Engine(manager)
    yield store, manager, engine
    manager.unload()


@pytest.fixture
def runner(stack, tmp_path):
    _, _, engine = stack

    def transcribe(path, model, progress, cancel):
        return engine.transcribe(path, model, progress=progress, cancel=cancel)

    runner = JobRunner(transcribe, tmp_path / "outputs")
    yield runner
    runner.shutdown()


@pytest.fixture(scope="module")
def long_file(tmp_path_factory) -> Path:
    audio, _ = assemble(240.0, seed=3)
    return write_flac(tmp_path_factory.mktemp("long") / "long.flac", audio)


def sentence(n: int) -> Path:
    return ASSETS / "audio" / f"sentence-{n}.flac"


def finished(runner: JobRunner, job_id: str, timeout: float = 120):
    snap = runner.wait(job_id, timeout)
    assert not snap.active, f"job {job_id} still {snap.state}"
    return snap


def test_every_bad_input_in_one_job_fails_alone(runner, tmp_path) -> None:
    cases = bad_inputs(tmp_path / "in")
    paths = [p for p, _ in cases.values()]
    snap = finished(runner, runner.submit("tab", paths, "digits"))
    assert snap.state is JobState.PARTIAL
    for (key, (_, phrase)), f in zip(cases.items(), snap.files, strict=True):
        if phrase is None:
            assert f.state is FileState.DONE, f"{key}: {f.error}"
        else:
            assert f.state is FileState.FAILED, key
            error = f.error or ""
            assert phrase.lower() in error.lower() and "Internal error" not in error, (key, error)
    assert snap.zip_path is not None and snap.zip_path.is_file()
    assert not list(snap.output_dir.glob("*.partial"))
    # The worker goes on.
    assert finished(runner, runner.submit("tab", [sentence(2)], "digits")).files[0].text == TRUTH[
        "sentence-2.flac"]


def test_twenty_files_in_one_job(runner, tmp_path) -> None:
    files = []
    for i in range(20):
        files.append(shutil.copy(sentence(i % 3 + 1), tmp_path / f"take {i:02d}.flac"))
    snap = finished(runner, runner.submit("tab", files, "digits"), timeout=300)
    assert snap.state is JobState.DONE
    for i, f in enumerate(snap.files):
        assert f.text == TRUTH[f"sentence-{i % 3 + 1}.flac"]
        assert len(f.outputs) == 5
    import zipfile

    with zipfile.ZipFile(snap.zip_path) as zf:
        assert len(zf.namelist()) == 100


def test_exception_inside_the_engine_mid_job(runner, stack, long_file, monkeypatch) -> None:
    """The model's forward pass (inside NeMo's per-batch loop) fails on the third chunk."""
    from chunky.asr.options import EngineOptions

    _, manager, engine = stack
    model = manager.get("digits").model
    real = model._transcribe_forward
    calls = {"n": 0}

    def flaky(batch, trcfg):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated failure inside the model")
        return real(batch, trcfg)

    monkeypatch.setattr(model, "_transcribe_forward", flaky)
    monkeypatch.setattr(engine, "options", EngineOptions(batch_size=1))
    snap = finished(runner, runner.submit("tab", [long_file, sentence(3)], "digits"))
    assert snap.files[0].state is FileState.FAILED
    assert "simulated failure inside the model" in snap.files[0].error
    assert snap.files[1].state is FileState.DONE and snap.files[1].text == TRUTH["sentence-3.flac"]
    monkeypatch.undo()
    assert finished(runner, runner.submit("tab", [sentence(1)], "digits")).state is JobState.DONE


def test_lock_errors_during_the_load_are_retried(runner, stack, monkeypatch) -> None:
    from chunky.models import manager as models

    _, manager, _ = stack
    manager.unload()
    real = models.restore_extracted
    left = {"n": 3}

    def locked(folder, device="cpu", **kw):
        if left["n"]:
            left["n"] -= 1
            err = PermissionError(13, "The process cannot access the file because it is being used by "
                                      "another process", str(Path(folder) / "model_weights.ckpt"))
            err.winerror = 32
            raise err
        return real(folder, device, **kw)

    monkeypatch.setattr(models, "restore_extracted", locked)
    snap = finished(runner, runner.submit("tab", [sentence(1)], "digits"))
    assert snap.state is JobState.DONE and left["n"] == 0


def test_lock_that_never_clears_is_a_clear_error_and_the_next_job_works(runner, stack, monkeypatch) -> None:
    from chunky.models import manager as models

    _, manager, _ = stack
    manager.unload()
    real = models.restore_extracted

    def locked(folder, device="cpu", **kw):
        err = OSError(13, "locked", str(Path(folder) / "model_weights.ckpt"))
        err.winerror = 33
        raise err

    monkeypatch.setattr(models, "restore_extracted", locked)
    snap = finished(runner, runner.submit("tab", [sentence(1)], "digits"))
    assert snap.state is JobState.FAILED
    message = snap.files[0].error
    assert "model_weights.ckpt" in message and "docs/windows.md" in message
    monkeypatch.setattr(models, "restore_extracted", real)
    assert finished(runner, runner.submit("tab", [sentence(1)], "digits")).state is JobState.DONE


def test_model_deleted_while_the_app_runs(runner, stack, home) -> None:
    store, manager, _ = stack
    assert finished(runner, runner.submit("tab", [sentence(1)], "digits-b")).state is JobState.DONE
    manager.unload()
    store.remove("digits-b")
    snap = finished(runner, runner.submit("tab", [sentence(1)], "digits-b"))
    assert snap.state is JobState.FAILED
    assert "No model named 'digits-b'" in snap.files[0].error
    assert "setup_local_models.py" in snap.files[0].error
    # Deleted behind Chunky's back (the files only, by hand) while another model is resident.
    assert finished(runner, runner.submit("tab", [sentence(2)], "digits")).state is JobState.DONE
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits-b.nemo")
    assert finished(runner, runner.submit("tab", [sentence(2)], "digits-b")).state is JobState.DONE
    shutil.rmtree(home / "extracted" / "digits-b")
    (home / "local_models" / "digits-b.nemo").unlink()
    snap = finished(runner, runner.submit("tab", [sentence(2)], "digits-b"))
    # Resident in memory: the job still works; once it is gone from memory, a clear error.
    assert snap.state is JobState.DONE
    manager.unload()
    snap = finished(runner, runner.submit("tab", [sentence(2)], "digits-b"))
    assert snap.state is JobState.FAILED and "No model named 'digits-b'" in snap.files[0].error
    assert finished(runner, runner.submit("tab", [sentence(3)], "digits")).state is JobState.DONE


@pytest.mark.parametrize("stage", ["queued", "loading", "decoding", "transcribing"])
def test_cancel_in_every_stage(runner, stack, long_file, stage, monkeypatch) -> None:
    from chunky.asr.options import EngineOptions

    _, manager, engine = stack
    manager.unload()
    monkeypatch.setattr(engine, "options", EngineOptions(batch_size=1))
    job_ids: list[str] = []
    gate = threading.Event()
    if stage == "queued":
        blocker = runner.submit("tab", [long_file], "digits")
        target = runner.submit("tab", [sentence(1)], "digits")
        assert runner.cancel(target, "tab")
        runner.cancel(blocker, "tab")
        snap = finished(runner, target)
        assert snap.state is JobState.CANCELLED and snap.started is None
    else:
        from chunky.asr import engine as engine_module

        real_progress_cls = engine_module.Progress

        def watch(*args, **kwargs):
            p = real_progress_cls(*args, **kwargs)
            if p.stage == stage and (stage != "transcribing" or p.chunk_index >= 2) and job_ids:
                runner.cancel(job_ids[0], "tab")
                gate.set()
            return p

        monkeypatch.setattr(engine_module, "Progress", watch)
        job_ids.append(runner.submit("tab", [long_file, sentence(2)], "digits"))
        snap = finished(runner, job_ids[0])
        assert gate.is_set()
        assert snap.state is JobState.CANCELLED
        assert snap.files[0].state is FileState.CANCELLED and snap.files[1].state is FileState.CANCELLED
        if stage == "transcribing":
            assert snap.files[0].partial and snap.files[0].text.split()
            assert all(p.name.split(".")[-2] == "partial" for p in snap.files[0].outputs)
        else:
            assert not snap.files[0].outputs
        monkeypatch.undo()
    assert not list((runner.outputs_dir).rglob("*.partial.partial"))
    assert finished(runner, runner.submit("tab", [sentence(3)], "digits")).state is JobState.DONE


# --- the model store under faults ---------------------------------------------------------------------

def test_killed_in_the_middle_of_an_extraction_then_started_again(tmp_path) -> None:
    from chunky.models.extract import STAGING_PREFIX
    from chunky.models.store import ModelStore

    lm, ex = tmp_path / "local_models", tmp_path / "extracted"
    lm.mkdir()
    members = nemo_members(weights_size=1024)
    members["model_weights.ckpt"] = os.urandom(300 * 1024 * 1024)
    write_nemo(lm / "big.nemo", members)
    code = ("import sys; import chunky.bootstrap; "
            "from chunky.models.store import ModelStore; from pathlib import Path; "
            "ModelStore(Path(sys.argv[1]), Path(sys.argv[2])).ensure_extracted('big')")
    env = dict(os.environ, CHUNKY_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "-c", code, str(lm), str(ex)], env=env)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            staged = [p for p in ex.glob(f"{STAGING_PREFIX}*") if p.is_dir()]
            if any(f.stat().st_size > 20 * 1024 * 1024 for s in staged for f in s.rglob("*") if f.is_file()):
                break
            assert proc.poll() is None, "the extraction ended before it could be killed"
            time.sleep(0.02)
        else:
            pytest.fail("no staging folder appeared")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not (ex / "big").exists(), "a killed extraction must never look finished"
    store = ModelStore(lm, ex)  # the next start
    folder = store.ensure_extracted("big")
    assert (folder / "model_weights.ckpt").read_bytes() == members["model_weights.ckpt"]
    assert store.verify("big").ok
    assert not list(ex.glob(f"{STAGING_PREFIX}*"))


def test_corrupt_and_truncated_archives_name_the_file_and_leave_nothing(tmp_path) -> None:
    from chunky.models.store import ModelStore

    lm, ex = tmp_path / "local_models", tmp_path / "extracted"
    lm.mkdir()
    good = (ASSETS / "digits-ctc.nemo").read_bytes()
    (lm / "cut.nemo").write_bytes(good[: len(good) // 2])
    corrupt = bytearray(good)
    corrupt[2000:6000] = os.urandom(4000)
    (lm / "garbled.nemo").write_bytes(bytes(corrupt))
    store = ModelStore(lm, ex)
    for name in ("cut", "garbled"):
        with pytest.raises(ChunkyError) as caught:
            store.ensure_extracted(name)
        assert f"{name}.nemo" in str(caught.value)
        assert not (ex / name).exists()
    leftovers = [p for p in ex.iterdir() if p.is_dir()] if ex.exists() else []
    assert not leftovers, leftovers


def test_full_disk_during_extraction(tmp_path, monkeypatch) -> None:
    import errno

    from chunky.models import extract as extract_module
    from chunky.models.store import ModelStore, NotEnoughSpaceError

    lm, ex = tmp_path / "local_models", tmp_path / "extracted"
    lm.mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", lm / "digits.nemo")
    store = ModelStore(lm, ex)
    real_write = extract_module.write_member
    state = {"members": 0}

    def fills_up(reader, member, target):
        state["members"] += 1
        if state["members"] == 2:  # the disk fills up in the middle of the archive
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return real_write(reader, member, target)

    monkeypatch.setattr(extract_module, "write_member", fills_up)
    with pytest.raises(NotEnoughSpaceError, match="full") as caught:
        store.ensure_extracted("digits")
    assert "digits.nemo" in str(caught.value)
    monkeypatch.undo()
    assert not (ex / "digits").exists()
    assert not [p for p in ex.iterdir() if p.is_dir()]
    assert store.ensure_extracted("digits").is_dir() and store.verify("digits").ok
