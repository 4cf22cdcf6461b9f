"""Download NeMo models (``.nemo`` files) from the Hugging Face Hub into ``local_models/``.

The Hub's API (``huggingface_hub``) says which ``.nemo`` a repo holds, its size and sha256; the bytes come
over plain HTTP (huggingface_hub's session, headers and redirects) into
``local_models/.downloads/<name>/<file>.incomplete``, and the file is moved into place as
``local_models/<name>.nemo`` only once it is complete and looks like a tar archive, so a failed or
interrupted download never leaves a complete-looking model behind. What was fetched stays there when the
download stops (a dropped connection, a cancel, the program closed): the next try asks for the rest with an
HTTP Range request and checks the whole file against the published sha256. (huggingface_hub 2.4's own
``hf_hub_download`` deletes its partial file on any error (a name unique to each try), so it cannot
continue after a restart.) A lock beside the folder keeps two processes off one download. No torch or nemo
here.
"""

from __future__ import annotations

import contextlib
import logging
import re
import shutil
import socket
import ssl
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chunky import __version__
from chunky.base.errors import (
    CancelledError,
    ChunkyError,
    DownloadError,
    InvalidNameError,
    ModelArchiveError,
    exception_chain,
)
from chunky.base.fs import (
    ProcessLock,
    atomic_write_json,
    finish_partial,
    human_size,
    is_disk_full,
    resumable_file,
    sha256_file,
)
from chunky.base.names import name_from_repo_id, validate_model_name
from chunky.models.archive import check_nemo_file
from chunky.models.catalogue import DEFAULT_REPO_ID
from chunky.models.sources import SourceRegistry

log = logging.getLogger("chunky.models.download")

DOWNLOADS_DIR = ".downloads"
INCOMPLETE = ".incomplete"  # local_models/.downloads/<name>/<file>.incomplete: the bytes fetched so far
MARKER = "download.json"  # beside it: which repo and file it is (so a later start can offer to continue)
CHUNK = 256 << 10  # bytes read at a time: progress and cancel are that fine-grained
RETRIES = 5  # dropped connections in a row (without new bytes) before giving up
ProgressFn = Callable[[int, "int | None"], None]  # (bytes done, total or None)
DEFAULT_HOST = "huggingface.co"
IMPORT_HINT = "To use a .nemo you already have: python setup_local_models.py --import PATH.nemo"
SPACE_MARGIN = 64 << 20
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}$")
_URL_PREFIXES = (
    "https://huggingface.co/",
    "http://huggingface.co/",
    "huggingface.co/",
    "hf.co/",
    "https://hf.co/",
)
# Class names (anywhere in an exception's MRO) that mean "the network failed", in requests/httpx/urllib3.
_NETWORK_ERROR_NAMES = frozenset(
    {
        "ConnectionError",
        "ConnectError",
        "ConnectTimeout",
        "Timeout",
        "TimeoutException",
        "ReadTimeout",
        "NetworkError",
        "TransportError",
        "RemoteProtocolError",
        "ProtocolError",
        "ProxyError",
        "SSLError",
        "IncompleteRead",
        "ChunkedEncodingError",
        "ContentDecodingError",
        "OfflineModeIsEnabled",
        "LocalEntryNotFoundError",
    }
)
_NETWORK_MODULES = ("requests", "httpx", "httpx2", "httpcore", "urllib3", "huggingface_hub", "http")


def parse_repo_id(text: str) -> str:
    """``"nvidia/parakeet-tdt-0.6b-v2"``, also from a pasted ``https://huggingface.co/...`` address."""
    repo = text.strip()
    for prefix in _URL_PREFIXES:
        if repo.lower().startswith(prefix):
            repo = repo[len(prefix) :]
            break
    parts = repo.strip("/").split("/")
    if len(parts) > 2 and parts[2] in ("tree", "blob", "resolve"):
        parts = parts[:2]
    repo = "/".join(parts)
    if not _REPO_ID.match(repo) or ".." in repo:
        raise InvalidNameError(
            f"{text!r} is not a Hugging Face model id: expected OWNER/NAME, e.g. {DEFAULT_REPO_ID}."
        )
    return repo


def _has(exc: BaseException, *names: str) -> BaseException | None:
    for e in exception_chain(exc):
        if any(c.__name__ in names for c in type(e).__mro__):
            return e
    return None


def is_connection_error(exc: BaseException) -> bool:
    for e in exception_chain(exc):
        if isinstance(e, ConnectionError | TimeoutError | socket.gaierror | ssl.SSLError):
            return True
        for cls in type(e).__mro__:
            if cls.__name__ in _NETWORK_ERROR_NAMES and cls.__module__.split(".")[0] in _NETWORK_MODULES:
                return True
    return False


def _status(exc: BaseException) -> int | None:
    for e in exception_chain(exc):
        response = getattr(e, "response", None)
        code = getattr(response, "status_code", None)
        if isinstance(code, int):
            return code
    return None


def _short(exc: BaseException) -> str:
    # The innermost cause usually says it best ("[Errno 111] Connection refused").
    causes = list(exception_chain(exc))
    for e in reversed(causes):
        text = str(e).strip().splitlines()[0] if str(e).strip() else ""
        if text:
            return text[:200]
    return type(exc).__name__


def _endpoint_label(endpoint: str | None) -> str:
    if endpoint is None:
        try:
            from huggingface_hub import constants

            endpoint = constants.ENDPOINT
        except Exception:
            return DEFAULT_HOST
    host = urlsplit(endpoint).netloc or endpoint
    return DEFAULT_HOST if host == DEFAULT_HOST else endpoint.rstrip("/")


def map_download_error(
    exc: BaseException, repo_id: str, where: str, *, filename: str | None = None, downloading: bool = False
) -> ChunkyError:
    """One clear DownloadError for whatever huggingface_hub / the network raised."""
    if isinstance(exc, ChunkyError):
        return exc
    if _has(exc, "GatedRepoError"):
        return DownloadError(
            f"The model {repo_id} on {where} is gated: accept its terms on "
            f"https://huggingface.co/{repo_id} and log in with 'hf auth login', then try again. {IMPORT_HINT}"
        )
    status = _status(exc)
    if _has(exc, "RepositoryNotFoundError") or (status in (401, 404) and not downloading):
        return DownloadError(
            f"There is no model {repo_id!r} on {where} (or it is private). Check the spelling, "
            f"e.g. {DEFAULT_REPO_ID}."
        )
    if _has(exc, "RevisionNotFoundError"):
        return DownloadError(f"The requested revision of {repo_id} does not exist on {where}.")
    if _has(exc, "OfflineModeIsEnabled"):
        return DownloadError(
            f"Cannot reach {where}: offline mode is on (HF_HUB_OFFLINE is set). {IMPORT_HINT}"
        )
    if is_disk_full(exc):
        return DownloadError(
            f"The disk filled up while downloading {repo_id}; nothing was kept. Free some space and try "
            "again."
        )
    interrupted = downloading and (
        is_connection_error(exc) or _has(exc, "XetDownloadError") or "Consistency check failed" in str(exc)
    )
    if interrupted:
        return DownloadError(
            f"The download of {filename or repo_id} from {where} was interrupted ({_short(exc)}); the part "
            f"already downloaded is kept: try again to continue from there. {IMPORT_HINT}"
        )
    if is_connection_error(exc):
        return DownloadError(
            f"Cannot reach {where} ({_short(exc)}). Check the internet connection or proxy settings and try "
            f"again. {IMPORT_HINT}"
        )
    if status is not None:
        return DownloadError(
            f"{where} answered with an error (HTTP {status}) for {repo_id}; try again later. {IMPORT_HINT}"
        )
    return DownloadError(f"Downloading {repo_id} failed: {type(exc).__name__}: {_short(exc)}")


def _console_bar(filename: str, size: int | None, have: int) -> Any:
    from huggingface_hub.utils import tqdm

    return tqdm(total=size, initial=have, unit="B", unit_scale=True, desc=Path(filename).name[-40:])


def _lfs_field(sibling: Any, key: str) -> Any:
    lfs = getattr(sibling, "lfs", None)
    if lfs is None:
        return None
    value = getattr(lfs, key, None)
    if value is None and isinstance(lfs, dict):
        value = lfs.get(key)
    return value


def _pick_nemo(files: list[Any], name: str, repo_id: str, where: str) -> Any:
    nemo = [f for f in files if f.rfilename.lower().endswith(".nemo")]
    if not nemo:
        shown = ", ".join(sorted(f.rfilename for f in files)[:10]) or "none"
        raise DownloadError(
            f"The repository {repo_id} on {where} has no .nemo file, so it is not a NeMo model Chunky "
            f"can use (files: {shown})."
        )

    def rank(f: Any) -> tuple[int, int, str]:
        return (f.rfilename.lower() != f"{name.lower()}.nemo", "/" in f.rfilename, f.rfilename)

    nemo.sort(key=rank)
    if len(nemo) > 1:
        log.info("%s has %d .nemo files; taking %s", repo_id, len(nemo), nemo[0].rfilename)
    return nemo[0]


class DownloadCancelled(CancelledError):
    """The download was cancelled; the bytes fetched so far are kept for the next try."""


def _clean_download_dir(folder: Path, *, keep_partial: bool = True) -> None:
    """Remove the download folder unless it holds an ``.incomplete`` file a next try can continue."""
    if not folder.exists():
        return
    if keep_partial and any(p.name.endswith(INCOMPLETE) and p.stat().st_size > 0
                            for p in folder.rglob("*") if p.is_file()):
        return
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # .downloads, when empty


def partial_downloads(local_models: Path) -> list[dict[str, Any]]:
    """The downloads a cancel, a closed app or a dropped connection left unfinished: ``{"name", "repo_id",
    "file", "size", "done"}`` each (the marker's, and the bytes already fetched)."""
    from chunky.base.fs import read_json

    root = Path(local_models) / DOWNLOADS_DIR
    found = []
    try:
        folders = sorted(d for d in root.iterdir() if d.is_dir())
    except OSError:
        return []
    for folder in folders:
        marker = read_json(folder / MARKER)
        if not isinstance(marker, dict) or not isinstance(marker.get("repo_id"), str):
            continue
        partial = folder / (Path(str(marker.get("file", ""))).name + INCOMPLETE)
        try:
            done = partial.stat().st_size
        except OSError:
            continue
        found.append({"name": folder.name, "repo_id": marker["repo_id"], "file": marker.get("file"),
                      "size": marker.get("size"), "done": done})
    return found


def discard_partial(local_models: Path, name: str) -> bool:
    """Delete an unfinished download's bytes (False when there were none)."""
    folder = Path(local_models) / DOWNLOADS_DIR / validate_model_name(name)
    if not folder.is_dir():
        return False
    _clean_download_dir(folder, keep_partial=False)
    return True


def _fetch(repo_id: str, filename: str, revision: str | None, endpoint: str | None, folder: Path,
           size: int | None, report: ProgressFn | None, cancel: threading.Event | None) -> Path:
    """``filename`` of the repo into ``folder/<file>.incomplete``, continuing after the bytes already there
    (an HTTP Range request); dropped connections are retried from where they stopped."""
    from huggingface_hub import constants, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_stream_backoff

    url = hf_hub_url(repo_id, filename, revision=revision, endpoint=endpoint)
    meta = get_hf_file_metadata(url, library_name="chunky", library_version=__version__, endpoint=endpoint)
    headers = build_hf_headers(library_name="chunky", library_version=__version__)
    headers["Accept-Encoding"] = "identity"
    target = meta.location or url
    if urlsplit(target).netloc != urlsplit(url).netloc:
        headers.pop("authorization", None)  # a signed address on a CDN takes no token
    total = size or meta.size
    partial = folder / (Path(filename).name + INCOMPLETE)
    have = partial.stat().st_size if partial.is_file() else 0
    if total is not None and have > total:
        have = 0
    if have:
        log.info("Continuing the download of %s after %s", filename, human_size(have))
    retries = RETRIES
    with resumable_file(partial, have) as f:
        while total is None or have < total:
            if cancel is not None and cancel.is_set():
                raise DownloadCancelled(f"The download of {repo_id} was cancelled.")
            asked = {**headers, **({"Range": f"bytes={have}-"} if have else {})}
            before = have
            try:
                with http_stream_backoff(method="GET", url=target, headers=asked,
                                         timeout=constants.HF_HUB_DOWNLOAD_TIMEOUT, retry_on_exceptions=(),
                                         retry_on_status_codes=(408, 429)) as response:
                    hf_raise_for_status(response)
                    if have and response.status_code == 200:  # the Range was ignored: from the start
                        f.seek(0)
                        f.truncate()
                        have = before = 0
                    if total is None:
                        length = response.headers.get("Content-Length")
                        total = have + int(length) if length and length.isdigit() else None
                    if report is not None:
                        report(have, total)
                    for block in response.iter_bytes(CHUNK):
                        if cancel is not None and cancel.is_set():
                            raise DownloadCancelled(f"The download of {repo_id} was cancelled.")
                        f.write(block)
                        have += len(block)
                        if report is not None:
                            report(have, total)
                if total is None:
                    break
                if have < total:
                    raise ConnectionError(f"the connection closed after {have} of {total} bytes")
            except Exception as exc:
                if isinstance(exc, ChunkyError) or not is_connection_error(exc):
                    raise
                retries = RETRIES if have > before else retries - 1
                if retries <= 0:
                    raise
                log.warning("The download of %s stopped (%s); continuing after %s", filename, _short(exc),
                            human_size(have))
                if cancel is not None:
                    cancel.wait(1.0)
                else:
                    time.sleep(1.0)
    return partial


def _list_files(api: Any, repo_id: str, revision: str | None) -> tuple[list[Any], str | None]:
    info = api.model_info(repo_id, revision=revision, files_metadata=True, timeout=30)
    files = info.siblings
    if files is None:
        from types import SimpleNamespace

        files = [SimpleNamespace(rfilename=f, size=None, lfs=None) for f in api.list_repo_files(repo_id)]
    return list(files), info.sha


def download_model(
    repo_id: str,
    local_models: Path,
    *,
    progress: bool = True,
    endpoint: str | None = None,
    revision: str | None = None,
    report: ProgressFn | None = None,
    cancel: threading.Event | None = None,
) -> Path:
    """Download the repo's ``.nemo`` as ``local_models/<name>.nemo`` (name: the part after the '/').

    A file already there that matches the Hub's size (and sha256, when the Hub publishes one) is kept. The
    bytes are fetched into ``local_models/.downloads/<name>/`` and kept there when the download stops (a
    dropped connection, a cancel, the program closed): the next call continues after them. ``endpoint``
    overrides ``HF_ENDPOINT`` (tests point it at a local stand-in). ``progress``: a console progress bar;
    ``report(done, total)`` is called as bytes arrive; ``cancel`` set stops it (DownloadCancelled).
    """
    repo_id = parse_repo_id(repo_id)
    name = name_from_repo_id(repo_id)
    local_models = Path(local_models).expanduser().resolve()
    local_models.mkdir(parents=True, exist_ok=True)
    dest = local_models / f"{name}.nemo"
    sources = SourceRegistry(local_models)
    where = _endpoint_label(endpoint)
    source = f"hub:{repo_id}"

    from huggingface_hub import HfApi

    try:
        files, commit = _list_files(
            HfApi(endpoint=endpoint, library_name="chunky", library_version=__version__), repo_id, revision
        )
    except Exception as exc:
        entry = sources.get(name) or {}
        if (
            is_connection_error(exc)
            and dest.is_file()
            and entry.get("source") == source
            and entry.get("size") == dest.stat().st_size
        ):
            log.warning(
                "Cannot reach %s (%s); keeping the copy downloaded before: %s", where, _short(exc), dest
            )
            return dest
        raise map_download_error(exc, repo_id, where) from exc

    chosen = _pick_nemo(files, name, repo_id, where)
    size = chosen.size or _lfs_field(chosen, "size")
    sha = _lfs_field(chosen, "sha256")
    details = {"sha256": sha, "revision": commit, "file": chosen.rfilename}
    if dest.is_file() and size is not None and dest.stat().st_size == size:
        entry = sources.get(name) or {}
        same = (
            (entry.get("source") == source and entry.get("sha256") == sha)
            if sha is None
            else (entry.get("sha256") == sha or sha256_file(dest) == sha)
        )
        if same:
            log.info("%s is already downloaded: %s", repo_id, dest)
            if entry.get("source") != source or entry.get("sha256") != sha:
                sources.set(name, source, size=size, **details)
            return dest

    folder = local_models / DOWNLOADS_DIR / name
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        busy = ProcessLock(folder.parent / f"{name}.lock")
    except OSError as exc:
        raise DownloadError(f"{repo_id} is being downloaded by another Chunky right now (a terminal or the "
                            "page); wait for it to finish.") from exc
    try:
        return _download_locked(repo_id, dest, folder, chosen, size, commit or revision, endpoint, where,
                                progress, report, cancel, sha,
                                lambda: sources.set(name, source, size=dest.stat().st_size, **details))
    finally:
        busy.release()
        with contextlib.suppress(OSError):
            folder.parent.rmdir()  # .downloads, when empty


def _download_locked(repo_id: str, dest: Path, folder: Path, chosen: Any, size: int | None,
                     revision: str | None, endpoint: str | None, where: str, progress: bool,
                     report: ProgressFn | None, cancel: threading.Event | None, sha: str | None,
                     record: Callable[[], None]) -> Path:
    partial = folder / (Path(chosen.rfilename).name + INCOMPLETE)
    have = partial.stat().st_size if partial.is_file() else 0
    if size:
        free = shutil.disk_usage(dest.parent).free
        if free < size - min(have, size) + SPACE_MARGIN:
            raise DownloadError(
                f"Not enough disk space to download {repo_id}: it needs {human_size(size)} in "
                f"{dest.parent}, but only {human_size(free)} is free."
            )
    log.info(
        "Downloading %s (%s) from %s ...",
        chosen.rfilename,
        human_size(size) if size else "size unknown",
        where,
    )
    bar = _console_bar(chosen.rfilename, size, have) if progress else None

    def on_bytes(done: int, total: int | None) -> None:
        if bar is not None:
            bar.update(done - bar.n)
        if report is not None:
            report(done, total)

    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write_json(folder / MARKER, {"repo_id": repo_id, "file": chosen.rfilename, "size": size,
                                            "revision": revision})
        fetched = _fetch(repo_id, chosen.rfilename, revision, endpoint, folder, size, on_bytes, cancel)
    except Exception as exc:
        _clean_download_dir(folder, keep_partial=not is_disk_full(exc))
        raise map_download_error(exc, repo_id, where, filename=chosen.rfilename, downloading=True) from exc
    except BaseException:
        _clean_download_dir(folder)
        raise
    finally:
        if bar is not None:
            bar.close()
    try:
        if size is not None and fetched.stat().st_size != size:
            raise DownloadError(
                f"The download of {chosen.rfilename} is incomplete ({fetched.stat().st_size} of {size} "
                "bytes); run the same command again."
            )
        if have and sha and sha256_file(fetched) != sha:  # continued: the kept part could be stale
            raise DownloadError(
                f"The download of {chosen.rfilename} did not come out as published (the part kept from "
                "before was damaged); it was deleted: download it again."
            )
        try:
            check_nemo_file(fetched)
        except ModelArchiveError as exc:
            raise DownloadError(
                f"{chosen.rfilename} from {repo_id} is not a .nemo archive (a .nemo file is a tar archive). "
                f"{IMPORT_HINT}"
            ) from exc
        finish_partial(fetched, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            fetched.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    record()
    shutil.rmtree(folder, ignore_errors=True)
    log.info("Downloaded %s to %s", repo_id, dest)
    return dest
