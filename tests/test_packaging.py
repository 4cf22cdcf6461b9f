"""The package's metadata: pyproject.toml and the requirements files run.sh / run.bat install from agree."""

from __future__ import annotations

import tomllib
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent


def _requirements(path: Path) -> set[str]:
    found = set()
    for line in path.read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r"):
            found.add(_norm(line))
    return found


def _norm(spec: str) -> str:
    req = Requirement(spec)
    name = req.name.lower().replace("_", "-")
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{name}{extras}{','.join(sorted(str(s) for s in req.specifier))}"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]


def test_requirements_txt_equals_pyproject_dependencies() -> None:
    assert _requirements(ROOT / "requirements.txt") == {_norm(d) for d in _project()["dependencies"]}


def test_requirements_dev_txt_equals_the_dev_extra() -> None:
    dev = ROOT / "requirements-dev.txt"
    assert "-r requirements.txt" in dev.read_text("utf-8")
    assert _requirements(dev) == {_norm(d) for d in _project()["optional-dependencies"]["dev"]}


def test_drift_is_noticed() -> None:
    """The comparison really looks at versions: a changed bound is a difference."""
    assert _norm("gradio>=6.27,<7") != _norm("gradio>=6.27,<8")
    assert _norm("nemo_toolkit[asr]>=2.7.3") == _norm("nemo-toolkit[asr] >= 2.7.3")


def test_version_matches_the_package() -> None:
    import chunky

    assert _project()["version"] == chunky.__version__


def test_console_script_points_at_the_cli() -> None:
    import importlib

    target = _project()["scripts"]["chunky"]
    module, func = target.split(":")
    assert callable(getattr(importlib.import_module(module), func))
