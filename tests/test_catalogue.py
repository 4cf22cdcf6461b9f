"""The model catalogue: what each known model does and whether it fits a GPU (pure), its table on the
command line (a real subprocess), and the GPU memory read from nvidia-smi (a stand-in nvidia-smi)."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from chunky.cli.catalogue import format_catalogue, gpu_memory, parse_gpu_gb
from chunky.doctor.probes import NvidiaSmiGpu, NvidiaSmiInfo, probe_nvidia_smi
from chunky.models.catalogue import (
    CPU,
    DEFAULT_REPO_ID,
    FEATURES,
    FITS,
    GB,
    KNOWN_MODELS,
    TIGHT,
    TOO_BIG,
    GpuMemory,
    catalogue_rows,
    fit,
    known_model,
)
from tests.test_setup_cli import chunky_home, run_setup  # noqa: F401  (fixture)

ASKED = ["parakeet-tdt-0.6b-v2", "parakeet-tdt-0.6b-v3", "parakeet-ctc-0.6b", "parakeet-ctc-1.1b",
         "parakeet-rnnt-0.6b", "parakeet-rnnt-1.1b", "canary-1b-flash", "canary-1b-v2", "canary-180m-flash",
         "stt_en_fastconformer_ctc_large", "stt_en_fastconformer_transducer_large",
         "diar_streaming_sortformer_4spk-v2", "diar_sortformer_4spk-v1"]


def test_every_model_the_issue_names_is_known_with_its_facts() -> None:
    for name in ASKED:
        m = known_model(name)
        assert m is not None, name
        assert known_model(f"nvidia/{name}") is m and known_model(name.upper()) is m
        assert m.licence and m.params > 0 and m.gpu_gb > 0
        assert set(m.features) <= set(FEATURES)
    assert known_model(DEFAULT_REPO_ID) is KNOWN_MODELS[0]
    assert known_model("nvidia/no-such-model") is None
    assert len({m.repo_id for m in KNOWN_MODELS}) == len(KNOWN_MODELS)


def test_languages_and_what_each_family_supports() -> None:
    v3, v2 = known_model("parakeet-tdt-0.6b-v3"), known_model("parakeet-tdt-0.6b-v2")
    assert len(v3.languages) == 25 and "auto-language" in v3.features and v2.languages == ("en",)
    flash = known_model("canary-1b-flash")
    assert flash.kind == "aed" and "translate" in flash.features
    assert set(flash.languages) == {"en", "de", "es", "fr"}
    assert len(known_model("canary-1b-v2").languages) == 25
    assert "pnc" not in known_model("parakeet-ctc-1.1b").features
    assert not known_model("diar_sortformer_4spk-v1").commercial_use
    assert known_model("diar_streaming_sortformer_4spk-v2").commercial_use
    assert not known_model("diar_sortformer_4spk-v1").transcribes


@pytest.mark.parametrize(("total", "free", "need", "expected"), [
    (None, None, 2, CPU),  # no GPU
    (8, 7.5, 4, FITS),
    (8, 3, 4, TIGHT),  # fits once other programs free memory
    (4, 4, 6, TOO_BIG),
    (6, None, 6, FITS),  # free unknown: the total counts
])
def test_fit_is_a_pure_function_of_free_and_total_memory(total, free, need, expected) -> None:
    model = next(m for m in KNOWN_MODELS if m.gpu_gb == need)
    gpu = GpuMemory(int(total * GB) if total else None, int(free * GB) if free is not None else None)
    assert fit(model, gpu) == expected


def test_rows_mark_installed_models_and_shorten_long_language_lists() -> None:
    rows = {r["id"]: r for r in catalogue_rows(GpuMemory(12 * GB, 10 * GB), installed=["canary-1b-flash"])}
    assert rows["nvidia/canary-1b-flash"]["installed"] == "yes"
    assert rows["nvidia/parakeet-tdt-0.6b-v2"]["installed"] == ""
    assert rows["nvidia/canary-1b-v2"]["languages"] == "25 languages"
    assert rows["nvidia/canary-1b-flash"]["languages"] == "en, de, es, fr"
    assert rows["nvidia/parakeet-tdt-0.6b-v2"]["size"] == "~2.4 GB"
    assert all(r["fit"] == FITS for r in rows.values())


def test_the_text_says_which_fit_and_how_to_download() -> None:
    text = format_catalogue(GpuMemory(5 * GB, 5 * GB))
    assert text.startswith("GPU memory: 5.0 GB free of 5.0 GB.")
    line = next(x for x in text.splitlines() if x.startswith("nvidia/parakeet-ctc-1.1b "))
    assert "too big" in line and "CC-BY-4.0" in line
    assert "fits" in next(x for x in text.splitlines() if x.startswith("nvidia/parakeet-tdt-0.6b-v2 "))
    assert "python setup_local_models.py nvidia/MODEL" in text
    assert format_catalogue(GpuMemory()).startswith("No NVIDIA GPU found")


def test_gpu_memory_flag() -> None:
    assert parse_gpu_gb("0") == GpuMemory()
    assert parse_gpu_gb("8").total == 8 * GB
    with pytest.raises(ValueError, match="number of GB"):
        parse_gpu_gb("lots")
    with pytest.raises(ValueError, match="negative"):
        parse_gpu_gb("-1")


def test_gpu_memory_comes_from_nvidia_smi(tmp_path: Path) -> None:
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!{sys.executable}\nprint('NVIDIA GeForce RTX 3060, 572.16, 12288, 9000')\n"
                    "print('NVIDIA T400, 572.16, 2048, 2000')\n", "utf-8")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    info = probe_nvidia_smi(str(fake))
    assert info.gpus[0] == NvidiaSmiGpu("NVIDIA GeForce RTX 3060", "572.16", 12288, 9000)
    gpu = gpu_memory({"PATH": str(tmp_path)}, probe=lambda path: info)
    assert gpu == GpuMemory(12288 * 1024**2, 9000 * 1024**2)
    assert gpu_memory({}, probe=lambda path: NvidiaSmiInfo(None)) == GpuMemory()


@pytest.mark.skipif(os.name == "nt", reason="the stand-in nvidia-smi is a script")
def test_setup_catalogue_command(repo_root: Path, chunky_home: Path) -> None:  # noqa: F811
    result = run_setup(repo_root, chunky_home, "--catalogue", "--gpu-memory", "4")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for name in ASKED:
        assert f"nvidia/{name} " in out
    assert "GPU memory: 4.0 GB free of 4.0 GB." in out
    bad = run_setup(repo_root, chunky_home, "--gpu-memory", "4")
    assert bad.returncode == 2 and "--gpu-memory goes with --catalogue" in bad.stderr
