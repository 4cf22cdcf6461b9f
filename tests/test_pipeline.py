"""The pipeline around the model with the trained digits model (tests/assets/digits-ctc.nemo): Chunky hears
exactly what NeMo hears, on every file of the test format set; chunking adds no errors; batches are NeMo's
own; the transcript grows as batches finish; no thread is left behind; other model families and half
precision take their paths."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from chunky.asr import model_calls
from chunky.asr.engine import hypothesis_text
from chunky.asr.options import EngineOptions, PartialTranscriptCancelled
from chunky.audio import decode
from tests.audio_fixtures import write_pyav, write_soundfile
from tests.speech import RATE, assemble, word_errors, write_flac
from tests.test_audio import PYAV_FORMATS, SOUNDFILE_FORMATS, need_encoder

pytestmark = pytest.mark.slow

ASSETS = Path(__file__).resolve().parent / "assets"
ONE_CHUNK = EngineOptions(chunk_seconds=1e6)  # chunking off: the whole file is one chunk


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    from chunky.asr.engine import Engine
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    home = tmp_path_factory.mktemp("pipeline-home")
    (home / "local_models").mkdir()
    shutil.copy(ASSETS / "digits-ctc.nemo", home / "local_models" / "digits.nemo")
    manager = ModelManager(ModelStore(home / "local_models", home / "extracted"), device="cpu")
    yield Engine(manager)
    manager.unload()


@pytest.fixture(scope="module")
def model(engine):
    return engine.manager.get("digits").model


def bare_nemo_text(model, samples: np.ndarray) -> str:
    """NeMo's own transcribe on the float32 samples, in one pass."""
    return hypothesis_text(model.transcribe([samples], batch_size=1, verbose=False)[0])


def no_feed_threads() -> bool:
    return not [t for t in threading.enumerate() if t.name.startswith("chunky-feed")]


@pytest.fixture(scope="module")
def speech():
    return assemble(14.0, seed=41)


def format_set(folder: Path, audio: np.ndarray) -> dict[str, Path]:
    """The recording in every format of the test format set (tests/test_audio.py), stereo at 44.1 or
    48 kHz as there, plus an 8 kHz telephone WAV."""
    files = {}
    for name, fmt, subtype, _ in SOUNDFILE_FORMATS:
        rate = 48000 if subtype == "OPUS" else 44100
        if subtype not in sf.available_subtypes(fmt):
            continue
        x = soxr.resample(audio, RATE, rate).astype(np.float32)
        files[name] = write_soundfile(folder / name, np.stack([x, x], axis=1), rate, fmt, subtype)
    x48 = soxr.resample(audio, RATE, 48000).astype(np.float32)
    for name, codec, container, video, _ in PYAV_FORMATS:
        need_encoder(codec)
        if video:
            need_encoder(video)
        files[name] = write_pyav(folder / name, np.stack([x48, x48], axis=1), 48000, codec, container, video,
                                 video_seconds=len(audio) / RATE)
    phone = soxr.resample(audio, RATE, 8000).astype(np.float32)
    files["phone-8k.wav"] = write_soundfile(folder / "phone-8k.wav", phone, 8000, "WAV", "PCM_16")
    return files


def test_chunky_hears_what_nemo_hears_on_every_format(engine, model, speech, tmp_path) -> None:
    """With chunking off, Chunky's words equal bare NeMo's on the same float32 samples (a full decode of
    the file at the model's rate), for every format."""
    audio, truth = speech
    files = format_set(tmp_path, audio)
    assert len(files) >= 18
    ref = [t.word for t in truth]
    for name, path in files.items():
        samples = decode.load_audio(path, RATE)
        bare = bare_nemo_text(model, samples)
        chunky = engine.transcribe(path, "digits", options=ONE_CHUNK)
        assert chunky.text == bare, name
        assert [w.text for w in chunky.words] == bare.split(), name
        if not name.startswith("u8"):  # 8-bit samples are too coarse for this small model
            assert word_errors(ref, bare.split()) <= 2, (name, bare)
    assert no_feed_threads()


def test_chunking_adds_no_errors_on_ten_minutes(engine, model, tmp_path) -> None:
    """The assembled 10-minute recording: chunks cut in pauses and stitched make no more word errors than
    NeMo's one pass over the whole float32 recording."""
    audio, truth = assemble(605.0, seed=11)
    path = write_flac(tmp_path / "ten minutes.flac", audio)
    ref = [t.word for t in truth]
    reports = []
    chunked = engine.transcribe(path, "digits", progress=reports.append)
    whole = bare_nemo_text(model, decode.load_audio(path, RATE))
    extra = word_errors(ref, [w.text for w in chunked.words]) - word_errors(ref, whole.split())
    assert extra <= 0, extra
    # The transcript grew batch by batch, each report a stitched prefix of the end result.
    grown = [r.words for r in reports if r.stage == "transcribing" and r.words]
    assert len(grown) >= 3 and reports[-1].stage == "done"
    final = [(w.text, w.start) for w in chunked.words]
    for words in grown:
        prefix = [(w.text, w.start) for w in words]
        keep_end = max(w.end for w in words)
        settled = [p for p, w in zip(prefix, words, strict=True) if w.end < keep_end - 15.0]
        assert settled == final[: len(settled)]
    assert [(w.text, w.start) for w in grown[-1]] == final


def test_batches_are_built_as_nemo_builds_them(model) -> None:
    """collate() gives the tensors NeMo's tensor path (TranscriptionTensorDataset + _speech_collate_fn)
    would build from the same arrays: short items padded to 1 s (half before), all to the longest."""
    import torch
    from nemo.collections.asr.data.audio_to_text import _speech_collate_fn
    from nemo.collections.asr.parts.mixins.transcription import TranscriptionTensorDataset

    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(n).astype(np.float32) for n in (48_000, 7_001, 16_000, 30_000, 11)]
    ours = model_calls.collate(arrays, RATE)
    ds = TranscriptionTensorDataset({"audio_tensors": [torch.from_numpy(a) for a in arrays],
                                     "channel_selector": None, "sample_rate": RATE})
    audio, lengths, _, _ = _speech_collate_fn([ds[i] for i in range(len(ds))], pad_id=0)
    assert torch.equal(ours.audio, audio) and torch.equal(ours.lengths, lengths)
    assert ours.leads == [0, (16_000 - 7_001) // 2, 0, 0, (16_000 - 11) // 2]
    assert [len(r) for r in model_calls.rows(ours)] == [len(a) for a in arrays]
    parts = model_calls.split(ours, 2, RATE)
    assert [len(p) for p in parts] == [2, 2, 1]
    joined = [r for p in parts for r in model_calls.rows(p)]
    assert all(np.array_equal(a, b) for a, b in zip(joined, arrays, strict=True))
    # A batch of a recording of several chunks: its width rounded up to whole seconds, zeros after.
    stepped = model_calls.collate(arrays, RATE, step=RATE)
    assert stepped.audio.shape == (5, 48_000) and torch.equal(stepped.lengths, lengths)
    odd = model_calls.collate(arrays[1:2], RATE, step=RATE // 2)
    assert odd.audio.shape == (1, 16_000) and torch.equal(odd.audio, audio[1:2, :16_000])
    assert all(p.step == RATE for p in model_calls.split(stepped, 2, RATE))
    wide = model_calls.collate([arrays[0][:40_001]], RATE, step=RATE)
    assert wide.audio.shape == (1, 48_000) and not wide.audio[0, 40_001:].any()


def test_a_short_recording_padded_by_nemo_keeps_its_word_times(engine, tmp_path) -> None:
    """NeMo pads an input shorter than 1 s on both sides: the words are moved back by the padding."""
    from tests.speech import word_clips

    clip, word = min(word_clips(), key=lambda c: len(c[0]))
    assert len(clip) < RATE
    path = write_flac(tmp_path / "short.flac", clip)
    transcript = engine.transcribe(path, "digits")
    assert transcript.text == word
    w = transcript.words[0]
    assert 0.0 <= w.start < 0.25 and w.end <= len(clip) / RATE + 0.1


def test_the_digits_model_takes_the_one_pass_path_and_others_a_call_per_batch(engine, model, speech,
                                                                            tmp_path, monkeypatch) -> None:
    assert model_calls.streams(model)
    assert not model_calls.streams(object())
    audio, _ = assemble(150.0, seed=42)
    path = write_flac(tmp_path / "two minutes.flac", audio)
    options = EngineOptions(chunk_seconds=20.0, batch_size=2)
    one_pass = engine.transcribe(path, "digits", options=options)
    calls = []
    real = model.transcribe

    def counted(audio, *args, **kwargs):
        calls.append(len(audio))
        return real(audio, *args, **kwargs)

    monkeypatch.setattr(model_calls, "streams", lambda m: False)
    monkeypatch.setattr(model, "transcribe", counted)
    per_batch = engine.transcribe(path, "digits", options=options)
    assert [(w.text, w.start) for w in per_batch.words] == [(w.text, w.start) for w in one_pass.words]
    assert len(calls) >= 4 and set(calls) <= {1, 2}  # one call per batch of (at most) 2 chunks


def test_a_model_that_fails_on_timestamps_in_its_first_batch_gives_the_text(engine, model, monkeypatch):
    real = model._transcribe_output_processing

    def no_timestamps(outputs, trcfg):
        if trcfg.timestamps:
            raise KeyError("window_stride")
        return real(outputs, trcfg)

    monkeypatch.setattr(model, "_transcribe_output_processing", no_timestamps)
    transcript = engine.transcribe(ASSETS / "audio" / "sentence-3.flac", "digits")
    assert transcript.text == "six five eight nine zero" and transcript.words == []


def test_no_thread_is_left_after_a_cancel_or_a_failure(engine, model, tmp_path, monkeypatch) -> None:
    audio, _ = assemble(200.0, seed=43)
    path = write_flac(tmp_path / "long.flac", audio)
    cancel = threading.Event()

    def progress(p):
        if p.stage == "transcribing" and p.chunk_index >= 1:
            cancel.set()

    with pytest.raises(PartialTranscriptCancelled) as caught:
        engine.transcribe(path, "digits", options=EngineOptions(batch_size=1, chunk_seconds=10.0),
                          progress=progress, cancel=cancel)
    assert caught.value.partial.words and no_feed_threads()

    def broken(batch, trcfg):
        raise RuntimeError("the model broke")

    monkeypatch.setattr(model, "_transcribe_forward", broken)
    with pytest.raises(RuntimeError, match="the model broke"):
        engine.transcribe(path, "digits")
    assert no_feed_threads()
    monkeypatch.undo()
    assert engine.transcribe(ASSETS / "audio" / "sentence-2.flac", "digits").text == "two seven zero eight"


def test_bfloat16_runs_the_model_in_bfloat16(engine, model) -> None:
    import torch

    seen = []
    hook = model.encoder.register_forward_hook(lambda module, args, out: seen.append(out[0].dtype))
    try:
        half = engine.transcribe(ASSETS / "audio" / "sentence-1.flac", "digits",
                                 options=EngineOptions(precision="bfloat16")).text
        assert seen and set(seen) == {torch.bfloat16}
        seen.clear()
        full = engine.transcribe(ASSETS / "audio" / "sentence-1.flac", "digits").text
        assert seen and set(seen) == {torch.float32}
    finally:
        hook.remove()
    assert full == "three one four one five nine"
    assert word_errors(full.split(), half.split()) <= 1
