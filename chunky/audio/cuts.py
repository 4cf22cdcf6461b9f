"""Pauses near one planned cut: the engine's pause finder while a recording streams.

The chunk planner (:class:`chunky.asr.chunking.ChunkPlanner`) only needs pauses inside the search band of
the next cut (the last 30% of a chunk window), so pauses are looked for there and nowhere else. How:

* ``energy``: :func:`chunky.audio.pauses.pauses_from_levels` over the chunk's window (its threshold comes
  from the window's own levels). The frame levels are measured once, as the blocks are decoded
  (:meth:`CutPauses.add`), so this costs next to nothing.
* ``silero``: silero VAD (:mod:`chunky.audio.vad`) over the band, read from ``LEAD_IN`` seconds before it
  so that the model's state has settled. About 2,000 times slower than energy on a CPU core.
* ``auto`` (the default): energy where the window is clearly clean (its background lies at least
  ``CLEAR_RANGE_DB`` under its speech, or it is silent) and energy found a pause in the band; silero VAD
  otherwise (a loud or swelling background hides gaps from energy or pushes its pauses into words, see
  tests/test_vad.py); energy when silero cannot load.

Everything here runs in the engine's feed thread, beside the ASR model. silero runs on one torch thread
(on two, its tiny steps wait on each other: 15 times slower on a busy 2-core machine); torch's thread
count is the whole process's, so while it runs a model on the CPU has one thread too (the feed takes
the other core), and it is restored at once after.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np

from chunky.audio import vad
from chunky.audio.pauses import FrameLevels, pauses_from_levels

log = logging.getLogger("chunky.audio.vad")

# auto: energy's pauses are trusted where the window's speech level is this far above its floor. Clean
# recordings of the test and benchmark speech measure about 40 dB; speech under a swelling chord 10 dB
# down, about 30 dB; under pink noise 5 dB down, about 16 dB.
CLEAR_RANGE_DB = 35.0
LEAD_IN = 1.0  # seconds silero reads before the band (its first outputs come from a cold state)
MARGIN = 0.5  # seconds silero reads past the band's end, so a pause at the band's edge is whole
BLOCK_WINDOWS = 64  # silero runs a band as blocks of about 2 s side by side (fewer steps)

METHODS = vad.METHODS


@dataclass
class CutStats:
    """How the search bands of one recording were handled."""

    energy: int = 0  # bands decided by energy
    silero: int = 0  # bands given to silero VAD
    seconds: float = 0.0  # time spent finding pauses
    fallback: str | None = None  # why silero was not used where it was wanted


class CutPauses:
    """Pauses in the search band of one cut at a time, by ``method`` (auto, silero, energy), for one
    recording: give it every decoded block (:meth:`add`, then :meth:`finish` at the end)."""

    def __init__(self, method: str = "auto", rate: int = 16000):
        method = (method or "auto").strip().lower()
        if method not in METHODS:
            raise ValueError(f"unknown pause method {method!r} (expected one of {', '.join(METHODS)})")
        self.method = method
        self.rate = int(rate)
        self.stats = CutStats()
        self._levels = FrameLevels(self.rate)

    def add(self, block: np.ndarray) -> None:
        """The recording's next decoded samples."""
        started = time.perf_counter()
        self._levels.add(block)
        self.stats.seconds += time.perf_counter() - started

    def finish(self) -> None:
        """The recording ended (after its last :meth:`add`)."""
        self._levels.finish()

    def drop_before(self, position: int) -> None:
        """No band will reach back before sample ``position``."""
        self._levels.drop_before(position // self._levels.frame_len)

    def prepare(self) -> None:
        """Load silero VAD now if this method may use it (call before the feed thread starts: importing
        silero_vad changes torch's thread count for a moment)."""
        if self.method != "energy":
            try:
                vad.load_model()
            except vad.VadUnavailable as exc:
                self._fall_back(exc)

    def find(self, samples: np.ndarray, first: int, band: tuple[float, float]) -> list[tuple[float, float]]:
        """Pauses (absolute seconds) that overlap ``band``, from ``samples``: the recording's mono samples
        from position ``first``, covering the chunk's whole window and the band (and given to :meth:`add`
        before)."""
        started = time.perf_counter()
        try:
            return self._find(samples, first, band)
        finally:
            self.stats.seconds += time.perf_counter() - started

    def _find(self, samples: np.ndarray, first: int, band: tuple[float, float]) -> list[tuple[float, float]]:
        offset = first / self.rate
        lo, hi = band
        if self.method != "silero" or self.stats.fallback:
            found, at = self._energy(first, len(samples))
            near = _overlapping(found.pauses, at, lo, hi)
            clear = found.range_db >= CLEAR_RANGE_DB and bool(near)
            if self.method == "energy" or clear or self.stats.fallback:
                self.stats.energy += 1
                return near
        a = max(0, int(math.floor((lo - LEAD_IN - offset) * self.rate)))
        b = min(len(samples), int(math.ceil((hi + MARGIN - offset) * self.rate)))
        try:
            found_vad = vad.find_speech_pauses(samples[a:b], self.rate, min_block=BLOCK_WINDOWS)
        except Exception as exc:  # silero missing or broken: energy from now on, said once
            self._fall_back(exc)
            return self._find(samples, first, band)
        self.stats.silero += 1
        return _overlapping(found_vad, offset + a / self.rate, lo, hi)

    def _energy(self, first: int, n: int):
        """Energy pauses of the samples ``[first, first + n)`` (from the frames that cover them), and the
        time in seconds their offsets count from."""
        levels = self._levels
        f0 = first // levels.frame_len
        f1 = min(levels.frames, -(-(first + n) // levels.frame_len))
        return pauses_from_levels(levels.levels(f0, f1), levels.hop, (f1 - f0) * levels.hop), f0 * levels.hop

    def _fall_back(self, exc: BaseException) -> None:
        if self.stats.fallback is None:
            self.stats.fallback = vad.failure_reason(exc)
            level = logging.WARNING if self.method == "silero" else logging.INFO
            log.log(level, "%s; finding pauses by energy instead", self.stats.fallback)

    def summary(self) -> str:
        """One log line's worth: how many bands each method decided, and the time it took."""
        s = self.stats
        return (f"pauses for {s.energy + s.silero} cut(s): {s.energy} by energy, {s.silero} by silero VAD, "
                f"in {s.seconds:.2f} s")


def _overlapping(pauses: list[tuple[float, float]], offset: float, lo: float,
                 hi: float) -> list[tuple[float, float]]:
    out = []
    for a, b in pauses:
        a, b = a + offset, b + offset
        if b > lo and a < hi:
            out.append((a, b))
    return out
