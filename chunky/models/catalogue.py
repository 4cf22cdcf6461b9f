"""Which model to use and how to get one: the default model, the choice rule shared by the page and the
command line, and the exact setup commands a message should show."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from chunky.base.errors import ModelNotFoundError

DEFAULT_REPO_ID = "nvidia/parakeet-tdt-0.6b-v2"
DEFAULT_MODEL = DEFAULT_REPO_ID.rsplit("/", 1)[-1]
SETUP_COMMAND = "python setup_local_models.py"
IMPORT_COMMAND = f"{SETUP_COMMAND} --import PATH.nemo"


def setup_commands(name: str | None = None, source: str | None = None) -> list[str]:
    """The exact commands that install ``name`` (any model when None); ``source``: where it came from
    (``"hub:<repo id>"`` for a download)."""
    if source and source.startswith("hub:"):
        return [f"{SETUP_COMMAND} {source[4:]}"]
    if name is None or name == DEFAULT_MODEL:
        return [SETUP_COMMAND, IMPORT_COMMAND]
    return [f"{SETUP_COMMAND} --import PATH.nemo --name {name}"]


def missing_model_message(name: str | None, installed: Sequence[str], local_models: Path,
                          source: str | None = None) -> str:
    """What to say when ``name`` (None: any model) is not installed, with the commands that install it."""
    if not name:
        lines = [f"No model is installed yet (in {local_models}). Install one with:"]
    else:
        have = ", ".join(installed) if installed else "none"
        lines = [f"No local model named {name!r} in {local_models} (local models: {have}). Install it with:"]
    lines += [f"    {c}" for c in setup_commands(name, source)]
    return "\n".join(lines)


def choose_model(installed: Sequence[str], wanted: str | None, local_models: Path, *,
                 required: bool = False, source: str | None = None) -> str:
    """The model to use: ``wanted`` when it is installed; otherwise (unless ``required``: it was asked for
    by name) the default model, else the first by name. ModelNotFoundError, saying how to install it,
    when there is none to use."""
    if wanted and wanted in installed:
        return wanted
    if (wanted and required) or not installed:
        raise ModelNotFoundError(missing_model_message(wanted if required else None, installed, local_models,
                                                       source))
    if DEFAULT_MODEL in installed:
        return DEFAULT_MODEL
    return sorted(installed, key=str.lower)[0]
