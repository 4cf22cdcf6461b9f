"""``python -m chunky transcribe``: recordings in, transcripts out, with a progress bar.

Every input of one run gets outputs of its own: stems are made unique the way the page makes them
(``take``, ``take-2``, ...), also against outputs an earlier run left in the folder unless ``--overwrite``.
By default the terminal shows the progress bar, what was written and what failed; ``-q`` only failures
and the summary; ``--verbose`` every log line. NeMo's own lines go to the log file (``model_cache/logs``).
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

from chunky.base.errors import ChunkyError
from chunky.bootstrap import paths
from chunky.export import get_writer
from chunky.export.files import taken_stems
from chunky.settings import SavedSettings, Settings

log = logging.getLogger(__name__)


def expand_patterns(names: list[str]) -> list[str]:
    """Wildcards the shell left alone (Windows' cmd and PowerShell pass ``*.mp4`` as it is)."""
    out: list[str] = []
    for name in names:
        matches = sorted(glob.glob(name)) if any(c in name for c in "*?[") and not Path(name).exists() else []
        out += matches or [name]
    return out


@dataclass
class Planned:
    source: Path
    out_dir: Path
    stem: str


def plan_outputs(files: list[Path], out: Path | None, formats: tuple[str, ...],
                 overwrite: bool) -> list[Planned]:
    """Where each input's outputs go: ``<out or its folder>/<stem>.<ext>``, every stem unique in its
    folder (case-insensitively) among this run's inputs and, unless ``overwrite``, earlier outputs."""
    from chunky.base.names import unique_stems

    extensions = [get_writer(f).extension for f in formats]
    by_folder: dict[Path, list[int]] = {}
    for i, f in enumerate(files):
        by_folder.setdefault(out or f.parent, []).append(i)
    stems: dict[int, tuple[Path, str]] = {}
    for folder, members in by_folder.items():
        reserved = () if overwrite else taken_stems(folder, extensions)
        for i, stem in zip(members, unique_stems([files[i].name for i in members], reserved), strict=True):
            stems[i] = (folder, stem)
    return [Planned(f, *stems[i]) for i, f in enumerate(files)]


def run_transcribe(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from chunky import export
    from chunky.asr.engine import Engine
    from chunky.asr.options import Progress
    from chunky.audio.timing import probe_timing
    from chunky.models.catalogue import choose_model
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    settings: Settings = args.settings
    options = settings.export_options()  # a start timecode that does not exist at --fps: an error now
    quiet = args.quiet
    # Absolute paths: NeMo changes the working directory during a load.
    files = [Path(f).expanduser().resolve() for f in expand_patterns(args.files)]
    out_dir = Path(args.out).expanduser().resolve() if args.out else None
    plan = plan_outputs(files, out_dir, settings.formats, args.overwrite)
    p = paths()
    store = ModelStore(p.local_models, p.extracted)
    explicit = settings.origin("model") not in ("default", "settings.json")
    model_name = choose_model([m.name for m in store.list_models()], settings.model, store.local_models,
                              required=explicit)
    from chunky.cli.vocabulary import preflight

    vocabulary = preflight(settings, store, model_name, p.model_cache)  # a bad language or list: now
    manager = ModelManager(store, device=settings.device)
    engine = Engine(manager, settings.engine_options(model_name, vocabulary))
    failures: list[tuple[Path, str]] = []
    done: list[tuple[Planned, list[Path]]] = []
    for number, item in enumerate(plan, 1):
        path = item.source
        label = f"[{number}/{len(plan)}] {path.name}"
        bar = tqdm(total=1.0, desc=label, unit="s", disable=quiet, leave=True, file=sys.stderr,
                   bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix} [{elapsed}<{remaining}]")

        def progress(prog: Progress, bar=bar) -> None:
            if prog.total_seconds > 0:
                bar.total = round(prog.total_seconds, 1)
            bar.n = round(prog.done_seconds, 1)
            bar.set_postfix_str(prog.describe(), refresh=True)

        try:
            transcript = engine.transcribe(path, model_name, progress=progress)
            transcript.media = probe_timing(path)
            result = export.export_files(transcript, item.out_dir, item.stem, settings.formats, options)
            written = result.paths
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
        if number == 1:
            for note in engine.notices:
                print(f"vocabulary: {note}", file=sys.stderr)
        SavedSettings(p.model_cache).save(model=model_name)
        done.append((item, written))
        if not quiet:
            for f in written:
                print(f"  wrote {f}")
        for line in result.report:
            print(f"  subtitles: {line}", file=sys.stderr)
    manager.unload()
    print_summary(done, failures, len(plan))
    return 1 if failures else 0


def print_summary(done: list[tuple[Planned, list[Path]]], failures: list[tuple[Path, str]],
                  total: int) -> None:
    print(f"\nTranscribed {len(done)} of {total} file(s).")
    for item, written in done:
        exts = ", ".join(w.suffix for w in written)
        print(f"  {item.source}  ->  {item.out_dir / item.stem}.*  ({exts})")
    if failures:
        print(f"\n{len(failures)} of {total} file(s) failed:", file=sys.stderr)
        for path, why in failures:
            print(f"  {path}: {why}", file=sys.stderr)
