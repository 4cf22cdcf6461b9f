"""The engine end to end with the trained digits model (tests/assets/digits-ctc.nemo) on real speech."""

from __future__ import annotations

import csv
import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from chunky import export
from chunky.asr.chunking import plan_chunks
from chunky.base.errors import AudioError, ChunkyError
from tests.speech import RATE, TrueWord, align, assemble, wer, word_clips, write_flac

pytestmark = pytest.mark.slow  # NeMo (the trained digits model, the real pipeline)

ASSETS = Path(__file__).resolve().parent / "assets"
START_TOLERANCE = 0.15


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from chunky.asr.engine import Engine
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    home = tmp_path_factory.mktemp("engine-home")
    (home / "local_models").mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    store = ModelStore(home / "local_models", home / "extracted")
    manager = ModelManager(store, device="cpu")
    yield Engine(manager)
    manager.unload()


@pytest.fixture(scope="module")
def ten_minutes(tmp_path_factory) -> tuple[Path, list[TrueWord]]:
    audio, truth = assemble(605.0, seed=11)
    path = write_flac(tmp_path_factory.mktemp("long") / "ten minutes.flac", audio)
    return path, truth


@pytest.fixture(scope="module")
def ten_minute_transcript(engine, ten_minutes):
    path, _ = ten_minutes
    reports = []
    transcript = engine.transcribe(path, "digits", progress=reports.append)
    return transcript, reports


def test_ten_minutes_wer_at_most_2_percent_and_no_worse_than_word_by_word(
    engine, ten_minutes, ten_minute_transcript, tmp_path
) -> None:
    path, truth = ten_minutes
    transcript, _ = ten_minute_transcript
    ref = [t.word for t in truth]
    hyp = [w.text for w in transcript.words]
    assert transcript.duration >= 600
    assert len(ref) > 350
    assert transcript.text.split() == hyp
    long_wer = wer(ref, hyp)
    assert long_wer <= 0.02, f"WER {long_wer:.3%} on {len(ref)} words"

    # The same model on every word alone, spliced in the same order.
    alone = {}
    for i, (clip, word) in enumerate(word_clips()):
        key = (word, len(clip))
        alone[key] = engine.transcribe(write_flac(tmp_path / f"clip-{i}.flac", clip), "digits").text.split()
    clip_len = {word: [] for word in set(ref)}
    for clip, word in word_clips():
        clip_len[word].append(len(clip))
    # Which clip each true word came from: its length in samples (start/end times hold it).
    word_by_word: list[str] = []
    for t in truth:
        n = round((t.end - t.start) * RATE) + round(2 * 0.05 * RATE)
        key = min(((t.word, m) for m in clip_len[t.word]), key=lambda k: abs(k[1] - n))
        word_by_word += alone[key]
    assert long_wer <= wer(ref, word_by_word) + 1e-9, (long_wer, wer(ref, word_by_word))


def test_every_word_starts_within_tolerance(ten_minutes, ten_minute_transcript) -> None:
    _, truth = ten_minutes
    transcript, _ = ten_minute_transcript
    ref = [t.word for t in truth]
    hyp = transcript.words
    offsets = []
    for r, h in align(ref, [w.text for w in hyp]):
        if r is None or h is None or ref[r] != hyp[h].text:
            continue
        offsets.append(hyp[h].start - truth[r].start)
        assert hyp[h].end >= hyp[h].start
    offsets_arr = np.array(offsets)
    worst = float(np.abs(offsets_arr).max())
    assert len(offsets) >= 0.98 * len(ref)
    assert worst <= START_TOLERANCE, f"worst start offset {worst:.3f} s (mean {offsets_arr.mean():+.3f} s)"
    # Words come in order, and segments hold them all.
    assert all(a.start <= b.start for a, b in zip(hyp, hyp[1:], strict=False))
    assert sum(len(s.words) for s in transcript.segments) == len(hyp)


def test_progress_reports_audio_seconds_done_of_total(ten_minute_transcript) -> None:
    transcript, reports = ten_minute_transcript
    stages = [r.stage for r in reports]
    assert stages[0] == "loading" and stages[-1] == "done"
    assert "decoding" in stages and stages.count("transcribing") >= 3
    done = [r.done_seconds for r in reports if r.stage == "transcribing"]
    assert done == sorted(done) and done[-1] == pytest.approx(transcript.duration, abs=0.01)
    last = [r for r in reports if r.stage == "transcribing"][-1]
    assert last.chunk_index == last.chunk_count > 1
    assert "chunk" in reports[2].describe()


def test_cuts_through_the_middle_of_words_lose_and_double_nothing(engine, tmp_path) -> None:
    from chunky.asr.options import EngineOptions

    audio, truth = assemble(75.0, seed=5, gaps=(0.05, 0.2), pause_every=1000)
    path = write_flac(tmp_path / "dense.flac", audio)
    options = EngineOptions(chunk_seconds=6.0, overlap_seconds=1.2, cut_at_pauses=False)
    chunks = plan_chunks(len(audio) / RATE, [], options.chunk_seconds, options.overlap_seconds)
    cuts = [c.keep_end for c in chunks[:-1]]
    inside = [cut for cut in cuts if any(t.start - 0.05 < cut < t.end + 0.05 for t in truth)]
    assert len(inside) >= 5, "the plan should cut through words"

    plain = engine.transcribe(path, "digits", options=EngineOptions(chunk_seconds=600.0))
    cut = engine.transcribe(path, "digits", options=options)
    ref = [t.word for t in truth]
    assert [w.text for w in cut.words] == [w.text for w in plain.words]
    assert wer(ref, [w.text for w in cut.words]) <= 0.02
    # No word appears twice around a cut: starts are strictly increasing with a word's length apart.
    starts = [w.start for w in cut.words]
    assert all(b - a > 0.2 for a, b in zip(starts, starts[1:], strict=False))


def test_every_format_round_trips_through_its_parser(ten_minute_transcript, tmp_path) -> None:
    import srt
    import webvtt

    transcript, _ = ten_minute_transcript
    cues = export.render(transcript).cues  # the streaming preset, as the engine's segments
    assert [c.text for c in cues] == [s.text for s in transcript.segments]
    paths = export.write_outputs(transcript, tmp_path, "ten minutes", export.DEFAULT_FORMATS)
    by_ext = {Path(p).suffix: Path(p) for p in paths}
    assert set(by_ext) == {".txt", ".srt", ".vtt", ".json", ".csv"}
    assert not list(tmp_path.glob("*.partial"))
    words = [w.text for w in transcript.words]

    assert by_ext[".txt"].read_text("utf-8").split() == words

    parsed = list(srt.parse(by_ext[".srt"].read_text("utf-8")))
    assert " ".join(c.content for c in parsed).split() == words
    assert len(parsed) == len(cues)
    for cue, c in zip(parsed, cues, strict=True):
        assert cue.start.total_seconds() == pytest.approx(c.start, abs=0.001)
        assert cue.end.total_seconds() == pytest.approx(c.end, abs=0.001)
        assert all(len(line) <= 42 for line in cue.content.splitlines())

    vtt = webvtt.read(str(by_ext[".vtt"]))
    assert " ".join(c.text for c in vtt).split() == words
    assert len(vtt) == len(cues)
    for cue, c in zip(vtt, cues, strict=True):
        h, m, sec = cue.start.split(":")
        assert int(h) * 3600 + int(m) * 60 + float(sec) == pytest.approx(c.start, abs=0.001)

    data = json.loads(by_ext[".json"].read_text("utf-8"))
    assert data["text"].split() == words and data["duration"] == pytest.approx(transcript.duration)
    assert data["model"] == "digits"
    assert [w["word"] for w in data["words"]] == words
    assert [w["word"] for s in data["segments"] for w in s["words"]] == words
    assert all({"start", "end", "text", "words"} <= set(s) for s in data["segments"])

    with by_ext[".csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:2] == ["start", "end"] and list(rows[0])[-1] == "text"
    assert " ".join(r["text"] for r in rows).split() == words
    assert [float(r["start"]) for r in rows] == pytest.approx([c.start for c in cues], abs=0.001)


def test_streaming_layout_of_ten_minutes_of_speech(ten_minute_transcript) -> None:
    """The streaming preset on the assembled 10-minute recording: no cue over 42 characters a line or 2
    lines, and the cues over 20 characters per second counted (none unless the speech itself is faster:
    more characters than 20 a second over all the time until the next cue)."""
    from chunky.export import ExportOptions
    from chunky.transcript.layout import PRESETS

    transcript, _ = ten_minute_transcript
    doc = export.render(transcript, ExportOptions(rules=PRESETS["streaming"], fps="25"))
    cues = doc.cues
    over_chars = [c for c in cues if any(len(line) > 42 for line in c.lines)]
    over_lines = [c for c in cues if len(c.lines) > 2]
    over_cps = [c for c in cues if len(c.text) / max(c.end - c.start, 1e-9) > 20 + 1e-6]
    gap = 2 / 25
    too_fast = [c for k, c in enumerate(cues) if len(c.text) / (
        (cues[k + 1].start - gap if k + 1 < len(cues) else transcript.duration) - c.start) > 20]
    print(f"\n10-minute recording, streaming preset: {len(cues)} cues, {len(over_chars)} over 42 characters "
          f"a line, {len(over_lines)} over 2 lines, {len(over_cps)} over 20 characters per second "
          f"({len(too_fast)} where the speech itself is faster); broken rules: {doc.cue_layout.broken}")
    assert len(cues) > 50
    assert over_chars == [] and over_lines == []
    assert len(over_cps) == len(too_fast) == doc.cue_layout.broken.get("max_cps", 0)
    assert [w for c in cues for w in c.words] == transcript.words


def test_cancel_between_chunks_keeps_the_finished_part(engine, ten_minutes) -> None:
    from chunky.asr.options import EngineOptions, PartialTranscriptCancelled

    path, truth = ten_minutes
    cancel = threading.Event()

    def progress(p) -> None:
        if p.stage == "transcribing" and p.chunk_index >= 2:
            cancel.set()

    with pytest.raises(PartialTranscriptCancelled) as caught:
        engine.transcribe(path, "digits", options=EngineOptions(batch_size=1), progress=progress,
                          cancel=cancel)
    partial = caught.value.partial
    assert partial is not None and partial.words
    heard = [w.text for w in partial.words]
    assert 10 < len(heard) < len(truth) / 2
    ref = [t.word for t in truth if t.start < partial.words[-1].end + 0.1]
    assert wer(ref, heard) <= 0.05


def test_silence_gives_an_empty_transcript(engine, tmp_path) -> None:
    path = write_flac(tmp_path / "silence.flac", np.zeros(RATE * 5, np.float32))
    transcript = engine.transcribe(path, "digits")
    assert transcript.text == "" and transcript.words == [] and transcript.duration == pytest.approx(5.0)


def test_sentences_are_heard(engine) -> None:
    truth = json.loads((ASSETS / "audio" / "truth.json").read_text("utf-8"))
    for name, text in truth.items():
        assert engine.transcribe(ASSETS / "audio" / name, "digits").text == text


def test_not_audio_is_a_clear_error_and_the_engine_goes_on(engine, tmp_path) -> None:
    bad = tmp_path / "notes.wav"
    bad.write_text("these are my notes, not a recording\n" * 20, "utf-8")
    with pytest.raises(AudioError, match="notes.wav"):
        engine.transcribe(bad, "digits")
    assert engine.transcribe(ASSETS / "audio" / "sentence-2.flac", "digits").text == "two seven zero eight"


def test_a_model_without_timestamps_still_gives_the_text(engine, monkeypatch, tmp_path) -> None:
    from chunky.asr.options import EngineOptions

    loaded = engine.manager.get("digits")
    real = loaded.model.transcribe

    def no_timestamps(audio, *args, timestamps=None, **kwargs):
        if timestamps:
            raise NotImplementedError("this model cannot give timestamps")
        return real(audio, *args, **kwargs)

    monkeypatch.setattr(loaded.model, "transcribe", no_timestamps)
    transcript = engine.transcribe(ASSETS / "audio" / "sentence-3.flac", "digits")
    assert transcript.text == "six five eight nine zero"
    assert transcript.words == []
    # A long one: one segment per chunk, in order, over the chunk's part of the recording.
    audio, truth = assemble(70.0, seed=8)
    path = write_flac(tmp_path / "long.flac", audio)
    long = engine.transcribe(path, "digits", options=EngineOptions(chunk_seconds=15.0))
    assert long.words == [] and len(long.segments) >= 4
    assert all(a.end <= b.start + 1e-9 for a, b in zip(long.segments, long.segments[1:], strict=False))
    assert long.segments[-1].end == pytest.approx(long.duration, abs=0.01)
    assert wer([t.word for t in truth], long.text.split()) <= 0.05
    import srt

    # Without word times the words are spread over each segment, then laid out like any others.
    cues = list(srt.parse(export.get_writer("srt").format(long)))
    assert " ".join(c.content.replace("\n", " ") for c in cues).split() == long.text.split()
    assert len(cues) >= len(long.segments)
    assert all(len(line) <= 42 for c in cues for line in c.content.splitlines())
    assert cues[-1].end.total_seconds() <= long.duration + 0.001


def test_out_of_gpu_memory_halves_the_batch_and_goes_on(engine, ten_minutes, ten_minute_transcript,
                                                        monkeypatch, caplog) -> None:
    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions

    path, _ = ten_minutes
    real = Engine._run_model
    sizes: list[int] = []

    def small_gpu(model, arrays, batch_size, timestamps):
        sizes.append(len(arrays))
        if len(arrays) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, arrays, batch_size, timestamps)

    monkeypatch.setattr(Engine, "_run_model", staticmethod(small_gpu))
    with caplog.at_level("WARNING", logger="chunky.asr.engine"):
        transcript = engine.transcribe(path, "digits", options=EngineOptions(batch_size=8))
    assert sizes[:3] == [8, 4, 2] and set(sizes[3:]) <= {1, 2}
    assert "batch size 4" in caplog.text and "batch size 2" in caplog.text
    assert [w.text for w in transcript.words] == [w.text for w in ten_minute_transcript[0].words]

    def no_gpu_memory_at_all(model, arrays, batch_size, timestamps):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 MiB")

    monkeypatch.setattr(Engine, "_run_model", staticmethod(no_gpu_memory_at_all))
    with pytest.raises(ChunkyError, match="ran out of memory even with one chunk"):
        engine.transcribe(path, "digits", options=EngineOptions(batch_size=2))
