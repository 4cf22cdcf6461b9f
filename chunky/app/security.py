"""Who may use the page: the Host and Origin rules, and the key asked when other computers can reach it.

Why: while Chunky runs, any web site the user visits can send requests to ``http://127.0.0.1:7860`` from
its own origin (cross-site requests), or point a name of its own at 127.0.0.1 (DNS rebinding), after which
the browser treats Chunky's port as that site's own origin and lets it read the answers. Either way it
could list the jobs, read the transcripts, download the files and submit jobs. The rules:

- **Host.** A request is answered only when its ``Host`` names this PC's loopback (``localhost``,
  ``127.x.x.x``, ``[::1]``) with Chunky's port, or a name the page is really reached by: when listening
  on the network, any IP address and this computer's own name (at Chunky's port); the ``--allow-host``
  names (a reverse proxy's, at any port unless one is given). A rebinding site's own name is none of
  these.
- **Origin.** A request a browser sent from another origin (its ``Origin``, else its ``Referer``, else
  its ``Sec-Fetch-Site`` header says so) is refused, but for opening the page itself from a link
  elsewhere. Requests without those headers (scripts, command-line clients) are not browser requests
  from a web page, and pass.
- **Key.** When anything but this PC can reach the page (``--host`` beyond loopback, ``--allow-host``,
  ``--share``, or ``CHUNKY_KEY`` set), every request needs the key: from the address the start-up line
  prints (``/?key=...``, once: a cookie keeps it), from the "enter the key" form, or from an
  ``Authorization: Bearer`` header. Keys are compared in constant time.

Standard library only (no Gradio): :mod:`chunky.app.guard` applies these rules to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

PAGE_PATHS = frozenset({"/"})  # the page itself: may be opened from a link on another site
KEY_FORM_PATH = "/chunky-key"  # the "enter the key" form posts here
KEY_PARAM = "key"  # /?key=... in the address the start-up line prints
# Answered without the key: Gradio's launch() calls it itself and fails without an answer. It only runs
# the app's start-up events once (they ran at launch) and answers true or false.
OPEN_WITHOUT_KEY = frozenset({"/gradio_api/startup-events"})
KEY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"  # no 0/o, 1/l/i: keys are read off a screen and typed
KEY_GROUPS = 6  # 6 x 4 characters of 31: about 119 bits
DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
ALL_INTERFACES = ("0.0.0.0", "::", "")
_NAME = re.compile(r"^[a-z0-9_](?:[a-z0-9_-]{0,62})(?:\.[a-z0-9_](?:[a-z0-9_-]{0,62}))*$", re.ASCII)
_PORT = re.compile(r"^[0-9]{1,5}$", re.ASCII)
_COOKIE_CONTEXT = b"chunky page cookie v1"


# --- names and addresses --------------------------------------------------------------------------------


def split_host(value: str) -> tuple[str, int | None] | None:
    """A ``Host`` header (or ``--allow-host`` entry) -> (lower-case name or address, port or None); None
    when it is not a host name, an IPv4 address or a bracketed IPv6 address with an optional port."""
    value = value.strip().lower()
    if not value or len(value) > 260:
        return None
    if value.startswith("["):
        end = value.find("]")
        host, rest = value[1:end], value[end + 1:]
        if end < 0 or _ip(host) is None or ":" not in host:
            return None
    else:
        host, sep, port = value.partition(":")
        rest = sep + port
        host = host[:-1] if host.endswith(".") else host  # "localhost." is localhost
        if not _NAME.match(host):
            return None
    if not rest:
        return host, None
    if not rest.startswith(":") or not _PORT.match(rest[1:]) or not 0 < int(rest[1:]) < 65536:
        return None
    return host, int(rest[1:])


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1, ::ffff:127.x.x.x)."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    ip = _ip(host)
    if ip is None:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def this_computer(hostname: Callable[[], str] = socket.gethostname,
                  resolve: Callable[..., list] = socket.getaddrinfo) -> tuple[list[str], list[str]]:
    """This computer's own names (lower case: its name, the short name, ``<short>.local``) and its
    non-loopback, non-link-local IP addresses, as other computers on the network may reach it. Best
    effort: a name that does not resolve gives no addresses."""
    names: list[str] = []
    addresses: list[str] = []
    try:
        name = hostname().strip().lower().rstrip(".")
    except OSError:
        name = ""
    if not name or not _NAME.match(name):
        return names, addresses
    short = name.split(".", 1)[0]
    names += list(dict.fromkeys([name, short, f"{short}.local"]))
    try:
        infos = resolve(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        infos = []
    for info in infos:
        address = str(info[4][0]).split("%", 1)[0]
        ip = _ip(address)
        if ip is None or is_loopback(address) or ip.is_link_local or address in addresses:
            continue
        addresses.append(address)
    return names, addresses


# --- keys -----------------------------------------------------------------------------------------------


def new_key() -> str:
    """A fresh key such as ``k7q2-mz9x-p4rt-w8ne-3hcd-u5vy`` (about 119 random bits)."""
    return "-".join("".join(secrets.choice(KEY_ALPHABET) for _ in range(4)) for _ in range(KEY_GROUPS))


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def same_secret(given: str | None, expected: str | None) -> bool:
    """``given == expected``, in constant time (digests of equal length are compared, so not even the
    length of the key shows in the timing)."""
    if given is None or expected is None:
        return False
    return hmac.compare_digest(_digest(given), _digest(expected))


# --- the rules ------------------------------------------------------------------------------------------


@dataclass
class Access:
    """The rules for one running page. Build it with :func:`access_for`."""

    bind_host: str = "127.0.0.1"
    key: str | None = None  # None: no key is asked (the page is reachable from this PC only)
    network: bool = False  # listening beyond loopback: any IP address is a name of this page
    names: frozenset[str] = frozenset()  # this computer's names (lower case), at Chunky's port
    proxied: tuple[tuple[str, int | None], ...] = ()  # --allow-host names, with the port given or None
    _cookie: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self._cookie = hmac.new(self.key.encode("utf-8"), _COOKIE_CONTEXT, hashlib.sha256).hexdigest() \
            if self.key else ""

    def __repr__(self) -> str:  # never the key
        return (f"Access(bind_host={self.bind_host!r}, key={'(hidden)' if self.key else None}, "
                f"network={self.network}, names={sorted(self.names)}, proxied={self.proxied})")

    @property
    def needs_key(self) -> bool:
        return self.key is not None

    def allow_names(self, *names: str) -> None:
        """Also answer to ``names`` at any port (a share link's name, known once it is made)."""
        extra = tuple(p for p in (split_host(n) for n in names if n) if p is not None)
        self.proxied = tuple(dict.fromkeys(self.proxied + extra))

    # Host ----------------------------------------------------------------------------------------------

    def host_refusal(self, host_header: str | None, server_port: int | None, scheme: str) -> str | None:
        """Why a request with this ``Host`` is refused (None: it is not). ``server_port`` is the port the
        connection came in on."""
        if host_header is None:
            return "it has no Host header"
        parsed = split_host(host_header)
        if parsed is None:
            return f"its Host header {_short(host_header)} is not a host name"
        host, port = parsed
        effective = port if port is not None else DEFAULT_PORTS.get(scheme, 80)
        if self._proxied(host, effective):
            return None
        if not self._ours(host):
            return (f"it was sent to {_short(host)}, which is not a name of this Chunky (a web page may be "
                    "pointing a name of its own at this computer)")
        if server_port is not None and effective != server_port:
            return f"its Host header names port {effective}, not Chunky's port {server_port}"
        return None

    def _ours(self, host: str) -> bool:
        ip = _ip(host)
        if ip is not None:
            return is_loopback(host) or self.network
        return host == "localhost" or host in self.names

    def _proxied(self, host: str, port: int) -> bool:
        return any(host == name and want in (None, port) for name, want in self.proxied)

    # Origin --------------------------------------------------------------------------------------------

    def source_refusal(self, method: str, path: str, headers: Mapping[str, str], host_header: str | None,
                       scheme: str) -> str | None:
        """Why a request is refused as one a web page of another origin made the browser send (None: it
        is not). ``headers``: lower-case names. Opening the page itself (GET / as a document) from a link
        elsewhere is allowed: the browser shows it, the linking site cannot read it."""
        origin = headers.get("origin")
        if origin is not None:
            if self.same_origin(origin, host_header, scheme):
                return None
            return f"it came from another web site ({_short(origin)})"
        opening_the_page = (method in ("GET", "HEAD") and path in PAGE_PATHS
                            and headers.get("sec-fetch-dest", "document") == "document")
        referer = headers.get("referer")
        if referer is not None and not self.same_origin(referer, host_header, scheme):
            if opening_the_page:
                return None
            return f"it came from another web page ({_short(_origin_of(referer))})"
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site") and not opening_the_page:
            return f"the browser says it came from another web site (Sec-Fetch-Site: {_short(site)})"
        return None

    def same_origin(self, url: str, host_header: str | None, scheme: str) -> bool:
        """True when ``url`` (an Origin or Referer) is this page's own origin: the scheme, name and port
        of the request's Host, or an ``--allow-host`` name."""
        parsed = _origin_parts(url)
        if parsed is None:
            return False
        their_scheme, their_host, their_port = parsed
        if self._proxied(their_host, their_port):
            return True
        ours = split_host(host_header) if host_header else None
        if ours is None:
            return False
        host, port = ours
        our_scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
        return (their_host == host and their_scheme == our_scheme
                and their_port == (port if port is not None else DEFAULT_PORTS[their_scheme]))

    # Key -----------------------------------------------------------------------------------------------

    def key_matches(self, given: str | None) -> bool:
        return self.key is not None and same_secret(given, self.key)

    def cookie_matches(self, given: str | None) -> bool:
        return bool(self._cookie) and same_secret(given, self._cookie)

    @property
    def cookie_value(self) -> str:
        """What the key cookie holds: derived from the key, not the key itself."""
        return self._cookie

    @staticmethod
    def cookie_name(port: int | None) -> str:
        """Cookies are not kept apart by port: each Chunky's cookie has its port in its name."""
        return f"chunky-key-{port or 0}"


def _origin_parts(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL; None for ``null``, other schemes and malformed ones."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    if scheme not in ("http", "https") or not host:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


def _origin_of(url: str) -> str:
    parts = _origin_parts(url)
    if parts is None:
        return url.split("?", 1)[0][:80]
    scheme, host, port = parts
    return f"{scheme}://{host}:{port}"


def _short(text: str, limit: int = 80) -> str:
    """Header text as it may appear in a message: quoted, control characters escaped, shortened."""
    shown = repr(text[:limit])
    return shown if len(text) <= limit else shown + "…"


def access_for(host: str, *, key: str | None = None, allowed_hosts: Iterable[str] = (), share: bool = False,
               machine_names: Iterable[str] = ()) -> Access:
    """The rules for a page listening on ``host``. A key is asked when anything but this PC can reach
    the page (``host`` beyond loopback, ``allowed_hosts``, ``share``) or one is set (``key``); without
    ``key`` one is made. ``machine_names``: this computer's names, answered when listening on the
    network."""
    network = not is_loopback(host)
    proxied = tuple(dict.fromkeys(p for p in (split_host(h) for h in allowed_hosts) if p is not None))
    names: set[str] = set()
    if network:
        names |= {n.strip().lower().rstrip(".") for n in machine_names if n.strip()}
        bound = split_host(host) if host not in ALL_INTERFACES and _ip(host.strip("[]")) is None else None
        if bound is not None:
            names.add(bound[0])
    needs_key = network or share or bool(proxied) or key is not None
    return Access(bind_host=host, key=(key or new_key()) if needs_key else None, network=network,
                  names=frozenset(names), proxied=proxied)


def access_for_settings(settings, machine_names: Iterable[str] = ()) -> Access:
    """:func:`access_for` from a :class:`chunky.settings.Settings`."""
    return access_for(settings.host, key=settings.key, allowed_hosts=settings.allowed_hosts,
                      share=settings.share, machine_names=machine_names)
