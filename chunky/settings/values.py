"""The value parsers of the settings: text (an environment variable, a settings.json entry, a page
choice) to a typed value, ValueError with a short reason for a bad one."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from chunky.export import UnknownFormatError, parse_formats
from chunky.transcript.timecode import TimecodeError, check_timecode, parse_rate

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|tb)\s*$", re.IGNORECASE)
_KEY = re.compile(r"^[!-~]+$")
# A DNS name, an IPv4 address or a bracketed IPv6 address, then an optional port.
_HOST_NAME = re.compile(r"^(?P<host>[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
                        r"|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?$")
MIN_KEY_LENGTH = 16


def positive(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(str(raw).strip())
        except ValueError:
            raise ValueError(f"not a {'whole ' if kind is int else ''}number") from None
        if not value > 0:
            raise ValueError("must be more than 0")
        return value

    return parse


def choice(choices: Iterable[str]) -> Callable[[str], str]:
    options = tuple(choices)

    def parse(raw: str) -> str:
        value = str(raw).strip().lower()
        if value not in options:
            raise ValueError(f"choose one of {', '.join(options)}")
        return value

    return parse


def batch_size(raw: str) -> int:
    """``"auto"`` (0) or a whole number of chunks."""
    if str(raw).strip().lower() == "auto":
        return 0
    try:
        return positive(int)(raw)
    except ValueError as exc:
        raise ValueError(f"{exc} (or auto)") from None


def text(raw: str) -> str | None:
    return str(raw).strip() or None


def at_least_zero(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            value = kind(str(raw).strip())
        except ValueError:
            raise ValueError(f"not a {'whole ' if kind is int else ''}number") from None
        if value < 0:
            raise ValueError("cannot be negative")
        return value

    return parse


DIALOGUE_DASHES = {"spaced": "- ", "tight": "-", "off": ""}


def dialogue_dash(raw: str) -> str:
    """``spaced`` ("- "), ``tight`` ("-"), ``off`` (""), or the dash itself: at most 3 characters, a space
    after it kept ("– ")."""
    text = str(raw)
    name = text.strip().lower()
    if name in DIALOGUE_DASHES:
        return DIALOGUE_DASHES[name]
    if name in ("none", "no", "false", "0"):
        return ""
    dash = text.lstrip()
    if not dash.strip() or len(dash) > 3 or "\n" in dash or any(ch.isalnum() for ch in dash):
        raise ValueError("choose spaced, tight or off, or a dash of at most 3 characters such as \"- \"")
    return dash.rstrip() + (" " if dash != dash.rstrip() else "")


def format_dialogue_dash(value: str) -> str:
    """How a dash is shown (``config``): its name, else the dash in quotes."""
    names = {d: n for n, d in DIALOGUE_DASHES.items()}
    return names.get(value, repr(value))


def parse_flag(raw: str | bool) -> bool:
    """``1/true/yes/on`` or ``0/false/no/off`` (an environment variable or settings.json value)."""
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off", ""):
        return False
    raise ValueError("not one of 1/true/yes/on or 0/false/no/off")


def frame_rate(raw: str) -> str:
    try:
        return parse_rate(raw).label
    except TimecodeError as exc:
        raise ValueError(str(exc)) from None


def timecode(raw: str) -> str | None:
    if not str(raw).strip():
        return None
    try:
        return check_timecode(raw)
    except TimecodeError as exc:
        raise ValueError(str(exc)) from None


def format_list(raw: str | Iterable[str]) -> tuple[str, ...]:
    try:
        return parse_formats(raw)
    except UnknownFormatError as exc:
        raise ValueError(str(exc)) from None


def parse_fraction(raw: str) -> float:
    """``0.6`` or ``60%`` -> 0.6: a share between 0 and 1."""
    text = str(raw).strip()
    percent = text.endswith("%")
    try:
        value = float(text.rstrip("%").strip())
    except ValueError:
        raise ValueError("not a number such as 0.6 or 60%") from None
    if percent:
        value /= 100
    if not 0.0 <= value <= 1.0:
        raise ValueError("must be between 0 and 1 (or 0% and 100%)")
    return round(value, 4)


def parse_delays(raw: str) -> tuple[float, ...]:
    """``"0.5,1,2"`` -> (0.5, 1.0, 2.0): the seconds waited before each retry of a locked file."""
    try:
        delays = tuple(float(part) for part in str(raw).split(",") if part.strip())
    except ValueError:
        raise ValueError("not a list of seconds such as 0.5,1,2,4,8") from None
    if any(d < 0 for d in delays):
        raise ValueError("seconds cannot be negative")
    return delays


def parse_size(raw: str) -> str:
    """``"4gb"``, ``"500 MB"``: the form Gradio's ``max_file_size`` takes."""
    match = _SIZE.match(str(raw))
    if not match:
        raise ValueError("not a size such as 500mb or 4gb")
    return f"{match.group(1)}{match.group(2).lower()}"


def parse_key(raw: str) -> str:
    """A key chosen with CHUNKY_KEY: at least :data:`MIN_KEY_LENGTH` printable ASCII characters, no
    spaces (it travels in an address, a form and a header)."""
    value = str(raw).strip()
    if not _KEY.match(value):
        raise ValueError("use only letters, digits and punctuation (no spaces or accents)")
    if len(value) < MIN_KEY_LENGTH:
        raise ValueError(f"too short: use at least {MIN_KEY_LENGTH} characters")
    return value


def parse_hosts(raw: str | Iterable[str]) -> tuple[str, ...]:
    """``"studio-pc.lan, chunky.example.org:8443"`` -> ("studio-pc.lan", "chunky.example.org:8443"):
    host names (optionally with a port) the page may be reached by."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    names: list[str] = []
    for part in parts:
        name = str(part).strip().lower().rstrip(".")
        if not name:
            continue
        match = _HOST_NAME.match(name)
        if not match or (match.group("port") and not 0 < int(match.group("port")) < 65536):
            raise ValueError(f"{name!r} is not a host name such as studio-pc.lan or chunky.example.org:8443")
        names.append(name)
    return tuple(dict.fromkeys(names))


def parse_renames(raw: str | Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``"Speaker 1=Host, Speaker 2=Guest"`` -> (("Speaker 1", "Host"), ("Speaker 2", "Guest"))."""
    parts = raw.split(",") if isinstance(raw, str) else list(raw)
    pairs: list[tuple[str, str]] = []
    for part in parts:
        if not str(part).strip():
            continue
        old, sep, new = str(part).partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ValueError(f"{str(part).strip()!r} is not OLD=NEW, e.g. \"Speaker 1=Host\"")
        pairs.append((old.strip(), new.strip()))
    return tuple(pairs)


def web_address(raw: str) -> str:
    """``https://host[:port][/path]`` (http too), without a trailing '/'."""
    from urllib.parse import urlsplit

    value = str(raw).strip().rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("expected a web address such as https://huggingface.co")
    return value


def port(raw: str) -> int:
    value = positive(int)(raw)
    if value > 65535:
        raise ValueError("a port is at most 65535")
    return value
