"""``python -m chunky doctor``."""

from __future__ import annotations

import argparse
import json
import os

from chunky.bootstrap import paths
from chunky.doctor import collect, format_report


def run_doctor(args: argparse.Namespace) -> int:
    """``python -m chunky doctor [--json] [--verify] [--no-gpu]``: exit status 1 when there is a problem."""
    report = collect(paths(), os.environ, probe_gpu=not args.no_gpu, verify=args.verify)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report), end="")
    return report.exit_code
