"""``python -m chunky doctor``."""

from __future__ import annotations

import argparse
import json

from chunky.doctor import collect, format_report


def run_doctor(args: argparse.Namespace) -> int:
    """``python -m chunky doctor [--json] [--verify] [--no-gpu]``: exit status 1 when there is a problem."""
    report = collect(probe_gpu=not getattr(args, "no_gpu", False), verify=getattr(args, "verify", False))
    if getattr(args, "json", False):
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(format_report(report), end="")
    return report.exit_code
