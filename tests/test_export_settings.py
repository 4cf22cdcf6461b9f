"""The export settings (formats, subtitle preset and rules, frame rate, start timecode, format choices):
from settings.json, the environment and the command line into ExportOptions; the page's choices; and
``python -m chunky export`` re-exporting a saved transcript. No NeMo."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import opentimelineio as otio
import pytest
import srt

from chunky.base.errors import ChunkyError
from chunky.cli.main import build_parser
from chunky.export import get_writer
from chunky.settings import (
    EXPORT_SETTINGS,
    SavedSettings,
    Settings,
    flags_from,
    load_settings,
    parse_choices,
    with_choices,
)
from chunky.transcript.cues import build_transcript
from chunky.transcript.layout import PRESETS
from chunky.transcript.model import Word

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_are_the_streaming_preset_and_the_everyday_formats():
    s = Settings()
    assert s.formats == ("txt", "srt", "vtt", "json", "csv")
    options = s.export_options()
    assert options.rules == PRESETS["streaming"] and options.fps is None and options.start_timecode is None


def test_environment_and_saved_choices_and_flags_in_order(tmp_path):
    saved = SavedSettings(tmp_path)
    saved.save(formats=("srt", "edl"), subtitle_preset="social", max_chars=30, fps="25", karaoke=True)
    s = load_settings({"CHUNKY_MAX_CHARS": "28", "CHUNKY_START_TIMECODE": "01:00:00:00"}, None, saved.load())
    assert s.formats == ("srt", "edl") and s.origin("formats") == "settings.json"
    assert s.max_chars == 28 and s.origin("max_chars") == "environment CHUNKY_MAX_CHARS"
    assert s.karaoke is True and s.fps == "25"
    options = s.export_options()
    assert options.rules.max_chars == 28 and options.rules.max_lines == 1  # social, one rule changed
    assert options.rules.preset == "social (changed)"
    assert options.timing().start_timecode == "01:00:00:00"
    args = build_parser().parse_args(["transcribe", "a.wav", "--subtitle-preset", "broadcast", "--fps",
                                      "29.97", "--start-timecode", "00:59:59;00", "--max-cps", "17",
                                      "--format", "ass,ttml,edl,resolve-edl,fcpxml,xmeml,avid,audacity,docx",
                                      "--min-gap-frames", "3", "--karaoke", "--fcpxml", "markers"])
    s = load_settings({}, flags_from(args), saved.load())
    options = s.export_options()
    assert options.rules.max_chars == 30 and options.rules.max_cps == 17.0  # saved 30 still applies
    assert options.rules.min_gap_frames == 3 and options.fcpxml == "markers" and options.karaoke
    assert s.formats == ("ass", "ttml", "edl", "resolve-edl", "fcpxml", "xmeml", "avid", "audacity", "docx")
    assert options.timing().start_timecode == "00:59:59;00" and options.timing().rate.drop_frame


def test_bad_values_are_rejected_clearly():
    s = load_settings({"CHUNKY_FPS": "31", "CHUNKY_MAX_LINES": "0", "CHUNKY_SUBTITLE_PRESET": "cinema",
                       "CHUNKY_START_TIMECODE": "1 hour", "CHUNKY_KARAOKE": "maybe"})
    assert set(s.rejected) == {"fps", "max_lines", "subtitle_preset", "start_timecode", "karaoke"}
    assert "Unknown frame rate '31'" in s.rejected["fps"][2]
    assert s.fps is None and s.subtitle_preset == "streaming"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["transcribe", "a.wav", "--fps", "12"])
    late = load_settings({"CHUNKY_FPS": "25", "CHUNKY_START_TIMECODE": "01:00:00:29"})
    with pytest.raises(ChunkyError, match="out of range at 25 fps"):
        late.export_options()


def test_page_choices_become_settings():
    raw = {"formats": ["srt", "fcpxml"], "subtitle_preset": "broadcast", "max_chars": 37.0, "max_lines": 2.0,
           "max_cps": 17.0, "min_duration": 0.833, "max_duration": 7.0, "min_gap_frames": 2.0, "fps": "auto",
           "start_timecode": " 01:00:00:00 ", "karaoke": False, "fcpxml": "markers", "markers": "cue"}
    choices = parse_choices(raw)
    assert choices["formats"] == ("srt", "fcpxml") and choices["fps"] is None
    assert choices["max_chars"] is None and choices["max_lines"] is None  # the preset's own values
    assert choices["max_cps"] == 17.0 and choices["start_timecode"] == "01:00:00:00"
    s = with_choices(Settings(max_chars=50), **choices)
    assert s.max_chars is None and s.origin("subtitle_preset") == "the page"  # cleared by the page
    assert s.export_options().rules.max_cps == 17.0
    with pytest.raises(ValueError, match="Choose at least one output format"):
        parse_choices({"formats": []})
    with pytest.raises(ValueError, match="Characters per subtitle line"):
        parse_choices({"max_chars": -3})
    assert set(EXPORT_SETTINGS) >= set(raw)


def run_cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, CHUNKY_HOME=str(home), PYTHONIOENCODING="utf-8")
    return subprocess.run([sys.executable, "-m", "chunky", *args], cwd=str(home), env=env,
                          capture_output=True, text=True, encoding="utf-8", timeout=120)


def test_export_command_writes_new_files_from_a_saved_transcript(tmp_path):
    words = [Word(f"word{i}", i * 0.5, i * 0.5 + 0.4) for i in range(40)]
    t = build_transcript(words, 21.0, "m", "/rec/talk.mov")
    source = tmp_path / "talk.json"
    source.write_text(get_writer("json").format(t), encoding="utf-8")
    before = source.read_bytes()
    result = run_cli(tmp_path, "export", str(source), "--format", "srt,json,edl", "--subtitle-preset",
                     "social", "--fps", "25", "--start-timecode", "01:00:00:00")
    assert result.returncode == 0, result.stderr
    assert source.read_bytes() == before  # the transcript read is never changed
    assert sorted(p.name for p in tmp_path.glob("talk*")) == ["talk-2.edl", "talk-2.json", "talk-2.srt",
                                                               "talk.json"]
    cues = list(srt.parse((tmp_path / "talk-2.srt").read_text(encoding="utf-8")))
    assert all(len(c.content.splitlines()) == 1 and len(c.content) <= 32 for c in cues)
    assert cues[0].start.total_seconds() == pytest.approx(3600.0)
    again = json.loads((tmp_path / "talk-2.json").read_text(encoding="utf-8"))
    assert again["layout"]["preset"] == "social" and len(again["words"]) == 40
    timeline = otio.adapters.read_from_string((tmp_path / "talk-2.edl").read_text(encoding="utf-8"),
                                              adapter_name="cmx_3600", rate=25)
    assert len(list(timeline.tracks[0].find_clips())) >= 1
    # --overwrite replaces earlier outputs but still never the transcript read.
    result = run_cli(tmp_path, "export", str(source), "--format", "json", "--overwrite")
    assert result.returncode == 0 and source.read_bytes() == before
    bad = tmp_path / "notes.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    result = run_cli(tmp_path, "export", str(bad), str(tmp_path / "missing.json"))
    assert result.returncode == 1
    assert "notes.json is not a Chunky transcript" in result.stderr and "missing.json: file not found" in \
        result.stderr
    result = run_cli(tmp_path, "export", str(source), "--fps", "25", "--start-timecode", "00:00:00:25")
    assert result.returncode == 1 and "out of range at 25 fps" in result.stderr and "Traceback" not in \
        result.stderr


def test_the_page_choices_are_used_for_the_job_and_kept_for_the_next_start(tmp_path):
    import dataclasses
    import shutil

    from chunky.app.logic import PageLogic
    from chunky.app.service import Service
    from chunky.bootstrap import paths
    from chunky.settings import settings_for

    cache = tmp_path / "model_cache"
    p = dataclasses.replace(paths(), local_models=tmp_path / "local_models", model_cache=cache,
                            extracted=cache / "extracted", outputs=cache / "outputs")
    for folder in (p.local_models, p.extracted, p.outputs):
        folder.mkdir(parents=True)
    shutil.copy(ROOT / "tests" / "assets" / "digits-ctc.nemo", p.local_models / "digits.nemo")
    recording = tmp_path / "take.wav"
    recording.write_bytes(b"RIFF")
    service = Service(p, settings_for(cache, {}))  # the engine is never started: nothing is transcribed
    try:
        logic = PageLogic(service)
        assert logic.initial_choices()["subtitle_preset"] == "streaming"
        choices = {"formats": ["srt", "edl"], "subtitle_preset": "social", "max_chars": 30.0,
                   "max_lines": 1.0, "max_cps": 20.0, "min_duration": 0.833, "max_duration": 7.0,
                   "min_gap_frames": 2.0, "fps": "25", "start_timecode": "01:00:00:30", "karaoke": True,
                   "fcpxml": "markers", "markers": "speaker"}
        logic.set_choices("tab", choices)
        assert not logic.submit("tab", [str(recording)], None, "digits")  # frame 30 at 25 fps
        assert "out of range at 25 fps" in logic.render("tab", force=True)["progress"]
        logic.set_choices("tab", {**choices, "start_timecode": "01:00:00:00"})
        assert logic.submit("tab", [str(recording)], None, "digits")
        [job] = service.runner._jobs.values()
        assert job.formats == ("srt", "edl") and job.export.rules.max_chars == 30
        assert job.export.rules.max_lines == 1 and job.export.start_timecode == "01:00:00:00"
        assert job.export.markers == "speaker" and job.export.karaoke
    finally:
        assert service.shutdown(5.0)
    # The next start shows the same choices.
    again = PageLogic(Service(p, settings_for(cache, {})))
    shown = again.initial_choices()
    assert shown["formats"] == ["srt", "edl"] and shown["subtitle_preset"] == "social"
    assert shown["max_chars"] == 30 and shown["max_lines"] == 1 and shown["fps"] == "25"
    assert shown["start_timecode"] == "01:00:00:00" and shown["karaoke"] is True
    assert shown["fcpxml"] == "markers" and shown["markers"] == "speaker"
    assert PageLogic.preset_values("broadcast")["max_chars"] == 37
