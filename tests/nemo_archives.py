"""Fake but structurally real ``.nemo`` archives for tests (no NeMo needed).

Laid out like NeMo's ``SaveRestoreConnector`` writes them (``tar.add(folder, arcname=".")``): a ``.``
directory entry, then ``./<32 hex>_tokenizer.model``, ``./model_config.yaml`` and ``./model_weights.ckpt``.
"""

from __future__ import annotations

import hashlib
import io
import random
import tarfile
import time
from pathlib import Path

TOKENIZER_HEX = "0123456789abcdef0123456789abcdef"
TOKENIZER_MEMBER = f"{TOKENIZER_HEX}_tokenizer.model"
CONFIG = f"""\
sample_rate: 16000
tokenizer:
  dir: null
  type: bpe
  model_path: nemo:{TOKENIZER_MEMBER}
preprocessor:
  window_stride: 0.01
"""


def weights_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def nemo_members(weights_size: int = 64 * 1024, seed: int = 0) -> dict[str, bytes]:
    return {
        TOKENIZER_MEMBER: b"sentencepiece model " + bytes(range(256)) * 4,
        "model_config.yaml": CONFIG.encode(),
        "model_weights.ckpt": weights_bytes(weights_size, seed),
    }


def _info(name: str, size: int = 0, kind: bytes = tarfile.REGTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.type = kind
    info.mtime = int(time.time())
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info


def write_nemo(
    path: Path,
    members: dict[str, bytes] | None = None,
    *,
    compression: str = "",
    prefix: str = "./",
    root_entry: bool = True,
    extra: list[tuple[tarfile.TarInfo, bytes | None]] | None = None,
) -> Path:
    """Write a .nemo at ``path``. ``compression``: "" (plain, like NeMo) or "gz" (old models)."""
    members = nemo_members() if members is None else members
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, f"w:{compression}", format=tarfile.GNU_FORMAT) as tar:
        if root_entry and prefix:
            tar.addfile(_info(".", kind=tarfile.DIRTYPE))
        for name in sorted(members):
            data = members[name]
            tar.addfile(_info(prefix + name, len(data)), io.BytesIO(data))
        for info, data in extra or []:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def build_nemo(path: Path, weights_size: int = 64 * 1024, seed: int = 0, **kwargs) -> Path:
    return write_nemo(path, nemo_members(weights_size, seed), **kwargs)


def unsafe_nemo(path: Path, kind: str) -> Path:
    """A .nemo with one dangerous member: absolute, dotdot, symlink_out, hardlink_out, device, fifo."""
    if kind == "absolute":
        extra = [(_info("/tmp/chunky-evil.txt", 4), b"evil")]
    elif kind == "dotdot":
        extra = [(_info("./../chunky-evil.txt", 4), b"evil")]
    elif kind == "symlink_out":
        info = _info("./evil-link", kind=tarfile.SYMTYPE)
        info.linkname = "../../outside.txt"
        extra = [(info, None)]
    elif kind == "symlink_abs":
        info = _info("./evil-link", kind=tarfile.SYMTYPE)
        info.linkname = "/etc/passwd"
        extra = [(info, None)]
    elif kind == "hardlink_out":
        info = _info("./evil-hard", kind=tarfile.LNKTYPE)
        info.linkname = "/etc/passwd"
        extra = [(info, None)]
    elif kind == "device":
        info = _info("./evil-dev", kind=tarfile.CHRTYPE)
        info.devmajor, info.devminor = 1, 3
        extra = [(info, None)]
    elif kind == "fifo":
        extra = [(_info("./evil-fifo", kind=tarfile.FIFOTYPE), None)]
    else:
        raise ValueError(kind)
    return write_nemo(path, extra=extra)


def truncated_copy(src: Path, dest: Path, keep: int) -> Path:
    """The first ``keep`` bytes of ``src`` (a download or copy cut off)."""
    dest.write_bytes(src.read_bytes()[:keep])
    return dest


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
