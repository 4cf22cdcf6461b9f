"""The review view: a finished file played beside its transcript, to check, search and correct it.

The view is one ``gr.HTML`` whose value is a small JSON *descriptor* of what to show (which job and file,
its revision, where its transcript and its recording are served from, the confidence threshold, a note
after a save). Its template never changes, so Gradio never re-renders it: ``review.js`` (run once by the
component's ``js_on_load``) builds the view, fetches the transcript JSON itself (the file Chunky saved, over
Gradio's file route, behind the page's guard) and draws it, and watches the descriptor for changes. The
corrections go back through the component's own events (``trigger('review_save', ...)``), which the page
wires to queue-free handlers.

The recording is served only from Chunky's own folders: the hard link in the job folder
(:mod:`chunky.jobs.media`), else the upload in Gradio's cache while it lasts. No Gradio here.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from chunky.jobs import revisions
from chunky.jobs.media import media_kind
from chunky.jobs.outputs import saved_json
from chunky.jobs.state import FileResult, FileState, JobSnapshot

HERE = Path(__file__).resolve().parent
DESCRIPTOR_VERSION = 1
# The component's template: a fixed mount point (review.js fills it; the same string every time, so a new
# descriptor never makes Gradio touch the view's DOM).
TEMPLATE = '<div class="chunky-review-mount"></div>'
EVENTS = ("review_save", "review_restore", "review_file", "review_threshold")


@cache
def script() -> str:
    """review.js: the body of the component's ``js_on_load`` (``element``, ``trigger``, ``props``, ``watch``
    are given)."""
    return (HERE / "review.js").read_text(encoding="utf-8")


@cache
def style() -> str:
    return (HERE / "review.css").read_text(encoding="utf-8")


def file_url(path: Path, version: str = "") -> str:
    """The page-relative address Gradio serves ``path`` at (its file route checks the folder again)."""
    url = "gradio_api/file=" + quote(str(path), safe="/:\\")
    return url + (f"?v={quote(version)}" if version else "")


def reviewable(f: FileResult, stem: str) -> Path | None:
    """The transcript JSON of a finished file (done, or cancelled with what was finished)."""
    if f.state not in (FileState.DONE, FileState.CANCELLED):
        return None
    return saved_json(f, stem)


def media_of(f: FileResult, roots: tuple[Path, ...]) -> Path | None:
    """The recording to play: the job folder's link, else the source while it is a file inside one of
    ``roots`` (Chunky's own folders); never a path outside them."""
    for candidate in (f.media, f.source):
        if candidate is None:
            continue
        try:
            path = Path(candidate).resolve()
        except OSError:
            continue
        if path.is_file() and any(path.is_relative_to(r) for r in roots):
            return path
    return None


def descriptor(snap: JobSnapshot | None, index: int | None, *, roots: tuple[Path, ...], threshold: float,
               note: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the review view shows for the job ``snap`` (None: nothing yet): its file ``index`` (None: the
    first that can be reviewed)."""
    if snap is None or len(snap.stems) != len(snap.files):
        return {"v": DESCRIPTOR_VERSION, "state": "empty", "threshold": threshold}
    stems = snap.stems
    files = []
    for f, stem in zip(snap.files, stems, strict=True):
        files.append({"name": f.name, "ready": reviewable(f, stem) is not None, "revision": f.revision})
    ready = [i for i, f in enumerate(files) if f["ready"]]
    if index is None or not 0 <= index < len(files):
        index = ready[0] if ready else 0
    out: dict[str, Any] = {"v": DESCRIPTOR_VERSION, "job": snap.id, "file": index, "files": files,
                           "threshold": threshold, "note": note}
    f = snap.files[index]
    json_path = reviewable(f, stems[index])
    if json_path is None:
        out["state"] = "waiting" if snap.active and f.state in (FileState.PENDING, FileState.RUNNING) \
            else "none"
        out["name"] = f.name
        return out
    try:
        mtime = json_path.stat().st_mtime_ns
    except OSError:
        mtime = 0
    media = media_of(f, roots)
    history = revisions.revisions(json_path)
    out.update({
        "state": "ready",
        "name": f.name,
        "revision": f.revision,
        "partial": f.state is FileState.CANCELLED,
        "data": file_url(json_path, f"{f.revision}-{mtime}"),
        "media": file_url(media) if media is not None else None,
        "kind": media_kind(media or f.source),
        "revisions": [r.to_dict() for r in history],
    })
    return out


def descriptor_json(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
