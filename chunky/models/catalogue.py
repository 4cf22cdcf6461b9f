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

DEFAULT_REPO_ID = "nvidia/parakeet-tdt-0.6b-v2"
DEFAULT_MODEL = DEFAULT_REPO_ID.rsplit("/", 1)[-1]
DEFAULT_DIARIZATION_REPO_ID = "nvidia/diar_streaming_sortformer_4spk-v2"
DEFAULT_DIARIZATION_MODEL = DEFAULT_DIARIZATION_REPO_ID.rsplit("/", 1)[-1]
CLUSTERING_REPO_ID = "nvidia/titanet_large"  # speaker embeddings for clustering diarization
SETUP_COMMAND = "python setup_local_models.py"
IMPORT_COMMAND = f"{SETUP_COMMAND} --import PATH.nemo"


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
    return (f"{head} Install NVIDIA's Sortformer{terms} with:\n    {command}\n"
            f"or a speaker-embedding model for clustering diarization with:\n    {SETUP_COMMAND} "
            f"{CLUSTERING_REPO_ID}")


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


# --- the catalogue of known NeMo models ---------------------------------------------------------------

EU25 = ("bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hr", "hu", "it", "lt", "lv", "mt",
        "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv", "uk")
CANARY4 = ("en", "de", "es", "fr")
GB = 1024**3

# What a model can do, as the catalogue and the page name it.
FEATURES = {
    "pnc": "punctuation and capitals",
    "words": "word times",
    "confidence": "word confidence",
    "boosting": "vocabulary boosting",
    "translate": "translation",
    "auto-language": "detects the language",
    "speakers": "speaker labels",
}


@dataclass(frozen=True)
class KnownModel:
    """One model of the catalogue. ``params``: parameters in millions; the download is about 4 bytes a
    parameter (float32 weights), ``gpu_gb`` the GPU memory Chunky's default batch (8 chunks of 30 s) needs
    with some room (out-of-memory halves the batch, so a little less still works, more slowly)."""

    repo_id: str
    kind: str  # "tdt", "ctc", "rnnt", "hybrid" (TDT/RNNT + CTC), "aed" (Canary), "diarization", "speaker"
    params: int  # millions
    gpu_gb: float
    languages: tuple[str, ...]
    licence: str  # as the model card on Hugging Face names it
    features: tuple[str, ...]
    note: str = ""
    max_speakers: int | None = None  # diarization: how many speakers it tells apart

    @property
    def name(self) -> str:
        return self.repo_id.rsplit("/", 1)[-1]

    @property
    def terms(self) -> str:
        """What the licence allows, in a few words."""
        if self.commercial_use:
            return "commercial use allowed, with attribution"
        return "non-commercial use only"

    def licence_line(self) -> str:
        return f"Licence: {self.licence} ({self.terms}); see https://huggingface.co/{self.repo_id}"

    @property
    def size_bytes(self) -> int:
        return self.params * 1_000_000 * 4

    @property
    def transcribes(self) -> bool:
        return self.kind not in ("diarization", "speaker")

    @property
    def commercial_use(self) -> bool:
        return "NC" not in self.licence


def _asr(repo: str, kind: str, params: int, gpu: float, langs: tuple[str, ...] = ("en",),
         features: tuple[str, ...] = ("words", "confidence", "boosting"), licence: str = "CC-BY-4.0",
         note: str = "") -> KnownModel:
    return KnownModel(f"nvidia/{repo}", kind, params, gpu, langs, licence, features, note)


_PNC = ("pnc", "words", "confidence", "boosting")
_CANARY = ("pnc", "words", "translate")  # NeMo boosts Canary too, Chunky not yet (chunky.asr.boosting)
KNOWN_MODELS: tuple[KnownModel, ...] = (
    _asr("parakeet-tdt-0.6b-v2", "tdt", 600, 4, features=_PNC, note="the default: fast, accurate English"),
    _asr("parakeet-tdt-0.6b-v3", "tdt", 600, 4, EU25, (*_PNC, "auto-language"),
         note="25 European languages, found by itself (none to choose)"),
    _asr("parakeet-tdt-1.1b", "tdt", 1100, 6, note="lower case, no punctuation"),
    _asr("parakeet-tdt_ctc-110m", "hybrid", 110, 2, features=_PNC, note="small and quick"),
    _asr("parakeet-ctc-0.6b", "ctc", 600, 4, note="lower case, no punctuation"),
    _asr("parakeet-ctc-1.1b", "ctc", 1100, 6, note="lower case, no punctuation"),
    _asr("parakeet-rnnt-0.6b", "rnnt", 600, 4, note="lower case, no punctuation"),
    _asr("parakeet-rnnt-1.1b", "rnnt", 1100, 6, note="lower case, no punctuation"),
    _asr("canary-1b-flash", "aed", 883, 6, CANARY4, _CANARY,
         note="choose the spoken language; translates en <-> de/es/fr"),
    _asr("canary-180m-flash", "aed", 182, 2, CANARY4, _CANARY,
         note="choose the spoken language; translates en <-> de/es/fr"),
    _asr("canary-1b-v2", "aed", 978, 6, EU25, _CANARY,
         note="choose the spoken language; translates en <-> the 24 others"),
    _asr("canary-1b", "aed", 1000, 6, CANARY4, ("pnc", "translate"), "CC-BY-NC-4.0",
         note="non-commercial; no word times"),
    _asr("stt_en_fastconformer_ctc_large", "ctc", 115, 2, note="lower case, no punctuation"),
    _asr("stt_en_fastconformer_transducer_large", "rnnt", 114, 2, note="lower case, no punctuation"),
    _asr("stt_en_fastconformer_hybrid_large_pc", "hybrid", 114, 2, features=_PNC),
    _asr("stt_en_fastconformer_ctc_xlarge", "ctc", 600, 4, note="lower case, no punctuation"),
    _asr("stt_en_fastconformer_transducer_xlarge", "rnnt", 600, 4, note="lower case, no punctuation"),
    _asr("stt_en_fastconformer_ctc_xxlarge", "ctc", 1200, 7, note="lower case, no punctuation"),
    _asr("stt_en_fastconformer_transducer_xxlarge", "rnnt", 1200, 7, note="lower case, no punctuation"),
    # Licences as the model cards state them (checked 2026-12): diar_sortformer_4spk-v1 is CC-BY-NC-4.0
    # (non-commercial); its streaming successor v2 is CC-BY-4.0; v2.1 is under the NVIDIA Open Model License.
    KnownModel("nvidia/diar_streaming_sortformer_4spk-v2", "diarization", 117, 2, (), "CC-BY-4.0",
               ("speakers",), "who speaks when, up to 4 speakers (Chunky's default)", 4),
    KnownModel("nvidia/diar_streaming_sortformer_4spk-v2.1", "diarization", 117, 2, (),
               "NVIDIA Open Model License", ("speakers",), "who speaks when, up to 4 speakers", 4),
    KnownModel("nvidia/diar_sortformer_4spk-v1", "diarization", 123, 2, (), "CC-BY-NC-4.0", ("speakers",),
               "who speaks when, up to 4 speakers; non-commercial", 4),
    KnownModel("nvidia/titanet_large", "speaker", 23, 1, (), "CC-BY-4.0", ("speakers",),
               "speaker embeddings (clustering diarization)", 8),
)
_BY_REPO = {m.repo_id.lower(): m for m in KNOWN_MODELS}
_BY_NAME_KNOWN = {m.name.lower(): m for m in KNOWN_MODELS}


def known_model(name_or_repo: str) -> KnownModel | None:
    """The catalogue's entry for a repo id (``nvidia/x``) or a local model's name (``x``), if any."""
    key = name_or_repo.strip().lower()
    return _BY_REPO.get(key) or _BY_NAME_KNOWN.get(key)


@dataclass(frozen=True)
class GpuMemory:
    """What the GPU has, in bytes (``total`` None: no NVIDIA GPU was found)."""

    total: int | None = None
    free: int | None = None

    def describe(self) -> str:
        if not self.total:
            return "No NVIDIA GPU found: every model runs on the CPU (much slower; small models are best)."
        free = self.free if self.free is not None else self.total
        return f"GPU memory: {free / GB:.1f} GB free of {self.total / GB:.1f} GB."


FITS, TIGHT, TOO_BIG, CPU = "fits", "close programs", "too big", "cpu"


def fit(model: KnownModel, gpu: GpuMemory) -> str:
    """Whether ``model`` runs on this GPU at Chunky's default batch: FITS in the free memory, TIGHT (fits
    the GPU once other programs free some), TOO_BIG (runs on the CPU, or with smaller batches), or CPU
    when there is no GPU."""
    if not gpu.total:
        return CPU
    need = model.gpu_gb * GB
    free = gpu.free if gpu.free is not None else gpu.total
    if need <= free:
        return FITS
    return TIGHT if need <= gpu.total else TOO_BIG


def catalogue_rows(gpu: GpuMemory, models: Sequence[KnownModel] = KNOWN_MODELS,
                   installed: Sequence[str] = ()) -> list[dict[str, str]]:
    """One row per model for the catalogue table (the command line's and the page's)."""
    have = {n.lower() for n in installed}
    rows = []
    for m in models:
        langs = ", ".join(m.languages) if len(m.languages) <= 4 else f"{len(m.languages)} languages"
        rows.append({
            "id": m.repo_id,
            "size": f"~{m.size_bytes / 1e9:.1f} GB",
            "gpu": f"{m.gpu_gb:g} GB",
            "fit": fit(m, gpu),
            "languages": langs or "-",
            "licence": m.licence,
            "supports": ", ".join(FEATURES[f] for f in m.features),
            "installed": "yes" if m.name.lower() in have else "",
            "note": m.note,
        })
    return rows
