"""Lock-error retries (WinError 32/33) with injected sleeps: no real waiting."""

from __future__ import annotations

import logging

import pytest

from chunky.base import retry
from chunky.base.errors import FileLockedError
from chunky.base.retry import DEFAULT_DELAYS, default_delays, is_lock_error, retry_on_lock
from chunky.settings import load_settings

LOCKED = "C:/Chunky/model_cache/extracted/parakeet/model_weights.ckpt"


def lock_error(winerror: int = 32, filename: str = LOCKED) -> OSError:
    err = PermissionError(
        13, "The process cannot access the file because it is being used by another process", filename
    )
    err.winerror = winerror
    return err


class Flaky:
    def __init__(self, failures: int, error_factory=lock_error):
        self.failures = failures
        self.calls = 0
        self.error_factory = error_factory

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error_factory()
        return "done"


def test_is_lock_error() -> None:
    assert is_lock_error(lock_error(32))
    assert is_lock_error(lock_error(33))
    plain = OSError(13, "denied")
    plain.winerror = 32
    assert is_lock_error(plain)
    assert not is_lock_error(lock_error(5))
    assert not is_lock_error(PermissionError(13, "denied"))
    assert not is_lock_error(FileNotFoundError(2, "missing"))
    assert not is_lock_error(ValueError("x"))


@pytest.mark.parametrize("failures", [1, 2, 3, 4])
def test_lock_errors_are_retried_with_the_delays(failures: int, caplog) -> None:
    slept: list[float] = []
    between_calls: list[int] = []
    fn = Flaky(failures)
    with caplog.at_level(logging.WARNING, logger="chunky.base.retry"):
        result = retry_on_lock(
            fn,
            what="loading the model",
            sleep=slept.append,
            between=lambda: between_calls.append(1),
            delays=(0.5, 1, 2, 4, 8),
        )
    assert result == "done"
    assert fn.calls == failures + 1
    assert slept == [0.5, 1, 2, 4, 8][:failures]
    assert len(between_calls) == failures
    lines = [r.getMessage() for r in caplog.records if r.name == "chunky.base.retry"]
    assert len(lines) == failures
    assert all(LOCKED in line for line in lines)
    assert "attempt 1 of 6" in lines[0]


def test_lock_that_never_clears_raises_file_locked_error() -> None:
    slept: list[float] = []
    fn = Flaky(6)
    with pytest.raises(FileLockedError) as info:
        retry_on_lock(fn, what="extracting parakeet.nemo", sleep=slept.append, delays=(0.5, 1, 2, 4, 8))
    assert fn.calls == 6
    assert slept == [0.5, 1, 2, 4, 8]
    message = str(info.value)
    assert LOCKED in message
    assert "extracting parakeet.nemo" in message
    assert "antivirus" in message and "OneDrive" in message
    assert "docs/windows.md" in message and "WinError 32: file in use" in message
    assert isinstance(info.value.__cause__, PermissionError)


def test_other_errors_are_raised_at_once() -> None:
    slept: list[float] = []
    fn = Flaky(1, lambda: FileNotFoundError(2, "No such file", "x.nemo"))
    with pytest.raises(FileNotFoundError):
        retry_on_lock(fn, what="x", sleep=slept.append)
    assert fn.calls == 1 and slept == []
    fn = Flaky(1, lambda: lock_error(5))  # access denied is not a transient lock
    with pytest.raises(PermissionError):
        retry_on_lock(fn, what="x", sleep=slept.append)
    assert slept == []


def test_lock_error_wrapped_by_a_library_is_recognised() -> None:
    def wrapped() -> OSError:
        try:
            raise lock_error()
        except OSError as exc:
            try:
                raise RuntimeError("could not load checkpoint") from exc
            except RuntimeError as outer:
                return outer  # type: ignore[return-value]

    slept: list[float] = []
    fn = Flaky(2, wrapped)
    assert retry_on_lock(fn, what="x", sleep=slept.append, delays=(0.1, 0.2, 0.3)) == "done"
    assert slept == [0.1, 0.2]


def test_delays_from_the_settings() -> None:
    """CHUNKY_LOCK_RETRY_DELAYS reaches the retry through the settings the entry point configures."""
    saved = default_delays()
    try:
        retry.configure(load_settings({"CHUNKY_LOCK_RETRY_DELAYS": "0.5,1,2"}).lock_retry_delays)
        assert default_delays() == (0.5, 1.0, 2.0)
        slept: list[float] = []
        with pytest.raises(FileLockedError):
            retry_on_lock(Flaky(10), what="x", sleep=slept.append)
        assert slept == [0.5, 1.0, 2.0]
        for bad_or_unset in ({"CHUNKY_LOCK_RETRY_DELAYS": "soon"}, {}, {"CHUNKY_LOCK_RETRY_DELAYS": ""}):
            assert load_settings(bad_or_unset).lock_retry_delays == DEFAULT_DELAYS
    finally:
        retry.configure(saved)


def test_failing_between_does_not_stop_the_retry() -> None:
    def boom() -> None:
        raise RuntimeError("no CUDA")

    assert retry_on_lock(Flaky(1), what="x", sleep=lambda s: None, between=boom, delays=(0,)) == "done"
