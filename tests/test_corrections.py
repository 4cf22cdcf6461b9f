"""Saving corrections through the job runner (chunky.jobs.revisions): every output of the file rewritten
with the corrected words, the model's original kept byte for byte, the history, undo as a new revision,
the later save winning, exports again rewritten too (also while one is being written), the zip, and all of
it read back after a restart. Real writers and files; the transcribe function reads text files
(tests/test_jobs.py's FakeEngine). No NeMo."""

from __future__ import annotations

import json
import threading
import zipfile
from pathlib import Path

import docx
import pytest
import srt
import webvtt

from chunky.base.errors import ChunkyError
from chunky.export import ExportOptions
from chunky.jobs import revisions
from chunky.jobs.runner import JobRunner
from chunky.jobs.state import JobState
from chunky.transcript.layout import PRESETS
from tests.test_jobs import WAIT, FakeEngine, speech

FORMATS = ("txt", "srt", "vtt", "json", "csv", "docx")


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine()


@pytest.fixture
def outputs(tmp_path: Path) -> Path:
    return tmp_path / "outputs"


def recording(tmp_path: Path, name: str, content: str) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return path


def finished_job(runner: JobRunner, tmp_path: Path, *names_words: tuple[str, list[str]]) -> str:
    files = [recording(tmp_path, name, speech(*ws)) for name, ws in names_words]
    job = runner.submit("tab-A", files, "m", formats=FORMATS)
    # a 6,000-word job writes six formats: a few seconds when the machine is busy
    assert runner.wait(job, WAIT * 6).state is JobState.DONE
    return job


def text_of(path: Path) -> str:
    """What a reader of each format sees (a real parser of it)."""
    if path.suffix == ".srt":
        return " ".join(s.content for s in srt.parse(path.read_text(encoding="utf-8")))
    if path.suffix == ".vtt":
        return " ".join(c.text for c in webvtt.read(str(path)))
    if path.suffix == ".docx":
        return " ".join(p.text for p in docx.Document(str(path)).paragraphs)
    if path.suffix == ".json":
        return " ".join(w["word"] for w in json.loads(path.read_text(encoding="utf-8"))["words"])
    return path.read_text(encoding="utf-8")


WORDS = ["one", "two", "three", "four", "five", "six"]


def test_a_correction_rewrites_every_output_and_keeps_the_original(engine, outputs, tmp_path):
    runner = JobRunner(engine, outputs)
    job = finished_job(runner, tmp_path, ("talk.wav", WORDS))
    folder = outputs / job
    model_json = (folder / "talk.json").read_bytes()
    assert runner.transcript_path(job, "tab-A", 0) == folder / "talk.json"

    saved = runner.save_correction(job, "tab-A", 0, 0,
                                   [{"op": "replace", "start": 2, "stop": 3, "text": "Tree"}])
    assert (saved.revision, saved.base, saved.replaced, saved.summary) == (1, 0, None, "1 word changed")
    for ext in FORMATS:
        shown = text_of(folder / f"talk.{ext}")
        assert "Tree" in shown and "three" not in shown, (ext, shown)
    assert (folder / "talk.original.json").read_bytes() == model_json
    data = json.loads((folder / "talk.json").read_text(encoding="utf-8"))
    assert data["revision"] == 1 and data["text"] == "one two Tree four five six"
    tree = next(w for w in data["words"] if w["word"] == "Tree")
    assert (tree["start"], tree["end"]) == (2.0, 2.5) and "confidence" not in tree
    [f] = runner.snapshot(job).files
    assert f.revision == 1 and f.text == data["text"]
    assert "talk.original.json" not in {p.name for p in f.outputs}  # not a download; restorable from the page
    assert [r.revision for r in revisions.revisions(folder / "talk.json")] == [0, 1]

    # Undo is one more revision: the words of the original again; the original file stays as it was.
    undo = runner.save_correction(job, "tab-A", 0, 1, [{"op": "set", "start": 2, "stop": 3,
                                                        "words": [{"word": "three", "start": 2.0,
                                                                   "end": 2.5}]}])
    assert undo.revision == 2 and "three" in text_of(folder / "talk.srt")
    assert (folder / "talk.original.json").read_bytes() == model_json
    assert runner.shutdown(WAIT)

    # A restart reads the revision, the outputs and the history back; the next save builds on them.
    again = JobRunner(engine, outputs)
    [back] = again.snapshot(job).files
    assert back.revision == 2
    restored = again.save_correction(job, "new tab", 0, 2, [{"op": "replace", "start": 0, "stop": 2,
                                                            "text": ""}])
    assert restored.revision == 3 and text_of(folder / "talk.txt").split()[-4:] == WORDS[2:]
    history = json.loads((folder / "talk.revisions.json").read_text(encoding="utf-8"))
    assert [(r["revision"], r["base"]) for r in history["revisions"]] == [(1, 0), (2, 1), (3, 2)]
    # Restoring the model's transcript is a revision like any other.
    back0 = again.save_correction(job, "new tab", 0, 3, [{"op": "restore", "revision": 0}])
    assert back0.revision == 4
    assert json.loads((folder / "talk.json").read_text(encoding="utf-8"))["words"] == \
        json.loads(model_json)["words"]
    assert again.shutdown(WAIT)


def test_the_later_save_wins_and_says_what_it_replaced(engine, outputs, tmp_path):
    first_run = JobRunner(engine, outputs)
    job = finished_job(first_run, tmp_path, ("talk.wav", WORDS))
    assert first_run.shutdown(WAIT)
    runner = JobRunner(engine, outputs)  # a job of an earlier run: every tab may open it
    first = runner.save_correction(job, "tab-A", 0, 0, [{"op": "replace", "start": 0, "stop": 1,
                                                         "text": "Won"}])
    # Another tab made its correction on revision 0 too, and saves later.
    second = runner.save_correction(job, "tab-B", 0, 0, [{"op": "replace", "start": 5, "stop": 6,
                                                          "text": "sicks"}])
    assert (first.revision, second.revision, second.base, second.replaced) == (1, 2, 0, 1)
    shown = text_of(outputs / job / "talk.srt")
    assert "sicks" in shown and "Won" not in shown and "one" in shown
    # Revision 1 is still in the history, and can be restored.
    third = runner.save_correction(job, "tab-A", 0, 2, [{"op": "restore", "revision": 1}])
    assert third.revision == 3 and "Won" in text_of(outputs / job / "talk.srt")
    assert runner.shutdown(WAIT)


def test_exports_again_and_the_zip_follow_the_correction(engine, outputs, tmp_path):
    runner = JobRunner(engine, outputs)
    job = finished_job(runner, tmp_path, ("a.wav", WORDS), ("b.wav", ["seven", "eight"]))
    written = runner.export_again(job, "tab-A", ExportOptions(rules=PRESETS["social"]), ["srt", "ass"])
    assert {p.name for p in written} == {"a-social.srt", "a-social.ass", "b-social.srt", "b-social.ass"}
    runner.save_correction(job, "tab-A", 1, 0, [{"op": "replace", "start": 1, "stop": 2, "text": "ate"}])
    folder = outputs / job
    assert "ate" in text_of(folder / "b-social.srt") and "ate" in (folder / "b-social.ass").read_text("utf-8")
    assert "ate" not in text_of(folder / "a-social.srt")  # the other file is not touched
    with zipfile.ZipFile(folder / f"chunky-{job}.zip") as z:
        assert "ate" in z.read("b.srt").decode("utf-8")
        assert "b-social.srt" in z.namelist()
    assert runner.shutdown(WAIT)
    # After a restart the exports are still known: the next correction rewrites them too.
    again = JobRunner(engine, outputs)
    again.save_correction(job, "tab-A", 1, 1, [{"op": "replace", "start": 0, "stop": 1, "text": "Severn"}])
    assert "Severn" in text_of(folder / "b-social.srt")
    assert again.shutdown(WAIT)


def test_a_save_while_the_job_is_exported_again_leaves_every_file_corrected(engine, outputs, tmp_path):
    """The export again of a long transcript and a save start together: whichever goes first, every file
    ends with the correction (the save waits for the export and rewrites its files too)."""
    long_words = [f"w{i}" for i in range(6000)]
    runner = JobRunner(engine, outputs)
    engine.step = 0.0
    job = finished_job(runner, tmp_path, ("long.wav", long_words))
    folder = outputs / job
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def export() -> None:
        try:
            start.wait()
            runner.export_again(job, "tab-A", ExportOptions(rules=PRESETS["broadcast"]), ["srt", "docx"])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    thread = threading.Thread(target=export)
    thread.start()
    start.wait()
    saved = runner.save_correction(job, "tab-A", 0, 0, [{"op": "replace", "start": 5999, "stop": 6000,
                                                         "text": "LAST"}])
    thread.join(WAIT * 6)
    assert not errors and saved.revision == 1
    for name in ("long.srt", "long.docx", "long-broadcast.srt", "long-broadcast.docx"):
        assert text_of(folder / name).split()[-1] == "LAST", name
    assert runner.shutdown(WAIT)


def test_a_save_gives_up_when_the_files_stay_busy(engine, outputs, tmp_path):
    runner = JobRunner(engine, outputs)
    job = finished_job(runner, tmp_path, ("talk.wav", WORDS))
    runner._jobs[job].io_lock.acquire()  # an export that does not end
    try:
        with pytest.raises(ChunkyError, match="being written"):
            runner.save_correction(job, "tab-A", 0, 0, [{"op": "replace", "start": 0, "stop": 1,
                                                         "text": "x"}], wait=0.05)
    finally:
        runner._jobs[job].io_lock.release()
    assert not (outputs / job / "talk.original.json").exists()
    assert runner.shutdown(WAIT)


def test_bad_corrections_save_nothing(engine, outputs, tmp_path):
    runner = JobRunner(engine, outputs)
    job = finished_job(runner, tmp_path, ("talk.wav", WORDS))
    folder = outputs / job
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    for base, ops, message in [
        (1, [{"op": "replace", "start": 0, "stop": 1, "text": "x"}], "does not exist"),
        (0, [{"op": "replace", "start": 0, "stop": 99, "text": "x"}], "cannot be applied"),
        (0, [], "nothing to save"),
    ]:
        with pytest.raises(ChunkyError, match=message):
            runner.save_correction(job, "tab-A", 0, base, ops)
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()} == before
    with pytest.raises(KeyError):
        runner.save_correction(job, "tab-A", 3, 0, [])
    with pytest.raises(KeyError):
        runner.save_correction("nosuchjob0", "tab-A", 0, 0, [])
    # A history that cannot be read is never saved over.
    (folder / "talk.revisions.json").write_text("{broken", encoding="utf-8")
    with pytest.raises(ChunkyError, match="cannot be read"):
        runner.save_correction(job, "tab-A", 0, 0, [{"op": "replace", "start": 0, "stop": 1, "text": "x"}])
    assert runner.shutdown(WAIT)


def test_the_recording_is_linked_into_the_job_folder_and_read_back(engine, outputs, tmp_path):
    runner = JobRunner(engine, outputs)
    job = finished_job(runner, tmp_path, ("Talk.WAV", WORDS))
    [f] = runner.snapshot(job).files
    assert f.media == outputs / job / "media" / "Talk.wav"
    assert f.media.read_bytes() == f.source.read_bytes()
    assert f.media.stat().st_ino == f.source.stat().st_ino  # a hard link: no second copy on disk
    f.source.unlink()  # the upload is cleaned away: the job keeps the recording
    assert runner.shutdown(WAIT)
    [back] = JobRunner(engine, outputs).snapshot(job).files
    assert back.media == f.media and back.media.is_file()
