"""Cancelling a job in the middle of a one-speaker-per-track file: the real job runner, the real engine
and the trained digits model (tests/assets) on a 2-stream MKV (tests/multitrack.py), cancelled while the
second track is being transcribed. The job stops promptly (the feed thread joined), shows as cancelled,
writes only whole files (the partial transcript, with both speakers and the streams used, read back by
the subtitle parsers; no writer's temporary file left), and the runner goes on with the next job."""

from __future__ import annotations

import json
import shutil
import threading
import time

import pytest
import srt
import webvtt

from chunky.asr.engine import Engine
from chunky.asr.options import EngineOptions, Progress, SpeakerOptions
from chunky.base.fs import PARTIAL_SUFFIX
from chunky.jobs.runner import JobRunner
from chunky.jobs.state import FileState, JobState
from tests.conversations import RATE
from tests.multitrack import write_streams
from tests.test_diarization import ASR_MODEL
from tests.test_speaker_files import conversation, renamed

pytestmark = pytest.mark.slow

WAIT = 120.0  # seconds: only reached when something is broken
PROMPT = 10.0  # a cancel is honoured within this many seconds (at the next batch, on a loaded CPU)
FORMATS = ("txt", "srt", "vtt", "json", "csv", "ass")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    home = tmp_path_factory.mktemp("cancel-tracks")
    store = ModelStore(home / "local_models", home / "extracted")
    store.import_archive(ASR_MODEL, "digits-ctc")
    manager = ModelManager(store, device="cpu")
    yield Engine(manager)
    manager.unload()


class SecondTrackGate:
    """The runner's transcribe function: the engine's, with its progress watched. At the first report of
    the second track's transcription (the passes' progress counts on from the first track's length) it
    announces ``reached`` and holds the worker until ``release`` is set, so the test cancels exactly then."""

    def __init__(self, engine: Engine, first_track_seconds: float) -> None:
        self.engine = engine
        self.first = first_track_seconds
        self.reached = threading.Event()
        self.release = threading.Event()
        self.stages: list[tuple[str, float]] = []

    def __call__(self, path, model, progress, cancel, options=None):
        def watch(p: Progress) -> None:
            self.stages.append((p.stage, p.done_seconds))
            if (p.stage == "transcribing" and p.done_seconds > self.first + 1.0
                    and not self.reached.is_set()):
                self.reached.set()
                assert self.release.wait(WAIT)
            progress(p)

        return self.engine.transcribe(path, model, options=options, progress=watch, cancel=cancel)


def test_cancel_while_the_second_track_is_transcribed(engine, tmp_path):
    conv = renamed(conversation(2, 90, seed=57), ["Host", "Guest"])
    path = write_streams(tmp_path / "talk.mkv", [conv.tracks["Host"], conv.tracks["Guest"]], RATE,
                         titles=["Host", "Guest"], languages=["eng", "eng"])
    first_seconds = len(conv.tracks["Host"]) / RATE
    gate = SecondTrackGate(engine, first_seconds)
    # Small chunks, one a batch: many progress reports and cancel checks within each track.
    options = EngineOptions(chunk_seconds=5.0, batch_size=1, speakers=SpeakerOptions("tracks"))
    runner = JobRunner(gate, tmp_path / "outputs", FORMATS)
    try:
        job = runner.submit("A", [path], "digits-ctc", engine_options=options)
        one_stream = EngineOptions(speakers=SpeakerOptions("mix", track=1))
        after = runner.submit("B", [path], "digits-ctc", engine_options=one_stream)
        assert gate.reached.wait(WAIT), gate.stages
        assert runner.snapshot(job).state is JobState.RUNNING
        threads_before = {t.ident for t in threading.enumerate()}
        assert runner.cancel(job, owner="A") is True
        cancelled_at = time.monotonic()
        gate.release.set()
        snap = runner.wait(job, WAIT)
        took = time.monotonic() - cancelled_at
        assert snap.state is JobState.CANCELLED, snap
        assert took < PROMPT, f"the cancel took {took:.1f} s"
        [f] = snap.files
        assert f.state is FileState.CANCELLED and f.partial
        # Track 2 was cut short: the progress never reached its end.
        assert max(s for stage, s in gate.stages if stage == "transcribing") < 2 * first_seconds - 5
        # The feed thread of the cancelled pass is gone: nothing of the job keeps running.
        new = [t for t in threading.enumerate() if t.ident not in threads_before and t.is_alive()
               and t.name.startswith("chunky-feed")]
        assert new == []

        folder = runner.outputs_dir / job
        leftovers = sorted(p.name for p in folder.rglob("*") if p.name.endswith(PARTIAL_SUFFIX))
        assert leftovers == [], "a writer's temporary file was left behind"
        assert {p.name for p in f.outputs} == {f"talk.partial.{ext}" for ext in FORMATS}
        # Every output is whole: read back by parsers nobody here wrote.
        data = json.loads((folder / "talk.partial.json").read_text("utf-8"))
        assert {w["speaker"] for w in data["words"]} == {"Host", "Guest"}
        assert [s["name"] for s in data["speakers"]] == ["Host", "Guest"]
        assert data["audio"]["used"] == ["Host (stream 1)", "Guest (stream 2)"]
        assert data["words"][-1]["end"] < 2 * first_seconds
        cues = list(srt.parse((folder / "talk.partial.srt").read_text("utf-8")))
        assert cues and all("Host" in c.content or "Guest" in c.content or c.content for c in cues)
        assert len(webvtt.read(str(folder / "talk.partial.vtt"))) == len(cues)
        saved = json.loads((folder / "job.json").read_text("utf-8"))
        assert saved["state"] == "cancelled"

        # The runner goes on: the next job (one stream of the same file) runs to the end.
        nxt = runner.wait(after, WAIT)
        assert nxt.state is JobState.DONE, nxt
        assert nxt.files[0].state is FileState.DONE and nxt.files[0].text
        assert not any(p.name.endswith(PARTIAL_SUFFIX) for p in (runner.outputs_dir / after).rglob("*"))
    finally:
        gate.release.set()
        assert runner.shutdown(WAIT)
    shutil.rmtree(tmp_path / "outputs", ignore_errors=True)
