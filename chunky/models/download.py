"""Download NeMo models (``.nemo`` files) from the Hugging Face Hub into ``local_models/``.

The file is fetched by ``huggingface_hub`` into ``local_models/.downloads/<name>/`` and moved into place as
``local_models/<name>.nemo`` only once it is complete and looks like a tar archive, so a failed or
interrupted download never leaves a complete-looking model behind. No torch or nemo here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chunky import __version__
from chunky.base.errors import (
    ChunkyError,
    DownloadError,
    InvalidNameError,
    ModelArchiveError,
    exception_chain,
)
from chunky.base.fs import human_size, is_disk_full, sha256_file
from chunky.base.names import name_from_repo_id
from chunky.base.retry import retry_on_lock
from chunky.models.archive import check_nemo_file
from chunky.models.catalogue import DEFAULT_REPO_ID
from chunky.models.sources import SourceRegistry

log = logging.getLogger("chunky.models.download")

DOWNLOADS_DIR = ".downloads"
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
            f"The disk filled up while downloading {repo_id}; nothing was kept. Free some space."
        )
    interrupted = downloading and (
        is_connection_error(exc) or _has(exc, "XetDownloadError") or "Consistency check failed" in str(exc)
    )
    if interrupted:
        return DownloadError(
            f"The download of {filename or repo_id} from {where} was interrupted ({_short(exc)}); "
            f"nothing was kept. Run the same command again to retry. {IMPORT_HINT}"
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


@contextlib.contextmanager
def _progress_bars(enabled: bool) -> Iterator[None]:
    if enabled:
        yield
        return
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


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


def _clean_download_dir(folder: Path) -> None:
    """Remove the download folder unless it holds an ``.incomplete`` file huggingface_hub can resume."""
    if not folder.exists():
        return
    if any(p.name.endswith(".incomplete") and p.stat().st_size > 0 for p in folder.rglob("*") if p.is_file()):
        return
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()  # .downloads, when empty


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
) -> Path:
    """Download the repo's ``.nemo`` as ``local_models/<name>.nemo`` (name: the part after the '/').

    A file already there that matches the Hub's size (and sha256, when the Hub publishes one) is kept.
    ``endpoint`` overrides ``HF_ENDPOINT`` (tests point it at a local stand-in).
    """
    repo_id = parse_repo_id(repo_id)
    name = name_from_repo_id(repo_id)
    local_models = Path(local_models).expanduser().resolve()
    local_models.mkdir(parents=True, exist_ok=True)
    dest = local_models / f"{name}.nemo"
    sources = SourceRegistry(local_models)
    where = _endpoint_label(endpoint)
    source = f"hub:{repo_id}"

    from huggingface_hub import HfApi, hf_hub_download

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

    if size:
        free = shutil.disk_usage(local_models).free
        if free < size + SPACE_MARGIN:
            raise DownloadError(
                f"Not enough disk space to download {repo_id}: it needs {human_size(size)} in "
                f"{local_models}, but only {human_size(free)} is free."
            )
    folder = local_models / DOWNLOADS_DIR / name
    log.info(
        "Downloading %s (%s) from %s ...",
        chosen.rfilename,
        human_size(size) if size else "size unknown",
        where,
    )
    try:
        with _progress_bars(progress):
            fetched = Path(
                hf_hub_download(
                    repo_id,
                    chosen.rfilename,
                    revision=commit or revision,
                    local_dir=folder,
                    endpoint=endpoint,
                    library_name="chunky",
                    library_version=__version__,
                )
            )
    except Exception as exc:
        _clean_download_dir(folder)
        raise map_download_error(exc, repo_id, where, filename=chosen.rfilename, downloading=True) from exc
    except BaseException:
        _clean_download_dir(folder)
        raise
    try:
        if size is not None and fetched.stat().st_size != size:
            raise DownloadError(
                f"The download of {chosen.rfilename} is incomplete ({fetched.stat().st_size} of {size} "
                "bytes); run the same command again."
            )
        try:
            check_nemo_file(fetched)
        except ModelArchiveError as exc:
            raise DownloadError(
                f"{chosen.rfilename} from {repo_id} is not a .nemo archive (a .nemo file is a tar archive). "
                f"{IMPORT_HINT}"
            ) from exc
        retry_on_lock(lambda: os.replace(fetched, dest), what=f"moving the download into {dest}")
    except BaseException:
        with contextlib.suppress(OSError):
            fetched.unlink()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    sources.set(name, source, size=dest.stat().st_size, **details)
    shutil.rmtree(folder, ignore_errors=True)
    with contextlib.suppress(OSError):
        folder.parent.rmdir()
    log.info("Downloaded %s to %s", repo_id, dest)
    return dest
