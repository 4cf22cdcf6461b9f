"""Reading recordings: probe, streaming decode to mono float32, resampling, silence check.

Two back-ends, tried in this order:

* soundfile (libsndfile): WAV (8/16/24/32-bit int, float, double), FLAC, OGG Vorbis/Opus, MP3, AIFF...
* PyAV (FFmpeg): everything else FFmpeg reads, e.g. M4A/AAC and the audio track of MP4/MOV/MKV/WebM.

Both detect the format from the file's content, not its extension, so an MP3 or M4A named ".wav" still
decodes. Every failure reaches the caller as an AudioError naming the file; raw soundfile/PyAV exceptions
never escape (they are chained with ``from``).

Decoding is streamed: the file is read in blocks, each block is downmixed to mono (mean of the channels)
and fed to one ``soxr.ResampleStream``, so blocks join seamlessly and ``load_audio`` needs about one copy
of the result plus one block in memory.
"""

from __future__ import annotations

import logging
import math
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chunky.base.errors import AudioError

log = logging.getLogger("chunky.audio.decode")

MIN_SECONDS = 0.1  # shorter recordings are rejected ("too short")
RESAMPLE_QUALITY = "HQ"
_READ_SECONDS = 1.0  # soundfile reads this much at a time: a decode error loses at most this much
_SMALL_READ = 1024  # frames per read once a damaged part has been met
_MAX_PREALLOC_SECONDS = 6 * 3600  # a header claiming more is not trusted for the first allocation
_MAX_BAD_PACKETS = 1000  # PyAV: give up after this many undecodable packets in a row
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class AudioInfo:
    duration: float  # seconds
    sample_rate: int  # of the file, before any resampling
    channels: int
    codec: str  # e.g. "pcm_16", "float", "flac", "vorbis", "opus", "mp3", "aac"
    backend: str  # "soundfile" or "pyav"


# ----------------------------------------------------------------------------------------------- helpers


def _check_file(path: str | Path) -> tuple[Path, bytes]:
    """The path as a Path plus the file's first bytes; AudioError if it is missing, a folder or empty."""
    p = Path(path)
    try:
        st = p.stat()
    except FileNotFoundError as exc:
        raise AudioError(f"{p.name}: file not found ({p}).") from exc
    except OSError as exc:
        raise AudioError(f"{p.name} cannot be opened: {exc.strerror or exc}.") from exc
    if stat.S_ISDIR(st.st_mode):
        raise AudioError(f"{p.name} is a folder, not an audio file.")
    if st.st_size == 0:
        raise AudioError(f"{p.name} is empty (0 bytes): it holds no audio.")
    try:
        with open(p, "rb") as handle:
            head = handle.read(_SNIFF_BYTES)
    except OSError as exc:
        raise AudioError(f"{p.name} cannot be read: {exc.strerror or exc}.") from exc
    return p, head


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x7fELF", "a program"),
    (b"{\\rtf", "an RTF document"),
)


def _sniff_non_audio(head: bytes) -> str | None:
    """What the file plainly is when that is not audio ("a PNG image", "a text file"), else None."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sniffed bytes
            return None
    if any(b < 32 and b not in (9, 10, 12, 13) for b in head):
        return None
    return "a text file"


def _check_duration(name: str, seconds: float) -> None:
    if seconds <= 0:
        raise AudioError(f"{name} contains no audio (zero length).")
    if seconds < MIN_SECONDS:
        raise AudioError(
            f"{name} is too short ({seconds:.3f} s): at least {MIN_SECONDS} s of audio is needed."
        )


def _exc_detail(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    # soundfile repeats the whole path ("Error opening '/x/y.wav': ..."); keep the message short
    text = re.sub(r"^Error opening .*?: ", "", str(text))
    return text.strip().rstrip(".")


# -------------------------------------------------------------------------------------------- soundfile


_SF_CODEC = {"FLAC": "flac", "MP3": "mp3"}
_WAV_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class _SoundfileSource:
    backend = "soundfile"

    def __init__(self, path: Path):
        import soundfile as sf

        self.path = path
        # soundfile opens str paths with the wide-character API on Windows, so non-ASCII names work there.
        self._file = sf.SoundFile(str(path))
        f = self._file
        self.sample_rate = int(f.samplerate)
        self.channels = int(f.channels)
        fmt, subtype = f.format, f.subtype
        self.codec = _SF_CODEC.get(fmt, subtype.lower())
        frames = int(f.frames)
        # libsndfile reports 0 (or a huge value) when the header does not know the length
        self._frames = frames if 0 < frames < 2**62 else None
        self.truncated: tuple[int, int] | None = None  # (bytes the header promises, bytes present)
        match = _WAV_DATA.search(f.extra_info or "")
        if match:
            claimed, present = int(match.group(1)), int(match.group(2))
            if present < claimed and claimed not in (0xFFFFFFFF, 0x7FFFFFFF):  # those mean "unknown"
                self.truncated = (claimed, present)
        self.error: BaseException | None = None

    @property
    def duration_estimate(self) -> float | None:
        return None if self._frames is None else self._frames / self.sample_rate

    def count_duration(self) -> float:
        frames = 0
        for chunk, _ in self.chunks():
            frames += len(chunk)
        self._file.seek(0)
        self.error = None
        return frames / self.sample_rate

    def chunks(self, seconds: float = _READ_SECONDS) -> Iterator[tuple[np.ndarray, int]]:
        """(frames, channels) float32 pieces and their sample rate; a decode error ends the stream."""
        step = max(1, int(self.sample_rate * min(seconds, _READ_SECONDS)))
        delivered = 0
        while True:
            try:
                data = self._file.read(step, dtype="float32", always_2d=True)
            except Exception as exc:  # libsndfile: lost sync, read error... keep what was decoded
                self.error = self.error or exc
                if step <= _SMALL_READ:
                    return
                # the failed read returned nothing: go back and salvage what precedes the damage in
                # small steps
                try:
                    self._file.seek(delivered)
                except Exception:
                    return
                step = _SMALL_READ
                continue
            if not len(data):
                return
            delivered += len(data)
            yield data, self.sample_rate

    def close(self) -> None:
        try:
            self._file.close()
        except Exception:
            pass


# ------------------------------------------------------------------------------------------------- PyAV


class _NoAudioTrack(Exception):
    def __init__(self, format_name: str, has_video: bool):
        super().__init__(format_name)
        self.format_name = format_name
        self.has_video = has_video


_INT_SCALE = {"u8": 128.0, "s16": 32768.0, "s32": 2.0**31, "s64": 2.0**63}


def _frame_to_array(frame) -> np.ndarray:
    """An av.AudioFrame as float32 of shape (samples, channels)."""
    array = frame.to_ndarray()
    fmt = frame.format
    n = frame.samples
    channels = len(frame.layout.channels)
    array = array.T if fmt.is_planar else array.reshape(n, channels)
    base = fmt.name[:-1] if fmt.is_planar else fmt.name  # "s16p" -> "s16"
    if base == "u8":
        return (array.astype(np.float32) - 128.0) / 128.0
    if base in _INT_SCALE:
        return (array.astype(np.float32) / np.float32(_INT_SCALE[base])).astype(np.float32, copy=False)
    return array.astype(np.float32, copy=False)


def _open_container(path: Path):
    import av

    # Only local files: a crafted file (e.g. a playlist) must not make FFmpeg open URLs or other files.
    return av.open(str(path), metadata_errors="ignore", options={"protocol_whitelist": "file"})


class _PyAVSource:
    backend = "pyav"

    def __init__(self, path: Path):
        self.path = path
        self._container = _open_container(path)
        try:
            container = self._container
            streams = container.streams
            if not streams.audio:
                raise _NoAudioTrack(container.format.name, bool(streams.video))
            stream = streams.best("audio") if hasattr(streams, "best") else streams.audio[0]
            self._stream = stream
            ctx = stream.codec_context
            self.sample_rate = int(ctx.sample_rate or getattr(stream, "rate", 0) or 0)
            self.channels = int(ctx.channels or 0)
            name = ctx.name or "unknown"
            self.codec = {"mp3float": "mp3", "mp2float": "mp2", "mp1float": "mp1"}.get(name, name)
            duration = None
            if stream.duration and stream.time_base:
                duration = float(stream.duration * stream.time_base)
            elif container.duration:
                duration = container.duration / 1_000_000  # AV_TIME_BASE
            self._duration = duration if duration and duration > 0 else None
            self.truncated = None
            self.error: BaseException | None = None
            self.bad_packets = 0
        except BaseException:
            self.close()
            raise

    @property
    def duration_estimate(self) -> float | None:
        return self._duration

    def count_duration(self) -> float:
        """Decodes the audio track (in a second container) to measure its length."""
        other = _PyAVSource(self.path)
        try:
            seconds = 0.0
            for chunk, rate in other.chunks():
                seconds += len(chunk) / rate
            if other.sample_rate == 0 or self.channels == 0:
                self.sample_rate, self.channels = other.sample_rate, other.channels
            return seconds
        finally:
            other.close()

    def chunks(self, seconds: float = _READ_SECONDS) -> Iterator[tuple[np.ndarray, int]]:
        """(frames, channels) float32 pieces, one per decoded frame (`seconds` is not used here)."""
        import av

        packets = self._container.demux(self._stream)
        bad_in_a_row = 0
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                return
            except av.error.FFmpegError as exc:  # truncated / unreadable container: keep what was decoded
                self.error = exc
                return
            try:
                frames = packet.decode()
            except av.error.FFmpegError as exc:  # one damaged packet: skip it
                self.bad_packets += 1
                bad_in_a_row += 1
                if bad_in_a_row >= _MAX_BAD_PACKETS:
                    self.error = exc
                    return
                continue
            bad_in_a_row = 0
            for frame in frames:
                if frame.samples:
                    if not self.sample_rate:
                        self.sample_rate = int(frame.sample_rate)
                    if not self.channels:
                        self.channels = int(len(frame.layout.channels))
                    yield _frame_to_array(frame), int(frame.sample_rate)

    def close(self) -> None:
        try:
            self._container.close()
        except Exception:
            pass


# ------------------------------------------------------------------------------------------- open/probe

_Source = _SoundfileSource | _PyAVSource


def _open(path: str | Path) -> tuple[Path, _Source]:
    p, head = _check_file(path)
    name = p.name
    try:
        return p, _SoundfileSource(p)
    except Exception as exc:
        sf_error: Exception = exc
    kind = _sniff_non_audio(head)
    if kind:
        raise AudioError(f"{name} is not an audio file: it looks like {kind}.") from sf_error
    try:
        return p, _PyAVSource(p)
    except _NoAudioTrack as exc:
        if exc.format_name.endswith("_pipe") or exc.format_name in ("image2", "gif", "webp", "apng"):
            raise AudioError(f"{name} is not an audio file: it looks like an image.") from None
        if exc.has_video:
            raise AudioError(f"{name} has no audio track: it is a video without sound.") from None
        raise AudioError(f"{name} has no audio track.") from None
    except Exception as exc:
        raise AudioError(
            f"{name} cannot be decoded: it is not a recognised audio or video format, or it is damaged "
            f"or incomplete ({_exc_detail(exc)})."
        ) from exc


def probe(path: str | Path) -> AudioInfo:
    """Duration, rate, channels and codec of a recording, read from its header (no full decode, unless the
    container does not know its duration). AudioError if the file is unusable or shorter than 0.1 s."""
    p, source = _open(path)
    try:
        duration = source.duration_estimate
        if duration is None:
            duration = source.count_duration()
            if duration == 0 and source.error is not None:
                raise AudioError(
                    f"{p.name} is damaged or truncated: no audio could be decoded "
                    f"({_exc_detail(source.error)})."
                ) from source.error
        if duration == 0 and source.truncated:
            raise AudioError(f"{p.name} is truncated: the header promises audio but none of it is present.")
        _check_duration(p.name, duration)
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
        raise AudioError(f"{p.name} cannot be read: {_exc_detail(exc)}.") from exc
    finally:
        source.close()


# --------------------------------------------------------------------------------------------- decoding


def _resampler(in_rate: int, out_rate: int):
    import soxr

    return soxr.ResampleStream(in_rate, out_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)


def _blocks(p: Path, source: _Source, target_rate: int, block_seconds: float) -> Iterator[np.ndarray]:
    name = p.name
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
            mono = raw[:, 0] if raw.shape[1] == 1 else raw.mean(axis=1, dtype=np.float32)
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
        raise AudioError(f"{name} cannot be decoded: {_exc_detail(exc)}.") from exc
    finally:
        source.close()

    error = source.error
    if frames_in == 0:
        if error is not None:
            raise AudioError(
                f"{name} is damaged or truncated: no audio could be decoded ({_exc_detail(error)})."
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
            name, decoded, _exc_detail(error),
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


def _check_rate(target_rate: int) -> int:
    if int(target_rate) != target_rate or target_rate <= 0:
        raise ValueError(f"target_rate must be a positive whole number of Hz, not {target_rate!r}")
    return int(target_rate)


def iter_blocks(path: str | Path, target_rate: int, block_seconds: float = 30.0) -> Iterator[np.ndarray]:
    """The recording as consecutive mono float32 blocks at `target_rate` (about `block_seconds` each).

    The file is opened (and checked) at once: AudioError is raised by this call for a missing, empty or
    undecodable file, and while iterating for problems found during decoding. Blocks come out of one
    streaming resampler, so their concatenation equals resampling the whole recording at once.
    """
    target_rate = _check_rate(target_rate)
    if not block_seconds > 0:
        raise ValueError(f"block_seconds must be positive, not {block_seconds!r}")
    p, source = _open(path)
    return _blocks(p, source, target_rate, block_seconds)


def load_audio(path: str | Path, target_rate: int = 16000, dtype: type = np.float32) -> np.ndarray:
    """The whole recording as mono samples at `target_rate` (resampled with soxr, channels averaged).

    Decodes block by block into one array preallocated from the header's duration (grown or trimmed in
    place when the estimate was off), so the peak memory is about one copy of the result plus one block.
    ``dtype`` float16 halves that copy (3 hours at 16 kHz: 330 MB instead of 660 MB) at a relative
    precision of 2^-11 (about -66 dB under the signal), far below what speech recognition hears.
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float16, float32 or float64, not {np.dtype(dtype)}")
    target_rate = _check_rate(target_rate)
    p, source = _open(path)
    estimate = source.duration_estimate
    if estimate:
        capacity = math.ceil(min(estimate, _MAX_PREALLOC_SECONDS) * target_rate) + 16
    else:
        capacity = 60 * target_rate
    out = np.empty(capacity, dtype=dtype)
    n = 0
    for block in _blocks(p, source, target_rate, 30.0):
        end = n + len(block)
        if end > len(out):
            # ndarray.resize reallocates in place (no second full copy where the allocator can grow it);
            # refcheck=False is safe: nothing else references `out` yet
            out.resize(max(end, int(len(out) * 1.25) + 30 * target_rate), refcheck=False)
        out[n:end] = block
        n = end
    if n != len(out):
        out.resize(n, refcheck=False)
    _check_duration(p.name, n / target_rate)
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
