"""The feed thread ahead of the model (chunky.asr.feed) on real files, without a model: the samples it hands
over are exactly a full decode's, its plan is plan_chunks', its memory does not grow with the recording,
and it stops cleanly whatever the consumer does."""

from __future__ import annotations

import os
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
import soxr

from chunky.asr import feed as feed_module
from chunky.asr.chunking import plan_chunks
from chunky.asr.feed import ChunkFeed, FeedPlan
from chunky.audio import decode
from chunky.audio.buffer import SampleBuffer
from chunky.audio.cuts import CutPauses
from chunky.base.errors import AudioError
from tests.audio_fixtures import write_pyav, write_soundfile
from tests.conftest import skip_or_fail
from tests.speech import RATE, assemble, write_flac


def keep(arrays, alone):
    """A ``prepare`` that keeps the arrays as they are."""
    return list(arrays)


def run_feed(path, plan: FeedPlan, batch_size: int = 3, rate: int = RATE, depth: int = 2):
    """Every batch the feed hands over, with the sample arrays ``prepare`` got for it."""
    batches = []
    feed = ChunkFeed(path, rate, lambda arrays, alone: [a.copy() for a in arrays], plan, batch_size,
                     depth).start()
    try:
        for batch in feed:
            batches.append(batch)
    finally:
        feed.close()
    return feed, batches


def chunk_samples(batches):
    """(chunk, samples or None if silent) in plan order."""
    out = []
    for batch in batches:
        arrays = iter(batch.inputs or [])
        for fc in batch.chunks:
            out.append((fc.chunk, None if fc.silent else next(arrays)))
    return out


@pytest.fixture(scope="module")
def speech() -> tuple[np.ndarray, list]:
    return assemble(75.0, seed=21)


def stereo_44k(mono16: np.ndarray) -> np.ndarray:
    x = soxr.resample(mono16, RATE, 44100).astype(np.float32)
    return np.stack([x, 0.5 * x], axis=1)


def formats(tmp_path, audio):
    """The recording in files a full decode must resample, downmix or decode lossily."""
    files = {
        "16 kHz 16-bit FLAC": write_flac(tmp_path / "a.flac", audio),
        "44.1 kHz stereo float WAV": write_soundfile(tmp_path / "b.wav", stereo_44k(audio), 44100, "WAV",
                                                     "FLOAT"),
        "8 kHz telephone WAV": write_soundfile(
            tmp_path / "phone.wav", soxr.resample(audio, RATE, 8000).astype(np.float32), 8000, "WAV",
            "PCM_16"),
        "48 kHz MP3": write_soundfile(tmp_path / "c.mp3", soxr.resample(audio, RATE, 48000)[:, None], 48000,
                                      "MP3", "MPEG_LAYER_III"),
    }
    import av

    try:
        av.codec.Codec("aac", "w")
    except Exception:
        skip_or_fail("this PyAV build has no aac encoder")
    files["48 kHz AAC in M4A (PyAV)"] = write_pyav(tmp_path / "d.m4a", stereo_44k(audio), 44100, "aac")
    return files


def test_chunk_samples_equal_a_full_decode_of_the_file(tmp_path, speech):
    """Chunky's chunk arrays are a plain full decode of the same file at the same rate, sample for sample
    (float32; no float16 on the way), for pause cuts and hard cuts alike."""
    audio, _ = speech
    for name, path in formats(tmp_path, audio).items():
        full = decode.load_audio(path, RATE)
        for pauses in (CutPauses("energy", RATE), None):
            feed, batches = run_feed(path, FeedPlan(chunk_seconds=8.0, overlap_seconds=1.0, pauses=pauses))
            pairs = chunk_samples(batches)
            assert len(pairs) >= 9, name
            assert feed.duration == len(full) / RATE
            for chunk, samples in pairs:
                a, b = chunk.sample_range(RATE, len(full))
                assert samples.dtype == np.float32, name
                assert np.array_equal(samples, full[a:b]), (name, chunk)
            if pauses is None:
                assert [c for c, _ in pairs] == plan_chunks(len(full) / RATE, [], 8.0, 1.0), name
                assert feed.stats.hard_cuts == len(pairs) - 1
    # A 16-bit file at the model's rate: exactly the integers over 32768, as soundfile reads them.
    plain, rate = sf.read(str(tmp_path / "a.flac"), dtype="float32")
    assert rate == RATE
    _, batches = run_feed(tmp_path / "a.flac", FeedPlan(chunk_seconds=8.0, pauses=None))
    for chunk, samples in chunk_samples(batches):
        a, b = chunk.sample_range(RATE, len(plain))
        assert np.array_equal(samples, plain[a:b])
        assert np.array_equal(np.round(samples * 32768), samples * 32768)


def test_one_channel_instead_of_the_mix(tmp_path, speech):
    audio, _ = speech
    both = np.stack([audio, np.zeros_like(audio)], axis=1)
    path = write_soundfile(tmp_path / "two.wav", both, RATE, "WAV", "FLOAT")
    left = decode.load_audio(path, RATE, channel=0)
    assert np.array_equal(left, audio)
    assert np.array_equal(decode.load_audio(path, RATE), audio * np.float32(0.5))
    assert not decode.load_audio(path, RATE, channel=1).any()
    _, batches = run_feed(path, FeedPlan(chunk_seconds=8.0, pauses=None, channel=0))
    for chunk, samples in chunk_samples(batches):
        a, b = chunk.sample_range(RATE, len(left))
        assert np.array_equal(samples, left[a:b])
    with pytest.raises(AudioError, match="2 channel.*no channel 3"):
        decode.load_audio(path, RATE, channel=2)


def test_cuts_in_pauses_never_cut_a_word(tmp_path, speech):
    audio, truth = speech
    path = write_flac(tmp_path / "speech.flac", audio)
    feed, batches = run_feed(path, FeedPlan(chunk_seconds=10.0, pauses=CutPauses("auto", RATE)))
    chunks = [c for c, _ in chunk_samples(batches)]
    cuts = [c.keep_end for c in chunks[:-1]]
    assert feed.stats.hard_cuts == 0 and len(cuts) >= 7
    assert all(c.end == c.keep_end for c in chunks)  # cut in pauses: windows just meet
    assert not [c for c in cuts if any(w.start <= c <= w.end for w in truth)]


def test_memory_is_the_same_for_a_short_and_a_long_recording(tmp_path):
    """What the feed holds (its decode buffer, the batches queued) does not depend on the length."""
    sizes = {}
    for seconds in (40.0, 600.0):
        audio, _ = assemble(seconds, seed=22)
        path = write_flac(tmp_path / f"{seconds:.0f}.flac", audio)
        feed, batches = run_feed(path, FeedPlan(chunk_seconds=30.0, pauses=CutPauses("energy", RATE)),
                                 batch_size=2)
        assert feed.stats.chunks == sum(len(b.chunks) for b in batches)
        sizes[seconds] = feed.stats.buffer_bytes
    assert sizes[600.0] == sizes[40.0] <= 4 * (30 + 2 * feed_module.BLOCK_SECONDS) * RATE * 4


def test_silent_chunks_are_marked_and_not_batched(tmp_path, speech):
    audio, _ = speech
    silence = np.zeros(40 * RATE, np.float32)
    gap = np.concatenate([audio[: 20 * RATE], silence, audio[: 20 * RATE]])
    path = write_flac(tmp_path / "gap.flac", gap)
    feed, batches = run_feed(path, FeedPlan(chunk_seconds=8.0, pauses=CutPauses("energy", RATE)))
    pairs = chunk_samples(batches)
    silent = [c for c, s in pairs if s is None]
    assert len(silent) >= 3 and feed.stats.silent_chunks == len(silent)
    assert all(c.start >= 20.0 and c.end <= 60.5 for c in silent)
    assert all(s is not None and s.any() for c, s in pairs if c.end < 19.0 or c.start > 61.0)


def test_errors_reach_the_consumer_and_leave_no_thread(tmp_path):
    tiny = write_flac(tmp_path / "tiny.flac", np.full(800, 0.1, np.float32))  # 0.05 s
    feed = ChunkFeed(tiny, RATE, keep).start()
    with pytest.raises(AudioError, match="too short"):
        list(feed)
    feed.close()
    with pytest.raises(AudioError, match="not found"):
        ChunkFeed(tmp_path / "missing.flac", RATE, keep)
    assert not [t for t in threading.enumerate() if t.name.startswith("chunky-feed")]


def test_a_consumer_that_stops_early_stops_the_feed(tmp_path):
    audio, _ = assemble(300.0, seed=23)
    path = write_flac(tmp_path / "long.flac", audio)
    feed = ChunkFeed(path, RATE, keep, FeedPlan(chunk_seconds=10.0, pauses=None), batch_size=1,
                     depth=1).start()
    first = next(iter(feed))
    assert first.chunks[0].chunk.index == 0
    time.sleep(0.2)  # the feed fills the queue and waits for room
    started = time.perf_counter()
    feed.close()
    assert time.perf_counter() - started < 2.0
    assert not [t for t in threading.enumerate() if t.name.startswith("chunky-feed")]
    assert feed.stats.chunks <= 4  # it stayed a batch or two ahead, no more


def test_the_chunk_count_is_estimated_then_exact(tmp_path, speech):
    audio, _ = speech
    path = write_flac(tmp_path / "speech.flac", audio)
    feed = ChunkFeed(path, RATE, keep, FeedPlan(chunk_seconds=10.0, pauses=CutPauses("energy", RATE)))
    estimate = feed.chunk_count(len(audio) / RATE)
    feed.start()
    batches = list(feed)
    feed.close()
    exact = sum(len(b.chunks) for b in batches)
    assert feed.chunk_count(len(audio) / RATE) == exact
    assert abs(estimate - exact) <= 2


def test_sample_buffer_reads_what_was_appended_across_drops_and_growth():
    rng = np.random.default_rng(0)
    whole = rng.standard_normal(50_000).astype(np.float32)
    buffer = SampleBuffer(capacity=1000)
    pos = 0
    for n in rng.integers(1, 3000, 60):
        buffer.append(whole[pos : pos + n])
        pos = min(len(whole), pos + int(n))
        first = max(buffer.start, pos - 2500)
        assert np.array_equal(buffer.read(first, pos), whole[first:pos])
        assert np.array_equal(buffer.view(first, pos + 10), whole[first:pos])
        buffer.drop_before(max(0, pos - 2000))
        assert buffer.end == pos and len(buffer) == pos - buffer.start
    assert buffer.nbytes <= 8 * 4 * 3000  # the live part, not the recording
    with pytest.raises(ValueError, match="dropped"):
        buffer.read(0, 10)
    with pytest.raises(ValueError):
        buffer.view(0, 10)
    assert not buffer.view(buffer.start, buffer.end).flags.writeable


def test_prepare_is_told_when_a_batch_is_the_whole_recording(tmp_path, speech):
    audio, _ = speech
    seen = []
    for seconds in (6.0, 75.0):
        path = write_flac(tmp_path / f"{seconds:.0f}.flac", audio[: int(seconds * RATE)])
        feed = ChunkFeed(path, RATE, lambda arrays, alone, s=seconds: seen.append((s, alone)),
                         FeedPlan(chunk_seconds=10.0, pauses=None), batch_size=2).start()
        list(feed)
        feed.close()
    assert seen[0] == (6.0, True) and seen[1:] and all(s == (75.0, False) for s in seen[1:])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="thread nice values are Linux's")
def test_the_feed_thread_runs_below_the_callers_priority(tmp_path, speech):
    """The feed takes the CPU the model leaves idle and never preempts it (its own nice value)."""
    audio, _ = speech
    path = write_flac(tmp_path / "speech.flac", audio[: 12 * RATE])
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    seen = []
    feed = ChunkFeed(path, RATE, lambda arrays, alone: seen.append(
        os.getpriority(os.PRIO_PROCESS, threading.get_native_id())), FeedPlan(pauses=None)).start()
    list(feed)
    feed.close()
    assert seen == [min(19, mine + feed_module.FEED_NICE)]
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
