"""The page's model downloads and imports (chunky.models.downloads.ModelTasks) against the local stand-in
Hub: progress to the total, cancel, continuing after a restart with a Range request, the clear errors, a
second click, imports. Real HTTP, real files, no NeMo."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from chunky.base.errors import ChunkyError, InvalidNameError
from chunky.models.download import CHUNK, DOWNLOADS_DIR, IMPORT_HINT, INCOMPLETE
from chunky.models.downloads import (
    CANCELLED,
    DONE,
    FAILED,
    PAGE_IMPORT_HINT,
    RUNNING,
    STOPPED,
    ModelTasks,
    Task,
    _Run,
)
from chunky.models.store import ModelStore
from tests.fake_hub import closed_port_url, running_hub
from tests.nemo_archives import build_nemo

REPO, FILE = "nvidia/tiny-model", "tiny-model.nemo"


@pytest.fixture()
def hub():
    with running_hub() as server:
        yield server


@pytest.fixture(scope="module")
def nemo_bytes(tmp_path_factory) -> bytes:
    """A real (fake-weights) .nemo of about 1.5 MB: six reads of CHUNK bytes."""
    return build_nemo(tmp_path_factory.mktemp("src") / "src.nemo", weights_size=1_500_000).read_bytes()


@pytest.fixture()
def store(tmp_path: Path) -> ModelStore:
    return ModelStore(tmp_path / "local_models", tmp_path / "extracted")


def wait_for(tasks: ModelTasks, name: str, ok: Callable[[Task], bool], timeout: float = 30.0) -> Task:
    deadline = time.monotonic() + timeout
    seen = None
    while time.monotonic() < deadline:
        seen = next((t for t in tasks.tasks() if t.name == name), None)
        if seen is not None and ok(seen):
            return seen
        time.sleep(0.01)
    raise AssertionError(f"{name}: still {seen}")


def ended(t: Task) -> bool:
    return not t.active


def nothing_visible(local_models: Path) -> bool:
    """No model and no half file where models are looked for (the hidden .downloads folder aside)."""
    visible = [p for p in local_models.iterdir() if p.name not in (DOWNLOADS_DIR, ".chunky-sources.json")]
    return visible == [] and list(local_models.rglob("*.nemo")) == []


def test_progress_reaches_the_total_and_the_model_is_ready(hub, nemo_bytes, store) -> None:
    hub.add(REPO, {"README.md": b"# card", FILE: nemo_bytes})
    hub.hold_after[FILE] = 2 * CHUNK
    arrived: list[str] = []
    tasks = ModelTasks(store, endpoint=hub.url, on_change=arrived.append)
    task, started = tasks.download("https://huggingface.co/nvidia/tiny-model")
    assert started and task.state == RUNNING and task.repo_id == REPO
    midway = wait_for(tasks, "tiny-model", lambda t: t.done >= CHUNK)
    assert midway.state == RUNNING and midway.total == len(nemo_bytes) and midway.done < len(nemo_bytes)
    hub.release.set()
    done = wait_for(tasks, "tiny-model", ended)
    assert done.state == DONE, done.message
    assert done.done == done.total == len(nemo_bytes)
    assert "ready" in done.message and arrived == ["tiny-model"]
    [info] = store.list_models()
    assert info.name == "tiny-model" and info.extracted and info.source == f"hub:{REPO}"
    assert (store.local_models / FILE).read_bytes() == nemo_bytes
    assert not (store.local_models / DOWNLOADS_DIR).exists()


def test_speed_and_time_left() -> None:
    now = [0.0]
    run = _Run(Task("m", "download", RUNNING), lambda: now[0])
    run.progress(0, 10_000_000)
    now[0] = 1.0
    run.progress(2_000_000, 10_000_000)
    now[0] = 2.0
    run.progress(4_000_000, 10_000_000)
    assert run.task.speed == pytest.approx(2_000_000)
    assert run.task.left == pytest.approx(3.0)
    assert (run.task.done, run.task.total) == (4_000_000, 10_000_000)


def test_a_second_click_starts_no_second_download(hub, nemo_bytes, store) -> None:
    hub.add(REPO, {FILE: nemo_bytes})
    hub.hold_after[FILE] = CHUNK
    tasks = ModelTasks(store, endpoint=hub.url)
    first, started = tasks.download(REPO)
    wait_for(tasks, "tiny-model", lambda t: t.done > 0)
    again, started_again = tasks.download("nvidia/tiny-model")
    assert started and not started_again and again.state == RUNNING
    hub.release.set()
    assert wait_for(tasks, "tiny-model", ended).state == DONE
    assert hub.gets(FILE) == 1


def test_cancel_leaves_no_model_and_a_restart_fetches_only_the_rest(hub, nemo_bytes, store) -> None:
    hub.add(REPO, {FILE: nemo_bytes})
    hub.hold_after[FILE] = 3 * CHUNK
    tasks = ModelTasks(store, endpoint=hub.url)
    tasks.download(REPO)
    wait_for(tasks, "tiny-model", lambda t: t.done >= CHUNK)
    assert tasks.cancel("tiny-model")
    hub.release.set()
    cancelled = wait_for(tasks, "tiny-model", ended)
    assert cancelled.state == CANCELLED and cancelled.resumable
    assert "downloaded so far are kept" in cancelled.message
    assert not tasks.cancel("tiny-model")  # nothing running any more
    # No model and no half file in local_models: the bytes wait in the hidden .downloads folder.
    assert nothing_visible(store.local_models) and store.list_models() == []
    partial = store.local_models / DOWNLOADS_DIR / "tiny-model" / (FILE + INCOMPLETE)
    kept = partial.stat().st_size
    assert 0 < kept < len(nemo_bytes) and kept == cancelled.done
    assert partial.read_bytes() == nemo_bytes[:kept]

    # "Restart": a new manager (as at the next start) sees it and continues after the kept bytes.
    again = ModelTasks(ModelStore(store.local_models, store.extracted_root), endpoint=hub.url)
    [stopped] = again.tasks()
    assert (stopped.state, stopped.name, stopped.repo_id, stopped.done) == (STOPPED, "tiny-model", REPO, kept)
    assert stopped.total == len(nemo_bytes) and stopped.resumable
    hub.ranges.clear()
    hub.answers.clear()
    task, _ = again.download(REPO)
    assert task.done == kept  # the page shows where it continues from
    assert wait_for(again, "tiny-model", ended).state == DONE
    assert hub.ranges == [(f"/{REPO}/resolve/{'a' * 40}/{FILE}", f"bytes={kept}-")]
    assert hub.answers == [(206, len(nemo_bytes) - kept)]  # only the rest was sent
    assert (store.local_models / FILE).read_bytes() == nemo_bytes


def test_a_dropped_connection_keeps_the_bytes_for_the_next_try(hub, nemo_bytes, store, monkeypatch) -> None:
    monkeypatch.setattr("chunky.models.download.RETRIES", 1)
    hub.add(REPO, {FILE: nemo_bytes})
    hub.drop_after[FILE] = 700_000  # every GET drops: the first after 700 kB, the retry at once
    tasks = ModelTasks(store, endpoint=hub.url)
    tasks.download(REPO)
    failed = wait_for(tasks, "tiny-model", ended)
    assert failed.state == FAILED and "interrupted" in failed.message and failed.resumable, failed
    assert "kept" in failed.message and PAGE_IMPORT_HINT in failed.message
    assert nothing_visible(store.local_models)
    assert 0 < failed.done <= 700_000 and failed.done % CHUNK == 0  # whole reads were kept
    del hub.drop_after[FILE]  # the connection is back
    tasks.download(REPO)
    assert wait_for(tasks, "tiny-model", ended).state == DONE
    assert hub.ranges[-1][1] == f"bytes={failed.done}-"
    assert (store.local_models / FILE).read_bytes() == nemo_bytes


def test_discard_deletes_the_kept_bytes(hub, nemo_bytes, store, monkeypatch) -> None:
    monkeypatch.setattr("chunky.models.download.RETRIES", 1)
    hub.add(REPO, {FILE: nemo_bytes})
    hub.drop_after[FILE] = 300_000
    tasks = ModelTasks(store, endpoint=hub.url)
    tasks.download(REPO)
    assert wait_for(tasks, "tiny-model", ended).resumable
    assert tasks.discard("tiny-model")
    assert tasks.tasks() == [] and not (store.local_models / DOWNLOADS_DIR).exists()


def test_offline_says_so_and_points_at_the_import(store) -> None:
    tasks = ModelTasks(store, endpoint=closed_port_url())
    tasks.download("nvidia/parakeet-tdt-0.6b-v2")
    failed = wait_for(tasks, "parakeet-tdt-0.6b-v2", ended)
    assert failed.state == FAILED and failed.message.startswith("Cannot reach")
    assert PAGE_IMPORT_HINT in failed.message and IMPORT_HINT not in failed.message
    assert not failed.resumable and nothing_visible(store.local_models)


def test_unknown_and_malformed_ids(hub, store) -> None:
    tasks = ModelTasks(store, endpoint=hub.url)
    tasks.download("nvidia/no-such-model")
    failed = wait_for(tasks, "no-such-model", ended)
    assert failed.state == FAILED and "no model 'nvidia/no-such-model'" in failed.message
    with pytest.raises(InvalidNameError, match="not a Hugging Face model id"):
        tasks.download("parakeet please")
    assert nothing_visible(store.local_models)


def test_not_enough_disk_space(hub, nemo_bytes, store) -> None:
    hub.add(REPO, {FILE: nemo_bytes})
    hub.sizes[FILE] = 10**16  # more than any disk here
    tasks = ModelTasks(store, endpoint=hub.url)
    tasks.download(REPO)
    failed = wait_for(tasks, "tiny-model", ended)
    assert failed.state == FAILED and failed.message.startswith("Not enough disk space")
    assert hub.gets(FILE) == 0 and nothing_visible(store.local_models)


def test_import_a_nemo_and_its_errors(store, tmp_path) -> None:
    src = build_nemo(tmp_path / "my-model.nemo", weights_size=50_000)
    tasks = ModelTasks(store)
    task = tasks.import_file(src)
    assert task.name == "my-model" and task.kind == "import"
    assert wait_for(tasks, "my-model", ended).state == DONE
    [info] = store.list_models()
    assert (info.name, info.source, info.extracted) == ("my-model", "imported", True)
    with pytest.raises(ChunkyError, match="already exists"):
        tasks.import_file(src)
    tasks.import_file(src, "other.nemo")
    assert wait_for(tasks, "other", ended).state == DONE
    text = tmp_path / "notes.nemo"
    text.write_text("not a model")
    with pytest.raises(ChunkyError, match="not a NeMo model"):
        tasks.import_file(text)
    with pytest.raises(ChunkyError, match="no such file"):
        tasks.import_file(tmp_path / "missing.nemo")
    with pytest.raises(InvalidNameError):
        tasks.import_file(src, "../evil")
    assert sorted(m.name for m in store.list_models()) == ["my-model", "other"]
