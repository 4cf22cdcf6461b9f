"""The doctor's findings and how they are printed (the terminal, and the page's System check panel)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from chunky import __version__

Level = Literal["ok", "warning", "problem"]
OK: Level = "ok"
WARNING: Level = "warning"
PROBLEM: Level = "problem"
DOC = "docs/windows.md"


@dataclass
class Finding:
    check: str  # what was checked: "python", "packages", "gpu", "folders", "temp", "sync", "disk", ...
    level: Level
    summary: str  # one line
    details: list[str] = field(default_factory=list)
    fix: str = ""  # what to do (always set for a problem); for an ok finding, an optional tip
    section: str | None = None  # the section of docs/windows.md that explains more


@dataclass
class Report:
    versions: dict[str, str | None]  # "python", "chunky", "torch", "nemo_toolkit", "gradio" -> version
    folders: dict[str, str]  # "app", "local_models", "model_cache", "extracted", "outputs", "temp"
    findings: list[Finding]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == PROBLEM]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == WARNING]

    @property
    def ok(self) -> bool:
        """True when nothing is a problem (warnings allowed)."""
        return not self.problems

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": len(self.problems),
            "warnings": len(self.warnings),
            "versions": dict(self.versions),
            "folders": dict(self.folders),
            "findings": [asdict(f) for f in self.findings],
        }


_MARK = {OK: "ok", WARNING: "WARNING", PROBLEM: "PROBLEM"}


def format_report(report: Report) -> str:
    """The report as plain text (the terminal, and the page's panel)."""
    v = report.versions
    lines = [f"Chunky doctor (chunky {v.get('chunky') or __version__})", ""]
    labels = (("Python", "python"), ("PyTorch", "torch"), ("NeMo", "nemo_toolkit"), ("Gradio", "gradio"))
    for label, key in labels:
        lines.append(f"  {label:<13}{v.get(key) or 'not installed'}")
    lines.append("")
    for key in ("app", "local_models", "model_cache", "temp"):
        if key in report.folders:
            lines.append(f"  {key:<13}{report.folders[key]}")
    lines.append("")
    width = max(len(m) for m in _MARK.values()) + 2
    indent = " " * (width + 1)
    for f in report.findings:
        lines.append(f"{'[' + _MARK[f.level] + ']':<{width}} {f.summary}")
        for detail in f.details:
            lines.append(f"{indent}- {detail}")
        if f.fix:
            label = "tip: " if f.level == OK else "fix: "
            fix_lines = f.fix.splitlines()
            lines.append(f"{indent}{label}{fix_lines[0]}")
            lines += [f"{indent}     {line}" for line in fix_lines[1:]]
        if f.section and f.level != OK:
            lines.append(f"{indent}(see {DOC}, section '{f.section}')")
    lines.append("")
    n_problems, n_warnings = len(report.problems), len(report.warnings)
    if not n_problems and not n_warnings:
        lines.append("Everything looks fine.")
    else:
        parts = []
        if n_problems:
            parts.append(f"{n_problems} problem{'s' if n_problems != 1 else ''}")
        if n_warnings:
            parts.append(f"{n_warnings} warning{'s' if n_warnings != 1 else ''}")
        lines.append(f"Found {' and '.join(parts)}." + ("" if n_problems else " Chunky can run."))
    return "\n".join(lines) + "\n"
