"""Where ``python -m chunky transcribe`` puts each input's outputs, and what the terminal shows (no NeMo:
the naming rule and the logging set-up alone)."""

from __future__ import annotations

import logging
from pathlib import Path

from chunky.base.logs import NEMO_LOGGER, setup_logging
from chunky.cli.transcribe import plan_outputs
from chunky.export.files import taken_stems


def stems(plan) -> list[tuple[str, str]]:
    return [(p.out_dir.name, p.stem) for p in plan]


def test_one_name_twice_in_one_folder_gets_two_stems(tmp_path):
    subs = tmp_path / "subs"
    files = [tmp_path / "a" / "take.flac", tmp_path / "b" / "take.wav", tmp_path / "c" / "Take.mp3"]
    assert stems(plan_outputs(files, subs, ("txt",), overwrite=False)) == [
        ("subs", "take"), ("subs", "take-2"), ("subs", "Take-3")]


def test_beside_each_input_names_only_clash_within_a_folder(tmp_path):
    files = [tmp_path / "a" / "take.flac", tmp_path / "b" / "take.wav", tmp_path / "a" / "take.wav"]
    assert stems(plan_outputs(files, None, ("txt",), overwrite=False)) == [
        ("a", "take"), ("b", "take"), ("a", "take-2")]


def test_earlier_outputs_are_kept_unless_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "take.srt").write_text("earlier", "utf-8")
    (out / "take-2.JSON").write_text("earlier", "utf-8")
    (out / "notes.wav").write_bytes(b"x")  # not an output format: no clash
    assert taken_stems(out, ["srt", "json"]) == {"take", "take-2"}
    files = [tmp_path / "take.flac", tmp_path / "notes.flac"]
    assert stems(plan_outputs(files, out, ("srt", "json"), overwrite=False)) == [
        ("out", "take-3"), ("out", "notes")]
    assert stems(plan_outputs(files, out, ("srt", "json"), overwrite=True)) == [
        ("out", "take"), ("out", "notes")]
    assert stems(plan_outputs(files, out, ("txt",), overwrite=False)) == [("out", "take"), ("out", "notes")]


def test_console_shows_chunky_warnings_and_the_log_file_everything(tmp_path, capsys):
    path = setup_logging(tmp_path / "logs", console_level=logging.WARNING)
    try:
        logging.getLogger("chunky.asr.engine").info("an info line")
        logging.getLogger("chunky.audio.decode").warning("a chunky warning")
        logging.getLogger("lightning.pytorch").warning("a lightning warning")
        logging.getLogger(NEMO_LOGGER).warning("a nemo warning")
        err = capsys.readouterr().err
        assert "a chunky warning" in err
        assert "an info line" not in err and "lightning" not in err and "nemo" not in err
        for handler in logging.getLogger().handlers:
            handler.flush()
        text = Path(path).read_text("utf-8")
        for line in ("an info line", "a chunky warning", "a lightning warning", "a nemo warning"):
            assert line in text
        setup_logging(tmp_path / "logs", verbose=True)
        logging.getLogger("chunky.asr.engine").debug("a debug line")
        logging.getLogger("lightning.pytorch").warning("lightning, verbose")
        err = capsys.readouterr().err
        assert "a debug line" in err and "lightning, verbose" in err
    finally:
        setup_logging(None)
