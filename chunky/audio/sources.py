"""Opening a recording with the right back-end, tried in this order:

* soundfile (libsndfile): WAV (8/16/24/32-bit int, float, double), FLAC, OGG Vorbis/Opus, MP3, AIFF...
* PyAV (FFmpeg): everything else FFmpeg reads, e.g. M4A/AAC and the audio track of MP4/MOV/MKV/WebM.

Both detect the format from the file's content, not its extension, so an MP3 or M4A named ".wav" still
decodes. A file that is plainly no audio (an image, a document) is named as what it is. Each source
yields ``(frames, channels)`` float32 pieces with their sample rate.
"""

from __future__ import annotations

import logging
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from chunky.base.errors import AudioError

log = logging.getLogger(__name__)

MIN_SECONDS = 0.1  # shorter recordings are rejected ("too short")
# soundfile reads this much at a time (30% less decode time than 1 s reads); a read that fails is redone
# from the end of the good part in _SMALL_READ steps, so damage costs no more than that.
READ_SECONDS = 10.0
_SMALL_READ = 1024  # frames per read once a damaged part has been met
_MAX_BAD_PACKETS = 1000  # PyAV: give up after this many undecodable packets in a row
_SNIFF_BYTES = 4096


# ----------------------------------------------------------------------------------------------- helpers


def check_file(path: str | Path) -> tuple[Path, bytes]:
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


def check_duration(name: str, seconds: float) -> None:
    if seconds <= 0:
        raise AudioError(f"{name} contains no audio (zero length).")
    if seconds < MIN_SECONDS:
        raise AudioError(
            f"{name} is too short ({seconds:.3f} s): at least {MIN_SECONDS} s of audio is needed."
        )


def exc_detail(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    # soundfile repeats the whole path ("Error opening '/x/y.wav': ..."); keep the message short
    text = re.sub(r"^Error opening .*?: ", "", str(text))
    return text.strip().rstrip(".")


# -------------------------------------------------------------------------------------------- soundfile


_SF_CODEC = {"FLAC": "flac", "MP3": "mp3"}
_WAV_DATA = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)


class SoundfileSource:
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

    def chunks(self, seconds: float = READ_SECONDS) -> Iterator[tuple[np.ndarray, int]]:
        """(frames, channels) float32 pieces and their sample rate; a decode error ends the stream."""
        step = max(1, int(self.sample_rate * min(seconds, READ_SECONDS)))
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


class PyAVSource:
    backend = "pyav"

    def __init__(self, path: Path, stream_index: int | None = None):
        self.path = path
        self.stream_index = stream_index
        self._container = _open_container(path)
        try:
            container = self._container
            streams = container.streams
            if not streams.audio:
                raise _NoAudioTrack(container.format.name, bool(streams.video))
            if stream_index is not None:  # position among the audio streams (chunky.audio.streams)
                if not 0 <= stream_index < len(streams.audio):
                    raise AudioError(f"{path.name} has {len(streams.audio)} audio stream(s): there is no "
                                     f"stream {stream_index + 1}.")
                stream = streams.audio[stream_index]
            else:
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
        other = PyAVSource(self.path, self.stream_index)
        try:
            seconds = 0.0
            for chunk, rate in other.chunks():
                seconds += len(chunk) / rate
            if other.sample_rate == 0 or self.channels == 0:
                self.sample_rate, self.channels = other.sample_rate, other.channels
            return seconds
        finally:
            other.close()

    def chunks(self, seconds: float = READ_SECONDS) -> Iterator[tuple[np.ndarray, int]]:
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

Source = SoundfileSource | PyAVSource


def open_source(path: str | Path, stream: int | None = None) -> tuple[Path, Source]:
    """The file's audio: its best audio stream, or audio stream number ``stream`` (from 0)."""
    p, head = check_file(path)
    name = p.name
    try:
        source = SoundfileSource(p)
    except Exception as exc:
        sf_error: Exception = exc
    else:
        if stream not in (None, 0):
            source.close()
            raise AudioError(f"{name} has one audio stream: there is no stream {stream + 1}.")
        return p, source
    kind = _sniff_non_audio(head)
    if kind:
        raise AudioError(f"{name} is not an audio file: it looks like {kind}.") from sf_error
    try:
        return p, PyAVSource(p, stream)
    except AudioError:
        raise
    except _NoAudioTrack as exc:
        if exc.format_name.endswith("_pipe") or exc.format_name in ("image2", "gif", "webp", "apng"):
            raise AudioError(f"{name} is not an audio file: it looks like an image.") from None
        if exc.has_video:
            raise AudioError(f"{name} has no audio track: it is a video without sound.") from None
        raise AudioError(f"{name} has no audio track.") from None
    except Exception as exc:
        raise AudioError(
            f"{name} cannot be decoded: it is not a recognised audio or video format, or it is damaged "
            f"or incomplete ({exc_detail(exc)})."
        ) from exc
