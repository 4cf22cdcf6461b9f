"""``python -m chunky``: the command line. Each command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str, target: str):
    """Register a subcommand: ``target`` is "module:function" imported only when the command runs."""

    def register(add_arguments: Callable[[argparse.ArgumentParser], None]):
        _COMMANDS[name] = (help, add_arguments, target)
        return add_arguments

    return register


@command("transcribe", "transcribe recordings into txt/srt/vtt/json/csv files",
         "chunky.cli.transcribe:run_transcribe")
def _transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio or video files")
    p.add_argument("--model", help="local model name (default: the last one used)")
    p.add_argument("--format", default="txt,srt,vtt,json,csv",
                   help="comma-separated formats out of txt,srt,vtt,json,csv, or 'all' (default: all)")
    p.add_argument("--out", help="output folder (default: beside each input file)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    p.add_argument("--chunk-seconds", type=float, help="longest piece of audio given to the model at once")
    p.add_argument("--batch-size", type=int, default=8, help="chunks per model call (halved on GPU OOM)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


@command("models", "list the local models", "chunky.cli.transcribe:run_models")
def _models_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--verify", action="store_true", help="re-check extracted folders against their manifest")


@command("paths", "show where models, caches, outputs and temp files live", "chunky.cli.main:run_paths")
def _paths_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


@command("doctor", "check this PC's set-up (GPU, temp folder, antivirus/sync risks, disk space, models)",
         "chunky.cli.doctor:run_doctor")
def _doctor_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verify", action="store_true",
                   help="also re-read every model archive and extracted file (slow for big models)")
    p.add_argument("--no-gpu", action="store_true",
                   help="skip importing PyTorch (faster; the GPU is not checked)")


def run_paths(args: argparse.Namespace) -> int:
    import json
    import os
    import tempfile

    from chunky.bootstrap import paths

    p = paths()
    info = {
        "local_models": str(p.local_models),
        "model_cache": str(p.model_cache),
        "extracted": str(p.extracted),
        "outputs": str(p.outputs),
        "temp": tempfile.gettempdir(),
        "gradio_temp": os.environ.get("GRADIO_TEMP_DIR", ""),
        "temp_redirected": p.system_temp_redirected,
        "fallback_location": p.fallback,
        "env": {v: os.environ.get(v, "") for v in ("TMPDIR", "TEMP", "TMP")},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:18} {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from chunky import __version__

    parser = argparse.ArgumentParser(
        prog="python -m chunky",
        description="Chunky: exact, timestamped transcripts from NVIDIA NeMo speech models, locally.",
    )
    parser.add_argument("--version", action="version", version=f"chunky {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="more log output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_arguments, target) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(_target=target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "_target", None):
        parser.print_help()
        return 0
    import importlib

    from chunky.base.errors import ChunkyError

    module_name, func_name = args._target.split(":")
    handler: Handler = getattr(importlib.import_module(module_name), func_name)
    try:
        return handler(args)
    except ChunkyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
