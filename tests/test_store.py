"""The model store and model names, on fake but structurally real .nemo archives (no NeMo needed)."""

from __future__ import annotations

import errno
import json
import os
import tarfile
import threading
from pathlib import Path

import pytest

import chunky.models.extract as extract_mod
import chunky.models.store as store_mod
from chunky.base.errors import FileLockedError, InvalidNameError, ModelArchiveError, ModelNotFoundError
from chunky.base.fs import ProcessLock
from chunky.base.names import name_from_path, name_from_repo_id, validate_model_name
from chunky.models.store import MANIFEST_NAME, ModelStore, NotEnoughSpaceError, sha256_file
from tests.nemo_archives import (
    TOKENIZER_MEMBER,
    build_nemo,
    nemo_members,
    truncated_copy,
    unsafe_nemo,
    write_nemo,
)

NO_DELAYS = (0, 0, 0, 0, 0)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture()
def store(home: Path) -> ModelStore:
    return ModelStore(home / "local_models", home / "extracted", retry_delays=NO_DELAYS, sleep=lambda s: None)


def lock_error(path: Path | str) -> OSError:
    err = PermissionError(
        13, "The process cannot access the file: it is being used by another process", str(path)
    )
    err.winerror = 32
    return err


def leftovers(store: ModelStore) -> list[str]:
    hidden = [p.name for p in store.extracted_root.iterdir() if p.name.startswith(".")]
    partial = [p.name for p in store.local_models.iterdir() if p.name.endswith(".partial")]
    return hidden + partial


def dropped(store: ModelStore, name: str = "demo", **kwargs) -> Path:
    return build_nemo(store.local_models / f"{name}.nemo", **kwargs)


# --- names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["parakeet-tdt-0.6b-v2", "my_model", "Model 2", "canary-1b-flash", "a" * 100]
)
def test_valid_names(name: str) -> None:
    assert validate_model_name(name) == name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("a/b", "separator"),
        ("a\\b", "separator"),
        ("..", "'..'"),
        ("a..b", "'..'"),
        ("C:model", "drive letter"),
        ("c:", "drive letter"),
        ("CON", "reserved"),
        ("nul", "reserved"),
        ("com1.model", "reserved"),
        ("LPT9", "reserved"),
        ("bad\x00name", "control"),
        ("tab\tname", "control"),
        (".hidden", "start with '.'"),
        ("a" * 101, "too long"),
        ("what?", "Windows does not allow"),
        ("trailing.", "end with"),
        (" lead", "start or end with a space"),
    ],
)
def test_invalid_names_are_refused_with_a_clear_message(name: str, why: str) -> None:
    with pytest.raises(InvalidNameError) as info:
        validate_model_name(name)
    assert why in str(info.value)


def test_names_from_repo_ids_and_paths() -> None:
    assert name_from_repo_id("nvidia/parakeet-tdt-0.6b-v2") == "parakeet-tdt-0.6b-v2"
    assert name_from_repo_id("parakeet-tdt-0.6b-v2") == "parakeet-tdt-0.6b-v2"
    assert name_from_path(Path("/some/where/canary-1b.nemo")) == "canary-1b"
    with pytest.raises(InvalidNameError):
        name_from_path(Path("/x/.nemo"))


# --- listing and extraction -----------------------------------------------------------------------------


def test_dropped_archive_is_listed_then_extracted_with_a_manifest(store: ModelStore) -> None:
    archive = dropped(store)
    [info] = store.list_models()
    assert (info.name, info.archive, info.source, info.extracted, info.verified) == (
        "demo",
        archive,
        "local",
        False,
        None,
    )
    assert info.size == archive.stat().st_size

    folder = store.ensure_extracted("demo")
    assert folder == store.extracted_dir("demo") == store.extracted_root / "demo"
    assert folder.is_absolute()
    members = nemo_members()
    for member, data in members.items():
        assert (folder / member).read_bytes() == data
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    st = archive.stat()
    assert manifest["format_version"] == 1
    assert manifest["archive"] == {
        "file": "demo.nemo",
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
        "sha256": sha256_file(archive),
    }
    assert manifest["files"] == [{"path": m, "size": len(members[m])} for m in sorted(members)]
    assert manifest["nemo_version"]
    [info] = store.list_models()
    assert info.extracted and info.verified is None
    assert leftovers(store) == []


@pytest.mark.parametrize("layout", ["dot-slash", "bare", "gzip"])
def test_archive_layouts(store: ModelStore, layout: str) -> None:
    kwargs = {"dot-slash": {}, "bare": {"prefix": "", "root_entry": False}, "gzip": {"compression": "gz"}}[
        layout
    ]
    dropped(store, **kwargs)
    folder = store.ensure_extracted("demo")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*nemo_members(), MANIFEST_NAME])
    assert store.verify("demo").ok


def test_archive_from_nemo_connector_layout(store: ModelStore, tmp_path: Path) -> None:
    """Exactly how NeMo's SaveRestoreConnector packs: ``tar.add(folder, arcname=".")``."""
    src = tmp_path / "saved"
    src.mkdir()
    for member, data in nemo_members().items():
        (src / member).write_bytes(data)
    with tarfile.open(store.local_models / "demo.nemo", "w:") as tar:
        tar.add(src, arcname=".")
    folder = store.ensure_extracted("demo")
    assert (folder / TOKENIZER_MEMBER).read_bytes() == nemo_members()[TOKENIZER_MEMBER]


def test_second_call_uses_the_quick_check_only(store: ModelStore, monkeypatch) -> None:
    dropped(store)
    folder = store.ensure_extracted("demo")
    inode = (folder / "model_weights.ckpt").stat().st_ino

    def no_hash(*a, **k):
        raise AssertionError("the full hash must not run when size and mtime are unchanged")

    monkeypatch.setattr(store_mod, "sha256_file", no_hash)
    monkeypatch.setattr(extract_mod, "unpack", no_hash)
    assert store.ensure_extracted("demo") == folder
    assert (folder / "model_weights.ckpt").stat().st_ino == inode


def test_touched_archive_with_same_content_is_hashed_not_extracted(store: ModelStore, monkeypatch) -> None:
    archive = dropped(store)
    folder = store.ensure_extracted("demo")
    os.utime(archive, ns=(archive.stat().st_atime_ns, archive.stat().st_mtime_ns + 5_000_000_000))

    def no_unpack(*a, **k):
        raise AssertionError("same content: no extraction")

    monkeypatch.setattr(extract_mod, "unpack", no_unpack)
    assert store.ensure_extracted("demo") == folder
    manifest = json.loads((folder / MANIFEST_NAME).read_text())
    assert manifest["archive"]["mtime_ns"] == archive.stat().st_mtime_ns


def test_replaced_archive_is_extracted_again(store: ModelStore) -> None:
    dropped(store, seed=1)
    folder = store.ensure_extracted("demo")
    dropped(store, seed=2, weights_size=70 * 1024)
    assert store.list_models()[0].extracted is False
    assert store.ensure_extracted("demo") == folder
    assert (folder / "model_weights.ckpt").read_bytes() == nemo_members(70 * 1024, seed=2)[
        "model_weights.ckpt"
    ]
    # same size, different bytes, new mtime
    archive = dropped(store, seed=3, weights_size=70 * 1024)
    os.utime(archive, ns=(1, 1))
    store.ensure_extracted("demo")
    assert (folder / "model_weights.ckpt").read_bytes() == nemo_members(70 * 1024, seed=3)[
        "model_weights.ckpt"
    ]
    assert leftovers(store) == []


@pytest.mark.parametrize("damage", ["delete", "truncate", "manifest", "manifest-garbage"])
def test_damaged_folder_is_extracted_again(store: ModelStore, damage: str) -> None:
    dropped(store)
    folder = store.ensure_extracted("demo")
    if damage == "delete":
        (folder / TOKENIZER_MEMBER).unlink()
    elif damage == "truncate":
        (folder / "model_weights.ckpt").write_bytes(b"short")
    elif damage == "manifest":
        (folder / MANIFEST_NAME).unlink()
    else:
        (folder / MANIFEST_NAME).write_text("{not json")
    assert store.list_models()[0].extracted is False
    store.ensure_extracted("demo")
    for member, data in nemo_members().items():
        assert (folder / member).read_bytes() == data
    assert store.list_models()[0].extracted is True
    assert leftovers(store) == []


def test_missing_model(store: ModelStore) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        store.ensure_extracted("nothing-here")
    assert "nothing-here" in str(info.value) and "setup_local_models.py" in str(info.value)
    with pytest.raises(InvalidNameError):
        store.ensure_extracted("../escape")


def test_extracted_folder_without_archive_stays_usable(store: ModelStore) -> None:
    archive = dropped(store)
    folder = store.ensure_extracted("demo")
    archive.unlink()
    [info] = store.list_models()
    assert info.archive is None and info.extracted is True
    assert info.size == sum(len(d) for d in nemo_members().values())
    assert store.ensure_extracted("demo") == folder
    result = store.verify("demo")
    assert result.ok and result.notes


# --- bad archives ----------------------------------------------------------------------------------


def test_not_a_tar(store: ModelStore) -> None:
    (store.local_models / "demo.nemo").write_bytes(b"<html>Rate limited</html>" * 100)
    with pytest.raises(ModelArchiveError) as info:
        store.ensure_extracted("demo")
    assert "demo.nemo" in str(info.value) and "not a NeMo model archive" in str(info.value)
    assert not (store.extracted_root / "demo").exists()
    assert leftovers(store) == []


def test_tar_without_model_config(store: ModelStore) -> None:
    write_nemo(store.local_models / "demo.nemo", {"readme.txt": b"hello"})
    with pytest.raises(ModelArchiveError, match="model_config.yaml"):
        store.ensure_extracted("demo")
    assert leftovers(store) == []


@pytest.mark.parametrize("keep", [700, 3 * 512, 40_000, 66_000, -10240])
def test_truncated_archive(store: ModelStore, tmp_path: Path, keep: int) -> None:
    full = build_nemo(tmp_path / "full.nemo")
    size = full.stat().st_size
    truncated_copy(full, store.local_models / "demo.nemo", keep if keep > 0 else size + keep)
    with pytest.raises(ModelArchiveError) as info:
        store.ensure_extracted("demo")
    assert "demo.nemo" in str(info.value)
    assert not (store.extracted_root / "demo").exists()
    assert leftovers(store) == []


def test_truncated_gzip_archive(store: ModelStore, tmp_path: Path) -> None:
    full = build_nemo(tmp_path / "full.nemo", compression="gz")
    truncated_copy(full, store.local_models / "demo.nemo", full.stat().st_size - 30)
    with pytest.raises(ModelArchiveError, match="demo.nemo"):
        store.ensure_extracted("demo")
    assert leftovers(store) == []


def test_corrupt_bytes_in_the_middle(store: ModelStore) -> None:
    archive = dropped(store)
    data = bytearray(archive.read_bytes())
    # Overwrite the header of the second member (after the '.' entry and the tokenizer).
    start = 512 + 512 + 1536
    data[start : start + 512] = b"\xff" * 512
    archive.write_bytes(bytes(data))
    with pytest.raises(ModelArchiveError, match="truncated"):
        store.ensure_extracted("demo")
    assert leftovers(store) == []


@pytest.mark.parametrize(
    "kind", ["absolute", "dotdot", "symlink_out", "symlink_abs", "hardlink_out", "device", "fifo"]
)
def test_unsafe_members_are_refused(store: ModelStore, home: Path, kind: str) -> None:
    unsafe_nemo(store.local_models / "demo.nemo", kind)
    with pytest.raises(ModelArchiveError, match="unsafe"):
        store.ensure_extracted("demo")
    assert not (store.extracted_root / "demo").exists()
    assert not (home / "chunky-evil.txt").exists() and not (store.extracted_root / "chunky-evil.txt").exists()
    assert leftovers(store) == []


@pytest.mark.parametrize("member", ["./CON", "./sub/nul.txt", "./a:b", "./bad\x01name"])
def test_member_names_that_are_devices_or_invalid_on_windows(store: ModelStore, member: str) -> None:
    write_nemo(store.local_models / "demo.nemo", {**nemo_members(), member.removeprefix("./"): b"x"})
    with pytest.raises(ModelArchiveError, match="invalid file name"):
        store.ensure_extracted("demo")
    assert leftovers(store) == []


def test_links_inside_the_archive_become_copies(store: ModelStore) -> None:
    sym = tarfile.TarInfo("./alias.model")
    sym.type = tarfile.SYMTYPE
    sym.linkname = TOKENIZER_MEMBER
    hard = tarfile.TarInfo("./hard.yaml")
    hard.type = tarfile.LNKTYPE
    hard.linkname = "./model_config.yaml"
    write_nemo(store.local_models / "demo.nemo", extra=[(sym, None), (hard, None)])
    folder = store.ensure_extracted("demo")
    assert not (folder / "alias.model").is_symlink()
    assert (folder / "alias.model").read_bytes() == nemo_members()[TOKENIZER_MEMBER]
    assert (folder / "hard.yaml").read_bytes() == nemo_members()["model_config.yaml"]


# --- crashes, full disks, locks ---------------------------------------------------------------------


def test_interrupted_extraction_keeps_the_old_folder_and_leaves_no_staging(
    store: ModelStore, monkeypatch
) -> None:
    dropped(store, seed=1)
    folder = store.ensure_extracted("demo")
    old = (folder / "model_weights.ckpt").read_bytes()
    dropped(store, seed=2, weights_size=80 * 1024)
    real = extract_mod.write_member

    def killed(reader, member, target):
        if member.name.endswith("model_weights.ckpt"):
            target.write_bytes(b"half")
            raise KeyboardInterrupt
        return real(reader, member, target)

    monkeypatch.setattr(extract_mod, "write_member", killed)
    with pytest.raises(KeyboardInterrupt):
        store.ensure_extracted("demo")
    assert (folder / "model_weights.ckpt").read_bytes() == old, "the real folder is never half written"
    assert leftovers(store) == []


def test_full_disk_gives_clear_error_and_removes_staging(store: ModelStore, monkeypatch) -> None:
    dropped(store)

    def full(reader, member, target):
        raise OSError(errno.ENOSPC, "No space left on device", str(target))

    monkeypatch.setattr(extract_mod, "write_member", full)
    with pytest.raises(NotEnoughSpaceError) as info:
        store.ensure_extracted("demo")
    assert "full" in str(info.value) and "demo.nemo" in str(info.value)
    assert not (store.extracted_root / "demo").exists()
    assert leftovers(store) == []


def test_too_little_free_space_is_refused_before_writing(store: ModelStore, monkeypatch) -> None:
    dropped(store)

    class Usage:
        free = 1000

    monkeypatch.setattr(store_mod.shutil, "disk_usage", lambda p: Usage())
    with pytest.raises(NotEnoughSpaceError, match="Not enough disk space"):
        store.ensure_extracted("demo")
    assert leftovers(store) == []


def test_lock_errors_while_installing_are_retried(home: Path, monkeypatch) -> None:
    slept: list[float] = []
    store = ModelStore(home / "lm", home / "ex", retry_delays=(0.5, 1, 2, 4, 8), sleep=slept.append)
    dropped(store)
    real_replace = os.replace
    failures = {"n": 0}

    def flaky_replace(src, dst):
        if Path(dst) == store.extracted_root / "demo" and failures["n"] < 2:
            failures["n"] += 1
            raise lock_error(src)
        return real_replace(src, dst)

    monkeypatch.setattr(store_mod.os, "replace", flaky_replace)
    folder = store.ensure_extracted("demo")
    assert (folder / "model_config.yaml").is_file()
    assert slept == [0.5, 1]
    assert leftovers(store) == []


def test_lock_error_mid_extraction_restarts_it_cleanly(home: Path, monkeypatch) -> None:
    slept: list[float] = []
    store = ModelStore(home / "lm", home / "ex", retry_delays=(0.5, 1, 2, 4, 8), sleep=slept.append)
    dropped(store)
    real = extract_mod.write_member
    calls = {"n": 0}

    def scanner_grabs_the_file(reader, member, target):
        calls["n"] += 1
        if member.name.endswith("model_weights.ckpt") and calls["n"] < 5:
            target.write_bytes(b"half")
            raise lock_error(target)
        return real(reader, member, target)

    monkeypatch.setattr(extract_mod, "write_member", scanner_grabs_the_file)
    folder = store.ensure_extracted("demo")
    assert slept == [0.5]
    assert (folder / "model_weights.ckpt").read_bytes() == nemo_members()["model_weights.ckpt"]
    assert store.verify("demo").ok
    assert leftovers(store) == []


def test_second_import_of_the_same_name_at_once_is_refused(store: ModelStore, tmp_path: Path) -> None:
    held = ProcessLock(store.local_models / "demo.nemo.partial.lock")
    try:
        with pytest.raises(Exception, match="Another Chunky process is importing"):
            store.import_archive(build_nemo(tmp_path / "demo.nemo"))
    finally:
        held.release()
    assert store.import_archive(tmp_path / "demo.nemo") == "demo"


def test_archive_locked_for_good_gives_file_locked_error(store: ModelStore, monkeypatch) -> None:
    archive = dropped(store)

    def locked(*a, **k):
        raise lock_error(archive)

    monkeypatch.setattr(extract_mod, "ArchiveReader", locked)
    with pytest.raises(FileLockedError) as info:
        store.ensure_extracted("demo")
    assert str(archive) in str(info.value) and "extracting demo.nemo" in str(info.value)
    assert leftovers(store) == []


def test_clean_staging_removes_leftovers_of_killed_runs_only(store: ModelStore) -> None:
    root = store.extracted_root
    dead = root / ".staging-demo-dead"
    dead.mkdir()
    (dead / "model_weights.ckpt").write_bytes(b"half")
    dead_with_lock = root / ".staging-demo-dead2"
    dead_with_lock.mkdir()
    (root / ".staging-demo-dead2.lock").write_bytes(b"")
    (root / ".staging-demo-orphan.lock").write_bytes(b"")
    trash = root / ".trash-demo-1234"
    trash.mkdir()
    (trash / "x").write_bytes(b"x")
    live = root / ".staging-demo-live"
    live.mkdir()
    held = ProcessLock(root / ".staging-demo-live.lock")
    lm = store.local_models
    old_partial = lm / ".chunky-sources.json.partial"
    old_partial.write_bytes(b"{")
    os.utime(old_partial, (1, 1))
    fresh_partial = lm / "other.json.partial"
    fresh_partial.write_bytes(b"being written")
    killed_import = lm / "demo.nemo.partial"
    killed_import.write_bytes(b"half a copy")
    (lm / "demo.nemo.partial.lock").write_bytes(b"")
    (lm / "orphan.nemo.partial.lock").write_bytes(b"")
    live_import = lm / "live.nemo.partial"
    live_import.write_bytes(b"being copied")
    os.utime(live_import, (1, 1))
    held_import = ProcessLock(lm / "live.nemo.partial.lock")
    try:
        ModelStore(lm, root)  # a second process starting up
        remaining = sorted(p.name for p in root.iterdir())
        assert remaining == [".staging-demo-live", ".staging-demo-live.lock"]
        assert sorted(p.name for p in lm.iterdir()) == [
            "live.nemo.partial",
            "live.nemo.partial.lock",
            "other.json.partial",
        ]
    finally:
        held.release()
        held_import.release()
    store.clean_staging()
    assert list(root.iterdir()) == []


def test_concurrent_ensure_extracted_extracts_once(store: ModelStore, monkeypatch) -> None:
    dropped(store)
    calls = {"n": 0}
    real = extract_mod.unpack

    def counting(*a, **k):
        calls["n"] += 1
        return real(*a, **k)

    monkeypatch.setattr(extract_mod, "unpack", counting)
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.ensure_extracted("demo"))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and len(results) == 4
    assert calls["n"] == 1


# --- verify, remove, import ---------------------------------------------------------------------------


def test_verify_detects_changed_bytes_and_next_use_repairs(store: ModelStore) -> None:
    dropped(store)
    folder = store.ensure_extracted("demo")
    assert store.verify("demo").ok
    assert store.list_models()[0].verified is True
    weights = folder / "model_weights.ckpt"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = store.verify("demo")
    assert not result.ok
    assert any("model_weights.ckpt" in p and "differs" in p for p in result.problems)
    [info] = store.list_models()
    assert info.verified is False and info.extracted is False
    store.ensure_extracted("demo")
    assert weights.read_bytes() == nemo_members()["model_weights.ckpt"]
    assert store.verify("demo").ok


def test_verify_detects_archive_bit_rot(store: ModelStore) -> None:
    archive = dropped(store)
    store.ensure_extracted("demo")
    st = archive.stat()
    data = bytearray(archive.read_bytes())
    data[5000] ^= 0xFF  # inside the weights' data: the tar structure stays valid
    archive.write_bytes(bytes(data))
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    result = store.verify("demo")
    assert not result.ok
    assert any("changed" in p for p in result.problems)


def test_verify_not_extracted_and_unknown(store: ModelStore) -> None:
    dropped(store)
    result = store.verify("demo")
    assert result.ok and any("not extracted" in n for n in result.notes)
    with pytest.raises(ModelNotFoundError):
        store.verify("unknown")


def test_remove(store: ModelStore, tmp_path: Path) -> None:
    name = store.import_archive(build_nemo(tmp_path / "x.nemo"), "demo")
    assert store.sources.get(name)
    store.remove("demo")
    assert store.list_models() == []
    assert not (store.local_models / "demo.nemo").exists()
    assert not (store.extracted_root / "demo").exists()
    assert store.sources.get("demo") is None
    assert leftovers(store) == []
    with pytest.raises(ModelNotFoundError):
        store.remove("demo")


def test_import_copies_records_source_and_extracts(store: ModelStore, tmp_path: Path) -> None:
    src = build_nemo(tmp_path / "Some Model.nemo")
    name = store.import_archive(src)
    assert name == "Some Model"
    assert src.exists(), "the original is left alone"
    [info] = store.list_models()
    assert (info.name, info.source, info.extracted) == ("Some Model", "imported", True)
    assert (store.local_models / "Some Model.nemo").read_bytes() == src.read_bytes()
    sources = json.loads((store.local_models / ".chunky-sources.json").read_text())
    assert sources["models"]["Some Model"]["source"] == "imported"
    assert store.import_archive(src, "renamed.nemo") == "renamed"
    assert leftovers(store) == []


def test_import_refuses_non_tar_before_copying(store: ModelStore, tmp_path: Path) -> None:
    src = tmp_path / "model.nemo"
    src.write_bytes(b"PK\x03\x04 this is a zip" * 50)
    with pytest.raises(ModelArchiveError) as info:
        store.import_archive(src)
    assert str(src) in str(info.value) and "tar" in str(info.value)
    assert list(store.local_models.iterdir()) == []


def test_import_of_corrupt_archive_leaves_nothing(store: ModelStore, tmp_path: Path) -> None:
    full = build_nemo(tmp_path / "full.nemo")
    src = truncated_copy(full, tmp_path / "cut.nemo", 40_000)
    with pytest.raises(ModelArchiveError) as info:
        store.import_archive(src)
    assert str(src) in str(info.value)
    assert list(store.local_models.iterdir()) == []
    assert list(store.extracted_root.iterdir()) == []


def test_import_refuses_existing_name_and_bad_names(store: ModelStore, tmp_path: Path) -> None:
    src = build_nemo(tmp_path / "demo.nemo")
    store.import_archive(src)
    with pytest.raises(Exception, match="already exists"):
        store.import_archive(src)
    other = build_nemo(tmp_path / "other.nemo", seed=5)
    assert store.import_archive(other, "demo", replace=True) == "demo"
    assert (store.extracted_dir("demo") / "model_weights.ckpt").read_bytes() == nemo_members(seed=5)[
        "model_weights.ckpt"
    ]
    with pytest.raises(InvalidNameError):
        store.import_archive(src, "../../evil")
    with pytest.raises(ModelNotFoundError):
        store.import_archive(tmp_path / "missing.nemo")


def test_expected_hub_hash_is_enforced(store: ModelStore) -> None:
    archive = dropped(store)
    store.sources.set("demo", "hub:nvidia/demo", size=archive.stat().st_size, sha256="0" * 64)
    with pytest.raises(ModelArchiveError, match="not the file that was downloaded"):
        store.ensure_extracted("demo")
    store.sources.set("demo", "hub:nvidia/demo", size=archive.stat().st_size, sha256=sha256_file(archive))
    store.ensure_extracted("demo")
    assert store.list_models()[0].source == "hub:nvidia/demo"
    assert not (store.local_models / ".chunky-sources.json.partial").exists()
