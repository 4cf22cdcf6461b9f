"""Argument parsing and server start for ``app.py``; the page itself lives in ``chunky.app.page``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
import webbrowser
from collections.abc import Callable, Sequence
from urllib.parse import quote, urlsplit

from chunky.app.security import Access, access_for_settings, is_loopback, this_computer
from chunky.base import retry
from chunky.bootstrap import paths
from chunky.settings import ENGINE_SETTINGS, SERVER_SETTINGS, add_arguments, flags_from, settings_for

log = logging.getLogger(__name__)

PORT_TRIES = 100


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description="Start Chunky's transcription page. Every option "
                                "can also be set with its CHUNKY_* variable (python -m chunky config).")
    add_arguments(p, SERVER_SETTINGS + ENGINE_SETTINGS + ("formats",))
    return p.parse_args(argv)


def port_is_free(host: str, port: int) -> bool:
    """True when ``port`` can be bound on ``host`` (and on 127.0.0.1, where Gradio checks too)."""
    for address in {host, "127.0.0.1"}:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as s:
            if sys.platform != "win32":  # on Windows SO_REUSEADDR lets a second socket steal a used port
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((address.strip("[]"), port))
            except OSError:
                return False
    return True


def browser_url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"
    return f"http://{shown}:{port}/"


def with_key(url: str, key: str | None) -> str:
    """``url`` with ``?key=...`` when a key is asked (the page then keeps it in a cookie)."""
    return f"{url}?key={quote(key, safe='-')}" if key else url


def start_lines(access: Access, host: str, port: int, addresses: Sequence[str] = ()) -> list[str]:
    """The start-up lines: where to open the page on this PC and, when other computers can reach it, on
    those. The only lines that ever show the key."""
    key = access.key
    here = with_key(browser_url(host, port), key)
    lines = ["  Chunky is running. Open this address in your browser:", "", f"      {here}", ""]
    if access.network:
        everywhere = host in ("0.0.0.0", "::", "")
        names = sorted(n for n in access.names if "." not in n) + list(addresses) if everywhere else []
        others = [u for u in dict.fromkeys(with_key(browser_url(n, port), key) for n in names) if u != here]
        lines.append(f"  Listening on {host}: other computers on the network can open "
                     + ("one of these:" if others else "this address."))
        lines += [f"      {url}" for url in others] + [""]
    for name, named_port in access.proxied:
        shown = (f"[{name}]" if ":" in name else name) + (f":{named_port}" if named_port else "")
        lines.append(f"  Also answers as {shown} (a reverse proxy): add ?key={key} to that address.")
    if key:
        lines += ["  The key is asked once per browser. Keep it private: with it, anyone who can reach this",
                  "  page can read your transcripts.", ""]
    return lines


def serve(page, kwargs: dict, host: str, first_port: int, share: bool) -> int:
    """Launch ``page`` on ``first_port`` or the next free one; return the port."""
    last_error: Exception | None = None
    for port in range(first_port, first_port + PORT_TRIES):
        if not port_is_free(host, port):
            continue
        try:
            page.launch(server_name=host, server_port=port, share=share, inbrowser=False,
                        prevent_thread_lock=True, **kwargs)
            return port
        except OSError as exc:  # taken between the check and the start
            last_error = exc
    last = first_port + PORT_TRIES - 1
    raise OSError(f"No free port in {first_port}-{last}: {last_error or 'all in use'}. "
                  "Choose another one with --port.")


def main(argv: Sequence[str] | None = None, *,
         browser_opener: Callable[[str], object] | None = webbrowser.open,
         stop: threading.Event | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        datefmt="%H:%M:%S")
    for noisy in ("httpx", "urllib3", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    app_paths = paths()
    settings = settings_for(app_paths.model_cache, os.environ, flags_from(args))
    retry.configure(settings.lock_retry_delays)
    from chunky.app.page import build_page, launch_kwargs
    from chunky.app.service import Service

    names, addresses = this_computer() if not is_loopback(settings.host) else ([], [])
    access = access_for_settings(settings, machine_names=names)  # Host/Origin rules, the key if asked
    service = Service(app_paths, settings, os.environ)
    page = build_page(service)
    try:
        port = serve(page, launch_kwargs(service, access), settings.host, settings.port, settings.share)
    except OSError as exc:
        print(f"Chunky could not start its web server: {exc}", file=sys.stderr)
        service.shutdown(timeout=2.0)
        return 1
    share_url = getattr(page, "share_url", None)
    if share_url:
        access.allow_names(urlsplit(share_url).hostname or "")
    service.start()  # the job runner, and the warm-up thread (imports NeMo, loads the default model)
    url = with_key(browser_url(settings.host, port), access.key)
    if port != settings.port:
        print(f"Port {settings.port} is in use; using {port} instead.")
    banner = "=" * 64
    print("\n".join(["", banner, *start_lines(access, settings.host, port, addresses)]), flush=True)
    if share_url:
        print(f"  Public share link (anyone with it and the key can use this Chunky): "
              f"{with_key(share_url.rstrip('/') + '/', access.key)}\n")
    print(f"  Press Ctrl+C in this window to stop Chunky.\n{banner}\n", flush=True)
    if settings.open_browser and browser_opener is not None:
        try:
            browser_opener(url)
        except Exception as exc:  # no browser on this machine: the printed address is enough
            log.info("Could not open a browser: %s", exc)
    stop = stop or threading.Event()
    _stop_on_signals(stop)
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("\nStopping Chunky…", flush=True)
    finally:
        stop_all(service, page)
    print("Chunky stopped.", flush=True)
    return 0


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM (and Ctrl+Break on Windows) stop Chunky as cleanly as Ctrl+C (KeyboardInterrupt) does."""

    def handler(signum, frame) -> None:
        print(f"\nStopping Chunky ({signal.Signals(signum).name})…", flush=True)
        stop.set()

    if threading.current_thread() is not threading.main_thread():
        return
    for name in ("SIGTERM", "SIGBREAK"):
        if hasattr(signal, name):
            try:
                signal.signal(getattr(signal, name), handler)
            except (OSError, ValueError):
                pass


def stop_all(service, page) -> None:
    """Cancel the jobs (the running one saves what it finished), then close the server. A second Ctrl+C
    stops waiting for the running job."""
    try:
        if not service.shutdown(timeout=10.0):
            log.warning("The running job did not stop in time; it shows as interrupted at the next start.")
    except KeyboardInterrupt:
        log.warning("Stopped without waiting for the running job; it shows as interrupted at the next start.")
    try:
        page.close()
    except (Exception, KeyboardInterrupt) as exc:
        log.debug("Closing the server: %r", exc)
