"""Small persistent preferences (last model used) in model_cache/settings.json, written atomically."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger("chunky.settings")


class Settings:
    def __init__(self, path: Path):
        self.path = Path(path)

    def load(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("Ignoring unreadable settings file %s (%s)", self.path, exc)
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.load().get(key, default)

    def set(self, key: str, value: Any) -> None:
        data = self.load()
        data[key] = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".partial")
        try:
            tmp.write_text(json.dumps(data, indent=2), "utf-8")
            os.replace(tmp, self.path)
        except OSError as exc:  # a preference is never worth failing a job for
            log.warning("Could not save settings to %s: %s", self.path, exc)
            try:
                tmp.unlink()
            except OSError:
                pass
