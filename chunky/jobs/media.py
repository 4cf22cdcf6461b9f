"""The recording a job's file was made from, kept playable for the review page.

The page's uploads live in Gradio's cache under ``model_cache/tmp``, which Chunky empties at every start
and Gradio prunes after a day. So that a finished file can still be played (and corrected against what was
said) later, the job folder keeps a *hard link* to it: ``<job>/media/<stem><suffix>``. A hard link is a
second name of the same file on disk: it costs no space while the upload exists, and keeps the recording
(its size on disk, no more) once the upload is gone, until the job folder is deleted. Nothing is ever
copied: where a link cannot be made (another drive, a file system without links), the page plays the
upload while it is there and says so when it is gone.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

MEDIA_DIR = "media"
# Suffixes of recordings that are (or usually are) videos: the page plays them in a <video> element.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mxf", ".mpg", ".mpeg", ".ts",
                            ".mts", ".m2ts", ".wmv", ".flv", ".3gp"})


def keep_media(source: Path, folder: Path, stem: str) -> Path | None:
    """A hard link to ``source`` in ``folder/media/`` (or the one made before); None when none can be made
    (logged, never an error: the transcript is what matters)."""
    source = Path(source)
    target = Path(folder) / MEDIA_DIR / f"{stem}{source.suffix.lower()}"
    try:
        if target.is_file():
            return target
        if not source.is_file():
            return None
        target.parent.mkdir(parents=True, exist_ok=True)
        os.link(source, target)  # atomic: the name exists, with the whole file, or not at all
        return target
    except OSError as exc:
        log.info("The recording %s cannot be linked into %s (%s): the page plays it while the upload "
                 "lasts", source.name, target.parent, exc)
        return None


def media_kind(path: Path, media: dict[str, str] | None = None) -> str:
    """``video`` for a video recording (one with a frame rate, or a video file name), else ``audio``."""
    if media and media.get("fps"):
        return "video"
    return "video" if Path(path).suffix.lower() in VIDEO_SUFFIXES else "audio"
