"""``--vocabulary``, ``--language`` and ``vocabulary`` on the command line, as a user runs them (a
subprocess, its own CHUNKY_HOME, the trained digits model)."""

from __future__ import annotations

import shutil

import pytest

from tests.test_cli_transcribe import ASSETS, chunky, home  # noqa: F401  (fixture)

pytestmark = pytest.mark.slow


def test_vocabulary_lists_and_a_boosted_transcription(home, tmp_path) -> None:  # noqa: F811
    names = tmp_path / "names.txt"
    names.write_text("seven\nnine\t2\nZoë\n", "utf-8")
    saved = chunky(home, "vocabulary", "save", "digits-show", str(names))
    assert saved.returncode == 0 and "Saved 3 phrases as 'digits-show'" in saved.stdout, saved.stderr
    listed = chunky(home, "vocabulary", "list")
    assert "digits-show  (3 phrases)" in listed.stdout
    clip = tmp_path / "s.flac"
    shutil.copy(ASSETS / "audio" / "sentence-1.flac", clip)
    result = chunky(home, "transcribe", str(clip), "--model", "digits", "--format", "txt", "--vocabulary",
                    "digits-show", "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "vocabulary: 'Zoë' left out: the model cannot write 'ë'" in result.stderr
    assert (tmp_path / "out" / "s.txt").read_text("utf-8").strip() == "three one four one five nine"
    removed = chunky(home, "vocabulary", "remove", "digits-show")
    assert removed.returncode == 0
    assert not (home / "model_cache" / "vocabularies" / "digits-show.txt").exists()


def test_bad_vocabulary_and_language_fail_before_transcribing(home, tmp_path) -> None:  # noqa: F811
    clip = tmp_path / "s.flac"
    shutil.copy(ASSETS / "audio" / "sentence-2.flac", clip)
    out = tmp_path / "out"
    bad = chunky(home, "transcribe", str(clip), "--model", "digits", "--vocabulary", "seven:42", "--out",
                 str(out))
    assert bad.returncode == 1 and "strength of 'seven' must be between 0 and 10" in bad.stderr
    gone = chunky(home, "transcribe", str(clip), "--model", "digits", "--vocabulary", str(tmp_path / "x.txt"))
    assert gone.returncode == 1 and "does not exist" in gone.stderr
    lang = chunky(home, "transcribe", str(clip), "--model", "digits", "--language", "de>en", "--out",
                  str(out))
    assert lang.returncode == 1 and "digits cannot translate" in lang.stderr, lang.stderr
    flag = chunky(home, "transcribe", str(clip), "--language", "german")
    assert flag.returncode == 2 and "not a language code" in flag.stderr
    assert not out.exists() or not list(out.iterdir())
    assert "Traceback" not in bad.stderr + lang.stderr
