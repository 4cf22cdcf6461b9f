"""``python -m chunky export talk.json``: other formats or subtitle rules from a transcript Chunky saved,
without transcribing again.

The .json read is never changed, nor replaced: new files get a new name (``talk-2.srt``) unless
``--overwrite``, and even then the .json read keeps its content (a JSON output gets a new name).
``--rename-speakers "Speaker 1=Host"`` renames speakers in every file written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chunky.base.errors import ChunkyError
from chunky.base.names import unique_stems
from chunky.cli.transcribe import expand_patterns
from chunky.export import export_files, get_writer
from chunky.export.files import taken_stems
from chunky.settings import Settings
from chunky.transcript.model import Transcript
from chunky.transcript.speakers import rename_speakers


def read_transcript(path: Path) -> Transcript:
    """The transcript in a Chunky JSON file; ChunkyError saying what is wrong with it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ChunkyError(f"{path.name}: file not found ({path}).") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ChunkyError(f"{path.name} cannot be read: {exc}") from None
    except json.JSONDecodeError as exc:
        raise ChunkyError(f"{path.name} is not JSON ({exc}): give the .json file Chunky wrote.") from None
    try:
        return Transcript.from_dict(data)
    except (ValueError, KeyError, TypeError) as exc:
        raise ChunkyError(f"{path.name} is not a Chunky transcript: {exc}.") from None


def run_export(args: argparse.Namespace) -> int:
    settings: Settings = args.settings
    options = settings.export_options()
    extensions = [get_writer(f).extension for f in settings.formats]
    out_dir = Path(args.out).expanduser().resolve() if args.out else None
    failures = 0
    for name in expand_patterns(args.files):
        source = Path(name).expanduser().resolve()
        folder = out_dir or source.parent
        try:
            transcript = read_transcript(source)
            if settings.rename_speakers:  # a name it lacks is a typo here (the export options apply them)
                try:
                    rename_speakers(transcript, settings.rename_speakers)
                except ValueError as exc:
                    raise ChunkyError(f"{source.name}: {exc}.") from None
            base = source.name[: -len(".json")] if source.name.lower().endswith(".json") else source.stem
            reserved = set() if args.overwrite else taken_stems(folder, extensions)
            if folder == source.parent and "json" in settings.formats:
                reserved.add(base.lower())  # the transcript read is never replaced
            [stem] = unique_stems([base + ".x"], reserved)
            done = export_files(transcript, folder, stem, settings.formats, options)
        except ChunkyError as exc:
            failures += 1
            print(f"{source}: FAILED: {exc}", file=sys.stderr)
            continue
        except OSError as exc:
            failures += 1
            print(f"{source}: FAILED: the files could not be saved in {folder}: {exc}", file=sys.stderr)
            continue
        if not args.quiet:
            for path in done.paths:
                print(f"  wrote {path}")
        for line in done.report:
            print(f"  subtitles: {line}", file=sys.stderr)
    return 1 if failures else 0
