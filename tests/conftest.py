"""Test session set-up: a private CHUNKY_HOME, then the bootstrap, before anything heavy is imported."""

import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

_SYSTEM_TEMP = tempfile.gettempdir()
_HOME = Path(tempfile.mkdtemp(prefix="chunky-tests-"))
os.environ["CHUNKY_HOME"] = str(_HOME)
os.environ.setdefault("CHUNKY_LOCK_RETRY_DELAYS", "0.01,0.02,0.04,0.08,0.16")

import chunky.bootstrap  # noqa: E402, F401, I001  (first Chunky import of the test session)
import pytest  # noqa: E402, I001

from chunky.base import retry  # noqa: E402
from chunky.settings import load_settings  # noqa: E402

# What an entry point does with the settings; subprocesses read the same CHUNKY_LOCK_RETRY_DELAYS.
retry.configure(load_settings(os.environ).lock_retry_delays)


_FIRST_NEMO_IMPORT: list[str] = []  # the test after which NeMo was first found imported


def _fast_tier(config) -> bool:
    return "not slow" in (config.getoption("markexpr", "") or "")


def pytest_runtest_teardown(item, nextitem):
    if not _FIRST_NEMO_IMPORT and "nemo" in sys.modules:
        _FIRST_NEMO_IMPORT.append(item.nodeid)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)
    if _fast_tier(session.config) and _FIRST_NEMO_IMPORT:
        # The fast tier promises no NeMo import: a module that needs NeMo must be marked slow.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(
                f"FAILED: NeMo was imported in the fast tier (-m 'not slow'), first by "
                f"{_FIRST_NEMO_IMPORT[0]}; mark its module with pytestmark = pytest.mark.slow",
                red=True)


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


@pytest.fixture(scope="session")
def app_server_started(tmp_path_factory):
    """``python app.py --no-browser`` on a free port, with the digits test model as its only model, on the
    CPU, shared by the HTTP and browser UI tests (NeMo's import in the server costs ~25 s once). Chunks of
    10 s, one per model call (CHUNKY_CHUNK_SECONDS, CHUNKY_BATCH_SIZE), so a long recording reports progress
    chunk by chunk and takes long enough (~0.5 s a chunk here) to be cancelled midway.

    Started, not yet answering: a test that does not need the server can ask for this fixture so the server
    warms up meanwhile. Tests that use it ask for ``app_server``."""
    from tests.app_server import ARTIFACTS, DIGITS_MODEL, AppServer, make_home

    home = make_home(tmp_path_factory.mktemp("app-home"), {"digits": DIGITS_MODEL})
    server = AppServer(home, ARTIFACTS / "app-server.log",
                       env={"CHUNKY_BATCH_SIZE": "1", "CHUNKY_CHUNK_SECONDS": "10"})
    server.start()
    try:
        yield server
    finally:
        code = server.stop()
    # A clean stop: the job runner shut down and the server closed within the stop timeout.
    assert code == 0 and "Chunky stopped." in server.log_text(), server.fail_message(
        f"app.py did not stop cleanly (exit status {code})")


@pytest.fixture(scope="session")
def app_server(app_server_started):
    """The app server of ``app_server_started``, answering HTTP."""
    return app_server_started.wait_ready()


# The name another computer would open the page by, in the network-mode tests. A reserved name (.test never
# resolves): requests go to 127.0.0.1 with it in their Host header, Chromium maps it to 127.0.0.1.
NETWORK_NAME = "studio-pc.test"


@pytest.fixture(scope="session")
def network_server(tmp_path_factory):
    """``python app.py`` as other computers reach it, with the digits model: bound to 127.0.0.1 but also
    answering as ``studio-pc.test`` (``--allow-host``, as behind a reverse proxy or a machine name), so it
    asks for a key, which it makes at start and prints. Its requests carry ``Host: studio-pc.test:<port>``
    and go to 127.0.0.1. GRADIO_SSR_MODE and GRADIO_NUM_WORKERS are set to show that they cannot open
    servers beside the guard. Call ``login()`` for the cookie a browser gets from the printed address."""
    from tests.app_server import ARTIFACTS, DIGITS_MODEL, AppServer, make_home

    home = make_home(tmp_path_factory.mktemp("network-home"), {"digits": DIGITS_MODEL})
    server = AppServer(home, ARTIFACTS / "network-server.log", args=["--allow-host", NETWORK_NAME],
                       env={"CHUNKY_BATCH_SIZE": "1", "CHUNKY_CHUNK_SECONDS": "10",
                            "GRADIO_SSR_MODE": "true", "GRADIO_NUM_WORKERS": "2"})
    server.start()
    try:
        server.wait_ready()
        server.headers = {"Host": f"{NETWORK_NAME}:{server.port}"}
        yield server
    finally:
        code = server.stop()
    assert code == 0 and "Chunky stopped." in server.log_text(), server.fail_message(
        f"app.py did not stop cleanly (exit status {code})")
