"""``python -m chunky streams FILE...``: each file's audio streams and channels (titles, language tags, the
default one), and what each speaker mode would use, before transcribing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from chunky.audio.streams import probe_streams
from chunky.audio.tracks import SPEAKER_MODES, plan_tracks
from chunky.base.errors import ChunkyError
from chunky.cli.transcribe import expand_patterns


def run_streams(args: argparse.Namespace) -> int:
    failures = 0
    for name in expand_patterns(args.files):
        path = Path(name).expanduser().resolve()
        try:
            streams = probe_streams(path)
        except ChunkyError as exc:
            failures += 1
            print(f"{path}: FAILED: {exc}", file=sys.stderr)
            continue
        print(f"{path}:")
        for s in streams:
            extra = f", {s.codec}, {s.sample_rate} Hz" if s.codec else ""
            flag = ", default" if s.default and len(streams) > 1 else ""
            print(f"  {s.describe()}{extra}{flag}")
        for mode in SPEAKER_MODES:
            try:
                plan = plan_tracks(streams, mode, file_name=path.name)
            except ChunkyError as exc:
                print(f"  --speakers {mode}: {exc}")
                continue
            said = " ".join(plan.notes) or f"uses {', '.join(t.label() for t in plan.tracks)}."
            print(f"  --speakers {mode}: {said}")
    return 1 if failures else 0
