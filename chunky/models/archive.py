"""Reading a ``.nemo`` archive safely: every member checked before anything is written, data streamed
in large blocks, and a clear error for an archive that is corrupt, truncated, not a tar or unsafe.

A ``.nemo`` file is a tar archive (plain, or gzip for old models) holding ``model_config.yaml``,
``model_weights.ckpt`` and artifacts. Members with absolute paths, ``..``, links leaving the archive,
device files or names Windows cannot hold are refused (and ``tarfile``'s own data filter is applied on
top). Standard library only.
"""

from __future__ import annotations

import gzip
import lzma
import os
import re
import tarfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from chunky.base.errors import ModelArchiveError
from chunky.base.fs import COPY_BLOCK, sha256_file
from chunky.base.names import is_reserved_windows_name

REQUIRED_MEMBER = "model_config.yaml"
_GZIP_MAGIC = b"\x1f\x8b"
_COMPRESSED_MAGICS = (_GZIP_MAGIC, b"BZh", b"\xfd7zXZ\x00")
_DATA_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, lzma.LZMAError)


def is_data_error(exc: BaseException) -> bool:
    """A decoding error of the archive's bytes (not a system error such as a locked or missing file)."""
    if isinstance(exc, _DATA_ERRORS):
        return True
    return isinstance(exc, OSError) and exc.errno is None and getattr(exc, "winerror", None) is None


def corrupt_archive_error(path: Path, why: str) -> ModelArchiveError:
    return ModelArchiveError(
        f"{path} is truncated or damaged ({why}), probably by an interrupted download or copy; "
        "download or copy it again."
    )


def safe_member_path(raw: str, archive: Path) -> str | None:
    """The member's path relative to the archive root ('/'-separated), None for the root itself."""
    name = raw.replace("\\", "/")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise ModelArchiveError(f"{archive} is unsafe: member {raw!r} has an absolute path. Not extracted.")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        return None
    if ".." in parts:
        raise ModelArchiveError(
            f"{archive} is unsafe: member {raw!r} points outside the archive. Not extracted."
        )
    for part in parts:
        if ":" in part or any(ord(c) < 32 for c in part) or is_reserved_windows_name(part):
            raise ModelArchiveError(
                f"{archive} has a member with an invalid file name: {raw!r}. Not extracted."
            )
    return "/".join(parts)


def resolve_inside(base: str, target: str) -> str | None:
    """Normalize ``base/target`` ('/'-separated); None if it leaves the archive root."""
    parts: list[str] = []
    for part in PurePosixPath(base, target).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(part)
    return "/".join(parts)


class ArchiveReader:
    """An opened, fully validated .nemo archive whose regular members can be streamed in large blocks.

    Plain tars (what NeMo writes) are copied straight from the file at each member's data offset; compressed
    ones go through ``tarfile``'s decompressing reader.
    """

    def __init__(self, path: Path, display: Path | None = None):
        self.path = path
        self.display = display or path
        self.size = path.stat().st_size
        self.raw = open(path, "rb", buffering=0)  # noqa: SIM115 - closed in close()
        self.tar: tarfile.TarFile | None = None
        self.buf = bytearray(COPY_BLOCK)
        self.view = memoryview(self.buf)
        try:
            head = self.raw.read(6)
            self.plain = not any(head.startswith(m) for m in _COMPRESSED_MAGICS)
            try:
                self.tar = tarfile.open(name=str(path), mode="r:*")  # noqa: SIM115 - closed in close()
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                if not self.plain:
                    raise self._corrupt(f"its compressed data cannot be read: {exc}") from exc
                raise self._not_a_tar(exc) from exc
            try:
                members = self.tar.getmembers()
            except Exception as exc:
                if not is_data_error(exc):
                    raise
                raise self._corrupt(str(exc)) from exc
            if self.plain:  # before the member checks: a cut-off archive is "truncated", not "not a NeMo"
                self.check_end()
            self.members = self._validate(members)
        except BaseException:
            self.close()
            raise

    def _not_a_tar(self, exc: BaseException) -> ModelArchiveError:
        return ModelArchiveError(
            f"{self.display} is not a NeMo model archive: a .nemo file is a tar archive and this one is not "
            f"({exc}). If it was downloaded, the download may have failed; download it again."
        )

    def _corrupt(self, why: str) -> ModelArchiveError:
        return corrupt_archive_error(self.display, why)

    def _validate(self, members: list[tarfile.TarInfo]) -> list[tuple[tarfile.TarInfo, str]]:
        out: list[tuple[tarfile.TarInfo, str]] = []
        seen: set[str] = set()
        data_filter = getattr(tarfile, "data_filter", None)
        fake_dest = os.path.abspath(os.path.join(os.sep, "chunky-extract-check"))
        for m in members:
            rel = safe_member_path(m.name, self.display)
            if rel is None:
                if m.isdir():
                    continue
                raise ModelArchiveError(
                    f"{self.display} has a member without a name; it is not a valid .nemo."
                )
            if m.issym():
                target = m.linkname.replace("\\", "/")
                parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
                if target.startswith("/") or resolve_inside(parent, target) is None:
                    raise ModelArchiveError(
                        f"{self.display} is unsafe: {m.name!r} links to {m.linkname!r}, outside the archive. "
                        "Not extracted."
                    )
            elif m.islnk():
                try:
                    target = safe_member_path(m.linkname, self.display)
                except ModelArchiveError:
                    target = None
                if target is None or target not in seen:
                    raise ModelArchiveError(
                        f"{self.display} is unsafe: {m.name!r} is a hard link to {m.linkname!r}, which is "
                        "not an earlier file of the archive. Not extracted."
                    )
            elif not (m.isreg() or m.isdir()):
                raise ModelArchiveError(
                    f"{self.display} is unsafe: {m.name!r} is a device, pipe or other special file. "
                    "Not extracted."
                )
            if data_filter is not None:
                try:
                    data_filter(m, fake_dest)
                except tarfile.FilterError as exc:
                    raise ModelArchiveError(f"{self.display} is unsafe: {exc}. Not extracted.") from exc
            if self.plain and m.isreg() and not m.issparse() and m.offset_data + m.size > self.size:
                raise self._corrupt(f"the member {rel} ends after the end of the file")
            seen.add(rel)
            out.append((m, rel))
        if REQUIRED_MEMBER not in seen:
            raise ModelArchiveError(
                f"{self.display} is a tar archive but not a NeMo model: it has no {REQUIRED_MEMBER}."
            )
        return out

    @property
    def data_bytes(self) -> int:
        return sum(m.size for m, _ in self.members if m.isreg())

    def chunks(self, member: tarfile.TarInfo) -> Iterator[memoryview]:
        """The member's bytes in blocks of up to 8 MiB (the same buffer each time: use it before the next)."""
        assert self.tar is not None
        left = member.size
        if self.plain and not member.issparse():
            self.raw.seek(member.offset_data)
            read = self.raw.readinto
        else:
            src = self.tar.extractfile(member)
            assert src is not None
            read = src.readinto  # type: ignore[attr-defined]
        while left:
            n = read(self.view[: min(left, COPY_BLOCK)])
            if not n:
                raise self._corrupt(f"the data of {member.name} ends early")
            left -= n
            yield self.view[:n]

    def check_end(self) -> None:
        """A tar ends with a zero block; without one the file was cut off at a member boundary. For
        compressed archives reading to the end also checks the compressed stream's own checksum."""
        assert self.tar is not None
        f = self.tar.fileobj
        f.seek(self.tar.offset)
        block = f.read(tarfile.BLOCKSIZE)
        if len(block) < tarfile.BLOCKSIZE or block.count(0) != len(block):
            raise self._corrupt("no end-of-archive marker after the last readable member")
        if not self.plain:
            while f.read(COPY_BLOCK):
                pass

    def close(self) -> None:
        if self.tar is not None:
            self.tar.close()
        self.raw.close()

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class HashThread(threading.Thread):
    """sha256 of the archive computed beside the extraction (same bytes, mostly from the OS cache)."""

    def __init__(self, path: Path):
        super().__init__(name="chunky-sha256", daemon=True)
        self.path = path
        self.stop = threading.Event()
        self.digest: str | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.digest = sha256_file(self.path, self.stop)
        except BaseException as exc:  # handed to the caller in result()
            self.error = exc

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        assert self.digest is not None
        return self.digest

    def cancel(self) -> None:
        self.stop.set()
        self.join()


def write_member(reader: ArchiveReader, member: tarfile.TarInfo, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as out:
        for chunk in reader.chunks(member):
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())


def same_content(reader: ArchiveReader, member: tarfile.TarInfo, path: Path) -> bool:
    with open(path, "rb", buffering=0) as f:
        for chunk in reader.chunks(member):
            if f.read(len(chunk)) != chunk:
                return False
        return f.read(1) == b""


def check_nemo_file(path: Path) -> None:
    """Refuse, before copying gigabytes, a file that is not a tar archive at all."""
    try:
        with tarfile.open(name=str(path), mode="r:*") as tar:
            first = tar.next()
    except Exception as exc:
        if not is_data_error(exc):
            raise
        first = None
    if first is None:
        raise ModelArchiveError(
            f"{path} is not a NeMo model archive: a .nemo file is a tar archive and this one is not "
            "(or it is empty). Check that you picked the right file and that its download finished."
        )
