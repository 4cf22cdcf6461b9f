"""A recording's audio streams and channels (titles, language tags, the default one), and the samples of
the tracks a :class:`~chunky.audio.tracks.TrackPlan` asks for.

Read with PyAV (the FFmpeg libraries Chunky already uses to decode, so no ``ffprobe`` has to be installed);
files soundfile reads (WAV, FLAC...) have one stream. Every failure is an AudioError naming the file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from chunky.audio import decode
from chunky.audio.sources import PyAVSource, SoundfileSource, exc_detail, open_source
from chunky.audio.tracks import StreamInfo, Track, TrackPlan
from chunky.base.errors import AudioError

log = logging.getLogger(__name__)
_CODEC_NAMES = {"mp3float": "mp3", "mp2float": "mp2", "mp1float": "mp1"}  # FFmpeg's decoder -> the codec


def _tag(metadata: dict, key: str) -> str:
    for k, v in metadata.items():
        if k.lower() == key and v:
            return str(v).strip()
    return ""


def _is_default(stream) -> bool:
    """The container's "default" flag (AV_DISPOSITION_DEFAULT; ``Stream.disposition`` is missing in
    older PyAV: then no stream is the default)."""
    try:
        return bool(int(getattr(stream, "disposition", 0) or 0) & 1)
    except (TypeError, ValueError):
        return False


def probe_streams(path: str | Path) -> list[StreamInfo]:
    """The file's audio streams in container order (AudioError when it has none or cannot be read)."""
    p, source = open_source(path)  # the same checks and clear errors as decoding
    try:
        if isinstance(source, SoundfileSource):
            return [StreamInfo(0, source.channels, source.sample_rate, source.codec, default=True,
                               duration=source.duration_estimate)]
        assert isinstance(source, PyAVSource)
        out = []
        for i, stream in enumerate(source._container.streams.audio):
            ctx = stream.codec_context
            duration = float(stream.duration * stream.time_base) if stream.duration and stream.time_base \
                else None
            meta = dict(stream.metadata or {})  # MP4/MOV keep a stream's title as "name"
            out.append(StreamInfo(
                index=i, channels=int(ctx.channels or 0), sample_rate=int(ctx.sample_rate or 0),
                codec=_CODEC_NAMES.get(ctx.name or "", ctx.name or ""),
                title=_tag(meta, "title") or _tag(meta, "name"),
                language=_tag(meta, "language"), default=_is_default(stream),
                duration=duration))
        return out
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"{p.name}: its audio streams cannot be read ({exc_detail(exc)}).") from exc
    finally:
        source.close()


@dataclass
class TrackAudio:
    """The samples of each track of a plan (mono, at one rate), and the tracks that failed to decode."""

    rate: int
    tracks: list[tuple[Track, np.ndarray]] = field(default_factory=list)
    failed: list[tuple[Track, str]] = field(default_factory=list)  # (track, why), named to the user

    def mixed(self, dtype: type = np.float32) -> np.ndarray:
        """Every track's samples mixed into one (the mean; the longest sets the length)."""
        if len(self.tracks) == 1:
            return self.tracks[0][1].astype(dtype, copy=False)
        n = max(len(a) for _, a in self.tracks)
        out = np.zeros(n, np.float32)
        for _, a in self.tracks:
            out[: len(a)] += a
        out /= np.float32(len(self.tracks))
        return out.astype(dtype, copy=False)


def load_tracks(path: str | Path, plan: TrackPlan, target_rate: int, dtype: type = np.float32) -> TrackAudio:
    """Decodes each track of ``plan``. A track that fails is kept in ``failed`` with its reason while the
    others are used; AudioError when none can be decoded."""
    p = Path(path)
    result = TrackAudio(target_rate)
    for track in plan.tracks:
        try:
            samples = decode.load_audio(p, target_rate, dtype, stream=track.stream, channel=track.channel)
        except AudioError as exc:
            if len(plan.tracks) == 1:
                raise
            log.warning("%s: %s could not be decoded and is left out: %s", p.name, track.label(), exc)
            result.failed.append((track, str(exc)))
            continue
        result.tracks.append((track, samples))
    if not result.tracks:
        reasons = "; ".join(f"{t.label()}: {why}" for t, why in result.failed)
        raise AudioError(f"{p.name}: none of its audio tracks could be decoded ({reasons}).")
    return result
