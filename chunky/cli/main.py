"""``python -m chunky`` (or ``chunky``): the command line. Each command imports what it needs when it runs.

The settings (``--device``, ``--batch-size``, ...) are read here once, from the command line, the
environment and ``settings.json`` (:mod:`chunky.settings`), and handed to the command as ``args.settings``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Callable, Sequence

from chunky.base import retry
from chunky.base.errors import ChunkyError
from chunky.base.logs import setup_logging
from chunky.bootstrap import paths
from chunky.settings import ENGINE_SETTINGS, EXPORT_SETTINGS, add_arguments, flags_from, settings_for

Handler = Callable[[argparse.Namespace], int]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], str]] = {}


def command(name: str, help: str, target: str):
    """Register a subcommand: ``target`` is "module:function" imported only when the command runs."""

    def register(add: Callable[[argparse.ArgumentParser], None]):
        _COMMANDS[name] = (help, add, target)
        return add

    return register


@command("transcribe", "transcribe recordings into subtitles, transcripts and files for editing programs",
         "chunky.cli.transcribe:run_transcribe")
def _transcribe_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="audio or video files (wildcards allowed)")
    p.add_argument("--out", help="output folder (default: beside each input file)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace outputs of an earlier run (default: a new name such as take-2.txt)")
    add_arguments(p, ENGINE_SETTINGS + EXPORT_SETTINGS)


@command("export", "write other formats or subtitle rules from a transcript's .json, without transcribing",
         "chunky.cli.export:run_export")
def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="JSON", help="transcripts Chunky wrote (<name>.json)")
    p.add_argument("--out", help="output folder (default: beside each .json)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace outputs of an earlier run (never the .json read)")
    add_arguments(p, EXPORT_SETTINGS)


@command("models", "list the local models (--catalogue: the models you can download)",
         "chunky.cli.setup:run_models")
def _models_args(p: argparse.ArgumentParser) -> None:
    what = p.add_mutually_exclusive_group()
    what.add_argument("--verify", action="store_true", help="re-check each model against its archive")
    what.add_argument("--catalogue", "--catalog", action="store_true",
                      help="the known NeMo models: size, languages, licence, features, fit on this GPU")
    p.add_argument("--gpu-memory", metavar="GB", help="with --catalogue: plan for a GPU of this many GB")


@command("vocabulary", "saved vocabulary lists: list, show NAME, save NAME FILE|PHRASES, remove NAME",
         "chunky.cli.vocabulary:run_vocabulary")
def _vocabulary_args(p: argparse.ArgumentParser) -> None:
    from chunky.cli.vocabulary import add_arguments as add_vocabulary

    add_vocabulary(p)


@command("config", "show every setting, its value and where it came from", "chunky.cli.config:run_config")
def _config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")
    add_arguments(p, ENGINE_SETTINGS + EXPORT_SETTINGS)


@command("paths", "show where models, caches, outputs and temp files live", "chunky.cli.config:run_paths")
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


def _verbosity(p: argparse.ArgumentParser, default) -> None:
    group = p.add_mutually_exclusive_group()
    group.add_argument("-q", "--quiet", action="store_true", default=default,
                       help="show only failures and the summary")
    group.add_argument("-v", "--verbose", action="store_true", default=default,
                       help="show every log line (NeMo's too)")


def build_parser() -> argparse.ArgumentParser:
    from chunky import __version__

    parser = argparse.ArgumentParser(
        prog="python -m chunky",
        description="Chunky: exact, timestamped transcripts from NVIDIA NeMo speech models, locally. "
                    "Every setting can also come from its CHUNKY_* variable (see the config command).",
    )
    parser.add_argument("--version", action="version", version=f"chunky {__version__}")
    _verbosity(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add, target) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add(p)
        _verbosity(p, argparse.SUPPRESS)  # given after the command, it still counts
        p.set_defaults(_target=target)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_target", None):
        parser.print_help()
        return 0
    app_paths = paths()
    level = logging.ERROR if args.quiet else logging.WARNING
    setup_logging(app_paths.model_cache / "logs", console_level=level, verbose=args.verbose)
    args.settings = settings_for(app_paths.model_cache, os.environ, flags_from(args))
    retry.configure(args.settings.lock_retry_delays)
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
