"""``python setup_local_models.py``: download, import, list, verify and remove local NeMo models.

No arguments: download nvidia/parakeet-tdt-0.6b-v2 and extract it, so the app's first start is quick.
``python setup_local_models.py nvidia/diar_streaming_sortformer_4spk-v2`` adds the diarization model (who
spoke when). Every download prints the model's licence.
Errors end with one line on stderr and exit status 1; nothing half-written is left behind.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from chunky.base import retry
from chunky.base.errors import ChunkyError
from chunky.base.fs import human_size
from chunky.bootstrap import paths
from chunky.models.catalogue import (
    CLUSTERING_REPO_ID,
    DEFAULT_DIARIZATION_REPO_ID,
    DEFAULT_REPO_ID,
    SETUP_COMMAND,
    licence_line,
)
from chunky.models.store import ModelStore
from chunky.settings import settings_for

log = logging.getLogger("chunky.setup")



def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python setup_local_models.py",
        description=(
            "Download NeMo speech models from Hugging Face (or import .nemo files you have) into\n"
            "local_models/ and extract them once into model_cache/extracted/, so Chunky starts fast\n"
            "and works offline."
        ),
        epilog=(
            f"Examples:  python setup_local_models.py                       (downloads {DEFAULT_REPO_ID})\n"
            "           python setup_local_models.py nvidia/canary-1b-flash\n"
            f"           python setup_local_models.py {DEFAULT_DIARIZATION_REPO_ID}   (who spoke when)\n"
            f"           python setup_local_models.py {CLUSTERING_REPO_ID}   (speakers by clustering)\n"
            "           python setup_local_models.py --import D:/models/my-model.nemo --name my-model\n"
            "           python setup_local_models.py --list\n"
            "           python setup_local_models.py --catalogue             (models you can download)"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "repo_ids",
        nargs="*",
        metavar="REPO_ID",
        help=f"Hugging Face model ids to download (default: {DEFAULT_REPO_ID})",
    )
    action = p.add_mutually_exclusive_group()
    action.add_argument(
        "--import", dest="import_path", metavar="PATH.nemo", help="copy a .nemo file in and extract it"
    )
    action.add_argument("--list", action="store_true", help="list the local models")
    action.add_argument("--catalogue", "--catalog", action="store_true",
                        help="the known NeMo models: size, languages, licence, features, fit on this GPU")
    action.add_argument(
        "--verify",
        nargs="?",
        const="",
        metavar="NAME",
        help="check archives and extracted files (all models if no NAME)",
    )
    action.add_argument("--remove", metavar="NAME", help="delete a model (archive and extracted folder)")
    p.add_argument("--name", help="with --import: the model's name (default: the file name without .nemo)")
    p.add_argument("--replace", action="store_true", help="with --import: replace a model of the same name")
    p.add_argument("--no-extract", action="store_true", help="download only; extract on first use instead")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("-v", "--verbose", action="store_true", help="more log output")
    p.add_argument("--gpu-memory", metavar="GB",
                   help="with --catalogue: plan for a GPU of this many GB (0: none), not this PC's")
    p.add_argument("--endpoint", help=argparse.SUPPRESS)  # a Hub mirror or a test stand-in
    return p


class _BelowError(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


def _setup_logging(verbose: bool) -> None:
    """Progress goes to stdout; stderr is kept for the error line."""
    out = logging.StreamHandler(sys.stdout)
    out.addFilter(_BelowError())
    err = logging.StreamHandler(sys.stderr)
    err.setLevel(logging.ERROR)
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[out, err],
        force=True,
    )
    if not verbose:
        for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "filelock"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


def _open_store() -> ModelStore:
    p = paths()
    return ModelStore(p.local_models, p.extracted)


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


def run_list(store: ModelStore, verify: bool = False) -> int:
    """The table of local models; ``verify``: check each extracted one against its archive first."""
    models = store.list_models()
    if not models:
        print(f"No models in {store.local_models}. Get one with: {SETUP_COMMAND}")
        return 0
    mark = {True: "yes", False: "NO", None: "-"}
    rows = [("NAME", "SOURCE", "KIND", "SIZE", "EXTRACTED", "VERIFIED")]
    for m in models:
        verified = store.verify(m.name).ok if verify and m.extracted else m.verified
        rows.append((m.name, m.source, m.kind, human_size(m.size), mark[m.extracted], mark[verified]))
    _print_table(rows)
    return 0


def run_catalogue(store: ModelStore, gpu_gb: str | None = None) -> int:
    from chunky.cli.catalogue import format_catalogue, gpu_memory, parse_gpu_gb

    try:
        gpu = parse_gpu_gb(gpu_gb) if gpu_gb is not None else gpu_memory(os.environ)
    except ValueError as exc:
        raise ChunkyError(str(exc)) from None
    print(format_catalogue(gpu, [m.name for m in store.list_models()]))
    return 0


def run_models(args: argparse.Namespace) -> int:
    """``python -m chunky models [--verify | --catalogue [--gpu-memory GB]]``."""
    if args.catalogue:
        return run_catalogue(_open_store(), args.gpu_memory)
    return run_list(_open_store(), verify=args.verify)


def run_verify(store: ModelStore, name: str) -> int:
    names = [name] if name else [m.name for m in store.list_models()]
    if not names:
        print(f"No models in {store.local_models}.")
        return 0
    failed = []
    for n in names:
        result = store.verify(n)
        print(f"{n}: {'OK' if result.ok else 'PROBLEMS'}")
        for problem in result.problems:
            print(f"  - {problem}")
        for note in result.notes:
            print(f"  ({note})")
        if not result.ok:
            failed.append(n)
    if failed:
        raise ChunkyError(f"{len(failed)} model(s) failed verification: {', '.join(failed)} (details above)")
    return 0


def run_import(store: ModelStore, path: str, name: str | None, replace: bool) -> int:
    src = Path(path).expanduser().resolve()
    print(f"Importing {src} ...")
    model = store.import_archive(src, name, replace=replace)
    print(f"Imported {model!r}: {store.archive_path(model)} (extracted in {store.extracted_dir(model)})")
    return 0


def run_download(
    store: ModelStore, repo_ids: list[str], *, endpoint: str | None, extract: bool, progress: bool
) -> int:
    from chunky.models.download import download_model, parse_repo_id

    failures = 0
    for repo_id in repo_ids:
        try:
            path = download_model(repo_id, store.local_models, progress=progress, endpoint=endpoint)
            name = path.stem
            if extract:
                folder = store.ensure_extracted(name)
                print(f"Ready: {name!r} ({path}, extracted in {folder})")
            else:
                print(f"Downloaded {name!r}: {path}")
            print(f"  {licence_line(parse_repo_id(repo_id))}")
        except ChunkyError as exc:
            failures += 1
            print(f"error: {exc}", file=sys.stderr)
    return 1 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repo_ids and (args.import_path or args.list or args.catalogue or args.verify is not None
                          or args.remove):
        parser.error("REPO_ID cannot be combined with --import, --list, --catalogue, --verify or --remove")
    if (args.name or args.replace) and not args.import_path:
        parser.error("--name and --replace go with --import")
    if args.gpu_memory is not None and not args.catalogue:
        parser.error("--gpu-memory goes with --catalogue")
    _setup_logging(args.verbose)
    try:
        settings = settings_for(paths().model_cache, os.environ)
        retry.configure(settings.lock_retry_delays)
        store = _open_store()
        if args.list:
            return run_list(store)
        if args.catalogue:
            return run_catalogue(store, args.gpu_memory)
        if args.verify is not None:
            return run_verify(store, args.verify)
        if args.remove:
            store.remove(args.remove)  # logs "Removed model NAME"
            return 0
        if args.import_path:
            return run_import(store, args.import_path, args.name, args.replace)
        return run_download(
            store,
            args.repo_ids or [DEFAULT_REPO_ID],
            endpoint=args.endpoint or settings.hub_endpoint,
            extract=not args.no_extract,
            progress=not args.quiet,
        )
    except ChunkyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a disk or permission problem outside the cases above: still one line
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted; nothing half-written was kept", file=sys.stderr)
        return 130
