"""Wording helpers for messages."""

from __future__ import annotations


def plural(n: int, word: str) -> str:
    """``plural(1, "file")`` -> "1 file", ``plural(3, "file")`` -> "3 files"."""
    return f"{n} {word}{'' if n == 1 else 's'}"
