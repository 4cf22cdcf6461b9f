"""Where each local model came from: ``local_models/.chunky-sources.json``."""

from __future__ import annotations

import datetime as _dt
import threading
from pathlib import Path
from typing import Any

from chunky.base.fs import atomic_write_json, read_json

SOURCES_FILE = ".chunky-sources.json"


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class SourceRegistry:
    """name -> {"source": "hub:<repo id>" | "imported", "size": ..., "sha256": ..., ...}.

    Models without an entry were dropped into the folder by hand ("local").
    """

    _lock = threading.RLock()

    def __init__(self, local_models: Path):
        self.path = Path(local_models) / SOURCES_FILE

    def _read(self) -> dict[str, dict[str, Any]]:
        data = read_json(self.path)
        models = data.get("models") if isinstance(data, dict) else None
        return {k: v for k, v in (models or {}).items() if isinstance(v, dict)}

    def all(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return self._read()

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._read().get(name)

    def set(self, name: str, source: str, **details: Any) -> None:
        with self._lock:
            models = self._read()
            models[name] = {"source": source, "added_at": now_iso(), **details}
            atomic_write_json(self.path, {"format_version": 1, "models": models}, sort_keys=True)

    def remove(self, name: str) -> None:
        with self._lock:
            models = self._read()
            if models.pop(name, None) is not None:
                atomic_write_json(self.path, {"format_version": 1, "models": models}, sort_keys=True)
