"""Downloads against a local stand-in for the Hugging Face Hub (a tiny HTTP server on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest

from chunky.base.errors import DownloadError, InvalidNameError
from chunky.models.download import (
    IMPORT_HINT,
    download_model,
    is_connection_error,
    map_download_error,
    parse_repo_id,
)
from chunky.models.store import ModelStore
from tests.fake_hub import FakeHub, closed_port_url
from tests.nemo_archives import build_nemo


@pytest.fixture()
def hub():
    server = FakeHub()
    yield server
    server.close()


@pytest.fixture()
def nemo_bytes(tmp_path: Path) -> bytes:
    return build_nemo(tmp_path / "src.nemo", weights_size=300_000).read_bytes()


@pytest.fixture()
def no_sleep(monkeypatch):
    """huggingface_hub waits 1 s before resuming a dropped download; skip the waiting."""
    monkeypatch.setattr(time, "sleep", lambda s: None)


def nothing_left(local_models: Path) -> bool:
    if not local_models.exists():
        return True
    visible = [p for p in local_models.iterdir() if p.name != ".downloads"]
    complete_looking = [p for p in local_models.rglob("*.nemo")]
    return visible == [] and complete_looking == []


def test_download_moves_the_nemo_into_place_and_records_the_source(
    hub: FakeHub, nemo_bytes: bytes, tmp_path: Path
):
    hub.add("nvidia/tiny-model", {"README.md": b"# card", "tiny-model.nemo": nemo_bytes})
    local_models = tmp_path / "local_models"
    path = download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
    assert path == local_models / "tiny-model.nemo"
    assert path.read_bytes() == nemo_bytes
    assert not (local_models / ".downloads").exists()
    sources = json.loads((local_models / ".chunky-sources.json").read_text())["models"]
    assert sources["tiny-model"]["source"] == "hub:nvidia/tiny-model"
    assert sources["tiny-model"]["sha256"] == hashlib.sha256(nemo_bytes).hexdigest()
    store = ModelStore(local_models, tmp_path / "extracted")
    [info] = store.list_models()
    assert (info.name, info.source) == ("tiny-model", "hub:nvidia/tiny-model")
    assert (store.ensure_extracted("tiny-model") / "model_config.yaml").is_file()

    # Again: already there, nothing downloaded.
    before = hub.gets("tiny-model.nemo")
    assert download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url) == path
    assert hub.gets("tiny-model.nemo") == before


def test_nemo_with_another_name_and_pasted_url(hub: FakeHub, nemo_bytes: bytes, tmp_path: Path) -> None:
    hub.add("someone/asr-model", {"weights/other.nemo": b"x", "final.nemo": nemo_bytes})
    path = download_model(
        "https://huggingface.co/someone/asr-model/tree/main",
        tmp_path / "lm",
        progress=False,
        endpoint=hub.url,
    )
    assert path.name == "asr-model.nemo" and path.read_bytes() == nemo_bytes


def test_offline_gives_one_clear_error_and_leaves_nothing(tmp_path: Path) -> None:
    local_models = tmp_path / "local_models"
    with pytest.raises(DownloadError) as info:
        download_model(
            "nvidia/parakeet-tdt-0.6b-v2", local_models, progress=False, endpoint=closed_port_url()
        )
    message = str(info.value)
    assert message.startswith("Cannot reach")
    assert IMPORT_HINT in message
    assert "\n" not in message
    assert nothing_left(local_models)


def test_offline_keeps_a_copy_downloaded_before(hub: FakeHub, nemo_bytes: bytes, tmp_path: Path) -> None:
    hub.add("nvidia/tiny-model", {"tiny-model.nemo": nemo_bytes})
    local_models = tmp_path / "lm"
    path = download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
    assert (
        download_model("nvidia/tiny-model", local_models, progress=False, endpoint=closed_port_url()) == path
    )


def test_missing_repo(hub: FakeHub, tmp_path: Path) -> None:
    with pytest.raises(DownloadError) as info:
        download_model("nobody/no-such-model", tmp_path / "lm", progress=False, endpoint=hub.url)
    assert "no model 'nobody/no-such-model'" in str(info.value)
    assert nothing_left(tmp_path / "lm")


def test_repo_without_nemo(hub: FakeHub, tmp_path: Path) -> None:
    hub.add("someone/transformers-model", {"config.json": b"{}", "model.safetensors": b"x"})
    with pytest.raises(DownloadError, match="has no .nemo file"):
        download_model("someone/transformers-model", tmp_path / "lm", progress=False, endpoint=hub.url)
    assert nothing_left(tmp_path / "lm")


def test_server_error(hub: FakeHub, tmp_path: Path) -> None:
    hub.api_status = 503
    with pytest.raises(DownloadError, match="HTTP 503"):
        download_model("nvidia/tiny-model", tmp_path / "lm", progress=False, endpoint=hub.url)


def test_connection_dropped_mid_download_leaves_no_complete_looking_file(
    hub: FakeHub, nemo_bytes: bytes, tmp_path: Path, no_sleep
) -> None:
    hub.add("nvidia/tiny-model", {"tiny-model.nemo": nemo_bytes})
    hub.drop_after["tiny-model.nemo"] = 100_000
    local_models = tmp_path / "lm"
    with pytest.raises(DownloadError) as info:
        download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
    assert "interrupted" in str(info.value) and "again" in str(info.value)
    assert nothing_left(local_models)
    assert not (local_models / ".chunky-sources.json").exists()


def test_dropped_connection_is_resumed(hub: FakeHub, nemo_bytes: bytes, tmp_path: Path, no_sleep) -> None:
    hub.add("nvidia/tiny-model", {"tiny-model.nemo": nemo_bytes})
    hub.drop_after["tiny-model.nemo"] = 100_000
    hub.drops_left["tiny-model.nemo"] = 1
    path = download_model("nvidia/tiny-model", tmp_path / "lm", progress=False, endpoint=hub.url)
    assert path.read_bytes() == nemo_bytes
    assert hub.gets("tiny-model.nemo") == 2


def test_served_file_that_is_not_a_tar(hub: FakeHub, tmp_path: Path) -> None:
    hub.add("someone/broken", {"broken.nemo": b"<html>not a model</html>" * 40})
    with pytest.raises(DownloadError, match="not a .nemo archive"):
        download_model("someone/broken", tmp_path / "lm", progress=False, endpoint=hub.url)
    assert nothing_left(tmp_path / "lm")


@pytest.mark.parametrize(
    ("text", "repo"),
    [
        ("nvidia/parakeet-tdt-0.6b-v2", "nvidia/parakeet-tdt-0.6b-v2"),
        (" https://huggingface.co/nvidia/canary-1b-flash ", "nvidia/canary-1b-flash"),
        ("hf.co/nvidia/canary-1b-flash/blob/main/README.md", "nvidia/canary-1b-flash"),
    ],
)
def test_parse_repo_id(text: str, repo: str) -> None:
    assert parse_repo_id(text) == repo


@pytest.mark.parametrize(
    "text", ["", "parakeet", "a/b/c", "../x", "nvidia/..", "nvidia/par keet", "C:\\models\\x"]
)
def test_parse_repo_id_refuses(text: str) -> None:
    with pytest.raises(InvalidNameError):
        parse_repo_id(text)


def test_error_mapping_for_other_http_stacks() -> None:
    import httpx
    import requests
    from huggingface_hub.errors import LocalEntryNotFoundError

    for exc in (
        requests.ConnectionError("Max retries exceeded"),
        requests.ReadTimeout("read timed out"),
        httpx.ConnectError("[Errno -3] Temporary failure in name resolution"),
        TimeoutError("timed out"),
        LocalEntryNotFoundError("check your connection"),
    ):
        assert is_connection_error(exc), exc
        message = str(map_download_error(exc, "nvidia/x", "huggingface.co"))
        assert message.startswith("Cannot reach huggingface.co") and IMPORT_HINT in message
    assert not is_connection_error(ValueError("x"))
    assert not is_connection_error(FileNotFoundError(2, "missing"))


def test_a_download_another_chunky_is_doing_is_not_started_twice(
    hub: FakeHub, nemo_bytes: bytes, tmp_path: Path
) -> None:
    from chunky.base.fs import ProcessLock
    from chunky.models.download import DOWNLOADS_DIR

    hub.add("nvidia/tiny-model", {"tiny-model.nemo": nemo_bytes})
    local_models = tmp_path / "lm"
    (local_models / DOWNLOADS_DIR).mkdir(parents=True)
    other = ProcessLock(local_models / DOWNLOADS_DIR / "tiny-model.lock")  # (as another process holds it)
    try:
        with pytest.raises(DownloadError, match="being downloaded by another Chunky"):
            download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
        assert hub.gets("tiny-model.nemo") == 0
    finally:
        other.release()
    assert download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url).is_file()
    assert not (local_models / DOWNLOADS_DIR).exists()


def test_a_damaged_kept_part_is_caught_and_the_next_try_starts_afresh(
    hub: FakeHub, nemo_bytes: bytes, tmp_path: Path
) -> None:
    from chunky.models.download import DOWNLOADS_DIR, INCOMPLETE, MARKER

    hub.add("nvidia/tiny-model", {"tiny-model.nemo": nemo_bytes})
    local_models = tmp_path / "lm"
    folder = local_models / DOWNLOADS_DIR / "tiny-model"
    folder.mkdir(parents=True)
    (folder / MARKER).write_text(json.dumps({"repo_id": "nvidia/tiny-model", "file": "tiny-model.nemo"}))
    (folder / ("tiny-model.nemo" + INCOMPLETE)).write_bytes(b"\0" * 5000)  # not the file's first bytes
    with pytest.raises(DownloadError, match="did not come out as published"):
        download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
    assert nothing_left(local_models) and not folder.exists()
    path = download_model("nvidia/tiny-model", local_models, progress=False, endpoint=hub.url)
    assert path.read_bytes() == nemo_bytes
    assert hub.answers[-2:] == [(206, len(nemo_bytes) - 5000), (200, len(nemo_bytes))]
