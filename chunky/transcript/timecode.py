"""SMPTE timecode: frame rates, drop-frame counting, seconds <-> frames <-> ``HH:MM:SS:FF``.

Pure module (standard library only). A frame count is the number of frames since 00:00:00:00 (0-based).
Drop-frame timecode (29.97 and 59.94 fps) skips the frame *numbers* 00 and 01 (00-03 at 59.94) at the
start of every minute except minutes 00, 10, 20, ...; no frame is dropped, only labels, so that the
timecode keeps up with the clock. Drop-frame timecodes are written with ``;`` before the frames.
Timecodes wrap at 24 hours, as on tape and in every editor.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from fractions import Fraction

from chunky.base.errors import ChunkyError


class TimecodeError(ChunkyError, ValueError):
    """A frame rate or timecode that cannot be read."""


@dataclass(frozen=True)
class FrameRate:
    """A video frame rate: ``numerator / denominator`` frames per second, drop-frame or not."""

    label: str  # the canonical name: "23.976", "24", "25", "29.97", "29.97ndf", "30", ...
    numerator: int
    denominator: int = 1
    drop_frame: bool = False

    @property
    def fps(self) -> float:
        return self.numerator / self.denominator

    @property
    def exact(self) -> Fraction:
        return Fraction(self.numerator, self.denominator)

    @property
    def nominal(self) -> int:
        """Frames per timecode second: 24 for 23.976, 30 for 29.97, 60 for 59.94."""
        return round(self.fps)

    @property
    def ntsc(self) -> bool:
        """True for the 1000/1001 rates (23.976, 29.97, 59.94)."""
        return self.denominator == 1001

    @property
    def dropped_per_minute(self) -> int:
        return (2 if self.nominal == 30 else 4) if self.drop_frame else 0

    def describe(self) -> str:
        if self.ntsc and self.nominal in (30, 60):
            return f"{self.fps:.2f} fps {'drop-frame' if self.drop_frame else 'non-drop'}"
        return f"{self.label} fps"

    def __str__(self) -> str:
        return self.label


RATES: dict[str, FrameRate] = {r.label: r for r in (
    FrameRate("23.976", 24000, 1001),
    FrameRate("24", 24),
    FrameRate("25", 25),
    FrameRate("29.97", 30000, 1001, drop_frame=True),
    FrameRate("29.97ndf", 30000, 1001),
    FrameRate("30", 30),
    FrameRate("50", 50),
    FrameRate("59.94", 60000, 1001, drop_frame=True),
    FrameRate("59.94ndf", 60000, 1001),
    FrameRate("60", 60),
)}
_ALIASES = {"23.98": "23.976", "29.97df": "29.97", "59.94df": "59.94", "24.0": "24", "25.0": "25",
            "30.0": "30", "50.0": "50", "60.0": "60", "2997": "29.97", "5994": "59.94"}
DEFAULT_RATE = RATES["25"]
_TIMECODE = re.compile(r"^\s*(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})\s*$")


def parse_rate(text: str | float) -> FrameRate:
    """``"25"``, ``"29.97"`` (drop-frame), ``"29.97ndf"``, ``"23.98"``, ``"59.94df"`` -> a FrameRate."""
    key = str(text).strip().lower().replace(" ", "").removesuffix("fps")
    key = _ALIASES.get(key, key)
    if key not in RATES:
        raise TimecodeError(f"Unknown frame rate {text!r}: use one of {', '.join(RATES)} (29.97 and 59.94 "
                            "are drop-frame; add 'ndf' for non-drop).")
    return RATES[key]


def rate_from_fraction(value: Fraction | float, drop_frame: bool | None = None) -> FrameRate | None:
    """The standard rate nearest ``value`` (e.g. a video stream's 30000/1001), or None when none is within
    0.1 %. ``drop_frame`` picks between drop and non-drop for 29.97/59.94 (None: drop-frame)."""
    fps = float(value)
    if not math.isfinite(fps) or fps <= 0:
        return None
    best = min(RATES.values(), key=lambda r: abs(r.fps - fps))
    if abs(best.fps - fps) > best.fps * 0.001:
        return None
    if best.ntsc and best.nominal in (30, 60) and drop_frame is not None:
        best = RATES[f"{best.nominal * 1000 / 1001:.2f}" + ("" if drop_frame else "ndf")]
    return best


def frames_per_day(rate: FrameRate) -> int:
    """Frames in 24 hours of timecode (the wrap point)."""
    return 24 * frames_per_hour(rate)


def frames_per_hour(rate: FrameRate) -> int:
    return rate.nominal * 3600 - rate.dropped_per_minute * 54  # 54 = 60 minutes - 6 ten-minute marks


def frames_to_timecode(frames: int, rate: FrameRate) -> str:
    """The timecode label of frame ``frames`` (wraps at 24 hours; negative counts wrap back from 24:00)."""
    frames = int(frames) % frames_per_day(rate)
    nominal = rate.nominal
    drop = rate.dropped_per_minute
    if drop:
        per_ten = nominal * 600 - drop * 9  # frames in ten minutes of drop-frame timecode
        per_minute = nominal * 60 - drop
        tens, rest = divmod(frames, per_ten)
        frames += drop * 9 * tens + (drop * ((rest - drop) // per_minute) if rest > drop else 0)
    ff = frames % nominal
    total_seconds = frames // nominal
    hh, rest = divmod(total_seconds, 3600)
    mm, ss = divmod(rest, 60)
    return f"{hh:02d}:{mm:02d}:{ss:02d}{';' if drop else ':'}{ff:02d}"


def timecode_to_frames(text: str, rate: FrameRate) -> int:
    """The frame count of a timecode label ``HH:MM:SS:FF`` (``;`` or ``:`` before the frames).

    TimecodeError when the text is no timecode, a field is out of range, or (drop-frame) the label is one
    that drop-frame timecode skips, such as 00:01:00;00."""
    match = _TIMECODE.match(str(text))
    if not match:
        raise TimecodeError(f"Not a timecode: {text!r} (use HH:MM:SS:FF, e.g. 01:00:00:00).")
    hh, mm, ss, _, ff = match.groups()
    h, m, s, f = int(hh), int(mm), int(ss), int(ff)
    nominal = rate.nominal
    if h > 23 or m > 59 or s > 59 or f >= nominal:
        raise TimecodeError(f"Timecode {text!r} is out of range at {rate.describe()} (at most 23:59:59:"
                            f"{nominal - 1:02d}).")
    drop = rate.dropped_per_minute
    if drop and s == 0 and f < drop and m % 10 != 0:
        raise TimecodeError(f"Timecode {text!r} does not exist in drop-frame timecode: frames "
                            f"00-{drop - 1:02d} are skipped at the start of each minute but every tenth.")
    minutes = 60 * h + m
    return (3600 * h + 60 * m + s) * nominal + f - drop * (minutes - minutes // 10)


def normalize_timecode(text: str, rate: FrameRate) -> str:
    """The canonical form of a timecode label at ``rate`` (``;`` before the frames for drop-frame)."""
    return frames_to_timecode(timecode_to_frames(text, rate), rate)


def check_timecode(text: str) -> str:
    """``text`` as ``HH:MM:SS:FF`` if it looks like a timecode at some rate (a setting is checked against its
    frame rate only when the rate is known); TimecodeError otherwise."""
    match = _TIMECODE.match(str(text))
    if not match:
        raise TimecodeError(f"Not a timecode: {text!r} (use HH:MM:SS:FF, e.g. 01:00:00:00).")
    hh, mm, ss, sep, ff = match.groups()
    if int(hh) > 23 or int(mm) > 59 or int(ss) > 59 or int(ff) >= 60:
        raise TimecodeError(f"Timecode {text!r} is out of range (at most 23:59:59:59).")
    return f"{int(hh):02d}:{mm}:{ss}{';' if sep == ';' else ':'}{int(ff):02d}"


def seconds_to_frames(seconds: float, rate: FrameRate) -> int:
    """The frame that shows at ``seconds`` of real time (rounded to the nearest frame)."""
    return math.floor(float(seconds) * rate.numerator / rate.denominator + 0.5 + 1e-9)


def frames_to_seconds(frames: int, rate: FrameRate) -> float:
    return frames * rate.denominator / rate.numerator


def timecode_clock_seconds(frames: int, rate: FrameRate) -> float:
    """The timecode label of frame ``frames`` read as a clock (``01:00:00:12`` at 25 fps -> 3600.48 s): the
    offset SRT and WebVTT times get from a start timecode."""
    label = frames_to_timecode(frames, rate)
    hh, mm, ss, ff = (int(x) for x in re.split(r"[:;]", label))
    return 3600 * hh + 60 * mm + ss + ff / rate.nominal


@dataclass(frozen=True)
class Timing:
    """Where a transcript sits on an editor's timeline: its frame rate and the timecode of its first frame."""

    rate: FrameRate = DEFAULT_RATE
    start_frames: int = 0  # the timeline's timecode at the recording's first frame
    media_frames: int = 0  # the recording's own timecode at its first frame (source timecode)

    @property
    def start_timecode(self) -> str:
        return frames_to_timecode(self.start_frames, self.rate)

    @property
    def media_timecode(self) -> str:
        return frames_to_timecode(self.media_frames, self.rate)

    def frame_of(self, seconds: float) -> int:
        """Timeline frame (start timecode included) of a time in seconds from the start of the recording."""
        return self.start_frames + seconds_to_frames(seconds, self.rate)

    def timecode_of(self, seconds: float) -> str:
        return frames_to_timecode(self.frame_of(seconds), self.rate)

    def source_timecode_of(self, seconds: float) -> str:
        """The recording's own timecode at ``seconds`` (EDL source in/out)."""
        return frames_to_timecode(self.media_frames + seconds_to_frames(seconds, self.rate), self.rate)

    @property
    def clock_offset(self) -> float:
        """Seconds added to SRT/WebVTT times: the start timecode read as a clock."""
        return timecode_clock_seconds(self.start_frames, self.rate)


def make_timing(rate: str | FrameRate | None = None, start: str | None = None,
                media: str | None = None) -> Timing:
    """A :class:`Timing` from a rate name, a start timecode and the recording's own timecode (None: 25 fps,
    00:00:00:00, the start timecode)."""
    fr = rate if isinstance(rate, FrameRate) else parse_rate(rate) if rate else DEFAULT_RATE
    start_frames = timecode_to_frames(start, fr) if start else 0
    return Timing(fr, start_frames, timecode_to_frames(media, fr) if media else start_frames)
