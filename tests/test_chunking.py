"""Pause finding on synthetic audio, chunk plans (hours long included) and stitching words back."""

from __future__ import annotations

import bisect
import random

import numpy as np
import pytest

from chunky.asr.chunking import SEARCH_FRACTION, Chunk, ChunkPlanner, plan_chunks
from chunky.asr.stitching import Stitcher, stitch
from chunky.audio import pauses as energy_pauses
from chunky.audio.pauses import find_pauses
from chunky.transcript.model import Word

RATE = 16_000


def synth(layout: list[tuple[str, float]], noise_db: float | None, gain: float = 1.0, seed: int = 0):
    """Speech-like sound (noise bursts with a syllable envelope) and silences, over a noise floor.
    Returns (samples, true pauses in seconds)."""
    rng = np.random.default_rng(seed)
    parts, pauses, t = [], [], 0.0
    for kind, seconds in layout:
        n = int(seconds * RATE)
        if kind == "speech":
            tt = np.arange(n) / RATE
            envelope = 0.2 + 0.8 * np.abs(np.sin(2 * np.pi * 3.0 * tt + rng.uniform(0, np.pi)))
            parts.append(0.3 * envelope * rng.standard_normal(n))
        else:
            parts.append(np.zeros(n))
            pauses.append((t, t + seconds))
        t += seconds
    x = np.concatenate(parts)
    if noise_db is not None:
        x = x + 10 ** (noise_db / 20) * rng.standard_normal(len(x))
    return (gain * x).astype(np.float32), pauses


LAYOUT = [("speech", 2.0), ("pause", 0.5), ("speech", 3.0), ("pause", 1.2), ("speech", 0.8), ("pause", 0.35),
          ("speech", 4.0), ("pause", 0.15), ("speech", 2.0), ("pause", 2.0), ("speech", 1.0)]


def assert_pauses_match(found, truth, min_pause=0.3, tol=0.05):
    expected = [(a, b) for a, b in truth if b - a >= min_pause]
    assert len(found) == len(expected), (found, expected)
    for (a, b), (ta, tb) in zip(found, expected, strict=True):
        assert abs(a - ta) <= tol and abs(b - tb) <= tol, ((a, b), (ta, tb))


@pytest.mark.parametrize("noise_db", [None, -70.0, -45.0, -30.0])
@pytest.mark.parametrize("gain", [1.0, 0.01])
def test_find_pauses_with_a_noise_floor_and_any_level(noise_db, gain):
    x, truth = synth(LAYOUT, noise_db, gain)
    assert_pauses_match(find_pauses(x, RATE), truth)


def test_find_pauses_int16_stereo_and_blocks(monkeypatch):
    x, truth = synth(LAYOUT, -50.0, seed=3)
    base = find_pauses(x, RATE)
    assert_pauses_match(base, truth)
    pcm = np.round(x * 20000).astype(np.int16)
    assert np.allclose(find_pauses(pcm, RATE), base)
    assert np.allclose(find_pauses(np.stack([x, x], axis=1), RATE), base)
    monkeypatch.setattr(energy_pauses, "BLOCK_FRAMES", 7)
    assert np.allclose(find_pauses(x, RATE), base)


def test_find_pauses_ignores_a_click_and_short_gaps():
    x, truth = synth([("speech", 1.0), ("pause", 1.0), ("speech", 1.0)], -55.0)
    x[int(1.5 * RATE) : int(1.5 * RATE) + 300] = 0.5  # a click of 19 ms in the middle of the pause
    assert_pauses_match(find_pauses(x, RATE), truth)
    assert find_pauses(x, RATE, min_pause=1.5) == []


def test_find_pauses_edge_cases():
    assert find_pauses(np.zeros(0, dtype=np.float32), RATE) == []
    assert find_pauses(np.zeros(RATE * 3, dtype=np.float32), RATE) == [(0.0, 3.0)]
    speech, _ = synth([("speech", 5.0)], -40.0)
    assert find_pauses(speech, RATE) == []
    steady = 0.1 * np.random.default_rng(1).standard_normal(RATE * 3).astype(np.float32)
    assert find_pauses(steady, RATE) == []


def random_pauses(rng: random.Random, duration: float, density: float) -> list[tuple[float, float]]:
    pauses, t = [], rng.uniform(0, 5)
    while t < duration:
        length = rng.uniform(0.3, 2.5)
        if rng.random() < density:
            pauses.append((t, min(duration, t + length)))
        t += length + rng.expovariate(1 / 8.0)
    return pauses


def check_plan(chunks: list[Chunk], duration: float, pauses, chunk_seconds, overlap, min_chunk) -> None:
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].keep_start == 0.0 and chunks[0].start == 0.0
    assert chunks[-1].keep_end == duration and chunks[-1].end == duration
    for a, b in zip(chunks, chunks[1:], strict=False):
        assert a.keep_end == b.keep_start  # exact tiling: no gap, no overlap
    for c in chunks:
        assert 0.0 <= c.start <= c.keep_start < c.keep_end <= c.end <= duration
        assert c.end - c.start <= chunk_seconds + 1e-9
    if len(chunks) > 1:
        assert chunks[-1].keep_end - chunks[-1].keep_start >= min_chunk - 1e-9
    for a, b in zip(chunks, chunks[1:], strict=False):
        cut = a.keep_end
        lo = a.start + (1 - SEARCH_FRACTION) * chunk_seconds
        hi = min(a.start + chunk_seconds, duration - min_chunk)
        if any(min(p1, hi) - max(p0, lo) > 0 for p0, p1 in pauses):  # a cut in a pause: windows just meet
            assert a.end == cut == b.start
            assert any(p0 < cut < p1 for p0, p1 in pauses)
        else:  # a hard cut: overlap both sides
            assert a.end - cut == pytest.approx(overlap) and cut - b.start == pytest.approx(overlap)


@pytest.mark.parametrize("seed", range(30))
def test_plans_tile_the_recording_within_limits(seed):
    rng = random.Random(seed)
    duration = rng.choice([31.0, 45.5, 600.0, 3600.0 * rng.uniform(1, 4)])
    chunk_seconds = rng.choice([10.0, 20.0, 30.0, 40.0])
    overlap = rng.choice([0.0, 1.0, 2.0])
    min_chunk = rng.choice([0.0, 2.0, 5.0])
    pauses = random_pauses(rng, duration, rng.choice([0.0, 0.3, 1.0]))
    chunks = plan_chunks(duration, pauses, chunk_seconds=chunk_seconds, overlap_seconds=overlap,
                         min_chunk_seconds=min_chunk)
    capped_min_chunk = min(min_chunk, SEARCH_FRACTION * chunk_seconds)
    check_plan(chunks, duration, pauses, chunk_seconds, overlap, capped_min_chunk)


def stream_plan(duration: float, pauses, **limits) -> list[Chunk]:
    """The plan made one chunk at a time, as the engine makes it while decoding: the planner only ever
    sees the pauses inside its search band, and learns the duration once "decoding" reaches the end."""
    planner = ChunkPlanner(**limits)
    chunks = []
    while not planner.finished:
        end = duration if planner.audio_needed() >= duration else None
        band = planner.search_band(end)
        near = [] if band is None else [(a, b) for a, b in pauses if b > band[0] and a < band[1]]
        chunks.append(planner.next_chunk(end, near))
    return chunks


@pytest.mark.parametrize("seed", range(30))
def test_the_streaming_planner_makes_the_same_plan(seed):
    rng = random.Random(100 + seed)
    duration = rng.choice([12.0, 31.0, 45.5, 600.0, 3600.0 * rng.uniform(1, 4)])
    limits = {"chunk_seconds": rng.choice([4.0, 10.0, 30.0, 40.0]), "overlap_seconds": rng.choice([0.0, 2.0]),
              "min_chunk_seconds": rng.choice([0.0, 5.0])}
    pauses = random_pauses(rng, duration, rng.choice([0.0, 0.3, 1.0]))
    assert stream_plan(duration, pauses, **limits) == plan_chunks(duration, pauses, **limits)


def test_the_streaming_planner_refuses_a_chunk_past_the_end():
    planner = ChunkPlanner(chunk_seconds=30.0)
    assert planner.audio_needed() == 35.0
    assert planner.search_band(None) == (21.0, 30.0)
    assert planner.search_band(20.0) is None
    assert planner.next_chunk(20.0) == Chunk(0, 0.0, 20.0, 0.0, 20.0) and planner.finished
    with pytest.raises(RuntimeError, match="complete"):
        planner.next_chunk(20.0)


def test_cuts_land_in_the_middle_of_the_longest_pause():
    pauses = [(5.0, 6.0), (22.0, 22.5), (25.0, 27.0), (28.0, 28.4), (50.0, 51.0)]
    chunks = plan_chunks(70.0, pauses, chunk_seconds=30.0)
    assert chunks[0].keep_end == 26.0 and chunks[0].end == 26.0
    assert chunks[1].keep_end == 50.5  # [26, 56): only (50, 51) lies in the last 30 %


def test_pause_partly_in_the_search_range_is_cut_in_its_part_inside():
    chunks = plan_chunks(100.0, [(15.0, 23.0)], chunk_seconds=30.0, overlap_seconds=2.0)
    assert chunks[0].keep_end == 22.0  # middle of (21, 23), the part within [21, 30)


def test_short_and_empty_recordings():
    assert plan_chunks(0.0, []) == []
    assert plan_chunks(12.0, [(3.0, 4.0)]) == [Chunk(0, 0.0, 12.0, 0.0, 12.0)]
    assert plan_chunks(30.0, []) == [Chunk(0, 0.0, 30.0, 0.0, 30.0)]
    with pytest.raises(ValueError):
        plan_chunks(10.0, [], chunk_seconds=0)


def test_last_chunk_is_not_left_tiny():
    chunks = plan_chunks(30.5, [], chunk_seconds=30.0, overlap_seconds=2.0, min_chunk_seconds=5.0)
    assert [c.keep_end for c in chunks] == [25.5, 30.5] and chunks[1].start == 23.5


def test_overlap_is_capped_for_small_chunks():
    chunks = plan_chunks(100.0, [], chunk_seconds=4.0, overlap_seconds=2.0)
    check_plan(chunks, 100.0, [], 4.0, 1.0, 0.0 + min(5.0, SEARCH_FRACTION * 4.0))


def test_sample_range():
    c = Chunk(1, 1.5, 2.25, 1.5, 2.25)
    assert c.sample_range(16_000) == (24_000, 36_000)
    assert c.sample_range(16_000, total_samples=30_000) == (24_000, 30_000)
    assert c.duration == 0.75


def ground_truth(rng: random.Random, duration: float, pauses=()) -> list[Word]:
    """Continuous speech (gaps of at most 0.1 s) except in the given pauses."""
    words, t = [], 0.05
    pauses = sorted(pauses)
    p = 0
    while True:
        while p < len(pauses) and pauses[p][1] <= t:
            p += 1
        if p < len(pauses) and pauses[p][0] <= t:
            t = pauses[p][1] + 0.02
            continue
        length = rng.uniform(0.08, 1.5)
        end = t + length
        if end > duration:
            return words
        if p < len(pauses) and end > pauses[p][0]:
            t = pauses[p][1] + 0.02
            continue
        words.append(Word(rng.choice(["so", "the", "very", "model", "hears", "words", "so"]), t, end))
        t = end + rng.uniform(0.0, 0.1)


def model_view(chunk: Chunk, truth: list[Word], starts: list[float], rng=None, jitter=0.0) -> list[Word]:
    """What a model hears in the chunk's window: the words entirely inside it, times made absolute again
    (each moved by up to ``jitter`` seconds when ``rng`` is given)."""
    lo = bisect.bisect_left(starts, chunk.start)
    out = []
    for w in truth[lo:]:
        if w.start >= chunk.end:
            break
        if w.end <= chunk.end:
            d = rng.uniform(-jitter, jitter) if rng else 0.0
            out.append(Word(w.text, max(chunk.start, w.start + d), min(chunk.end, w.end + d)))
    return out


@pytest.mark.parametrize("seed", range(6))
def test_stitching_forced_cuts_loses_and_doubles_nothing(seed):
    rng = random.Random(seed)
    duration = 2 * 3600.0 if seed == 0 else rng.uniform(60, 900)
    pauses = [] if seed % 2 == 0 else random_pauses(rng, duration, 0.5)
    truth = ground_truth(rng, duration, pauses)
    chunks = plan_chunks(duration, pauses, chunk_seconds=30.0, overlap_seconds=2.0)
    assert any(c.end > c.keep_end for c in chunks)  # there are hard cuts
    starts = [w.start for w in truth]
    done = [(c, model_view(c, truth, starts)) for c in chunks]
    straddling = sum(1 for c in chunks for w in truth if w.start < c.keep_end < w.end and c.end > c.keep_end)
    assert straddling > 0
    assert stitch(done) == truth
    rng.shuffle(done)  # chunks finished in any order, in batches
    assert stitch(done) == truth
    batches = [done[i : i + 8] for i in range(0, len(done), 8)]
    assert stitch([pair for batch in batches for pair in batch]) == truth


@pytest.mark.parametrize("seed", range(5))
def test_stitching_with_jittered_times_keeps_every_word_once(seed):
    """Each chunk places the words a little differently (up to 50 ms): words straddling a cut may then
    be kept by both chunks, or by neither."""
    rng = random.Random(seed)
    truth = ground_truth(rng, 1200.0)
    chunks = plan_chunks(1200.0, [], chunk_seconds=20.0, overlap_seconds=2.0)
    starts = [w.start for w in truth]
    words = stitch([(c, model_view(c, truth, starts, rng, jitter=0.05)) for c in chunks])
    assert [w.text for w in words] == [w.text for w in truth]
    assert all(abs(a.start - b.start) <= 0.05 + 1e-9 for a, b in zip(words, truth, strict=True))
    assert [w.start for w in words] == sorted(w.start for w in words)


def test_word_both_chunks_dropped_is_rescued_once():
    a = Chunk(0, 0.0, 12.0, 0.0, 10.0)
    b = Chunk(1, 8.0, 20.0, 10.0, 20.0)
    left = [Word("big", 9.0, 9.5), Word("model", 9.8, 10.4)]  # centre 10.1: a leaves it to b
    right = [Word("big", 9.02, 9.52), Word("models", 9.6, 10.3), Word("here", 10.5, 11.0)]  # 9.95: to a
    assert [w.text for w in stitch([(a, left), (b, right)])] == ["big", "models", "here"]
    # until b is finished, a's word is b's business
    assert [w.text for w in stitch([(a, left)])] == ["big"]


def test_repeated_word_across_a_cut_is_not_merged():
    a = Chunk(0, 0.0, 12.0, 0.0, 10.0)
    b = Chunk(1, 8.0, 20.0, 10.0, 20.0)
    left = [Word("so", 9.5, 10.06), Word("so", 10.03, 10.9)]
    right = [Word("so", 9.49, 10.05), Word("so", 10.04, 10.9)]
    words = stitch([(a, left), (b, right)])
    assert [(w.text, w.start) for w in words] == [("so", 9.5), ("so", 10.04)]


def test_partial_stitch_keeps_only_finished_keep_ranges():
    rng = random.Random(5)
    truth = ground_truth(rng, 200.0)
    chunks = plan_chunks(200.0, [], chunk_seconds=30.0)
    starts = [w.start for w in truth]
    first = stitch([(c, model_view(c, truth, starts)) for c in chunks[:2]])
    assert first == [w for w in truth if (w.start + w.end) / 2 < chunks[1].keep_end]


def test_duplicate_at_a_cut_is_kept_once():
    a = Chunk(0, 0.0, 12.0, 0.0, 10.0)
    b = Chunk(1, 8.0, 20.0, 10.0, 20.0)
    left = [Word("hello", 9.0, 9.5), Word("World,", 9.6, 10.3)]  # centre 9.95: kept by a
    right = [Word("world", 9.8, 10.4), Word("again", 10.5, 11.0)]  # centre 10.1: kept by b
    words = stitch([(b, right), (a, left)])
    assert [w.text for w in words] == ["hello", "world", "again"]  # b heard it farther from an edge


def test_repeats_within_one_chunk_are_kept():
    c = Chunk(0, 0.0, 5.0, 0.0, 5.0)
    words = [Word("very", 1.0, 1.3), Word("very", 1.25, 1.6), Word("good", 1.7, 2.0)]
    assert stitch([(c, words)]) == words


def test_words_shifted_past_an_open_edge_are_kept():
    first = Chunk(0, 0.0, 20.0, 0.0, 20.0)  # cut in a pause at 20
    last = Chunk(1, 20.0, 35.0, 20.0, 35.0)
    words = stitch([(first, [Word("a", -0.05, 0.02), Word("b", 19.9, 20.3)]),
                    (last, [Word("c", 19.95, 20.1), Word("d", 34.9, 35.2)])])
    assert [w.text for w in words] == ["a", "b", "c", "d"]


@pytest.mark.parametrize("seed", range(12))
def test_the_growing_transcript_equals_stitching_everything_so_far(seed):
    """Stitcher (chunks added in plan order) gives stitch() of the chunks so far after every chunk:
    pause cuts and hard cuts, words jittered per chunk and shifted past window edges."""
    rng = random.Random(seed)
    duration = rng.uniform(200, 900)
    pauses = [] if seed % 3 == 0 else random_pauses(rng, duration, 0.6)
    truth = ground_truth(rng, duration, pauses)
    chunk_seconds = rng.choice([6.0, 20.0, 30.0])
    chunks = plan_chunks(duration, pauses, chunk_seconds=chunk_seconds,
                         overlap_seconds=min(2.0, chunk_seconds / 4))
    starts = [w.start for w in truth]
    shift = rng.choice([0.0, 0.12, -0.08])
    views = [[Word(w.text, w.start + shift, w.end + shift) for w in model_view(c, truth, starts, rng, 0.05)]
             for c in chunks]
    stitcher = Stitcher()
    for k, (chunk, words) in enumerate(zip(chunks, views, strict=True)):
        stitcher.add(chunk, words)
        assert stitcher.words() == stitch(list(zip(chunks[: k + 1], views[: k + 1], strict=True))), k
    assert len(stitcher.pairs) == len(chunks)


def test_the_growing_transcript_takes_chunks_in_plan_order_only():
    chunks = plan_chunks(100.0, [], chunk_seconds=30.0)
    stitcher = Stitcher()
    stitcher.add(chunks[0], [])
    with pytest.raises(ValueError, match="not the next one"):
        stitcher.add(chunks[2], [])
