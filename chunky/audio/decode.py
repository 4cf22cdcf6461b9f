"""Reading recordings: probe, streaming decode to mono float32 at the model's rate, silence check.

Every failure reaches the caller as an AudioError naming the file; raw soundfile/PyAV exceptions never
escape (they are chained with ``from``). The back-ends are in :mod:`chunky.audio.sources`.

Decoding is streamed: the file is read in blocks, each block is downmixed to mono (mean of the channels)
and fed to one ``soxr.ResampleStream``, so blocks join seamlessly and ``load_audio`` needs about one copy
of the result plus one block in memory.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chunky.audio.sources import MIN_SECONDS, Source, check_duration, exc_detail, open_source
from chunky.base.errors import AudioError

log = logging.getLogger(__name__)

__all__ = ["MIN_SECONDS", "AudioInfo", "is_silent", "iter_blocks", "load_audio", "probe"]

RESAMPLE_QUALITY = "HQ"
_MAX_PREALLOC_SECONDS = 6 * 3600  # a header claiming more is not trusted for the first allocation


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds
    sample_rate: int  # of the file, before any resampling
    channels: int
    codec: str  # e.g. "pcm_16", "float", "flac", "vorbis", "opus", "mp3", "aac"
    backend: str  # "soundfile" or "pyav"



def probe(path: str | Path) -> AudioInfo:
    """Duration, rate, channels and codec of a recording, read from its header (no full decode, unless the
    container does not know its duration). AudioError if the file is unusable or shorter than 0.1 s."""
    p, source = open_source(path)
    try:
        duration = source.duration_estimate
        if duration is None:
            duration = source.count_duration()
            if duration == 0 and source.error is not None:
                raise AudioError(
                    f"{p.name} is damaged or truncated: no audio could be decoded "
                    f"({exc_detail(source.error)})."
                ) from source.error
        if duration == 0 and source.truncated:
            raise AudioError(f"{p.name} is truncated: the header promises audio but none of it is present.")
        check_duration(p.name, duration)
        if source.sample_rate <= 0:
            raise AudioError(f"{p.name} cannot be decoded: its audio track has no valid sample rate.")
        return AudioInfo(
            duration=float(duration),
            sample_rate=int(source.sample_rate),
            channels=int(source.channels),
            codec=source.codec,
            backend=source.backend,
        )
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{p.name} cannot be read: {exc_detail(exc)}.") from exc
    finally:
        source.close()


# --------------------------------------------------------------------------------------------- decoding


def _resampler(in_rate: int, out_rate: int):
    import soxr

    return soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)


def _blocks(p: Path, source: Source, target_rate: int, block_seconds: float,
            channel: int | None = None) -> Iterator[np.ndarray]:
    name = p.name
    if channel is not None and not 0 <= channel < max(1, source.channels):
        source.close()
        raise AudioError(f"{name} has {source.channels} channel(s): there is no channel {channel + 1}.")
    if source.truncated:
        claimed, present = source.truncated
        log.warning(
            "%s is truncated: the header promises %d bytes of audio but only %d are present; "
            "decoding what is there.", name, claimed, present,
        )
    in_rate = 0
    stream = None
    pending: list[np.ndarray] = []
    pending_n = 0
    block_n = 1
    values = 0  # samples seen (frames x channels), before downmix
    invalid = 0  # of which NaN or infinite
    frames_in = 0

    def convert(last: bool) -> np.ndarray:
        nonlocal pending, pending_n
        if not pending:
            x = np.zeros(0, np.float32)
        else:
            x = np.concatenate(pending) if len(pending) > 1 else pending[0]
        pending, pending_n = [], 0
        if stream is None:
            return x
        return stream.resample_chunk(x, last=last)

    try:
        for raw, rate in source.chunks(block_seconds):
            if rate != in_rate:  # first chunk, or the stream changed rate mid-way (rare)
                if pending or stream is not None:
                    out = convert(last=True)
                    if len(out):
                        yield out
                in_rate = rate
                stream = None if rate == target_rate else _resampler(rate, target_rate)
                block_n = max(1, int(block_seconds * rate))
            values += raw.size
            frames_in += len(raw)
            finite = np.isfinite(raw)
            if not finite.all():
                # Policy: non-finite samples (NaN, +-inf; only float files can hold them) become silence
                # with a warning, so one bad stretch does not cost the whole recording. Only a file with
                # nothing but invalid samples is rejected (below).
                invalid += int(raw.size - np.count_nonzero(finite))
                raw = np.where(finite, raw, np.float32(0.0))
            mono = _mono(raw, channel)
            pending.append(np.ascontiguousarray(mono, dtype=np.float32))
            pending_n += len(mono)
            if pending_n >= block_n:
                out = convert(last=False)
                if len(out):
                    yield out
        if pending or stream is not None:
            out = convert(last=True)
            if len(out):
                yield out
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{name} cannot be decoded: {exc_detail(exc)}.") from exc
    finally:
        source.close()

    error = source.error
    if frames_in == 0:
        if error is not None:
            raise AudioError(
                f"{name} is damaged or truncated: no audio could be decoded ({exc_detail(error)})."
            ) from error
        if source.truncated:
            raise AudioError(f"{name} is truncated: the header promises audio but none of it is present.")
        if source.duration_estimate:
            raise AudioError(
                f"{name} is damaged or truncated: the header says {source.duration_estimate:.1f} s "
                "but no audio could be decoded."
            )
        raise AudioError(f"{name} contains no audio (zero length).")
    if invalid == values:
        raise AudioError(f"{name} contains invalid samples (NaN or infinity) only: no usable audio.")
    if invalid:
        log.warning("%s: %d invalid sample(s) (NaN or infinity) replaced with silence.", name, invalid)
    decoded = frames_in / in_rate
    if error is not None:
        log.warning(
            "%s is damaged or truncated: decoding stopped after %.1f s (%s); using what was decoded.",
            name, decoded, exc_detail(error),
        )
    elif source.duration_estimate and decoded < source.duration_estimate * 0.95 - 0.05:
        # (MP3 and raw AAC durations are estimates, hence the margin)
        log.warning(
            "%s seems truncated or damaged: the header says %.1f s but only %.1f s could be decoded.",
            name, source.duration_estimate, decoded,
        )
    bad_packets = getattr(source, "bad_packets", 0)
    if bad_packets:
        log.warning("%s: skipped %d damaged packet(s) while decoding.", name, bad_packets)


def _mono(raw: np.ndarray, channel: int | None) -> np.ndarray:
    """One channel of a (frames, channels) piece, or the mean of all when ``channel`` is None."""
    if channel is not None:
        return raw[:, min(channel, raw.shape[1] - 1)]
    return raw[:, 0] if raw.shape[1] == 1 else raw.mean(axis=1, dtype=np.float32)


def _check_rate(target_rate: int) -> int:
    if int(target_rate) != target_rate or target_rate <= 0:
        raise ValueError(f"target_rate must be a positive whole number of Hz, not {target_rate!r}")
    return int(target_rate)


def iter_blocks(path: str | Path, target_rate: int, block_seconds: float = 30.0, *,
                stream: int | None = None, channel: int | None = None) -> Iterator[np.ndarray]:
    """The recording as consecutive mono float32 blocks at `target_rate` (about `block_seconds` each).

    The file is opened (and checked) at once: AudioError is raised by this call for a missing, empty or
    undecodable file, and while iterating for problems found during decoding. Blocks come out of one
    streaming resampler, whose output does not depend on how its input is cut: the blocks, joined, are
    exactly :func:`load_audio`'s samples, whatever `block_seconds`. ``channel``: that channel alone
    (0 is the first) instead of the mean of all of them.
    """
    target_rate = _check_rate(target_rate)
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, not {block_seconds!r}")
    p, source = open_source(path, stream)  # ``stream``/``channel`` from 0: that stream, that channel alone
    return BlockStream(_blocks(p, source, target_rate, block_seconds, channel), source)


class BlockStream(Iterator[np.ndarray]):
    """:func:`iter_blocks`'s iterator; :meth:`close` closes the file even before the first block."""

    def __init__(self, blocks: Iterator[np.ndarray], source: Source):
        self._blocks = blocks
        self._source = source

    def __next__(self) -> np.ndarray:
        return next(self._blocks)

    def close(self) -> None:
        close = getattr(self._blocks, "close", None)
        if close is not None:
            close()
        self._source.close()


def load_audio(path: str | Path, target_rate: int = 16000, dtype: type = np.float32, *,
               stream: int | None = None, channel: int | None = None) -> np.ndarray:
    """The whole recording as mono samples at `target_rate` (resampled with soxr, channels averaged).

    Decodes block by block into one array preallocated from the header's duration (grown or trimmed in
    place when the estimate was off), so the peak memory is about one copy of the result plus one block.
    ``dtype`` float16 halves that copy (3 hours at 16 kHz: 330 MB instead of 660 MB) but rounds every
    sample (relative precision 2^-11): models can hear that (issue 14: 4 of 45 words wrong on a
    resampled telephone recording), so the engine never uses it; it streams float32 blocks instead
    (:func:`iter_blocks`). ``stream`` / ``channel``: as for :func:`iter_blocks`.
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float16, float32 or float64, not {np.dtype(dtype)}")
    target_rate = _check_rate(target_rate)
    p, source = open_source(path, stream)
    estimate = source.duration_estimate
    if estimate:
        capacity = math.ceil(min(estimate, _MAX_PREALLOC_SECONDS) * target_rate) + 16
    else:
        capacity = 60 * target_rate
    out = np.empty(capacity, dtype=dtype)
    n = 0
    for block in _blocks(p, source, target_rate, 30.0, channel):
        end = n + len(block)
        if end > len(out):
            # ndarray.resize reallocates in place (no second full copy where the allocator can grow it);
            # refcheck=False is safe: nothing else references `out` yet
            out.resize(max(end, int(len(out) * 1.25) + 30 * target_rate), refcheck=False)
        out[n:end] = block
        n = end
    if n != len(out):
        out.resize(n, refcheck=False)
    check_duration(p.name, n / target_rate)
    return out


def is_silent(samples: np.ndarray, threshold_db: float = -60.0) -> bool:
    """True if there are no samples, or every sample's magnitude is below `threshold_db` dBFS."""
    samples = np.asarray(samples)
    if samples.size == 0:
        return True
    # max/min rather than abs(): no temporary copy of a 3-hour array
    peak = max(float(samples.max()), -float(samples.min()))
    if not math.isfinite(peak):
        return False
    return peak < 10.0 ** (threshold_db / 20.0)
