"""``python -m chunky transcribe`` and ``python -m chunky models``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from chunky.base.errors import ChunkyError, ModelNotFoundError
from chunky.bootstrap import paths

log = logging.getLogger("chunky.cli.main")

DEFAULT_MODEL = "parakeet-tdt-0.6b-v2"
SETUP_HINT = (
    "Get one with: python setup_local_models.py   (downloads nvidia/parakeet-tdt-0.6b-v2)\n"
    "          or: python setup_local_models.py --import PATH.nemo"
)


def open_store():
    from chunky.models.store import ModelStore

    p = paths()
    return ModelStore(p.local_models, p.extracted)


def settings():
    from chunky.settings import Settings

    return Settings(paths().model_cache / "settings.json")


def choose_model(store, requested: str | None) -> str:
    """The model to use: the one asked for, else the last one used, else the default, else the only one."""
    names = [m.name for m in store.list_models()]
    if requested:
        if requested not in names:
            have = ", ".join(names) if names else "none"
            raise ModelNotFoundError(
                f"No local model named {requested!r} (local models: {have}).\n{SETUP_HINT}"
            )
        return requested
    if not names:
        raise ModelNotFoundError(f"No model is installed yet.\n{SETUP_HINT}")
    last = settings().get("last_model")
    for candidate in (last, DEFAULT_MODEL):
        if candidate in names:
            return candidate
    return sorted(names)[0]


def run_models(args: argparse.Namespace) -> int:
    store = open_store()
    models = store.list_models()
    if not models:
        print(f"No models in {paths().local_models}.\n{SETUP_HINT}")
        return 0
    rows = [("NAME", "SOURCE", "SIZE", "EXTRACTED", "VERIFIED")]
    for m in models:
        verified = m.verified
        if args.verify and m.extracted:
            verified = store.verify(m.name).ok
        size = f"{(m.size or 0) / 1e6:,.1f} MB"
        mark = {True: "yes", False: "NO", None: "-"}
        rows.append((m.name, m.source or "-", size, mark[m.extracted], mark[verified]))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return 0


def expand_patterns(names: list[str]) -> list[str]:
    """Wildcards the shell left alone (Windows' cmd and PowerShell pass ``*.mp4`` as it is)."""
    import glob

    out: list[str] = []
    for name in names:
        matches = sorted(glob.glob(name)) if any(c in name for c in "*?[") and not Path(name).exists() else []
        out += matches or [name]
    return out


def run_transcribe(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from chunky import export
    from chunky.asr.engine import Engine, EngineOptions, Progress
    from chunky.models.manager import ModelManager

    formats = export.parse_formats(args.format)
    # Absolute paths: NeMo changes the working directory during a load.
    files = [Path(f).expanduser().resolve() for f in expand_patterns(args.files)]
    out_dir = Path(args.out).expanduser().resolve() if args.out else None
    store = open_store()
    model_name = choose_model(store, args.model)
    manager = ModelManager(store, device=args.device)
    options = EngineOptions(batch_size=args.batch_size)
    if args.chunk_seconds:
        options.chunk_seconds = args.chunk_seconds
    engine = Engine(manager, options)
    failures: list[tuple[Path, str]] = []
    for number, path in enumerate(files, 1):
        label = f"[{number}/{len(files)}] {path.name}"
        bar = tqdm(total=1.0, desc=label, unit="s", disable=args.quiet, leave=True,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

        def progress(p: Progress, bar=bar) -> None:
            if p.total_seconds > 0:
                bar.total = round(p.total_seconds, 1)
            bar.n = round(p.done_seconds, 1)
            bar.set_postfix_str(p.describe(), refresh=True)

        try:
            transcript = engine.transcribe(path, model_name, progress=progress)
            written = export.write_outputs(transcript, out_dir or path.parent, path.stem, formats)
        except ChunkyError as exc:
            bar.close()
            failures.append((path, str(exc)))
            print(f"{label}: FAILED: {exc}", file=sys.stderr)
            continue
        except Exception as exc:  # a bug: report it, keep going with the next file
            bar.close()
            log.exception("Transcribing %s failed", path)
            failures.append((path, f"internal error: {type(exc).__name__}: {exc}"))
            continue
        bar.close()
        if manager.current and manager.current.notice and number == 1:
            print(manager.current.notice, file=sys.stderr)
        settings().set("last_model", model_name)
        for f in written:
            print(f"  wrote {f}")
    manager.unload()
    if failures:
        print(f"\n{len(failures)} of {len(files)} file(s) failed:", file=sys.stderr)
        for path, why in failures:
            print(f"  {path}: {why}", file=sys.stderr)
        return 1
    return 0
