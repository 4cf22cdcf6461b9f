"""The one settings value: defaults < settings.json < CHUNKY_* < command line, bad values ignored and
reported, the flags the CLI and app.py share, and what ``python -m chunky config`` shows."""

from __future__ import annotations

import argparse
import json
import logging

import pytest

from chunky.base.retry import DEFAULT_DELAYS
from chunky.export import DEFAULT_FORMATS
from chunky.settings import (
    ENGINE_SETTINGS,
    OPTIONS,
    SERVER_SETTINGS,
    SavedSettings,
    Settings,
    add_arguments,
    flags_from,
    load_settings,
    settings_for,
)


def parse(argv: list[str], names=ENGINE_SETTINGS + SERVER_SETTINGS + ("formats",)) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p, names)
    return p.parse_args(argv)


def test_defaults_come_from_nowhere():
    s = load_settings({})
    assert s == Settings()
    assert s.formats == DEFAULT_FORMATS and s.lock_retry_delays == DEFAULT_DELAYS
    assert {origin for _, _, origin in s.describe()} == {"default"}


def test_each_source_overrides_the_one_below():
    saved = {"model": "from-file"}
    assert load_settings({}, None, saved).model == "from-file"
    s = load_settings({"CHUNKY_MODEL": "from-env"}, None, saved)
    assert (s.model, s.origin("model")) == ("from-env", "environment CHUNKY_MODEL")
    s = load_settings({"CHUNKY_MODEL": "from-env"}, {"model": "from-flag"}, saved)
    assert (s.model, s.origin("model")) == ("from-flag", "command line --model")
    assert load_settings({}, {"model": None}, saved).origin("model") == "settings.json"


def test_every_variable_is_parsed_to_its_type():
    env = {"CHUNKY_DEVICE": " CPU ", "CHUNKY_BATCH_SIZE": "3", "CHUNKY_CHUNK_SECONDS": "12.5",
           "CHUNKY_VAD": "energy", "CHUNKY_FORMATS": "SRT, txt,srt", "CHUNKY_MAX_UPLOAD": "500 MB",
           "CHUNKY_LOCK_RETRY_DELAYS": "0.1,0.2", "CHUNKY_HOST": "0.0.0.0", "CHUNKY_PORT": "8000"}
    s = load_settings(env)
    assert (s.device, s.batch_size, s.chunk_seconds, s.vad) == ("cpu", 3, 12.5, "energy")
    assert s.formats == ("srt", "txt") and s.max_upload == "500mb"
    assert s.lock_retry_delays == (0.1, 0.2) and (s.host, s.port) == ("0.0.0.0", 8000)
    opts = s.engine_options()
    assert (opts.batch_size, opts.chunk_seconds, opts.vad) == (3, 12.5, "energy")


@pytest.mark.parametrize(("var", "raw", "field"), [
    ("CHUNKY_DEVICE", "gpu0", "device"), ("CHUNKY_BATCH_SIZE", "eight", "batch_size"),
    ("CHUNKY_BATCH_SIZE", "0", "batch_size"), ("CHUNKY_CHUNK_SECONDS", "-3", "chunk_seconds"),
    ("CHUNKY_VAD", "webrtc", "vad"), ("CHUNKY_FORMATS", "srt,doc", "formats"),
    ("CHUNKY_MAX_UPLOAD", "huge", "max_upload"), ("CHUNKY_LOCK_RETRY_DELAYS", "1,-2", "lock_retry_delays"),
    ("CHUNKY_PORT", "70000", "port"),
])
def test_a_bad_variable_is_ignored_with_a_warning_and_remembered(var, raw, field, caplog):
    with caplog.at_level(logging.WARNING, logger="chunky.settings"):
        s = load_settings({var: raw})
    assert getattr(s, field) == getattr(Settings(), field), "the default applies"
    source, seen, why = s.rejected[field]
    assert source == f"environment {var}" and seen == raw and why
    assert var in caplog.text and raw in caplog.text


def test_no_punctuation_from_the_command_line_the_environment_or_the_page():
    assert load_settings({}).engine_options().punctuation is True
    flags = flags_from(parse(["--no-punctuation"]))
    s = load_settings({}, flags, {"punctuation": True})
    assert s.punctuation is False and s.origin("punctuation") == "command line --no-punctuation"
    assert s.engine_options("canary-1b-flash").punctuation is False
    assert flags_from(parse([]))["punctuation"] is None
    assert load_settings({"CHUNKY_PUNCTUATION": "no"}).punctuation is False
    assert load_settings({}, None, {"punctuation": False}).punctuation is False  # the page's, kept


def test_a_bad_saved_value_gives_way_to_the_environment():
    s = load_settings({"CHUNKY_MODEL": "env"}, None, {"model": ""})
    assert s.model == "env" and not s.rejected


def test_flags_are_checked_by_argparse(capsys):
    args = parse(["--batch-size", "2", "--device", "cuda", "--format", "json,srt", "--no-browser"])
    flags = flags_from(args)
    assert flags["batch_size"] == 2 and flags["formats"] == ("json", "srt") and flags["open_browser"] is False
    assert flags["chunk_seconds"] is None and flags["share"] is None, "flags not given stay None"
    s = load_settings({"CHUNKY_BATCH_SIZE": "5"}, flags)
    assert (s.batch_size, s.device, s.open_browser) == (2, "cuda", False)
    assert s.origin("batch_size") == "command line --batch-size"
    for bad in (["--batch-size", "0"], ["--format", "doc"], ["--device", "gpu"], ["--port", "x"]):
        with pytest.raises(SystemExit):
            parse(bad)
    assert "--batch-size" in capsys.readouterr().err


def test_every_option_has_a_variable_or_a_flag_and_help():
    for o in OPTIONS:
        assert o.env or o.flag, o.name
        assert o.help and hasattr(Settings(), o.name)
    assert len({o.env for o in OPTIONS if o.env}) == len([o for o in OPTIONS if o.env])


def test_saved_settings_round_trip_and_the_old_last_model_key(tmp_path):
    saved = SavedSettings(tmp_path)
    assert saved.load() == {}
    (tmp_path / "settings.json").write_text(json.dumps({"last_model": "old", "junk": 1}), "utf-8")
    assert saved.load() == {"model": "old"}
    saved.save(model="new", device="cuda")  # only page choices are kept
    assert json.loads((tmp_path / "settings.json").read_text("utf-8")) == {"model": "new"}
    assert not list(tmp_path.glob("*.partial"))
    assert settings_for(tmp_path, {}).model == "new"
    (tmp_path / "settings.json").write_text("{broken", "utf-8")
    assert saved.load() == {} and settings_for(tmp_path, {}).model is None


def test_describe_shows_values_as_typed():
    rows = dict((name, value) for name, value, _ in load_settings({"CHUNKY_FORMATS": "srt,vtt"}).describe())
    assert rows["formats"] == "srt,vtt" and rows["model"] == "-"
    assert rows["lock_retry_delays"] == "0.5,1,2,4,8"
    assert rows["open_browser"] == "true"


def test_the_confidence_threshold_is_a_share_kept_by_the_page(tmp_path):
    assert Settings().confidence_threshold == 0.5
    s = load_settings({"CHUNKY_CONFIDENCE_THRESHOLD": "45%"})
    assert s.confidence_threshold == 0.45 and s.origin("confidence_threshold").startswith("environment")
    bad = load_settings({"CHUNKY_CONFIDENCE_THRESHOLD": "1.5"})
    assert bad.confidence_threshold == 0.5 and "between 0 and 1" in bad.rejected["confidence_threshold"][2]
    SavedSettings(tmp_path).save(confidence_threshold=0.3)
    assert settings_for(tmp_path, {}).confidence_threshold == 0.3
    assert settings_for(tmp_path, {"CHUNKY_CONFIDENCE_THRESHOLD": "0.8"}).confidence_threshold == 0.8
