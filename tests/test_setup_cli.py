"""``python setup_local_models.py`` in a subprocess with its own CHUNKY_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fake_hub import FakeHub, closed_port_url
from tests.nemo_archives import CONFIG, build_nemo, nemo_members, truncated_copy, write_nemo


@pytest.fixture()
def chunky_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


def run_setup(repo_root: Path, home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "CHUNKY_HOME": str(home),
        "CHUNKY_LOCK_RETRY_DELAYS": "0.01",
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }
    for var in ("TMPDIR", "TEMP", "TMP", "GRADIO_TEMP_DIR"):  # let the child's bootstrap choose
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, str(repo_root / "setup_local_models.py"), *args],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def model_files(home: Path) -> list[str]:
    """Everything in local_models and extracted except Chunky's own bookkeeping."""
    out = []
    for folder in (home / "local_models", home / "model_cache" / "extracted"):
        if folder.exists():
            out += [p.name for p in folder.iterdir() if p.name != ".chunky-sources.json"]
    return sorted(out)


def test_import_list_verify_remove(repo_root: Path, chunky_home: Path, tmp_path: Path) -> None:
    src = build_nemo(tmp_path / "downloads" / "tiny-test.nemo")
    result = run_setup(repo_root, chunky_home, "--import", str(src))
    assert result.returncode == 0, result.stderr
    assert "Imported 'tiny-test'" in result.stdout
    assert (chunky_home / "local_models" / "tiny-test.nemo").read_bytes() == src.read_bytes()
    assert (chunky_home / "model_cache" / "extracted" / "tiny-test" / "model_config.yaml").is_file()

    result = run_setup(repo_root, chunky_home, "--import", str(src), "--name", "second")
    assert result.returncode == 0, result.stderr

    result = run_setup(repo_root, chunky_home, "--list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["NAME", "SOURCE", "KIND", "SIZE", "EXTRACTED", "VERIFIED"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert set(rows) == {"second", "tiny-test"}
    assert rows["tiny-test"][1:3] == ["imported", "asr"] and rows["tiny-test"][-2:] == ["yes", "-"]

    result = run_setup(repo_root, chunky_home, "--verify", "tiny-test")
    assert result.returncode == 0, result.stderr
    assert "tiny-test: OK" in result.stdout
    result = run_setup(repo_root, chunky_home, "--verify")
    assert result.returncode == 0 and "second: OK" in result.stdout
    result = run_setup(repo_root, chunky_home, "--list")
    assert all(line.split()[-1] == "yes" for line in result.stdout.strip().splitlines()[1:])

    weights = chunky_home / "model_cache" / "extracted" / "second" / "model_weights.ckpt"
    data = bytearray(weights.read_bytes())
    data[10] ^= 1
    weights.write_bytes(bytes(data))
    result = run_setup(repo_root, chunky_home, "--verify", "second")
    assert "failed verification" in one_error_line(result)
    assert "differs" in result.stdout

    result = run_setup(repo_root, chunky_home, "--remove", "tiny-test")
    assert result.returncode == 0, result.stderr
    result = run_setup(repo_root, chunky_home, "--remove", "second")
    assert result.returncode == 0, result.stderr
    assert model_files(chunky_home) == []
    result = run_setup(repo_root, chunky_home, "--list")
    assert result.returncode == 0 and "No models" in result.stdout
    assert (
        "no model named 'tiny-test'"
        in one_error_line(run_setup(repo_root, chunky_home, "--remove", "tiny-test")).lower()
    )


@pytest.mark.parametrize("name", ["../evil", "CON", "a/b"])
def test_invalid_name(repo_root: Path, chunky_home: Path, tmp_path: Path, name: str) -> None:
    src = build_nemo(tmp_path / "tiny.nemo")
    line = one_error_line(run_setup(repo_root, chunky_home, "--import", str(src), "--name", name))
    assert "model name" in line
    assert model_files(chunky_home) == []


def test_corrupt_archive(repo_root: Path, chunky_home: Path, tmp_path: Path) -> None:
    full = build_nemo(tmp_path / "full.nemo", weights_size=200_000)
    cut = truncated_copy(full, tmp_path / "cut.nemo", 120_000)
    line = one_error_line(run_setup(repo_root, chunky_home, "--import", str(cut)))
    assert str(cut) in line and "truncated" in line
    assert model_files(chunky_home) == []

    not_tar = tmp_path / "page.nemo"
    not_tar.write_text("<html>404</html>" * 100)
    line = one_error_line(run_setup(repo_root, chunky_home, "--import", str(not_tar)))
    assert "not a NeMo model archive" in line
    assert model_files(chunky_home) == []


def test_offline_download(repo_root: Path, chunky_home: Path) -> None:
    result = run_setup(repo_root, chunky_home, "--endpoint", closed_port_url())
    line = one_error_line(result)
    assert "Cannot reach" in line and "--import PATH.nemo" in line
    assert model_files(chunky_home) == []


def test_default_download_then_extract(repo_root: Path, chunky_home: Path, tmp_path: Path) -> None:
    hub = FakeHub()
    try:
        data = build_nemo(tmp_path / "p.nemo").read_bytes()
        hub.add("nvidia/parakeet-tdt-0.6b-v2", {"parakeet-tdt-0.6b-v2.nemo": data, "README.md": b"card"})
        result = run_setup(repo_root, chunky_home, "--endpoint", hub.url, "-q")
        assert result.returncode == 0, result.stderr
        assert "Ready: 'parakeet-tdt-0.6b-v2'" in result.stdout
        extracted = chunky_home / "model_cache" / "extracted" / "parakeet-tdt-0.6b-v2"
        assert (extracted / "chunky-manifest.json").is_file()
        assert model_files(chunky_home) == ["parakeet-tdt-0.6b-v2", "parakeet-tdt-0.6b-v2.nemo"]
        sources = json.loads((chunky_home / "local_models" / ".chunky-sources.json").read_text())
        assert sources["models"]["parakeet-tdt-0.6b-v2"]["source"] == "hub:nvidia/parakeet-tdt-0.6b-v2"

        line = one_error_line(run_setup(repo_root, chunky_home, "--endpoint", hub.url, "nobody/nothing"))
        assert "no model 'nobody/nothing'" in line
    finally:
        hub.close()


def test_diarization_model_download_shows_its_licence_and_kind(repo_root: Path, chunky_home: Path,
                                                              tmp_path: Path) -> None:
    hub = FakeHub()
    try:
        members = nemo_members()
        members["model_config.yaml"] = (
            CONFIG + "target: nemo.collections.asr.models.sortformer_diar_models.SortformerEncLabelModel\n"
        ).encode()
        data = write_nemo(tmp_path / "d.nemo", members).read_bytes()
        repo = "nvidia/diar_streaming_sortformer_4spk-v2"
        hub.add(repo, {"diar_streaming_sortformer_4spk-v2.nemo": data})
        hub.add("someone/asr-model", {"asr-model.nemo": build_nemo(tmp_path / "a.nemo").read_bytes()})
        result = run_setup(repo_root, chunky_home, "--endpoint", hub.url, "-q", repo, "someone/asr-model")
        assert result.returncode == 0, result.stderr
        assert "Licence: CC-BY-4.0 (commercial use allowed, with attribution)" in result.stdout
        assert "Licence: not known to Chunky; read the model's licence at https://huggingface.co/someone/" \
               "asr-model" in result.stdout
        lines = run_setup(repo_root, chunky_home, "--list").stdout.strip().splitlines()
        kinds = {line.split()[0]: line.split()[2] for line in lines[1:]}
        assert kinds == {"diar_streaming_sortformer_4spk-v2": "diarization", "asr-model": "asr"}
    finally:
        hub.close()


def test_usage_errors(repo_root: Path, chunky_home: Path) -> None:
    result = run_setup(repo_root, chunky_home, "--list", "nvidia/x")
    assert result.returncode == 2 and "cannot be combined" in result.stderr
    result = run_setup(repo_root, chunky_home, "--name", "x")
    assert result.returncode == 2
