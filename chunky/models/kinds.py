"""What a NeMo model is for, read from its ``model_config.yaml`` (the top-level ``target:`` class path that
NeMo's ``save_to`` writes) without importing NeMo: speech recognition, diarization, speaker embeddings.

Standard library only: the store lists models by kind, and the manager restores each with its own class.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

ASR = "asr"  # speech recognition: ASRModel subclasses (CTC, RNNT/TDT, AED such as Canary)
DIARIZATION = "diarization"  # who spoke when: SortformerEncLabelModel
SPEAKER = "speaker"  # speaker embeddings: EncDecSpeakerLabelModel (TitaNet), for clustering diarization
KINDS = (ASR, DIARIZATION, SPEAKER)
FINDS_SPEAKERS = (DIARIZATION, SPEAKER)  # the kinds --speakers diarize can use
DESCRIPTIONS = {ASR: "speech recognition", DIARIZATION: "diarization (who spoke when)",
                SPEAKER: "speaker embeddings"}

# NeMo class name -> kind; every other class is taken for speech recognition.
_CLASS_KINDS = {
    "SortformerEncLabelModel": DIARIZATION,
    "EncDecSpeakerLabelModel": SPEAKER,
}
# The class Chunky restores each kind with (NeMo then builds the exact class named in the config).
RESTORE_CLASSES = {
    ASR: "nemo.collections.asr.models.ASRModel",
    DIARIZATION: "nemo.collections.asr.models.SortformerEncLabelModel",
    SPEAKER: "nemo.collections.asr.models.EncDecSpeakerLabelModel",
}
CONFIG_NAME = "model_config.yaml"
_TARGET = re.compile(r"^target:\s*['\"]?([\w.]+)['\"]?\s*$", re.MULTILINE)


def target_in(config_text: str) -> str | None:
    """The class path on the top-level ``target:`` line of a model config, if there is one."""
    found = _TARGET.search(config_text)
    return found.group(1) if found else None


def kind_of_target(target: str | None) -> str:
    name = (target or "").rsplit(".", 1)[-1]
    return _CLASS_KINDS.get(name, ASR)


def folder_kind(folder: Path) -> str:
    """The kind of an extracted model (a folder holding ``model_config.yaml``)."""
    try:
        text = (Path(folder) / CONFIG_NAME).read_text("utf-8", errors="replace")
    except OSError:
        return ASR
    return kind_of_target(target_in(text))


def archive_kind(path: Path) -> str:
    """The kind of a ``.nemo`` archive, from its ``model_config.yaml`` (the archive is only read)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                if member.isfile() and member.name.lstrip("./") == CONFIG_NAME:
                    f = tar.extractfile(member)
                    if f is not None:
                        return kind_of_target(target_in(f.read(1 << 20).decode("utf-8", errors="replace")))
    except (OSError, tarfile.TarError, EOFError):
        pass
    return ASR
