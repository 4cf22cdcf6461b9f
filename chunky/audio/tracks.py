"""Which audio of a recording to transcribe, and as whom: the speaker modes over a file's audio streams and
channels. Pure module (no numpy, torch or PyAV): :mod:`chunky.audio.streams` reads the streams.

Modes (``--speakers``; docs/speakers.md):

- ``mix`` (default): every audio stream mixed into one, except that streams tagged with different languages
  are alternatives (dubs), not voices: then only the default stream (else the first) is used.
- ``tracks``: one speaker per audio stream, or per channel when the file has one stream of several
  channels; each named from its stream's title, else its language tag, else "Speaker 1", "Speaker 2"...
- ``diarize``: what ``mix`` would use, then the speakers are found by the diarization model.

``track`` (``--track N``, counted from 1) picks one stream, or one channel when the file has a single
stream, for ``mix`` and ``diarize``. Every stream that is not used is named in the plan's notes, so that no
stream is ever ignored silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from chunky.base.errors import ChunkyError

SPEAKER_MODES = ("mix", "tracks", "diarize")
SPEAKER_NAME = "Speaker {n}"


class TrackChoiceError(ChunkyError):
    """The speaker mode or track asked for does not fit the file."""


@dataclass(frozen=True)
class StreamInfo:
    """One audio stream of a file, as its container describes it."""

    index: int  # position among the file's audio streams, from 0
    channels: int
    sample_rate: int = 0
    codec: str = ""
    title: str = ""
    language: str = ""  # the container's tag ("eng", "fra"); "" or "und" when unknown
    default: bool = False  # the container marks it as the one to play
    duration: float | None = None

    def describe(self) -> str:
        """``stream 2 (English, "Host", 2 channels)`` style, for the notes the user sees."""
        bits = []
        if self.known_language:
            bits.append(self.language)
        if self.title:
            bits.append(f'"{self.title}"')
        bits.append(f"{self.channels} channel{'s' if self.channels != 1 else ''}")
        return f"stream {self.index + 1} ({', '.join(bits)})"

    @property
    def known_language(self) -> bool:
        return bool(self.language) and self.language.lower() not in ("und", "unk", "zxx", "mis")


@dataclass(frozen=True)
class Track:
    """What one transcription pass reads: one stream, one of its channels or all of them downmixed."""

    stream: int  # StreamInfo.index
    channel: int | None = None  # None: the stream's channels averaged
    name: str | None = None  # the speaker's name (tracks mode), else None

    def label(self) -> str:
        where = f"stream {self.stream + 1}"
        if self.channel is not None:
            where += f" channel {self.channel + 1}"
        return f"{self.name} ({where})" if self.name else where


@dataclass(frozen=True)
class TrackPlan:
    mode: str  # "mix", "tracks" or "diarize"
    tracks: tuple[Track, ...]  # mix/diarize: mixed together into one; tracks: one speaker each
    notes: tuple[str, ...]  # which streams are used and which are not, and why (shown to the user)

    @property
    def simple(self) -> bool:
        """One pass over the file's first stream with every channel: what Chunky did before speakers."""
        return self.mode != "tracks" and len(self.tracks) == 1 and self.tracks[0].channel is None


def _names(streams: Sequence[StreamInfo], by_channel: bool) -> list[str]:
    """Speaker names: stream titles, else language tags (when they differ), else "Speaker n"; unique."""
    if by_channel:
        return [SPEAKER_NAME.format(n=i + 1) for i in range(streams[0].channels)]
    titles = [s.title.strip() for s in streams]
    langs = [s.language if s.known_language else "" for s in streams]
    names = []
    for i, (title, lang) in enumerate(zip(titles, langs, strict=True)):
        if title:
            names.append(title)
        elif lang and langs.count(lang) == 1:
            names.append(lang)
        else:
            names.append(SPEAKER_NAME.format(n=i + 1))
    seen: dict[str, int] = {}
    unique = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        unique.append(name if names.count(name) == 1 else f"{name} {seen[name]}")
    return unique


def plan_tracks(streams: Sequence[StreamInfo], mode: str = "mix", track: int | None = None, *,
                file_name: str = "the file") -> TrackPlan:
    """The passes to run over a file with these audio ``streams`` in speaker ``mode``."""
    if mode not in SPEAKER_MODES:
        raise TrackChoiceError(f"Unknown speaker mode {mode!r}: choose one of {', '.join(SPEAKER_MODES)}.")
    if not streams:
        raise TrackChoiceError(f"{file_name} has no audio stream.")
    if track is not None:
        return _one_track(streams, mode, track, file_name)
    if mode == "tracks":
        return _per_speaker(streams, file_name)
    return _mix(streams, mode)


def _one_track(streams: Sequence[StreamInfo], mode: str, track: int, file_name: str) -> TrackPlan:
    if mode == "tracks":
        raise TrackChoiceError("One speaker per track uses every track: leave out --track, or use "
                               "--speakers mix or diarize to transcribe one track.")
    single = len(streams) == 1
    count = streams[0].channels if single else len(streams)
    what = "channel" if single else "audio stream"
    if not 1 <= track <= count:
        raise TrackChoiceError(f"{file_name} has {count} {what}{'s' if count != 1 else ''}: --track must be "
                               f"between 1 and {count}, not {track}.")
    chosen = Track(0, track - 1) if single else Track(track - 1)
    notes = [f"Using {chosen.label()}, as asked."]
    if single and count > 1:
        notes.append(f"Not used: the other {count - 1} channel(s) of stream 1.")
    elif not single:
        notes += [f"Not used: {s.describe()}." for s in streams if s.index != track - 1]
    return TrackPlan(mode, (chosen,), tuple(notes))


def _per_speaker(streams: Sequence[StreamInfo], file_name: str) -> TrackPlan:
    by_channel = len(streams) == 1
    if by_channel and streams[0].channels < 2:
        raise TrackChoiceError(f"{file_name} has one audio stream of one channel: there is no track per "
                               "speaker. Use --speakers diarize to find the speakers in it.")
    names = _names(streams, by_channel)
    if by_channel:
        tracks = tuple(Track(0, c, names[c]) for c in range(streams[0].channels))
    else:
        tracks = tuple(Track(s.index, None, names[i]) for i, s in enumerate(streams))
    notes = (f"One speaker per {'channel' if by_channel else 'audio stream'}: "
             + ", ".join(t.label() for t in tracks) + ".",)
    return TrackPlan("tracks", tracks, notes)


def _mix(streams: Sequence[StreamInfo], mode: str) -> TrackPlan:
    if len(streams) == 1:
        return TrackPlan(mode, (Track(0),), ())
    languages = {s.language.lower() for s in streams if s.known_language}
    if len(languages) > 1:
        main = next((s for s in streams if s.default), streams[0])
        notes = [f"The audio streams are in different languages ({', '.join(sorted(languages))}): they are "
                 f"alternatives, not voices to mix. Using {main.describe()}, the "
                 f"{'default' if main.default else 'first'} one; pick another with --track."]
        notes += [f"Not used: {s.describe()}." for s in streams if s.index != main.index]
        return TrackPlan(mode, (Track(main.index),), tuple(notes))
    notes = (f"Mixing all {len(streams)} audio streams into one: "
             + ", ".join(s.describe() for s in streams)
             + ". For one speaker per stream use --speakers tracks.",)
    return TrackPlan(mode, tuple(Track(s.index) for s in streams), notes)
