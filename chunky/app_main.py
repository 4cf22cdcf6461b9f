"""Argument parsing and server start for ``app.py``; the page itself lives in ``chunky.ui``."""

from __future__ import annotations

import argparse
import logging
import webbrowser
from collections.abc import Sequence

log = logging.getLogger("chunky.app")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="app.py", description="Start Chunky's transcription page.")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1, this PC only)")
    p.add_argument("--port", type=int, default=7860, help="port (default: 7860; the next free one is used)")
    p.add_argument("--no-browser", action="store_true", help="do not open the browser")
    p.add_argument("--share", action="store_true", help="create a public Gradio share link (off by default)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    from chunky.ui import launch

    launch(host=args.host, port=args.port, share=args.share, open_browser=not args.no_browser,
           browser_opener=webbrowser.open)
    return 0
