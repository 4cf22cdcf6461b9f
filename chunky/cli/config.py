"""``python -m chunky config`` (every setting, its value and where it came from) and ``python -m chunky
paths`` (where models, caches, outputs and temp files live)."""

from __future__ import annotations

import argparse
import json
import os
import tempfile

from chunky.bootstrap import paths


def folders() -> dict[str, object]:
    p = paths()
    return {
        "local_models": str(p.local_models),
        "model_cache": str(p.model_cache),
        "extracted": str(p.extracted),
        "outputs": str(p.outputs),
        "logs": str(p.model_cache / "logs"),
        "temp": tempfile.gettempdir(),
        "gradio_temp": os.environ.get("GRADIO_TEMP_DIR", ""),
        "temp_redirected": p.system_temp_redirected,
        "fallback_location": p.fallback,
        "home_from": "environment CHUNKY_HOME" if os.environ.get("CHUNKY_HOME", "").strip() else (
            "your user folders (the app folder is not writable)" if p.fallback else "the app folder"),
        "env": {v: os.environ.get(v, "") for v in ("TMPDIR", "TEMP", "TMP")},
    }


def run_paths(args: argparse.Namespace) -> int:
    info = folders()
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for key, value in info.items():
            print(f"{key:18} {value}")
    return 0


def run_config(args: argparse.Namespace) -> int:
    settings = args.settings
    rows = settings.describe()
    if args.json:
        values = settings.public_values()  # the key shows as "(hidden)"
        print(json.dumps({
            "settings": {name: {"value": values[name], "from": origin} for name, _, origin in rows},
            "ignored": {name: {"from": src, "value": raw, "why": why}
                        for name, (src, raw, why) in settings.rejected.items()},
            "folders": folders(),
        }, indent=2))
        return 0
    width = max(len(name) for name, _, _ in rows)
    value_width = min(40, max(len(value) for _, value, _ in rows))
    print(f"{'SETTING':<{width}}  {'VALUE':<{value_width}}  FROM")
    for name, value, origin in rows:
        print(f"{name:<{width}}  {value:<{value_width}}  {origin}")
    for name, (source, raw, why) in settings.rejected.items():
        print(f"\nignored: {name} = {raw!r} from {source}: {why}")
    print()
    for key in ("local_models", "model_cache", "outputs", "logs", "home_from"):
        print(f"{key:<{width}}  {folders()[key]}")
    return 0
