"""The diarizer for a loaded model: NVIDIA's Sortformer finds the speakers end to end
(:class:`chunky.asr.diarization.Diarizer`), a speaker-embedding model such as TitaNet by clustering its
embeddings (:class:`chunky.asr.clustering.ClusteringDiarizer`). Both take the same calls."""

from __future__ import annotations

from typing import Any

from chunky.asr.clustering import ClusteringDiarizer, is_speaker_model
from chunky.asr.diarization import Diarizer


def diarizer_for(model: Any, name: str = "") -> Diarizer | ClusteringDiarizer:
    if is_speaker_model(model):
        return ClusteringDiarizer(model, name)
    return Diarizer(model, name)  # a clear DiarizationError for a model of neither kind
