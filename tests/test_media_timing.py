"""A video's own frame rate and start timecode (chunky/audio/timing.py), read with PyAV from small videos
that ffmpeg makes here. No NeMo."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from chunky.audio.timing import probe_timing
from tests.conftest import skip_or_fail


def make_video(path: Path, rate: str, timecode: str | None = None, audio_only: bool = False) -> Path:
    if shutil.which("ffmpeg") is None:
        skip_or_fail("ffmpeg is not installed (apt-get install ffmpeg)")
    cmd = ["ffmpeg", "-loglevel", "error", "-y"]
    if not audio_only:
        cmd += ["-f", "lavfi", "-i", f"testsrc=rate={rate}:size=64x48"]
    cmd += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000", "-t", "1"]
    if timecode:
        cmd += ["-timecode", timecode]
    if not audio_only:
        cmd += ["-c:v", "mpeg4"]
    subprocess.run([*cmd, str(path)], check=True, timeout=60)
    return path


@pytest.mark.parametrize(("name", "rate", "timecode", "expected"), [
    ("camera.mov", "25", "01:00:00:00", {"fps": "25", "start_timecode": "01:00:00:00"}),
    ("ntsc.mov", "30000/1001", "10:00:00;00", {"fps": "29.97", "start_timecode": "10:00:00;00"}),
    ("ntsc-ndf.mp4", "30000/1001", "10:00:00:00", {"fps": "29.97ndf", "start_timecode": "10:00:00:00"}),
    ("film.mkv", "24000/1001", None, {"fps": "23.976"}),
    ("fast.mp4", "50", "00:59:59:00", {"fps": "50", "start_timecode": "00:59:59:00"}),
])
def test_frame_rate_and_start_timecode_of_videos(tmp_path, name, rate, timecode, expected):
    assert probe_timing(make_video(tmp_path / name, rate, timecode)) == expected


def test_no_timing_for_audio_or_files_ffmpeg_cannot_read(tmp_path):
    assert probe_timing(make_video(tmp_path / "voice.wav", "25", audio_only=True)) is None
    (tmp_path / "notes.txt").write_text("not a video", encoding="utf-8")
    assert probe_timing(tmp_path / "notes.txt") is None
    assert probe_timing(tmp_path / "missing.mp4") is None
