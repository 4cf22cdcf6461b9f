"""What the engine is asked to do (:class:`EngineOptions`) and what it reports while it works
(:class:`Progress`), plus the cancellation that keeps the finished part. No torch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chunky.asr.vocabulary import Vocabulary
from chunky.audio import PAUSE_METHODS as VAD_METHODS
from chunky.audio.tracks import SPEAKER_MODES
from chunky.base.errors import CancelledError
from chunky.transcript.layout import PRESETS, LayoutRules
from chunky.transcript.model import Transcript, Word

__all__ = ["PRECISIONS", "SPEAKER_MODES", "VAD_METHODS", "EngineOptions", "PartialTranscriptCancelled",
           "Progress", "ProgressFn", "SpeakerOptions"]

PRECISIONS = ("float32", "auto", "bfloat16", "float16")  # see chunky.asr.gpu


@dataclass(frozen=True)
class SpeakerOptions:
    """Who spoke (docs/speakers.md): ``mode`` mix (no speakers), tracks (one per stream or channel) or
    diarize; ``track`` (from 1) one stream, or one channel of a single-stream file; ``num_speakers`` the
    expected count for diarization; ``diarization_model`` a local model's name (None: the default)."""

    mode: str = "mix"
    track: int | None = None
    num_speakers: int | None = None
    diarization_model: str | None = None

    def __post_init__(self) -> None:
        if self.mode not in SPEAKER_MODES:
            raise ValueError(f"speaker mode must be one of {', '.join(SPEAKER_MODES)}, not {self.mode!r}")


@dataclass
class EngineOptions:
    chunk_seconds: float = 30.0
    overlap_seconds: float = 2.0
    # Chunks per model call; 0: automatic (on a GPU as many as its free memory holds, 8 on the CPU).
    batch_size: int = 0
    # The model's arithmetic on a GPU: float32, auto (bfloat16 where the GPU has it, else float16),
    # bfloat16 or float16 (chunky.asr.gpu).
    precision: str = "float32"
    limits: LayoutRules = PRESETS["streaming"]  # the transcript's segments; outputs use the job's own rules
    # Seconds added to every word time (CTC models emit a word's first letter a little after its onset).
    timestamp_shift: float = 0.0
    # Cut chunks in pauses where there is one (False: cut at fixed points, through words; for tests).
    cut_at_pauses: bool = True
    # How pauses are found near each cut: auto (energy where the recording is clean, else silero VAD),
    # silero, energy (chunky.audio.cuts).
    vad: str = "auto"
    channel: int | None = None  # one channel of the file (0: the first) instead of the mean of all
    speakers: SpeakerOptions = SpeakerOptions()
    # (spoken, written) language for prompt models (Canary); None: the model's own default
    language: tuple[str, str] | None = None
    punctuation: bool = True  # a prompt model (Canary) writes punctuation and capitals; False: plain words
    vocabulary: Vocabulary = field(default_factory=Vocabulary)  # phrases to favour (NeMo's boosting)
    vocabulary_strength: float = 1.0  # the list's weight (NeMo's boosting alpha)


@dataclass
class Progress:
    stage: str  # "loading", "decoding", "transcribing", "diarizing", "done"
    done_seconds: float = 0.0
    total_seconds: float = 0.0
    chunk_index: int = 0  # chunks finished
    chunk_count: int = 0
    words: list[Word] | None = None  # words finished so far (stitched), for a transcript that grows

    @property
    def fraction(self) -> float:
        return 0.0 if self.total_seconds <= 0 else min(1.0, self.done_seconds / self.total_seconds)

    def describe(self) -> str:
        if self.stage == "transcribing":
            return f"Transcribing chunk {min(self.chunk_index + 1, self.chunk_count)} of {self.chunk_count}"
        if self.stage == "diarizing":
            return f"Finding the speakers: chunk {min(self.chunk_index + 1, self.chunk_count)} of " \
                f"{self.chunk_count}"
        return {"loading": "Loading the model", "decoding": "Decoding the audio", "done": "Done"}.get(
            self.stage, self.stage
        )


ProgressFn = Callable[[Progress], None]


class PartialTranscriptCancelled(CancelledError):
    """Cancelled; ``partial`` holds the transcript of the chunks finished before the cancel."""

    def __init__(self, message: str, partial: Transcript | None):
        super().__init__(message)
        self.partial = partial
