"""One typed settings value for the whole app, built once at the entry point and passed down.

Where a setting comes from, lowest to highest precedence: the built-in default, ``settings.json`` in
``model_cache`` (choices the page saves, such as the last model used), the environment (``CHUNKY_*``),
the command line. Nothing below the entry points reads the environment: they get a :class:`Settings` (or
the part of it they need, e.g. :meth:`Settings.engine_options`).

A bad value in the environment or in ``settings.json`` never stops Chunky: it is ignored with a warning,
kept in :attr:`Settings.rejected` (the doctor reports it), and the next source down applies. The
command line is checked by argparse itself. ``python -m chunky config`` prints every setting with its
value and where it came from.

``CHUNKY_HOME`` is read by :mod:`chunky.bootstrap` (it must be, before anything else); the installer's
``CHUNKY_TORCH_*`` by :mod:`chunky.setup_env`.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chunky.asr.capabilities import (
    format_language,
    format_model_languages,
    parse_language,
    parse_model_languages,
)
from chunky.asr.options import PRECISIONS, SPEAKER_MODES, VAD_METHODS, EngineOptions, SpeakerOptions
from chunky.asr.vocabulary import Vocabulary, parse_setting, parse_strength
from chunky.base.fs import atomic_write_json, read_json
from chunky.base.retry import DEFAULT_DELAYS
from chunky.export import (
    DEFAULT_FORMATS,
    FCPXML_KINDS,
    FORMATS,
    MARKER_UNITS,
    ExportOptions,
)
from chunky.settings import values as v
from chunky.settings.values import (
    MIN_KEY_LENGTH,
    parse_delays,
    parse_flag,
    parse_fraction,
    parse_hosts,
    parse_key,
    parse_renames,
    parse_size,
)
from chunky.transcript.layout import DEFAULT_PRESET, PRESETS

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
DEVICES = ("auto", "cpu", "cuda")
HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Settings:
    model: str | None = None  # the model to use; None: the default one, else the first installed
    device: str = "auto"  # auto, cpu, cuda
    batch_size: int = 0  # chunks per model call; 0: auto (from free GPU memory; 8 on the CPU)
    chunk_seconds: float = 30.0  # longest piece of audio given to the model at once
    vad: str = "auto"  # how pauses are found: auto, silero, energy
    precision: str = "float32"  # the model's arithmetic on a GPU: float32, auto, bfloat16, float16
    # Who spoke (docs/speakers.md): mix (no speakers), tracks (one per stream or channel), diarize; one
    # stream or channel (from 1); the expected number of speakers; the diarization model (None: default).
    speakers: str = "mix"
    track: int | None = None
    num_speakers: int | None = None
    diarization_model: str | None = None
    # Speakers renamed when exporting again: (("Speaker 1", "Host"), ...).
    rename_speakers: tuple[tuple[str, str], ...] = ()
    # Canary's languages: "de" (transcribe German) or "de>en" (translate into English); None: per model
    language: tuple[str, str] | None = None
    punctuation: bool = True  # Canary's punctuation and capitals (--no-punctuation: plain lower-case words)
    model_languages: tuple[tuple[str, str], ...] = ()  # (model, "de>en") the page keeps for each model
    vocabulary: str | None = None  # a file, a saved list's name, or the phrases ("a, b:2, c")
    vocabulary_strength: float = 1.0  # the list's weight in NeMo's boosting (each phrase's own multiplies)
    formats: tuple[str, ...] = DEFAULT_FORMATS  # output formats written for every recording
    # Subtitle layout: a preset, and any of its rules changed (None: the preset's value).
    subtitle_preset: str = DEFAULT_PRESET
    max_chars: int | None = None
    max_lines: int | None = None
    max_cps: float | None = None
    min_duration: float | None = None
    max_duration: float | None = None
    min_gap_frames: int | None = None
    # Two short turns of different speakers in one cue: the dash each line starts with, "" (off): never.
    dialogue_dash: str | None = None
    # The timeline: frame rate and start timecode (None: the recording's own, else 25 fps and 00:00:00:00).
    fps: str | None = None
    start_timecode: str | None = None
    karaoke: bool = False  # ASS files with per-word karaoke timing
    fcpxml: str = "captions"  # FCPXML files carry captions or markers
    markers: str = "paragraph"  # one EDL/FCPXML/xmeml marker per paragraph, speaker turn or cue
    # The review page marks words the model was less sure of than this (0..1); the page keeps it.
    confidence_threshold: float = 0.5
    max_upload: str = "4gb"  # the page's upload limit
    # Where models are downloaded from (None: huggingface.co, or huggingface_hub's own HF_ENDPOINT): a
    # mirror, or the tests' stand-in Hub.
    hub_endpoint: str | None = None
    lock_retry_delays: tuple[float, ...] = DEFAULT_DELAYS  # seconds between retries of a locked file
    host: str = "127.0.0.1"  # the page's address (127.0.0.1: this PC only)
    port: int = 7860  # the page's port (the next free one is used)
    open_browser: bool = True
    share: bool = False  # a public Gradio share link
    # Other names the page is reached by (a reverse proxy's); with them the page asks for the key.
    allowed_hosts: tuple[str, ...] = ()
    # The key other computers need (None: one is made at start when the page can be reached from the
    # network). Never shown: not in repr, masked by describe() and `python -m chunky config`.
    key: str | None = field(default=None, repr=False)
    # name -> "default", "settings.json", "environment CHUNKY_X" or "command line --x"
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)
    # name -> (source, raw value, why) for values that were ignored
    rejected: Mapping[str, tuple[str, str, str]] = field(default_factory=dict, compare=False, repr=False)

    def engine_options(self, model: str | None = None, vocabulary: Vocabulary | None = None) -> EngineOptions:
        """What the engine is asked to do for ``model`` (its language: the one given for this run, else the
        one kept for it); ``vocabulary``: the list :attr:`vocabulary` names, read by the caller."""
        return EngineOptions(chunk_seconds=self.chunk_seconds, batch_size=self.batch_size, vad=self.vad,
                             precision=self.precision, speakers=self.speaker_options(),
                             language=self.language_for(model), vocabulary=vocabulary or Vocabulary(),
                             vocabulary_strength=self.vocabulary_strength, punctuation=self.punctuation)

    def speaker_options(self) -> SpeakerOptions:
        return SpeakerOptions(self.speakers, self.track, self.num_speakers, self.diarization_model)

    def language_for(self, model: str | None) -> tuple[str, str] | None:
        """The language choice for ``model``: ``language`` when given (environment, command line, page),
        else the one kept for that model in settings.json, else None (the model's own default)."""
        if self.language is not None or self.origin("language") != "default":
            return self.language
        kept = dict(self.model_languages)
        return parse_language(kept[model]) if model in kept else None

    def export_options(self) -> ExportOptions:
        """The layout rules, timeline and format choices of the outputs. TimecodeError (a ChunkyError)
        when the start timecode does not exist at the chosen frame rate."""
        changed = {name: getattr(self, name) for name in RULE_SETTINGS}
        rules = PRESETS[self.subtitle_preset].with_values(**changed)
        options = ExportOptions(rules=rules, fps=self.fps, start_timecode=self.start_timecode,
                                karaoke=self.karaoke, fcpxml=self.fcpxml, markers=self.markers,
                                speaker_names=self.rename_speakers)
        if self.fps and self.start_timecode:
            options.timing()  # checks the start timecode against the frame rate
        return options

    def origin(self, name: str) -> str:
        return self.origins.get(name, "default")

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, value as text, where it came from) of every setting, for ``python -m chunky config``."""
        return [(o.name, o.show(getattr(self, o.name)), self.origin(o.name)) for o in OPTIONS]

    def public_values(self) -> dict[str, Any]:
        """Every setting by name, with secrets (the key) replaced by :data:`HIDDEN` when set."""
        return {o.name: HIDDEN if o.secret and getattr(self, o.name) else getattr(self, o.name)
                for o in OPTIONS}


# --- parsing ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    name: str
    parse: Callable[[str], Any]
    help: str
    env: str | None = None
    flag: str | None = None
    saved: bool = False  # kept in settings.json (the page's choices)
    metavar: str | None = None
    secret: bool = False  # never shown or logged (the key): describe() and warnings say HIDDEN
    fmt: Callable[[Any], str] | None = None  # how a value is shown when str() is not the form it is given in

    def show(self, value: Any) -> str:
        if self.secret:
            return HIDDEN if value else "-"
        if self.name == "batch_size" and value == 0:
            return "auto"
        if self.fmt is not None and value not in (None, ()):
            return self.fmt(value)
        if isinstance(value, tuple):
            if not value:
                return "-"
            return ",".join(f"{v:g}" if isinstance(v, float) else "=".join(v) if isinstance(v, tuple)
                            else str(v) for v in value)
        return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


OPTIONS: tuple[Option, ...] = (
    Option("model", v.text, "the local model to use (default: the last one used)", "CHUNKY_MODEL", "--model",
           saved=True, metavar="NAME"),
    Option("device", v.choice(DEVICES), "where the model runs: auto (the GPU when there is one), cpu or cuda",
           "CHUNKY_DEVICE", "--device"),
    Option("batch_size", v.batch_size, "chunks per model call, or auto: as many as the GPU's free memory "
           "holds (8 on the CPU); halved on GPU out-of-memory", "CHUNKY_BATCH_SIZE", "--batch-size",
           metavar="N"),
    Option("chunk_seconds", v.positive(float), "longest piece of audio given to the model at once, seconds",
           "CHUNKY_CHUNK_SECONDS", "--chunk-seconds", metavar="S"),
    Option("vad", v.choice(VAD_METHODS), "how pauses are found to cut chunks: auto (energy where the "
           "recording is clean, silero VAD elsewhere), silero or energy", "CHUNKY_VAD", "--vad"),
    Option("precision", v.choice(PRECISIONS), "the model's arithmetic on a GPU: float32 (exact), auto "
           "(bfloat16 where the GPU has it, else float16), bfloat16 or float16", "CHUNKY_PRECISION",
           "--precision"),
    Option("speakers", v.choice(SPEAKER_MODES), "who spoke: mix (every stream mixed, no speakers), tracks "
           "(one speaker per audio stream, or per channel of a one-stream file) or diarize (find them)",
           "CHUNKY_SPEAKERS", "--speakers", saved=True),
    Option("track", v.positive(int), "transcribe one audio stream only (from 1), or one channel of a "
           "one-stream file", "CHUNKY_TRACK", "--track", metavar="N"),
    Option("num_speakers", v.positive(int), "how many people speak, for --speakers diarize (default: found "
           "by the model)", "CHUNKY_NUM_SPEAKERS", "--num-speakers", metavar="N"),
    Option("diarization_model", v.text, "the local model for --speakers diarize: a Sortformer, or a "
           "speaker-embedding model such as TitaNet for clustering (default: NVIDIA's Sortformer when "
           "installed)", "CHUNKY_DIARIZATION_MODEL", "--diarization-model",
           metavar="NAME"),
    Option("rename_speakers", parse_renames, "rename speakers in the outputs, e.g. \"Speaker 1=Host,Speaker "
           "2=Guest\"", "CHUNKY_RENAME_SPEAKERS", "--rename-speakers", metavar="OLD=NEW,..."),
    Option("language", parse_language, "spoken language for models that take one (Canary), e.g. de; de>en "
           "translates German speech into English text (default: the one kept for the model, else English)",
           "CHUNKY_LANGUAGE", "--language", metavar="LANG", fmt=format_language),
    Option("punctuation", parse_flag, "punctuation and capitals from models that take the choice (Canary; "
           "--no-punctuation: lower-case words without punctuation)", "CHUNKY_PUNCTUATION",
           "--no-punctuation", saved=True),
    Option("model_languages", parse_model_languages, "the language kept for each model (the page's "
           "choice), e.g. canary-1b-flash=de>en;canary-180m-flash=fr", "CHUNKY_MODEL_LANGUAGES", saved=True,
           fmt=format_model_languages),
    Option("vocabulary", parse_setting, "words and phrases to favour: a file (one a line, 'word:2' for a "
           "stronger one), a saved list's name, or the phrases, e.g. \"Siobhan, Llanelli, DaVinci Resolve\"; "
           "none: no vocabulary",
           "CHUNKY_VOCABULARY", "--vocabulary", saved=True, metavar="FILE|NAME|LIST"),
    Option("vocabulary_strength", parse_strength, "how strongly the vocabulary is favoured (NeMo's boosting "
           "weight; too strong makes other words worse)", "CHUNKY_VOCABULARY_STRENGTH",
           "--vocabulary-strength", saved=True, metavar="X"),
    Option("formats", v.format_list, f"output formats, comma-separated, out of {','.join(FORMATS)}, or 'all'",
           "CHUNKY_FORMATS", "--format", saved=True, metavar="LIST"),
    Option("subtitle_preset", v.choice(PRESETS), "subtitle rules: streaming (42 characters, 2 lines, "
           "20 cps), broadcast (37 characters), social (one line of 32), word (a word per cue), paragraph",
           "CHUNKY_SUBTITLE_PRESET", "--subtitle-preset", saved=True),
    Option("max_chars", v.positive(int), "characters per subtitle line (default: the preset's)",
           "CHUNKY_MAX_CHARS", "--max-chars", saved=True, metavar="N"),
    Option("max_lines", v.positive(int), "lines per subtitle (default: the preset's)", "CHUNKY_MAX_LINES",
           "--max-lines", saved=True, metavar="N"),
    Option("max_cps", v.positive(float), "reading speed, characters per second (default: the preset's)",
           "CHUNKY_MAX_CPS", "--max-cps", saved=True, metavar="X"),
    Option("min_duration", v.at_least_zero(float), "shortest time a subtitle shows, seconds (default: the "
           "preset's)", "CHUNKY_MIN_DURATION", "--min-duration", saved=True, metavar="S"),
    Option("max_duration", v.positive(float), "longest time a subtitle shows, seconds (default: the "
           "preset's)", "CHUNKY_MAX_DURATION", "--max-duration", saved=True, metavar="S"),
    Option("min_gap_frames", v.at_least_zero(int), "frames between two subtitles (default: the preset's)",
           "CHUNKY_MIN_GAP_FRAMES", "--min-gap-frames", saved=True, metavar="N"),
    Option("dialogue_dash", v.dialogue_dash, "two short turns of different speakers share a subtitle, a "
           "line each starting with this dash: spaced (\"- \", most style guides), tight (\"-\", Netflix's "
           "English guide), or off (a speaker change always ends a subtitle) (default: the preset's)",
           "CHUNKY_DIALOGUE_DASH", "--dialogue-dash", saved=True, metavar="spaced|tight|off",
           fmt=v.format_dialogue_dash),
    Option("fps", v.frame_rate, "frame rate of the timeline: 23.976, 24, 25, 29.97 (drop-frame), 29.97ndf, "
           "30, 50, 59.94, 59.94ndf, 60 (default: the video's own, else 25)", "CHUNKY_FPS", "--fps",
           saved=True, metavar="RATE"),
    Option("start_timecode", v.timecode, "timecode of the recording's first frame, e.g. 01:00:00:00 "
           "(default: the video's own, else 00:00:00:00)", "CHUNKY_START_TIMECODE", "--start-timecode",
           saved=True, metavar="HH:MM:SS:FF"),
    Option("karaoke", parse_flag, "ASS subtitles with per-word karaoke timing", "CHUNKY_KARAOKE", "--karaoke",
           saved=True),
    Option("fcpxml", v.choice(FCPXML_KINDS), "what FCPXML files carry: captions or markers", "CHUNKY_FCPXML",
           "--fcpxml", saved=True),
    Option("markers", v.choice(MARKER_UNITS), "one EDL/FCPXML/FCP7 marker per paragraph, speaker turn or "
           "cue", "CHUNKY_MARKERS", "--markers", saved=True),
    Option("confidence_threshold", parse_fraction, "the review marks words the model is less sure of than "
           "this, 0 to 1 or a percentage (the page keeps the last one chosen)", "CHUNKY_CONFIDENCE_THRESHOLD",
           "--confidence-threshold", saved=True, metavar="X"),
    Option("max_upload", parse_size, "largest upload the page accepts, e.g. 4gb", "CHUNKY_MAX_UPLOAD",
           "--max-upload", metavar="SIZE"),
    Option("hub_endpoint", v.web_address, "where models are downloaded from: a Hugging Face mirror's "
           "address (default: huggingface.co, or HF_ENDPOINT)", "CHUNKY_HUB_ENDPOINT", "--hub-endpoint",
           metavar="URL"),
    Option("lock_retry_delays", parse_delays, "seconds between retries of a file another program holds",
           "CHUNKY_LOCK_RETRY_DELAYS"),
    Option("host", v.text, "address the page listens on (127.0.0.1: this PC only)", "CHUNKY_HOST", "--host"),
    Option("port", v.port, "port of the page (the next free one is used)", "CHUNKY_PORT", "--port",
           metavar="N"),
    Option("open_browser", bool, "open the browser at start (--no-browser: do not)", flag="--no-browser"),
    Option("share", bool, "create a public Gradio share link (anyone with it and the key can use this "
           "Chunky)", flag="--share"),
    Option("allowed_hosts", parse_hosts, "other names the page is reached by, comma-separated (a reverse "
           "proxy's, e.g. chunky.example.org); the page then asks for the key", "CHUNKY_ALLOWED_HOSTS",
           "--allow-host", metavar="NAMES"),
    Option("key", parse_key, f"the key other computers need to open the page, at least {MIN_KEY_LENGTH} "
           "characters (default: a new one at every start when the page can be reached from the network)",
           "CHUNKY_KEY", secret=True),
)
_BY_NAME = {o.name: o for o in OPTIONS}
SPEAKER_SETTINGS = ("speakers", "track", "num_speakers", "diarization_model")
ENGINE_SETTINGS = ("model", "device", "batch_size", "chunk_seconds", "vad", "precision", *SPEAKER_SETTINGS,
                   "language", "punctuation", "vocabulary", "vocabulary_strength")
RULE_SETTINGS = ("max_chars", "max_lines", "max_cps", "min_duration", "max_duration", "min_gap_frames",
                 "dialogue_dash")
EXPORT_SETTINGS = ("formats", "subtitle_preset", *RULE_SETTINGS, "fps", "start_timecode", "karaoke", "fcpxml",
                   "markers", "rename_speakers")
SERVER_SETTINGS = ("host", "port", "open_browser", "share", "max_upload", "allowed_hosts", "hub_endpoint")


def load_settings(environ: Mapping[str, str], flags: Mapping[str, Any] | None = None,
                  saved: Mapping[str, Any] | None = None) -> Settings:
    """The settings from the defaults, ``saved`` (settings.json), ``environ`` and ``flags`` (the command
    line's values by setting name; None: not given), each overriding the one before."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    rejected: dict[str, tuple[str, str, str]] = {}

    def take(option: Option, raw: Any, origin: str) -> None:
        try:
            values[option.name] = option.parse(raw) if isinstance(raw, str) else raw
        except ValueError as exc:
            shown = HIDDEN if option.secret else str(raw)
            rejected[option.name] = (origin, shown, str(exc))
            log.warning("Ignoring %s=%s (%s): %s", origin.split()[-1], shown if option.secret else repr(raw),
                        origin, exc)
        else:
            origins[option.name] = origin

    for option in OPTIONS:
        if option.saved and saved and saved.get(option.name) not in (None, ""):
            take(option, str(saved[option.name]), SETTINGS_FILE)
        raw = environ.get(option.env, "").strip() if option.env else ""
        if raw:
            take(option, raw, f"environment {option.env}")
        if flags and flags.get(option.name) is not None:
            take(option, flags[option.name], f"command line {option.flag}")
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return Settings(**values, origins=origins, rejected=rejected)


def parse_choices(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The page's export choices (``EXPORT_SETTINGS`` names -> what its controls hold: lists, floats from
    number fields, "" or None for "the preset's" / "the video's") as setting values; ValueError naming the
    field for a bad one."""
    out: dict[str, Any] = {}
    for name, value in raw.items():
        option = _BY_NAME.get(name)
        if option is None or name not in EXPORT_SETTINGS:
            continue
        if value is None or value == "" or (name == "fps" and value == "auto"):
            out[name] = None
            continue
        if isinstance(value, list | tuple):
            if name == "formats" and not value:
                raise ValueError("Choose at least one output format.")
            value = ",".join(map(str, value))
        elif isinstance(value, float) and value.is_integer() and name in ("max_chars", "max_lines",
                                                                          "min_gap_frames"):
            value = str(int(value))
        elif isinstance(value, bool):
            out[name] = value
            continue
        try:
            out[name] = option.parse(str(value))
        except ValueError as exc:
            raise ValueError(f"{option.help.split(' (')[0].capitalize()}: {value!r}: {exc}") from None
    rules = PRESETS[out.get("subtitle_preset") or DEFAULT_PRESET]
    for name in RULE_SETTINGS:  # a rule at the preset's own value is no change
        if name in out and out[name] is not None and out[name] == getattr(rules, name):
            out[name] = None
    return out


def parse_speaker_choices(raw: Mapping[str, Any]) -> SpeakerOptions:
    """The page's speaker controls (``speakers``, ``track``, ``num_speakers``; an empty or 0 number: not
    given) as SpeakerOptions; ValueError naming the field for a bad one."""
    values: dict[str, Any] = {}
    for name in ("speakers", "track", "num_speakers"):
        value = raw.get(name)
        if value is None or value == "" or (name != "speakers" and float(value) == 0):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        option = _BY_NAME[name]
        try:
            values[name] = option.parse(str(value))
        except ValueError as exc:
            raise ValueError(f"{option.help.split(':')[0].split(' (')[0].capitalize()}: {value!r}: {exc}") \
                from None
    return SpeakerOptions(values.get("speakers", "mix"), values.get("track"), values.get("num_speakers"))


def with_choices(settings: Settings, **choices: Any) -> Settings:
    """The settings with the page's choices for one job (e.g. ``model=``) applied on top."""
    given = {k: v for k, v in choices.items() if v is not None or k in CLEARABLE}
    origins = dict(settings.origins) | {k: "the page" for k in given}
    return dataclasses.replace(settings, **given, origins=origins)


# Settings whose None means "the preset's" or "the video's": a page choice of None clears them.
CLEARABLE = frozenset({*RULE_SETTINGS, "fps", "start_timecode"})


# --- the command line ---------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser, names: Iterable[str]) -> None:
    """Add the flags of the named settings; a flag not given stays None (the lower sources apply)."""
    for name in names:
        o = _BY_NAME[name]
        assert o.flag is not None, name
        if o.parse is bool or o.parse is parse_flag:
            value = name not in ("open_browser", "punctuation")  # --no-browser: open_browser False
            parser.add_argument(o.flag, dest=name, action="store_const", const=value, default=None,
                                help=o.help)
            continue
        kwargs: dict[str, Any] = {"dest": name, "default": None, "metavar": o.metavar}
        choices = {"device": DEVICES, "vad": VAD_METHODS, "precision": PRECISIONS,
                   "subtitle_preset": tuple(PRESETS), "fcpxml": FCPXML_KINDS,
                   "markers": MARKER_UNITS, "speakers": SPEAKER_MODES}.get(name)
        if choices:
            kwargs.update(choices=choices, metavar=None)
        default = getattr(Settings(), name)
        shown = "" if default is None else f" (default: {o.show(default)})"  # None: said in the help
        parser.add_argument(o.flag, type=_argparse_type(o), help=f"{o.help}{shown}", **kwargs)


def _argparse_type(option: Option) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            return option.parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{raw!r}: {exc}") from None

    return convert


def flags_from(args: argparse.Namespace) -> dict[str, Any]:
    return {o.name: getattr(args, o.name) for o in OPTIONS if hasattr(args, o.name)}


# --- settings.json ------------------------------------------------------------------------------------


class SavedSettings:
    """``model_cache/settings.json``: the choices the page (and the command line) remember between runs.

    Written atomically; an unreadable file is ignored with a warning (a preference is never worth failing
    a job for).
    """

    def __init__(self, model_cache: Path):
        self.path = Path(model_cache) / SETTINGS_FILE

    def load(self) -> dict[str, Any]:
        data = read_json(self.path)
        if not isinstance(data, dict):
            return {}
        if "last_model" in data and "model" not in data:  # the name before the settings object
            data["model"] = data.pop("last_model")
        return {k: v for k, v in data.items() if k in _BY_NAME and _BY_NAME[k].saved}

    def save(self, **values: Any) -> None:
        given = {k: ",".join(map(str, v)) if isinstance(v, list | tuple) else v for k, v in values.items()
                 if k in _BY_NAME and _BY_NAME[k].saved}
        data = self.load() | given
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_json(self.path, data)
        except OSError as exc:
            log.warning("Could not save settings to %s: %s", self.path, exc)


def settings_for(model_cache: Path, environ: Mapping[str, str], flags: Mapping[str, Any] | None = None,
                 ) -> Settings:
    """The entry points' one call: saved choices, the environment and the command line, in that order."""
    return load_settings(environ, flags, SavedSettings(model_cache).load())
