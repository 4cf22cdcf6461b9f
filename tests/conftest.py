"""Test session set-up: a private CHUNKY_HOME, then the bootstrap, before anything heavy is imported."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

_SYSTEM_TEMP = tempfile.gettempdir()
_HOME = Path(tempfile.mkdtemp(prefix="chunky-tests-"))
os.environ["CHUNKY_HOME"] = str(_HOME)
os.environ.setdefault("CHUNKY_LOCK_RETRY_DELAYS", "0.01,0.02,0.04,0.08,0.16")

import chunky.bootstrap  # noqa: E402, F401, I001  (first Chunky import of the test session)
import pytest  # noqa: E402, I001


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


@pytest.fixture(scope="session")
def system_temp() -> Path:
    """The system temp folder as it was before the bootstrap redirected it."""
    return Path(_SYSTEM_TEMP)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


def require_all_tests() -> bool:
    """CI sets CHUNKY_REQUIRE_ALL_TESTS=1: a test that would skip for a missing tool fails instead."""
    return os.environ.get("CHUNKY_REQUIRE_ALL_TESTS") == "1"


def skip_or_fail(reason: str):
    if require_all_tests():
        pytest.fail(f"{reason} (CHUNKY_REQUIRE_ALL_TESTS=1 makes this a failure)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_nemo_files(tmp_path_factory) -> dict[str, Path]:
    """Two small real NeMo models saved as .nemo: a char CTC and a BPE CTC with a tokenizer artifact."""
    from tests.nemo_models import build_bpe_ctc, build_char_ctc, train_sentencepiece

    folder = tmp_path_factory.mktemp("tiny-nemo")
    tokenizer = train_sentencepiece(folder / "tokenizer")
    return {
        "char": build_char_ctc(folder / "tiny-char.nemo"),
        "bpe": build_bpe_ctc(folder / "tiny-bpe.nemo", tokenizer),
    }
