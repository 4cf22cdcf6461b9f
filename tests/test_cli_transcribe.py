"""``python -m chunky transcribe`` and ``models`` as a user runs them: a subprocess, its own CHUNKY_HOME."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # NeMo (the trained digits model, the real pipeline)

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tests" / "assets"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("cli-home")
    (home / "local_models").mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    return home


def chunky(home: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None,
           ) -> subprocess.CompletedProcess:
    env = dict(os.environ, CHUNKY_HOME=str(home), CHUNKY_DEVICE="cpu", PYTHONIOENCODING="utf-8",
               **(env or {}))
    return subprocess.run([sys.executable, "-m", "chunky", *args], cwd=str(home), env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=timeout)


def test_transcribe_writes_every_format_goes_on_past_failures_and_exits_non_zero(home, tmp_path) -> None:
    inputs = tmp_path / "in put ü"
    inputs.mkdir()
    good = inputs / "première prise.flac"
    shutil.copy(ASSETS / "audio" / "sentence-1.flac", good)
    bad = inputs / "notes.wav"
    bad.write_text("not a recording\n" * 50, "utf-8")
    missing = inputs / "missing.flac"
    second = inputs / "second.flac"
    shutil.copy(ASSETS / "audio" / "sentence-3.flac", second)
    out = tmp_path / "out"

    result = chunky(home, "transcribe", str(good), str(bad), str(missing), str(second), "--model", "digits",
                    "--format", "all", "--out", str(out), "--device", "cpu")
    assert result.returncode == 1, result.stderr
    truth = json.loads((ASSETS / "audio" / "truth.json").read_text("utf-8"))
    assert (out / "première prise.txt").read_text("utf-8").strip() == truth["sentence-1.flac"]
    assert (out / "second.txt").read_text("utf-8").strip() == truth["sentence-3.flac"]
    for ext in ("txt", "srt", "vtt", "json", "csv"):
        assert (out / f"première prise.{ext}").is_file()
    assert not (out / "notes.txt").exists() and not list(out.glob("*.partial"))
    assert "2 of 4 file(s) failed" in result.stderr
    assert "notes.wav" in result.stderr and "missing.flac" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_model_is_a_clear_error(home, tmp_path) -> None:
    clip = tmp_path / "a.flac"
    shutil.copy(ASSETS / "audio" / "sentence-2.flac", clip)
    result = chunky(home, "transcribe", str(clip), "--model", "nope")
    assert result.returncode == 1
    assert "No local model named 'nope'" in result.stderr and "digits" in result.stderr
    assert "setup_local_models.py" in result.stderr


def test_models_lists_the_local_models(home) -> None:
    result = chunky(home, "models")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["NAME", "SOURCE"]
    assert any(line.split()[0] == "digits" for line in lines[1:])


def test_wildcards_the_shell_left_alone_are_expanded(tmp_path) -> None:
    from chunky.cli.transcribe import expand_patterns

    for name in ("b.flac", "a.flac", "c.wav"):
        (tmp_path / name).write_bytes(b"x")
    (tmp_path / "odd[1].flac").write_bytes(b"x")
    pattern = str(tmp_path / "*.flac")
    expected = sorted(str(tmp_path / n) for n in ("a.flac", "b.flac", "odd[1].flac"))
    assert expand_patterns([pattern]) == expected
    literal = str(tmp_path / "odd[1].flac")
    assert expand_patterns([literal]) == [literal]  # an existing name is never treated as a pattern
    missing = str(tmp_path / "*.mp3")
    assert expand_patterns([missing]) == [missing]  # no match: reported as a missing file later


def test_two_inputs_with_one_name_get_their_own_outputs_and_the_terminal_stays_readable(home, tmp_path):
    """``transcribe a/take.flac b/take.wav --out subs`` writes take.* and take-2.*; run again (with -q),
    take-3.* and take-4.*: nothing earlier is replaced. The terminal shows the progress bar, what was
    written and the summary (with -q only the summary), never a log line; NeMo's lines go to the log."""
    import soundfile as sf

    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(ASSETS / "audio" / "sentence-1.flac", a / "take.flac")
    data, rate = sf.read(ASSETS / "audio" / "sentence-2.flac")
    sf.write(b / "take.wav", data, rate)
    subs = tmp_path / "subs"
    truth = json.loads((ASSETS / "audio" / "truth.json").read_text("utf-8"))

    def run(*extra: str) -> subprocess.CompletedProcess:
        result = chunky(home, "transcribe", str(a / "take.flac"), str(b / "take.wav"), "--out", str(subs),
                        "--model", "digits", "--format", "txt,json", *extra)
        assert result.returncode == 0, result.stderr
        both = result.stdout + result.stderr
        assert "[NeMo" not in both and " INFO " not in both and "chunky.asr" not in both, both
        return result

    first = run()
    assert (subs / "take.txt").read_text("utf-8").strip() == truth["sentence-1.flac"]
    assert (subs / "take-2.txt").read_text("utf-8").strip() == truth["sentence-2.flac"]
    assert f"{a / 'take.flac'}  ->  {subs / 'take'}.*" in first.stdout
    assert f"{b / 'take.wav'}  ->  {subs / 'take-2'}.*" in first.stdout
    assert "wrote " in first.stdout and "Transcribed 2 of 2 file(s)" in first.stdout
    assert "100%" in first.stderr, "the progress bar"
    quiet = run("-q")
    assert sorted(p.stem for p in subs.glob("*.txt")) == ["take", "take-2", "take-3", "take-4"]
    assert (subs / "take-4.txt").read_text("utf-8").strip() == truth["sentence-2.flac"]
    assert "wrote " not in quiet.stdout and "100%" not in quiet.stderr
    assert "Transcribed 2 of 2 file(s)" in quiet.stdout
    log = (home / "model_cache" / "logs" / "chunky.log").read_text("utf-8")
    assert "nemo_logger" in log and "chunky.asr.engine" in log, "NeMo's and Chunky's lines are in the log"


def test_the_cli_takes_its_settings_from_the_environment_too(home, tmp_path):
    """CHUNKY_FORMATS (like every setting) reaches the command line as it reaches the page."""
    clip = tmp_path / "y.flac"
    shutil.copy(ASSETS / "audio" / "sentence-2.flac", clip)
    env = {"CHUNKY_FORMATS": "vtt"}
    result = chunky(home, "transcribe", str(clip), "--model", "digits", "--out", str(tmp_path / "o"),
                    env=env)
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (tmp_path / "o").iterdir()] == ["y.vtt"]
    config = chunky(home, "config", env=env)
    assert config.returncode == 0, config.stderr
    assert any(line.split()[:3] == ["formats", "vtt", "environment"] for line in config.stdout.splitlines())
