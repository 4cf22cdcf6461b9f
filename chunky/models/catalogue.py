"""Which model to use and how to get one: the default models (speech recognition and diarization), the
choice rule shared by the page and the command line, the exact setup commands a message should show, and
what Chunky knows of well-known models (their kind, licence, speaker limit).

Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chunky.base.errors import ModelNotFoundError
from chunky.models.kinds import ASR, DIARIZATION

DEFAULT_REPO_ID = "nvidia/parakeet-tdt-0.6b-v2"
DEFAULT_MODEL = DEFAULT_REPO_ID.rsplit("/", 1)[-1]
DEFAULT_DIARIZATION_REPO_ID = "nvidia/diar_streaming_sortformer_4spk-v2"
DEFAULT_DIARIZATION_MODEL = DEFAULT_DIARIZATION_REPO_ID.rsplit("/", 1)[-1]
SETUP_COMMAND = "python setup_local_models.py"
IMPORT_COMMAND = f"{SETUP_COMMAND} --import PATH.nemo"


@dataclass(frozen=True)
class KnownModel:
    repo_id: str
    kind: str
    licence: str  # as the model card on Hugging Face names it
    terms: str  # what the licence allows, in a few words
    max_speakers: int | None = None  # diarization: how many speakers it tells apart

    @property
    def name(self) -> str:
        return self.repo_id.rsplit("/", 1)[-1]

    def licence_line(self) -> str:
        return f"Licence: {self.licence} ({self.terms}); see https://huggingface.co/{self.repo_id}"


_ATTRIBUTION = "commercial use allowed, with attribution"
# Licences as the Hugging Face model cards state them (checked 2026-12): diar_sortformer_4spk-v1 is
# CC-BY-NC-4.0 (non-commercial); its streaming successor v2 is CC-BY-4.0; v2.1 is under the NVIDIA Open
# Model License.
KNOWN_MODELS: tuple[KnownModel, ...] = (
    KnownModel("nvidia/parakeet-tdt-0.6b-v2", ASR, "CC-BY-4.0", _ATTRIBUTION),
    KnownModel("nvidia/diar_streaming_sortformer_4spk-v2", DIARIZATION, "CC-BY-4.0", _ATTRIBUTION, 4),
    KnownModel("nvidia/diar_streaming_sortformer_4spk-v2.1", DIARIZATION, "NVIDIA Open Model License",
               _ATTRIBUTION, 4),
    KnownModel("nvidia/diar_sortformer_4spk-v1", DIARIZATION, "CC-BY-NC-4.0", "non-commercial use only", 4),
)


def known_model(name_or_repo_id: str) -> KnownModel | None:
    """What Chunky knows of a model, by Hugging Face id or by local name (the id's last part)."""
    key = name_or_repo_id.strip().casefold()
    for m in KNOWN_MODELS:
        if key in (m.repo_id.casefold(), m.name.casefold()):
            return m
    return None


def licence_line(name_or_repo_id: str) -> str:
    """The licence to show next to a model (setup_local_models.py prints it after every download)."""
    m = known_model(name_or_repo_id)
    if m is not None:
        return m.licence_line()
    where = f"https://huggingface.co/{name_or_repo_id}" if "/" in name_or_repo_id else "its source"
    return f"Licence: not known to Chunky; read the model's licence at {where} before you use it."


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


def missing_diarization_message(name: str | None, installed: Sequence[str], local_models: Path) -> str:
    """What to say when no diarization model (or not the one named) is installed."""
    command = f"{SETUP_COMMAND} {DEFAULT_DIARIZATION_REPO_ID}"
    if not name:
        head = f"Finding who spoke needs a diarization model, and none is installed (in {local_models})."
    else:
        have = ", ".join(installed) if installed else "none"
        head = f"No diarization model named {name!r} in {local_models} (diarization models: {have})."
    known = known_model(DEFAULT_DIARIZATION_REPO_ID)
    terms = f" ({known.licence}, {known.terms})" if known else ""
    return f"{head} Install NVIDIA's Sortformer{terms} with:\n    {command}"


def choose_diarization_model(installed: Sequence[str], wanted: str | None, local_models: Path) -> str:
    """The diarization model to use: ``wanted`` when installed, else the default one, else the first by
    name. ``installed``: the local models of the diarization kind. ModelNotFoundError (with the setup
    command) when there is none, or ``wanted`` is not among them."""
    if wanted:
        if wanted in installed:
            return wanted
        raise ModelNotFoundError(missing_diarization_message(wanted, installed, local_models))
    if not installed:
        raise ModelNotFoundError(missing_diarization_message(None, installed, local_models))
    if DEFAULT_DIARIZATION_MODEL in installed:
        return DEFAULT_DIARIZATION_MODEL
    return sorted(installed, key=str.lower)[0]
