"""The shape of the package (docs/architecture.md): layers only import downwards, only the entry points
read the environment, modules stay small."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "chunky"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Modules allowed to read os.environ: the entry points, the first import (CHUNKY_HOME, temp variables)
# and the installer (which runs before anything is installed).
READS_ENVIRONMENT = {"bootstrap.py", "setup_env.py", "app/server.py", "cli/main.py", "cli/config.py",
                     "cli/doctor.py", "cli/setup.py"}
MAX_LINES = 550  # "no module over about 500 lines"


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(root))
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def test_every_layer_imports_only_downwards():
    out = lint_imports(REPO)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


def test_an_upward_import_breaks_the_contract(tmp_path):
    """The check is real: the same package with one upward import (base -> app) fails it."""
    shutil.copytree(PACKAGE, tmp_path / "chunky", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    names = tmp_path / "chunky" / "base" / "names.py"
    names.write_text(names.read_text("utf-8") + "\nimport chunky.app.page  # noqa: E402, F401\n", "utf-8")
    out = lint_imports(tmp_path)
    assert out.returncode != 0, out.stdout
    assert "BROKEN" in out.stdout and "chunky.base.names -> chunky.app.page" in out.stdout


def _reads_environment(tree: ast.AST) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "putenv"):
            if isinstance(node.value, ast.Name) and node.value.id == "os":
                lines.append(node.lineno)
        elif (isinstance(node, ast.ImportFrom) and node.module == "os"
              and any(a.name in ("environ", "getenv") for a in node.names)):
            lines.append(node.lineno)
    return lines


def test_nothing_below_the_entry_points_reads_the_environment():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel in READS_ENVIRONMENT:
            continue
        lines = _reads_environment(ast.parse(path.read_text("utf-8")))
        offenders += [f"chunky/{rel}:{n}" for n in lines]
    assert offenders == [], "read the setting in chunky/settings and pass it down: " + ", ".join(offenders)


def test_the_environment_scan_finds_a_read():
    assert _reads_environment(ast.parse("import os\nx = os.environ.get('A')\n")) == [2]
    assert _reads_environment(ast.parse("from os import getenv\n")) == [1]


def test_no_module_is_much_over_500_lines():
    sizes = {p.relative_to(REPO).as_posix(): len(p.read_text("utf-8").splitlines())
             for p in PACKAGE.rglob("*.py")}
    assert {k: v for k, v in sizes.items() if v > MAX_LINES} == {}
