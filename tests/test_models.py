"""The model manager with real (small, self-built) NeMo models: no temp files, one lock, lock retries."""

from __future__ import annotations

import gc
import os
import shutil
import sys
import tempfile
import threading
import weakref
from pathlib import Path

import numpy as np
import pytest

from chunky.base.errors import FileLockedError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def store(tiny_nemo_files, tmp_path_factory):
    from chunky.models.store import ModelStore

    home = tmp_path_factory.mktemp("models-home")
    s = ModelStore(home / "local_models", home / "extracted")
    s.import_archive(tiny_nemo_files["char"], "tiny-char")
    s.import_archive(tiny_nemo_files["bpe"], "tiny-bpe")
    return s


@pytest.fixture()
def manager(store):
    from chunky.models.manager import ModelManager

    m = ModelManager(store, device="cpu", retry_delays=(0.5, 1, 2, 4, 8), sleep=lambda s: None)
    yield m
    m.unload()


def _lock_error(path: str) -> OSError:
    err = PermissionError(13, "The process cannot access the file: it is being used by another process", path)
    err.winerror = 32
    return err


def test_loads_char_ctc_from_extracted_folder_and_transcribes(manager, store) -> None:
    loaded = manager.get("tiny-char")
    assert type(loaded.model).__name__ == "EncDecCTCModel"
    assert loaded.device == "cpu"
    assert loaded.sample_rate == 16000
    hyps = loaded.model.transcribe([np.zeros(16000, dtype=np.float32)], batch_size=1, verbose=False)
    assert isinstance(hyps[0].text, str)


def test_bpe_tokenizer_artifact_resolves_inside_extracted_folder(manager, store, monkeypatch) -> None:
    from nemo.collections.common.tokenizers import sentencepiece_tokenizer as spt

    seen: list[Path] = []
    original = spt.SentencePieceTokenizer.__init__

    def spy(self, model_path, *args, **kwargs):
        seen.append(Path(model_path))
        return original(self, model_path, *args, **kwargs)

    monkeypatch.setattr(spt.SentencePieceTokenizer, "__init__", spy)
    manager.unload()
    loaded = manager.get("tiny-bpe")
    model = loaded.model
    assert type(model).__name__ == "EncDecCTCModelBPE"
    assert model.tokenizer.vocab_size == 40
    # The "nemo:" artifact path was resolved to the tokenizer file inside the extracted folder.
    assert seen, "the tokenizer was not built during the load"
    extracted = store.extracted_dir("tiny-bpe").resolve()
    assert all(p.resolve().is_relative_to(extracted) and p.is_file() for p in seen), seen
    assert model.tokenizer.text_to_ids("one two") and model.tokenizer.ids_to_text(
        model.tokenizer.text_to_ids("one two")
    ) == "one two"


def test_load_creates_no_temp_folder_and_writes_nothing_to_system_temp(
    manager, store, monkeypatch, system_temp, tiny_nemo_files
) -> None:
    # Dropped into local_models by hand: the first use extracts it, then loads it.
    shutil.copy(tiny_nemo_files["char"], store.local_models / "tiny-char-fresh.nemo")
    writes: list[str] = []
    active = True

    def audit(event: str, args: tuple) -> None:
        if not active:
            return
        if event == "open" and args[0] is not None and isinstance(args[0], str | bytes | Path):
            mode = args[1] if len(args) > 1 else "r"
            if isinstance(mode, str) and any(c in mode for c in "wax+"):
                writes.append(str(args[0]))
        elif event in ("os.mkdir", "tempfile.mkdtemp", "tempfile.mkstemp"):
            writes.append(str(args[0]))

    def refuse(*args, **kwargs):
        raise AssertionError("a temp folder was created during a model load")

    sys.addaudithook(audit)
    monkeypatch.setattr(tempfile, "TemporaryDirectory", refuse)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    try:
        loaded = manager.get("tiny-char-fresh")
    finally:
        active = False
    assert loaded.model is not None
    assert writes, "the audit hook saw the extraction's writes"
    system = system_temp.resolve()
    home = Path(os.environ["CHUNKY_HOME"]).resolve()
    outside_chunky = [w for w in writes if not Path(w).resolve().is_relative_to(home)]
    assert [w for w in outside_chunky if Path(w).resolve().is_relative_to(system)] == []


def test_switching_models_frees_the_previous_one(manager) -> None:
    first = weakref.ref(manager.get("tiny-char").model)
    manager.get("tiny-bpe")
    gc.collect()
    assert first() is None, "the previous model must be released when another is loaded"
    assert manager.current.name == "tiny-bpe"
    assert manager.get("tiny-bpe") is manager.current, "the resident model is reused"


def test_concurrent_loads_from_threads_each_get_the_right_model(store) -> None:
    from chunky.models.manager import restore_extracted

    folders = {name: store.ensure_extracted(name) for name in ("tiny-char", "tiny-bpe")}
    results: list[tuple[str, str, int]] = []
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for _ in range(3):
                model = restore_extracted(folders[name])
                vocab = model.tokenizer.vocab_size if name == "tiny-bpe" else len(model.decoder.vocabulary)
                results.append((name, type(model).__name__, vocab))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ["tiny-char", "tiny-bpe"] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert errors == []
    assert len(results) == 18
    expected = {"tiny-char": ("EncDecCTCModel", 28), "tiny-bpe": ("EncDecCTCModelBPE", 40)}
    for name, cls, vocab in results:
        assert (cls, vocab) == expected[name]


@pytest.mark.parametrize("failures", [1, 2, 3, 4])
def test_lock_errors_during_load_are_retried(manager, monkeypatch, failures: int) -> None:
    import chunky.models.manager as models

    real = models.restore_extracted
    calls = {"n": 0}
    slept: list[float] = []
    manager._sleep = slept.append

    def flaky(folder, device="cpu", **kwargs):
        calls["n"] += 1
        if calls["n"] <= failures:
            raise _lock_error(str(Path(folder) / "model_weights.ckpt"))
        return real(folder, device, **kwargs)

    monkeypatch.setattr(models, "restore_extracted", flaky)
    manager.unload()
    loaded = manager.get("tiny-char")
    assert loaded.model is not None
    assert calls["n"] == failures + 1
    assert slept == [0.5, 1, 2, 4, 8][:failures]


def test_lock_error_that_never_clears_gives_clear_error(manager, monkeypatch) -> None:
    import chunky.models.manager as models

    calls = {"n": 0}

    def locked(folder, device="cpu", **kwargs):
        calls["n"] += 1
        raise _lock_error(str(Path(folder) / "model_weights.ckpt"))

    monkeypatch.setattr(models, "restore_extracted", locked)
    manager.unload()
    with pytest.raises(FileLockedError) as info:
        manager.get("tiny-char")
    assert calls["n"] == 6
    message = str(info.value)
    assert "model_weights.ckpt" in message
    assert "docs/windows.md" in message
    assert manager.current is None


def test_other_errors_are_not_retried(manager, monkeypatch) -> None:
    import chunky.models.manager as models

    calls = {"n": 0}

    def broken(folder, device="cpu", **kwargs):
        calls["n"] += 1
        raise RuntimeError("boom")

    monkeypatch.setattr(models, "restore_extracted", broken)
    manager.unload()
    with pytest.raises(RuntimeError):
        manager.get("tiny-char")
    assert calls["n"] == 1


def test_cpu_notice_and_forced_cpu() -> None:
    from chunky.models.manager import resolve_device

    assert resolve_device("cpu") == ("cpu", None)
    device, notice = resolve_device("auto")
    import torch

    if not torch.cuda.is_available():
        assert device == "cpu" and "CPU" in notice
    with pytest.raises(ValueError):
        resolve_device("tpu")


def test_fast_restore_gives_same_weights_as_nemo_default(store, tiny_nemo_files) -> None:
    import torch
    from nemo.collections.asr.models import ASRModel

    from chunky.models.manager import restore_extracted

    fast = restore_extracted(store.ensure_extracted("tiny-bpe"))
    reference = ASRModel.restore_from(str(tiny_nemo_files["bpe"]), map_location="cpu")
    ref_state = reference.state_dict()
    for key, value in fast.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
