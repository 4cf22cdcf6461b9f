"""A video's own timing: its frame rate and the timecode of its first frame, read with PyAV (FFmpeg).

The subtitle, EDL and XML outputs line up with the video's timecode when it has one: a camera file that
starts at 10:14:03:12 gets markers at 10:14:xx:xx. Audio files (and videos without the tags) give None.
"""

from __future__ import annotations

import logging
from fractions import Fraction
from pathlib import Path

from chunky.transcript.timecode import TimecodeError, check_timecode, rate_from_fraction

log = logging.getLogger(__name__)


def probe_timing(path: str | Path) -> dict[str, str] | None:
    """``{"fps": "29.97", "start_timecode": "01:00:00;00"}`` (either key may be missing) for a video, None
    for a file without a video stream or one FFmpeg cannot open. Never raises."""
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            videos = [s for s in container.streams.video if not _is_cover_art(s)]
            if not videos:
                return None
            stream = videos[0]
            tags = [dict(stream.metadata or {})]
            tags += [dict(s.metadata or {}) for s in container.streams if s.type == "data"]
            tags.append(dict(container.metadata or {}))
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    except Exception as exc:  # any FFmpeg problem: no timing, the defaults apply
        log.debug("No video timing for %s: %s", path, exc)
        return None
    timecode = next((t["timecode"] for t in tags if t.get("timecode")), None)
    found: dict[str, str] = {}
    drop = None if not timecode else ";" in timecode or "." in timecode
    fr = rate_from_fraction(Fraction(rate), drop) if rate else None
    if fr is not None:
        found["fps"] = fr.label
    if timecode:
        try:
            found["start_timecode"] = check_timecode(timecode)
        except TimecodeError:
            log.debug("Ignoring the timecode tag %r of %s", timecode, path)
    return found or None


def _is_cover_art(stream) -> bool:
    """An MP3's or M4A's embedded picture is a one-frame "video" stream: not a video."""
    try:
        return bool(stream.disposition & 0x400) or (stream.frames == 1)  # AV_DISPOSITION_ATTACHED_PIC
    except Exception:
        return False
