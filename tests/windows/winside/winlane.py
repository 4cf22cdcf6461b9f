"""Helpers for scripts that the Windows lane runs under Windows CPython (see tests/windows/README.md).

Standard library only: this module runs under the embeddable CPython in Wine, not on the Linux side.
"""

from __future__ import annotations

import os
import subprocess


def start_hold(path: str, share: str = "none", seconds: float = 3.0,
               appear: float | None = None) -> subprocess.Popen:
    """Start a second Windows process that opens ``path`` with ``share`` ("none", or "+"-joined "read",
    "write", "delete") and keeps it open for ``seconds``. With ``appear``, it first waits up to that many
    seconds for the file to exist (to catch a file the moment it is written). Returns at once; use
    :func:`wait_held` to wait until the file is held."""
    exe = os.path.join(os.environ["CHUNKY_WINLANE_BIN"], "holdfile.exe")
    argv = [exe, share, str(seconds), str(path)] + ([str(appear)] if appear is not None else [])
    return subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)


def wait_held(proc: subprocess.Popen) -> subprocess.Popen:
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if line != "held":
        proc.wait()
        raise RuntimeError(f"holdfile.exe could not hold the file: {line or 'no answer'}")
    return proc


def hold(path: str, share: str = "none", seconds: float = 3.0) -> subprocess.Popen:
    """:func:`start_hold` and :func:`wait_held`: returns once ``path`` is held. ``.wait()`` on the
    result waits for the release."""
    return wait_held(start_hold(path, share, seconds))
