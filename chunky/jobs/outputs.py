"""What a job writes: each finished file's outputs (with its saved JSON, which exporting again reads), the
zip of a job of several files, and new exports of finished transcripts. Never replaces a file."""

from __future__ import annotations

import json
import logging
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from chunky import export
from chunky.base.errors import ChunkyError
from chunky.base.fs import atomic_file
from chunky.base.names import PARTIAL_MARK, safe_stem, unique_stems
from chunky.export import ExportOptions
from chunky.export.files import taken_stems
from chunky.jobs.state import FileResult
from chunky.transcript.model import Transcript

log = logging.getLogger(__name__)

MediaTimingFn = Callable[[Path], Any]


def write_file_outputs(transcript: Transcript, folder: Path, stem: str, formats: Sequence[str],
                       options: ExportOptions, *, source: Path | None = None,
                       media_timing: MediaTimingFn | None = None, job_id: str = "",
                       ) -> tuple[tuple[Path, ...], str | None, tuple[str, ...]]:
    """Write ``<folder>/<stem>.<ext>`` for ``formats`` and the JSON (exporting again reads it); returns
    (paths, None, the layout's broken rules) or ((), a message for the user, ())."""
    if source is not None and media_timing is not None and transcript.media is None:
        try:
            transcript.media = media_timing(source)
        except Exception as exc:  # the defaults apply
            log.debug("No media timing for %s: %s", source, exc)
    names = tuple(formats) if "json" in formats else (*formats, "json")
    try:
        done = export.export_files(transcript, folder, stem, names, options)
        return tuple(Path(p) for p in done.paths), None, tuple(done.report)
    except ChunkyError as exc:
        return (), str(exc), ()
    except OSError as exc:
        return (), f"The transcript could not be saved in {folder}: {exc}", ()
    except Exception as exc:
        log.exception("Job %s: writing %s failed", job_id, stem)
        return (), f"Internal error: {type(exc).__name__}: {exc}", ()


def write_zip(job_id: str, folder: Path, files: Sequence[FileResult]) -> Path | None:
    """``chunky-<job>.zip`` of every output of ``files``; None (logged) when it cannot be written."""
    path = folder / f"chunky-{job_id}.zip"
    try:
        with atomic_file(path) as fh, zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for f in files:
                for out in f.outputs:
                    zf.write(out, arcname=out.name)
        return path
    except (OSError, ChunkyError) as exc:
        log.warning("Job %s: could not write %s: %s", job_id, path, exc)
        return None


def export_saved_transcripts(files: Sequence[tuple[FileResult, str]], folder: Path, options: ExportOptions,
                             formats: Sequence[str]) -> tuple[list[list[Path]], list[str]]:
    """Lay out each file's saved JSON (``(file, stem)`` pairs) again with ``options`` and write ``formats``
    into new files named after the preset (``talk-social.srt``, then ``talk-social-2.srt``): returns the
    paths written per file and what went wrong, per file, for the user."""
    tag = safe_stem(options.rules.preset.split(" ")[0] + ".x") or "export"
    extensions = [w.extension for w in export.WRITERS.values()]
    written: list[list[Path]] = []
    problems: list[str] = []
    for f, stem in files:
        written.append([])
        saved = (f"{stem}.json", f"{stem}{PARTIAL_MARK}.json")
        source = next((p for p in f.outputs if p.name in saved), None)
        if source is None or not source.is_file():
            continue
        try:
            transcript = Transcript.from_dict(json.loads(source.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            problems.append(f"{f.name}: its transcript {source.name} cannot be read ({exc}).")
            continue
        base = source.name[: -len(".json")]
        [new_stem] = unique_stems([f"{base}-{tag}.x"], taken_stems(folder, extensions))
        try:
            done = export.export_files(transcript, folder, new_stem, formats, options)
        except ChunkyError as exc:
            problems.append(f"{f.name}: {exc}")
            continue
        except OSError as exc:
            problems.append(f"{f.name}: the files could not be saved in {folder}: {exc}")
            continue
        written[-1] = list(done.paths)
    return written, problems
