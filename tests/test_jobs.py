"""The job runner with a small real transcribe function (text files of "word start end" lines) and the
real writers. No NeMo: the runner takes the transcribe function as a parameter."""

from __future__ import annotations

import json
import re
import threading
import time
import zipfile
from pathlib import Path

import pytest

from chunky.asr.options import PartialTranscriptCancelled, Progress
from chunky.base.errors import AudioError
from chunky.base.names import safe_stem, unique_stems
from chunky.export import DEFAULT_FORMATS as FORMATS
from chunky.jobs import progress as progress_module
from chunky.jobs import runner as jobs_module
from chunky.jobs.runner import RESERVED_STEMS, JobRunner
from chunky.jobs.state import FileState, JobState
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Word

WAIT = 5.0  # seconds; only reached when something is broken


class FakeEngine:
    """Transcribes a text file: one "word start end" line per word, one progress report per line.

    Special lines: ``#duration S`` (the audio length), ``!gate NAME`` (announce ``reached[NAME]``, then wait
    for ``gates[NAME]``), ``!waitcancel`` (wait for the cancel event), ``!chunky`` (a user error),
    ``!bug`` (a RuntimeError). Cancel is honoured before every line.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.reached: dict[str, threading.Event] = {}
        self.after_progress = None  # called in the worker after each report (for monotonic checks)
        self.step = 0.002
        self._lock = threading.Lock()

    def gate(self, name: str) -> tuple[threading.Event, threading.Event]:
        with self._lock:
            return (self.gates.setdefault(name, threading.Event()),
                    self.reached.setdefault(name, threading.Event()))

    def release_all(self) -> None:
        with self._lock:
            for event in self.gates.values():
                event.set()

    def __call__(self, path: Path, model: str, progress, cancel: threading.Event):
        with self._lock:
            self.calls.append(path.stem)
        lines = [ln.split() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        words_in = [ln for ln in lines if not ln[0].startswith(("#", "!"))]
        total = next((float(ln[1]) for ln in lines if ln[0] == "#duration"),
                     max((float(ln[2]) for ln in words_in), default=0.0))
        steps = [ln for ln in lines if ln[0] != "#duration"]
        words: list[Word] = []

        def report(p: Progress) -> None:
            progress(p)
            if self.after_progress is not None:
                self.after_progress(path, p)

        report(Progress("loading", 0.0, total))
        report(Progress("transcribing", 0.0, total, 0, len(steps), []))
        for k, line in enumerate(steps):
            if cancel.is_set():
                partial = build_transcript(list(words), total, model, str(path))
                raise PartialTranscriptCancelled(f"Cancelled after {k} of {len(steps)} lines.", partial)
            if line[0] == "!gate":
                gate, reached = self.gate(line[1])
                reached.set()
                assert gate.wait(WAIT), f"gate {line[1]} never opened"
                continue
            if line[0] == "!waitcancel":
                self.gate("cancel")[1].set()
                assert cancel.wait(WAIT), "never cancelled"
                continue
            if line[0] == "!chunky":
                raise AudioError(f"{path.name} holds no audio stream. Choose another file.")
            if line[0] == "!bug":
                raise RuntimeError("boom")
            time.sleep(self.step)
            words.append(Word(line[0], float(line[1]), float(line[2]), None))
            report(Progress("transcribing", float(line[2]), total, k + 1, len(steps), list(words)))
        transcript = build_transcript(words, total, model, str(path))
        report(Progress("done", total, total, len(steps), len(steps), transcript.words))
        return transcript


def speech(*words: str, start: float = 0.0) -> str:
    return "".join(f"{w} {start + i:.1f} {start + i + 0.5:.1f}\n" for i, w in enumerate(words))


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


@pytest.fixture
def runner(engine: FakeEngine, outputs: Path):
    r = JobRunner(engine, outputs)
    yield r
    engine.release_all()
    assert r.shutdown(WAIT)


@pytest.fixture
def audio(tmp_path: Path):
    folder = tmp_path / "in"
    folder.mkdir()

    def make(name: str, content: str) -> Path:
        path = folder / name
        path.write_text(content, encoding="utf-8")
        return path

    return make


def block_worker(runner: JobRunner, engine: FakeEngine, audio,
                 owner: str = "blocker") -> tuple[str, threading.Event]:
    """Submit a job that holds the worker until the returned gate is set."""
    gate, reached = engine.gate(f"hold-{owner}")
    job = runner.submit(owner, [audio(f"hold-{owner}.wav", speech("hold") + f"!gate hold-{owner}\n")], "m")
    assert reached.wait(WAIT)
    return job, gate


def test_submit_returns_at_once_and_order_is_fair(runner, engine, audio):
    held, gate = block_worker(runner, engine, audio)
    ids = {}
    for owner, names in (("A", ["a1", "a2", "a3"]), ("B", ["b1", "b2"]), ("C", ["c1"])):
        for name in names:
            ids[name] = runner.submit(owner, [audio(f"{name}.wav", speech(name))], "m")
    # The worker is still held by the first job: submit did not wait for it.
    assert runner.snapshot(held).state is JobState.RUNNING
    assert not gate.is_set()
    positions = {name: runner.snapshot(job_id).queue_position for name, job_id in ids.items()}
    assert positions == {"a1": 1, "b1": 2, "c1": 3, "a2": 4, "b2": 5, "a3": 6}
    assert runner.snapshot(ids["a1"]).stage == "Queued: 1 job ahead"
    gate.set()
    for job_id in ids.values():
        assert runner.wait(job_id, WAIT).state is JobState.DONE
    assert engine.calls == ["hold-blocker", "a1", "b1", "c1", "a2", "b2", "a3"]
    assert len(set(ids.values())) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{10}", job_id) for job_id in ids.values())  # short, URL-safe


def test_cancel_queued_job(runner, engine, audio):
    held, gate = block_worker(runner, engine, audio)
    first = runner.submit("A", [audio("one.wav", speech("one"))], "m")
    second = runner.submit("A", [audio("two.wav", speech("two"))], "m")
    assert runner.cancel(second, owner="B") is False  # not B's job
    assert runner.cancel(second, owner="A") is True
    snap = runner.snapshot(second, owner="A")
    assert snap.state is JobState.CANCELLED and snap.queue_position is None
    assert runner.snapshot(first).queue_position == 1
    gate.set()
    assert runner.wait(first, WAIT).state is JobState.DONE
    assert "two" not in engine.calls
    assert runner.cancel(second) is False  # finished jobs cannot be cancelled
    assert runner.cancel(first) is False
    assert not (runner.outputs_dir / second).exists()


def test_cancel_running_job_keeps_partial_transcript_and_next_job_runs(runner, engine, audio):
    long = audio("long talk.wav", speech("alpha", "beta") + "!waitcancel\n" + speech("gamma", start=5))
    other = audio("other.wav", speech("next"))
    running = runner.submit("A", [long, other], "m", display_names=["Long talk.mp3", "Other.mp3"])
    after = runner.submit("B", [audio("after.wav", speech("after"))], "m")
    assert engine.gate("cancel")[1].wait(WAIT)
    assert runner.cancel(running, owner="A") is True
    snap = runner.wait(running, WAIT)
    assert snap.state is JobState.CANCELLED
    first, second = snap.files
    assert first.state is FileState.CANCELLED and first.partial
    assert first.text == "alpha beta"
    assert "Cancelled after" in (first.error or "")
    assert {p.name for p in first.outputs} == {f"Long talk.partial.{ext}" for ext in FORMATS}
    assert all(p.is_file() for p in first.outputs)
    assert "beta" in (runner.outputs_dir / running / "Long talk.partial.txt").read_text(encoding="utf-8")
    assert second.state is FileState.CANCELLED and not second.outputs
    assert snap.zip_path is None  # nothing was transcribed in full
    assert snap.fraction < 0.9  # the cancelled part does not count as done
    assert "other" not in engine.calls
    assert runner.wait(after, WAIT).state is JobState.DONE
    saved = json.loads((runner.outputs_dir / running / "job.json").read_text(encoding="utf-8"))
    assert saved["state"] == "cancelled" and saved["files"][0]["text"] == "alpha beta"


def test_failures_do_not_affect_other_jobs_or_files(runner, engine, audio):
    user_error = runner.submit("A", [audio("silent.wav", "!chunky\n")], "m")
    bug = runner.submit("A", [audio("buggy.wav", speech("x") + "!bug\n")], "m")
    mixed = runner.submit("A", [audio("bad.wav", "!chunky\n"), audio("good.wav", speech("fine", "words"))],
                          "m")
    fine = runner.submit("A", [audio("fine.wav", speech("all", "good"))], "m")
    snap = runner.wait(user_error, WAIT)
    assert snap.state is JobState.FAILED
    assert snap.files[0].error == "silent.wav holds no audio stream. Choose another file."
    snap = runner.wait(bug, WAIT)
    assert snap.state is JobState.FAILED
    assert snap.files[0].error == "Internal error: RuntimeError: boom"
    snap = runner.wait(mixed, WAIT)
    assert snap.state is JobState.PARTIAL
    assert [f.state for f in snap.files] == [FileState.FAILED, FileState.DONE]
    assert snap.files[1].text == "fine words" and len(snap.files[1].outputs) == len(FORMATS)
    assert snap.zip_path is not None
    with zipfile.ZipFile(snap.zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(f"good.{ext}" for ext in FORMATS)
    assert snap.fraction == 1.0
    snap = runner.wait(fine, WAIT)
    assert snap.state is JobState.DONE and snap.files[0].text == "all good"


def test_many_submitters_at_once(runner, engine, audio):
    engine.step = 0.0005
    submitted: dict[str, list[str]] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(5)

    def submitter(owner: str) -> None:
        try:
            barrier.wait(WAIT)
            mine = []
            for k in range(4):
                name = f"{owner}-{k}"
                mine.append(runner.submit(owner, [audio(f"{name}.wav", speech(name))], "m"))
                runner.snapshot(mine[-1], owner=owner)
            submitted[owner] = mine
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submitter, args=(f"owner{t}",)) for t in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not errors
    all_ids = [job_id for ids in submitted.values() for job_id in ids]
    assert len(set(all_ids)) == 20
    for owner, ids in submitted.items():
        for job_id in ids:
            snap = runner.wait(job_id, WAIT)
            assert snap.state is JobState.DONE and snap.owner == owner
            assert [p.exists() for p in snap.files[0].outputs] == [True] * len(FORMATS)
            assert (runner.outputs_dir / job_id / "job.json").is_file()
        assert [s.id for s in runner.jobs(owner)] == ids[::-1]  # only its own, newest first
        other = next(o for o in submitted if o != owner)
        with pytest.raises(KeyError):
            runner.snapshot(ids[0], owner=other)
    assert sorted(engine.calls) == sorted(f"owner{t}-{k}" for t in range(5) for k in range(4))


def test_multi_file_job_zip_and_safe_unique_names(runner, engine, audio):
    files = [audio("1.wav", speech("one")), audio("2.wav", speech("two")), audio("3.wav", speech("three"))]
    job = runner.submit("A", files, "m", display_names=["a:b?.wav", "A:B*.flac", "job.mp3"])
    snap = runner.wait(job, WAIT)
    assert snap.state is JobState.DONE
    stems = [f.outputs[0].stem for f in snap.files]
    assert stems == ["a_b_", "A_B_-2", "job-2"]
    assert snap.zip_path == runner.outputs_dir / job / f"chunky-{job}.zip"
    with zipfile.ZipFile(snap.zip_path) as zf:
        assert sorted(zf.namelist()) == sorted(f"{s}.{ext}" for s in stems for ext in FORMATS)
        assert "three" in zf.read("job-2.txt").decode("utf-8")
    assert snap.file_names == ("a:b?.wav", "A:B*.flac", "job.mp3")
    assert snap.outputs[-1] == snap.zip_path


def test_progress_is_monotonic_and_reaches_one(runner, engine, audio):
    seen: list[tuple[float, str, int | None]] = []
    job_id: list[str] = []

    def record(path, p):
        if path in (short, long):
            snap = runner.snapshot(job_id[0])
            seen.append((snap.fraction, snap.stage, snap.current_file))

    engine.after_progress = record
    short = audio("short.wav", "#duration 2\n" + speech("a", "b"))
    long = audio("long.wav", "#duration 20\n" + speech(*"cdefghij"))
    held, gate = block_worker(runner, engine, audio)
    job_id.append(runner.submit("A", [short, long], "m"))
    gate.set()
    snap = runner.wait(job_id[0], WAIT)
    assert snap.state is JobState.DONE and snap.fraction == 1.0
    fractions = [f for f, _, _ in seen]
    assert len(fractions) > 10
    assert fractions == sorted(fractions)
    assert 0.0 < fractions[len(fractions) // 2] < 1.0
    assert {c for _, _, c in seen} == {0, 1}
    assert any(stage.startswith("Transcribing chunk") for _, stage, _ in seen)
    assert [f.duration for f in snap.files] == [2.0, 20.0]
    assert snap.elapsed is not None and snap.elapsed >= 0 and snap.eta is None


def test_known_durations_weigh_files_from_the_start(engine, outputs, audio):
    def duration_of(path: Path) -> float:
        return float(path.read_text(encoding="utf-8").split()[1])  # "#duration S" on the first line

    r = JobRunner(engine, outputs, duration_of=duration_of)
    seen: list[float] = []
    long = audio("long.wav", "#duration 20\n" + speech(*"cdefgh"))
    engine.after_progress = lambda path, p: seen.append(r.snapshot(job).fraction) if path == long else None
    job = r.submit("A", [audio("short.wav", "#duration 2\n" + speech("a", "b")), long], "m")
    assert r.wait(job, WAIT).state is JobState.DONE
    assert seen[0] == pytest.approx(2 / 22)  # the short file is done: a tenth of the audio, not half
    assert seen == sorted(seen) and seen[-1] == 1.0
    assert r.shutdown(WAIT)


def test_snapshot_answers_while_the_worker_is_busy(runner, engine, audio, monkeypatch):
    monkeypatch.setattr(progress_module, "_ETA_MIN_WALL", 0.0)
    gate, reached = engine.gate("busy")
    content = speech("hello", "world") + "!gate busy\n" + speech("x", start=3)
    busy = runner.submit("A", [audio("busy.wav", content)], "m")
    assert reached.wait(WAIT)
    answers: list = []

    def poll() -> None:
        answers.append(runner.snapshot(busy, owner="A"))
        answers.append(runner.jobs("A"))
        queued = runner.submit("A", [audio("q.wav", speech("q"))], "m")
        answers.append(runner.cancel(queued, owner="A"))

    t = threading.Thread(target=poll)
    t.start()
    t.join(WAIT)
    assert not t.is_alive(), "snapshot/jobs/submit/cancel blocked while the transcribe function ran"
    snap, listed, cancelled = answers
    assert snap.state is JobState.RUNNING and snap.current_file == 0
    assert snap.partial_text == "hello world"
    assert snap.stage == "Transcribing chunk 3 of 4"
    assert 0.0 < snap.fraction < 1.0
    assert snap.eta is not None and snap.eta >= 0.0
    assert snap.elapsed is not None and snap.started is not None and snap.finished is None
    assert [s.id for s in listed][-1] == busy and cancelled is True
    with pytest.raises(KeyError):
        runner.snapshot(busy, owner="B")
    gate.set()
    done = runner.wait(busy, WAIT)
    assert done.state is JobState.DONE and done.partial_text == "" and done.files[0].text == "hello world x"


def test_restart_lists_finished_jobs_and_skips_garbage(engine, outputs, audio):
    first = JobRunner(engine, outputs)
    multi = first.submit("A", [audio("one.wav", speech("one")), audio("two.wav", speech("two"))], "m",
                         display_names=["One.wav", "Two.wav"])
    single = first.submit("B", [audio("solo.wav", speech("solo"))], "m")
    for job_id in (multi, single):
        first.wait(job_id, WAIT)
    assert first.shutdown(WAIT)
    (outputs / "garbage01").mkdir()
    (outputs / "garbage01" / "job.json").write_text("{not json", encoding="utf-8")
    (outputs / "garbage02").mkdir()
    (outputs / "garbage02" / "job.json").write_text('{"id": "garbage02", "files": 3}', encoding="utf-8")
    # A job that was running when the process died: one file done, one not.
    crashed = json.loads((outputs / multi / "job.json").read_text(encoding="utf-8"))
    crashed.update(id="crashed01", state="running", zip=None, finished=None)
    crashed["files"][1].update(state="running", outputs=[], text="")
    (outputs / "crashed01").mkdir()
    (outputs / "crashed01" / "job.json").write_text(json.dumps(crashed), encoding="utf-8")

    second = JobRunner(engine, outputs)
    history = {s.id: s for s in second.earlier()}
    assert set(history) == {multi, single, "crashed01"}
    snap = history[multi]
    assert snap.state is JobState.DONE and snap.owner == "A"
    assert snap.file_names == ("One.wav", "Two.wav")
    assert [f.text for f in snap.files] == ["one", "two"]
    assert all(len(f.outputs) == len(FORMATS) and all(p.is_file() for p in f.outputs) for f in snap.files)
    assert snap.zip_path is not None and snap.zip_path.is_file()
    assert snap.fraction == 1.0 and snap.elapsed is not None
    assert [s.id for s in second.jobs("B")] == [single]
    # The tabs of the earlier run are gone: every new tab may open those jobs (never cancel them).
    assert {s.id for s in second.earlier()} == {multi, single, "crashed01"}
    assert second.snapshot(multi, owner="new tab").id == multi
    assert second.cancel(multi, owner="new tab") is False
    lost = second.snapshot("crashed01")
    assert lost.state is JobState.PARTIAL and "Interrupted" in (lost.error or "")
    assert [f.state for f in lost.files] == [FileState.DONE, FileState.FAILED]
    assert lost.files[0].outputs == ()  # those outputs belong to another folder: not found here
    # The restarted runner takes new work too.
    again = second.submit("A", [audio("again.wav", speech("again"))], "m")
    assert second.wait(again, WAIT).state is JobState.DONE
    assert again not in {s.id for s in second.earlier()}
    with pytest.raises(KeyError):
        second.snapshot(again, owner="new tab")
    assert second.shutdown(WAIT)


def test_shutdown_cancels_running_and_queued_jobs(engine, outputs, audio):
    r = JobRunner(engine, outputs)
    running = r.submit("A", [audio("run.wav", speech("some", "words") + "!waitcancel\n" + speech("z"))], "m")
    queued = r.submit("B", [audio("queued.wav", speech("q"))], "m")
    assert engine.gate("cancel")[1].wait(WAIT)
    assert r.shutdown(WAIT) is True
    snap = r.snapshot(running)
    assert snap.state is JobState.CANCELLED and snap.files[0].text == "some words"
    assert snap.files[0].partial
    assert r.snapshot(queued).state is JobState.CANCELLED
    assert engine.calls == ["run"]
    with pytest.raises(Exception, match="shutting down"):
        r.submit("A", [audio("late.wav", speech("late"))], "m")


def test_submit_validates_its_arguments(runner, audio):
    with pytest.raises(Exception, match="at least one"):
        runner.submit("A", [], "m")
    with pytest.raises(ValueError):
        runner.submit("A", [audio("x.wav", speech("x"))], "m", display_names=["a", "b"])
    with pytest.raises(KeyError):
        runner.snapshot("nope")


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("meeting.mp3", "meeting"),
        ("C:\\Users\\me\\talk.final.wav", "talk.final"),
        ("a<b>c|d?.m4a", "a_b_c_d_"),
        ("CON.wav", "_CON"),
        ("lpt1.x.wav", "_lpt1.x"),
        ("  spaced out .wav", "spaced out"),
        ("....", "recording"),
        (".hidden", "hidden"),
        ("notes.partial.wav", "notes_partial"),
        ("x" * 300 + ".wav", "x" * 80),
    ],
)
def test_safe_stem(name, stem):
    assert safe_stem(name) == stem


def test_unique_stems_ignore_case_and_reserve_job():
    names = ["a.wav", "A.mp3", "a.flac", "job.wav", "Job.wav"]
    assert unique_stems(names, RESERVED_STEMS) == ["a", "A-2", "a-3", "job-2", "Job-3"]


def test_a_file_that_cannot_be_saved_fails_alone(runner, engine, audio, monkeypatch):
    real = jobs_module.export.export_files

    def flaky(transcript, out_dir, stem, *args):
        if stem == "locked":
            raise PermissionError(13, "Permission denied", str(out_dir / "locked.txt"))
        return real(transcript, out_dir, stem, *args)

    monkeypatch.setattr(jobs_module.export, "export_files", flaky)
    job = runner.submit("A", [audio("locked.wav", speech("kept")), audio("free.wav", speech("free"))], "m")
    snap = runner.wait(job, WAIT)
    assert snap.state is JobState.PARTIAL
    locked, free = snap.files
    assert locked.state is FileState.FAILED and locked.text == "kept" and not locked.outputs
    assert "could not be saved" in (locked.error or "") and "Permission denied" in (locked.error or "")
    assert free.state is FileState.DONE and all(p.is_file() for p in free.outputs)


def test_jobs_keep_their_json_report_broken_rules_and_export_again(engine, outputs, audio):
    from chunky.export import ExportOptions
    from chunky.transcript.layout import PRESETS

    timing_asked: list[Path] = []

    def media_timing(path: Path) -> dict[str, str]:
        timing_asked.append(path)
        return {"fps": "25", "start_timecode": "10:00:00:00"}

    r = JobRunner(engine, outputs, ("srt",), media_timing=media_timing)
    # 24 words, one every 0.1 s: faster than anyone reads.
    fast = "".join(f"w{i} {i * 0.1:.2f} {i * 0.1 + 0.09:.2f}\n" for i in range(24))
    job = r.submit("A", [audio("fast.wav", fast)], "m", formats=["srt", "edl"],
                   export_options=ExportOptions(start_timecode="01:00:00:00"))
    snap = r.wait(job, WAIT)
    assert snap.state is JobState.DONE
    [f] = snap.files
    assert [p.name for p in f.outputs] == ["fast.srt", "fast.edl", "fast.json"]  # the JSON is always kept
    assert f.rule_breaks and "read faster than 20 characters per second" in f.rule_breaks[0]
    assert timing_asked == [f.source]
    saved = json.loads((outputs / job / "fast.json").read_text(encoding="utf-8"))
    assert saved["media"] == {"fps": "25", "start_timecode": "10:00:00:00"}
    assert saved["timecode"]["start"] == "01:00:00:00"  # the job's start timecode wins over the video's
    original = (outputs / job / "fast.json").read_bytes()

    social = ExportOptions(rules=PRESETS["social"])
    written = r.export_again(job, "A", social, ["srt", "json", "fcpxml"])
    assert [p.name for p in written] == ["fast-social.srt", "fast-social.json", "fast-social.fcpxml"]
    again = r.export_again(job, "A", social, ["srt"])
    assert [p.name for p in again] == ["fast-social-2.srt"]  # never replaces an earlier export
    assert (outputs / job / "fast.json").read_bytes() == original  # the transcript is never modified
    redone = json.loads(written[1].read_text(encoding="utf-8"))
    assert redone["layout"]["preset"] == "social" and redone["timecode"]["start"] == "10:00:00:00"
    assert [w["word"] for w in redone["words"]] == [w["word"] for w in saved["words"]]
    snap = r.snapshot(job)
    assert {p.name for p in snap.outputs} >= {"fast-social.srt", "fast-social-2.srt", "fast.srt"}
    with pytest.raises(KeyError):
        r.export_again(job, "another tab", social)
    assert r.shutdown(WAIT)

    # After a restart the job, its new files and its rules are read back, and it can be exported again.
    second = JobRunner(engine, outputs)
    back = second.snapshot(job)
    assert {p.name for p in back.files[0].outputs} == {p.name for p in snap.files[0].outputs}
    assert back.files[0].rule_breaks == f.rule_breaks
    redo = second.export_again(job, "new tab", ExportOptions(), ["txt"])
    assert [p.name for p in redo] == ["fast-streaming.txt"]
    assert second.shutdown(WAIT)


def test_export_again_refuses_unfinished_jobs_and_jobs_without_a_transcript(runner, engine, audio):
    from chunky.base.errors import ChunkyError
    from chunky.export import ExportOptions

    held, gate = block_worker(runner, engine, audio)
    with pytest.raises(ChunkyError, match="not finished"):
        runner.export_again(held, None, ExportOptions())
    gate.set()
    runner.wait(held, WAIT)
    failed = runner.submit("A", [audio("bad.wav", "!chunky\n")], "m")
    assert runner.wait(failed, WAIT).state is JobState.FAILED
    with pytest.raises(ChunkyError, match="no finished transcript"):
        runner.export_again(failed, "A", ExportOptions())
