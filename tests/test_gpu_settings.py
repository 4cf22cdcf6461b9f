"""The GPU decisions as plain functions (no GPU needed), the precision and batch settings, and half
precision on the CPU through torch.autocast."""

from __future__ import annotations

import pytest

from chunky.asr import gpu
from chunky.base.errors import ChunkyError
from chunky.settings import load_settings

MB = 2**20


def test_batch_size_fills_the_free_memory_and_stays_in_bounds():
    assert gpu.batch_size_for(10_000 * MB, 500 * MB) == 16  # 80 % of 10 GB in 500 MB chunks
    assert gpu.batch_size_for(10_000 * MB, 500 * MB, use=0.5) == 10
    assert gpu.batch_size_for(300 * MB, 500 * MB) == 1  # never less than one chunk
    assert gpu.batch_size_for(10**12, 1 * MB) == gpu.MAX_BATCH
    assert gpu.batch_size_for(10**12, 1 * MB, cap=12) == 12
    assert gpu.batch_size_for(1000 * MB, 0) == gpu.MAX_BATCH  # nothing measured: nothing limits it


def test_precision_follows_the_setting_and_the_gpu():
    assert gpu.choose_precision("float32", "cuda", True) == "float32"
    assert gpu.choose_precision("auto", "cuda", bf16_supported=True) == "bfloat16"
    assert gpu.choose_precision("auto", "cuda", bf16_supported=False) == "float16"
    assert gpu.choose_precision("auto", "cpu", bf16_supported=True) == "float32"
    assert gpu.choose_precision("bfloat16", "cpu") == "bfloat16"  # asked for by name: as asked
    assert gpu.choose_precision(" Float16 ", "cuda") == "float16"
    assert gpu.resolve_precision("auto", "cpu") == "float32"
    with pytest.raises(ValueError, match="float8"):
        gpu.choose_precision("float8", "cuda")


def test_settings_for_batch_size_and_precision(caplog):
    defaults = load_settings({})
    assert defaults.batch_size == 0 and defaults.engine_options().batch_size == 0  # auto
    assert defaults.precision == "float32" and defaults.engine_options().precision == "float32"
    assert dict((n, v) for n, v, _ in defaults.describe())["batch_size"] == "auto"
    s = load_settings({"CHUNKY_BATCH_SIZE": "12", "CHUNKY_PRECISION": "BFloat16"})
    assert (s.batch_size, s.precision) == (12, "bfloat16")
    assert s.engine_options().precision == "bfloat16" and s.engine_options().batch_size == 12
    assert load_settings({"CHUNKY_BATCH_SIZE": " AUTO "}).batch_size == 0
    with caplog.at_level("WARNING", logger="chunky.settings"):
        bad = load_settings({"CHUNKY_BATCH_SIZE": "-3", "CHUNKY_PRECISION": "fp8"})
    assert (bad.batch_size, bad.precision) == (0, "float32")
    assert set(bad.rejected) == {"batch_size", "precision"} and "fp8" in caplog.text
    assert load_settings({}, {"batch_size": 0, "precision": "auto"}).origin("batch_size") == (
        "command line --batch-size")


def test_autocast_runs_in_the_precision_asked_for():
    import torch

    x = torch.ones(4, 8)
    w = torch.ones(8, 2)
    with gpu.autocast("cpu", "float32"):
        assert (x @ w).dtype == torch.float32
    with gpu.autocast("cpu", "bfloat16"):
        assert (x @ w).dtype == torch.bfloat16
    assert (x @ w).dtype == torch.float32


def test_half_precision_a_torch_cannot_run_is_a_clear_error(monkeypatch):
    import torch

    def refuse(*args, **kwargs):
        raise RuntimeError("User specified an unsupported autocast device_type 'cpu'")

    monkeypatch.setattr(torch, "autocast", refuse)
    refused = pytest.raises(ChunkyError, match="cannot run the model in float16 on the cpu.*CHUNKY_PRECISION")
    with refused, gpu.autocast("cpu", "float16"):
        pass
