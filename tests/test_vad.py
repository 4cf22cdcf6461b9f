"""Pauses for chunk cuts by silero VAD and by energy, on recordings built from the real word clips.

Clean speech: both methods find the gaps and never cut a word. Speech under a loud steady background
(a swelling chord, pink noise): the energy finder loses the gaps or eats into words, silero still finds
them, which is why the VAD is there. Without silero the energy finder takes over, and says so.
"""

from __future__ import annotations

import logging
import sys
import threading

import numpy as np
import pytest
import soundfile as sf

from chunky.asr import chunking
from chunky.audio import pauses as energy
from chunky.audio import vad
from tests.conftest import skip_or_fail
from tests.speech import RATE, TrueWord, assemble, word_clips

# How far a pause may reach into a word's labelled span: the spans include each clip's quiet onset and
# fading tail, which no detector calls speech (energy reaches ~0.14 s into tails on clean speech).
EDGE_TOLERANCE = 0.15
BIG_GAP = 0.5  # true gaps at least this long must be found ...
GAP_HIT = 0.2  # ... by a pause covering at least this much of them


@pytest.fixture(scope="module", autouse=True)
def silero_model():
    try:
        return vad.load_model()
    except vad.VadUnavailable as exc:
        skip_or_fail(f"silero VAD does not load: {exc}")


def forget_the_loaded_model(monkeypatch) -> None:
    """As if silero had never been loaded in this process (restored when the test ends)."""
    monkeypatch.setattr(vad, "_model", None)
    monkeypatch.setattr(vad, "_load_error", None)


@pytest.fixture
def no_silero(monkeypatch):
    """silero 'not installed' for one test (the loader raises), the real model back afterwards."""
    calls = []

    def missing():
        calls.append(1)
        raise ModuleNotFoundError("No module named 'silero_vad'")

    monkeypatch.setattr(vad, "_load_silero", missing)
    forget_the_loaded_model(monkeypatch)
    yield calls  # monkeypatch puts the loaded model back afterwards


# --- recordings -------------------------------------------------------------------------------------------

def speech_rms(audio: np.ndarray, truth: list[TrueWord]) -> float:
    words = np.concatenate([audio[int(w.start * RATE) : int(w.end * RATE)] for w in truth])
    return float(np.sqrt(np.mean(words.astype(np.float64) ** 2)))


def swelling_chord(n: int, seed: int) -> np.ndarray:
    """An A major chord (three harmonics a note) swelling and fading every ~7 s; RMS 1."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / RATE
    x = np.zeros(n)
    for f in (220.0, 277.18, 329.63, 440.0):
        for h in (1, 2, 3):
            x += np.sin(2 * np.pi * f * h * t + rng.uniform(0, 2 * np.pi)) / h
    x *= 0.55 + 0.45 * np.sin(2 * np.pi * 0.15 * t)
    return x / np.sqrt(np.mean(x**2))


def pink_noise(n: int, seed: int) -> np.ndarray:
    """1/f noise; RMS 1."""
    rng = np.random.default_rng(seed)
    m = 1 << (n - 1).bit_length()  # a fast FFT length
    spectrum = np.fft.rfft(rng.standard_normal(m))
    f = np.fft.rfftfreq(m, 1 / RATE)
    f[0] = f[1]
    x = np.fft.irfft(spectrum / np.sqrt(f), m)[:n]
    return x / np.sqrt(np.mean(x**2))


def with_background(audio, truth, background, snr_db: float) -> np.ndarray:
    """``background`` under the speech, ``snr_db`` below the words' level."""
    scale = speech_rms(audio, truth) * 10 ** (-snr_db / 20)
    return (audio + scale * background).astype(np.float32)


# --- measures ---------------------------------------------------------------------------------------------

def reach_into_words(pauses, truth) -> float:
    """The most any pause overlaps any true word (seconds)."""
    worst = 0.0
    for a, b in pauses:
        for w in truth:
            worst = max(worst, min(b, w.end) - max(a, w.start))
    return worst


def middles_in_words(pauses, truth) -> list[tuple[float, float]]:
    return [(a, b) for a, b in pauses if any(w.start < (a + b) / 2 < w.end for w in truth)]


def gaps_found(pauses, truth) -> float:
    """Fraction of the true gaps of at least BIG_GAP seconds that a pause covers for GAP_HIT seconds."""
    gaps = [(x.end, y.start) for x, y in zip(truth, truth[1:], strict=False) if y.start - x.end >= BIG_GAP]
    hit = sum(any(min(b, g1) - max(a, g0) >= GAP_HIT for a, b in pauses) for g0, g1 in gaps)
    return hit / len(gaps)


def pause_cuts(pauses, duration: float) -> list[float]:
    """The cuts a plan of 8-second chunks makes in pauses (not the hard cuts, where it found none)."""
    chunks = chunking.plan_chunks(duration, pauses, chunk_seconds=8.0, overlap_seconds=1.0)
    return [c.keep_end for c in chunks[:-1] if c.end == c.keep_end]


def assert_never_cuts_a_word(pauses, truth, duration):
    assert pauses == sorted(pauses) and all(b - a >= 0.3 - 1e-9 for a, b in pauses)
    assert all(0 <= a < b <= duration for a, b in pauses)
    assert reach_into_words(pauses, truth) <= EDGE_TOLERANCE
    assert middles_in_words(pauses, truth) == []
    cuts = pause_cuts(pauses, duration)
    assert len(cuts) >= duration / 8 - 3
    assert not [c for c in cuts if any(w.start <= c <= w.end for w in truth)]


# --- (a) clean speech -------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1])
def test_clean_speech_both_methods_find_the_gaps_and_never_cut_a_word(seed):
    audio, truth = assemble(90.0, seed=seed)
    duration = len(audio) / RATE
    for method in ("silero", "energy"):
        found, used = vad.pauses(audio, RATE, method)
        assert used == method
        assert_never_cuts_a_word(found, truth, duration)
        assert gaps_found(found, truth) >= 0.95, method
    # silero gives the same pauses as find_speech_pauses; energy the same as energy.find_pauses
    assert vad.pauses(audio, RATE, "silero")[0] == vad.find_speech_pauses(audio, RATE)
    assert vad.pauses(audio, RATE, "energy")[0] == energy.find_pauses(audio, RATE)


# --- (b) loud background ----------------------------------------------------------------------------------

def test_swelling_chord_hides_the_gaps_from_energy_not_from_silero():
    """Music-like background 10 dB under the words, slowly swelling: in its loud stretches every gap is
    louder than the energy finder's threshold (set by the quiet stretches), so those gaps vanish."""
    for seed in (2, 3):
        audio, truth = assemble(90.0, seed=seed)
        mixed = with_background(audio, truth, swelling_chord(len(audio), seed), snr_db=10.0)
        duration = len(mixed) / RATE
        silero, _ = vad.pauses(mixed, RATE, "silero")
        energy, _ = vad.pauses(mixed, RATE, "energy")
        assert gaps_found(silero, truth) >= 0.9
        assert_never_cuts_a_word(silero, truth, duration)
        assert gaps_found(energy, truth) < 0.6


def test_pink_noise_pushes_energy_pauses_into_words_not_silero():
    """Pink noise 5 dB under the words: the energy finder's threshold rises over the words' quieter
    ends, so its pauses reach well into words; silero's stay in the gaps."""
    for seed in (4, 5):
        audio, truth = assemble(90.0, seed=seed)
        mixed = with_background(audio, truth, pink_noise(len(audio), seed), snr_db=5.0)
        duration = len(mixed) / RATE
        silero, _ = vad.pauses(mixed, RATE, "silero")
        energy, _ = vad.pauses(mixed, RATE, "energy")
        assert gaps_found(silero, truth) >= 0.9
        assert_never_cuts_a_word(silero, truth, duration)
        assert reach_into_words(energy, truth) > 0.2


# --- (c) fallback -----------------------------------------------------------------------------------------

def test_without_silero_auto_falls_back_to_energy_and_says_so_once(no_silero, caplog):
    audio, _ = assemble(20.0, seed=6)
    with caplog.at_level(logging.INFO, logger="chunky.audio.vad"):
        found, used = vad.pauses(audio, RATE)
    assert used == "energy"
    assert found == energy.find_pauses(audio, RATE)
    unavailable = [r for r in caplog.records if "silero VAD unavailable" in r.getMessage()]
    assert len(unavailable) == 1
    assert unavailable[0].levelno == logging.INFO
    assert "No module named 'silero_vad'" in unavailable[0].getMessage()
    assert "energy" in unavailable[0].getMessage()
    assert any(r.getMessage().startswith("Pauses by energy") for r in caplog.records)
    # the failure is remembered: no second load attempt
    assert vad.pauses(audio, RATE, "auto")[1] == "energy"
    assert len(no_silero) == 1


def test_without_silero_asking_for_it_by_name_warns(no_silero, caplog):
    audio, _ = assemble(10.0, seed=7)
    with caplog.at_level(logging.INFO, logger="chunky.audio.vad"):
        assert vad.pauses(audio, RATE, "silero")[1] == "energy"
    assert [r.levelno for r in caplog.records if "unavailable" in r.getMessage()] == [logging.WARNING]
    with pytest.raises(vad.VadUnavailable, match="silero_vad"):
        vad.find_speech_pauses(audio, RATE)


def test_a_failing_vad_run_falls_back_too(monkeypatch, caplog):
    def broken(samples, model=None, **kwargs):
        raise RuntimeError("bad state")

    monkeypatch.setattr(vad, "speech_probabilities", broken)
    audio, _ = assemble(10.0, seed=14)
    with caplog.at_level(logging.INFO, logger="chunky.audio.vad"):
        assert vad.pauses(audio, RATE) == (energy.find_pauses(audio, RATE), "energy")
    assert "silero VAD failed (RuntimeError: bad state); finding pauses by energy" in caplog.text


def test_energy_never_loads_silero(no_silero):
    audio, _ = assemble(10.0, seed=8)
    assert vad.pauses(audio, RATE, "energy")[1] == "energy"
    assert no_silero == []


def test_method_from_the_settings(caplog):
    from chunky.settings import load_settings

    assert load_settings({}).vad == "auto"
    for value, expected in (("energy", "energy"), (" Silero ", "silero"), ("", "auto"), ("AUTO", "auto")):
        assert load_settings({"CHUNKY_VAD": value}).vad == expected
        assert load_settings({"CHUNKY_VAD": value}).engine_options().vad == expected
    with caplog.at_level(logging.WARNING, logger="chunky.settings"):
        assert load_settings({"CHUNKY_VAD": "webrtc"}).vad == "auto"
    assert "webrtc" in caplog.text
    with pytest.raises(ValueError, match="webrtc"):
        vad.pauses(np.zeros(RATE, np.float32), RATE, "webrtc")


def test_the_engine_cuts_where_chunky_vad_says(tmp_path, caplog):
    """The engine takes its cuts from the pause method its options name (chunky.audio.cuts, near each
    planned cut): every cut lies in a pause that method finds over the whole recording, none is hard."""
    from types import SimpleNamespace

    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions
    from tests.speech import write_flac

    class Model:  # not a NeMo class: the engine calls transcribe once per batch
        def __init__(self):
            self.windows: list[int] = []

        def transcribe(self, arrays, **kwargs):
            self.windows += [len(a) for a in arrays]
            return [SimpleNamespace(text="", timestamp={"word": []}) for _ in arrays]

    audio, _ = assemble(40.0, seed=9)
    path = write_flac(tmp_path / "forty.flac", audio)
    audio = sf.read(str(path), dtype="float32")[0]  # as the file holds it (16-bit)
    seen = {}
    for method in ("silero", "energy"):
        model = Model()
        loaded = SimpleNamespace(model=model, sample_rate=RATE, device="cpu")
        manager = SimpleNamespace(get=lambda name, device=None, loaded=loaded: loaded)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="chunky.asr.engine"):
            Engine(manager).transcribe(path, "m", options=EngineOptions(chunk_seconds=10.0, vad=method))
        cuts = np.cumsum(model.windows)[:-1] / RATE
        bands = len(model.windows) - 1
        decided = f"{bands} by silero VAD" if method == "silero" else f"{bands} by energy"
        assert f"pauses for {bands} cut(s)" in caplog.text and decided in caplog.text
        whole, _ = vad.pauses(audio, RATE, method)
        assert all(any(a < cut < b for a, b in whole) for cut in cuts), (method, cuts, whole)
        # all cut in pauses: the windows just meet (give or take a sample)
        assert abs(sum(model.windows) - len(audio)) < len(model.windows)
        assert "0 hard cut(s)" in caplog.text
        seen[method] = model.windows
    assert seen["silero"] != seen["energy"]


# --- (d) silence, short inputs, other forms ---------------------------------------------------------------

def test_silence_and_a_noise_floor_are_one_pause():
    assert vad.find_speech_pauses(np.zeros(RATE * 5, np.float32), RATE) == [(0.0, 5.0)]
    hiss = np.random.default_rng(0).normal(0, 0.01, RATE * 4).astype(np.float32)
    assert vad.find_speech_pauses(hiss, RATE) == [(0.0, 4.0)]
    assert vad.pauses(np.zeros(RATE * 3, np.float32), RATE)[0] == energy.find_pauses(
        np.zeros(RATE * 3, np.float32), RATE) == [(0.0, 3.0)]


def test_very_short_inputs():
    for method in vad.METHODS:
        assert vad.pauses(np.zeros(0, np.float32), RATE, method)[0] == []
        assert vad.pauses(np.zeros(100, np.float32), RATE, method)[0] == []  # shorter than a pause
    assert vad.find_speech_pauses(np.zeros(int(0.35 * RATE), np.float32), RATE) == [(0.0, 0.35)]
    assert vad.find_speech_pauses(np.zeros(700, np.float32), RATE) == []  # 1.4 windows, < 0.3 s
    assert vad.find_speech_pauses(np.zeros(RATE, np.float32), 0) == []
    clip, _ = word_clips()[0]  # one word alone (50 ms margins): no pause anywhere in it
    assert vad.find_speech_pauses(clip, RATE) == []
    padded = np.concatenate([np.zeros(RATE, np.float32), clip, np.zeros(RATE, np.float32)])
    (a0, b0), (a1, b1) = vad.find_speech_pauses(padded, RATE)
    word_start, word_end = 1.0 + 0.05, 1.0 + len(clip) / RATE - 0.05
    assert a0 == 0.0 and word_start - 0.15 <= b0 <= word_start
    assert word_end <= a1 <= word_end + 0.15 and b1 == pytest.approx(len(padded) / RATE)


def test_int16_stereo_and_other_rates_give_the_same_pauses():
    import soxr

    audio, truth = assemble(30.0, seed=10)
    base = vad.find_speech_pauses(audio, RATE)
    pcm = np.round(np.clip(audio, -1, 1) * 32767).astype(np.int16)
    assert np.allclose(vad.find_speech_pauses(pcm, RATE), base, atol=0.033)
    assert vad.find_speech_pauses(np.stack([audio, audio], axis=1), RATE) == base
    assert vad.find_speech_pauses(audio.astype(np.float64), RATE) == base
    for rate in (8000, 44100, 48000):
        other = soxr.resample(audio, RATE, rate).astype(np.float32)
        found = vad.find_speech_pauses(other, rate)
        assert_never_cuts_a_word(found, truth, len(other) / rate)
        assert gaps_found(found, truth) >= 0.9, rate


def test_blocks_side_by_side_match_one_long_pass(monkeypatch):
    """The recording runs as blocks in one batch; the gaps found match a single pass over it."""
    audio, truth = assemble(60.0, seed=11)
    batched = vad.find_speech_pauses(audio, RATE)
    monkeypatch.setattr(vad, "MIN_BLOCK_WINDOWS", 10**9)
    single = vad.find_speech_pauses(audio, RATE)
    assert gaps_found(batched, truth) >= gaps_found(single, truth) - 0.05
    assert_never_cuts_a_word(batched, truth, len(audio) / RATE)
    probs = vad.speech_probabilities(audio[: RATE * 3])  # shorter than one block
    assert probs.shape == (-(-RATE * 3 // vad.WINDOW),) and probs.dtype == np.float32
    assert ((probs >= 0) & (probs <= 1)).all()


# --- threads ----------------------------------------------------------------------------------------------

def test_torch_thread_count_is_left_as_it_was(monkeypatch):
    """Importing silero_vad sets torch's thread count to 1 (and the VAD runs on one thread): neither may
    leak into the process, where NeMo transcribes next."""
    import torch

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        for name in [m for m in sys.modules if m == "silero_vad" or m.startswith("silero_vad.")]:
            monkeypatch.delitem(sys.modules, name)  # a fresh import, as in a new process
        vad._load_silero()
        assert "silero_vad" in sys.modules
        assert torch.get_num_threads() == 2
        vad.pauses(assemble(5.0, seed=12)[0], RATE, "silero")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_loaded_once_and_safe_from_many_threads(monkeypatch):
    audio, _ = assemble(30.0, seed=13)
    expected = vad.find_speech_pauses(audio, RATE)
    real = vad._load_silero
    loads = []

    def counting():
        loads.append(1)
        return real()

    monkeypatch.setattr(vad, "_load_silero", counting)
    forget_the_loaded_model(monkeypatch)
    try:
        results: list = [None] * 6
        barrier = threading.Barrier(len(results))

        def work(i):
            barrier.wait()
            results[i] = vad.pauses(audio, RATE)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(results))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert loads == [1]
        assert results == [(expected, "silero")] * len(results)
    finally:
        monkeypatch.undo()


# --- near each planned cut (chunky.audio.cuts), as the engine finds pauses -------------------------------

def feed_cuts(tmp_path, name, audio, method):
    """The chunks the engine's feed plans for ``audio`` (written as a float WAV, so the mix stays exact)
    with pauses by ``method``, and its pause statistics."""
    from chunky.asr.feed import ChunkFeed, FeedPlan
    from chunky.audio.cuts import CutPauses

    path = tmp_path / f"{name}.wav"
    sf.write(str(path), audio, RATE, subtype="FLOAT")
    pauses = CutPauses(method, RATE)
    pauses.prepare()
    feed = ChunkFeed(path, RATE, lambda arrays, alone: None,
                     FeedPlan(chunk_seconds=8.0, overlap_seconds=1.0, pauses=pauses))
    feed.start()
    chunks = [fc.chunk for batch in feed for fc in batch.chunks]
    feed.close()
    return chunks, pauses.stats


def test_auto_takes_energy_on_clean_speech_and_silero_under_a_loud_background(tmp_path):
    """Clean speech: every cut is decided by energy (silero never runs). A swelling chord 10 dB or pink
    noise 5 dB under the words: every cut goes to silero VAD, and none cuts a word."""
    audio, truth = assemble(90.0, seed=30)
    cases = {
        "clean": audio,
        "chord": with_background(audio, truth, swelling_chord(len(audio), 30), snr_db=10.0),
        "pink": with_background(audio, truth, pink_noise(len(audio), 31), snr_db=5.0),
    }
    for name, mixed in cases.items():
        chunks, stats = feed_cuts(tmp_path, name, mixed, "auto")
        cuts = [c.keep_end for c in chunks[:-1]]
        assert len(cuts) >= 10
        assert (stats.energy, stats.silero) == ((len(cuts), 0) if name == "clean" else (0, len(cuts))), name
        assert all(c.end == c.keep_end for c in chunks), name  # every cut in a pause
        assert not [c for c in cuts if any(w.start <= c <= w.end for w in truth)], name


def test_energy_alone_under_pink_noise_and_silero_alone_on_clean_speech(tmp_path):
    audio, truth = assemble(60.0, seed=32)
    pink = with_background(audio, truth, pink_noise(len(audio), 33), snr_db=5.0)
    chunks, stats = feed_cuts(tmp_path, "pink", pink, "energy")
    assert stats.silero == 0 and stats.energy == len(chunks) - 1
    chunks, stats = feed_cuts(tmp_path, "clean", audio, "silero")
    assert stats.energy == 0 and stats.silero == len(chunks) - 1
    cuts = [c.keep_end for c in chunks[:-1]]
    assert not [c for c in cuts if any(w.start <= c <= w.end for w in truth)]


def test_auto_without_silero_cuts_by_energy_and_says_so_once(tmp_path, no_silero, caplog):
    audio, truth = assemble(60.0, seed=34)
    pink = with_background(audio, truth, pink_noise(len(audio), 35), snr_db=5.0)
    with caplog.at_level(logging.INFO, logger="chunky.audio.vad"):
        chunks, stats = feed_cuts(tmp_path, "pink", pink, "auto")
    assert stats.silero == 0 and stats.energy == len(chunks) - 1
    assert "No module named 'silero_vad'" in (stats.fallback or "")
    said = [r for r in caplog.records if "finding pauses by energy instead" in r.getMessage()]
    assert len(said) == 1 and said[0].levelno == logging.INFO
