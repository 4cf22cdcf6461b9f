"""Shared helpers for Chunky's benchmarks: timing, machine facts, a parakeet-shaped model, RESULTS.md.

Nothing here imports torch or NeMo at module level, so a benchmark's parent process stays light and
can drive fresh worker subprocesses (each paying NeMo's import once, measured apart).

The model builder makes a FastConformer-TDT with the shape of nvidia/parakeet-tdt-0.6b-v2 (public model
card / NeMo's FastConformer TDT config): random weights, a SentencePiece BPE tokenizer trained on
generated text, about 617M parameters, saved as a ``.nemo`` and cached by a hash of its config.
``parakeet_tdt_config(d_model=..., n_layers=...)`` makes smaller siblings for quicker benchmarks.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import random
import re
import shutil
import statistics
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
if str(REPO_ROOT) not in sys.path:  # the tests' helpers (app server, speech, word errors) are shared
    sys.path.insert(0, str(REPO_ROOT))
DEFAULT_WORK = BENCH_DIR / "out"
RESULTS_MD = BENCH_DIR / "RESULTS.md"
RESULTS_HEADER = (
    "# Chunky benchmark results\n\n"
    "Each section is written by its benchmark (`python bench/<name>.py --write-results`);\n"
    "see bench/README.md.\n"
    "Figures are from the machine named in the section; compare ratios, not absolute seconds.\n"
)

# Bump when the builder changes in a way the config dict does not show (cache key).
BUILDER_VERSION = 1


# --------------------------------------------------------------------------------------------- timing


@contextlib.contextmanager
def timed(into: dict[str, float], key: str) -> Iterator[None]:
    """Add the wall time of the block (seconds) to ``into[key]``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        into[key] = into.get(key, 0.0) + time.perf_counter() - start


@dataclass
class Samples:
    """Repeated measurements of one thing (seconds, MB, ...)."""

    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values) if self.values else float("nan")

    @property
    def min(self) -> float:
        return min(self.values) if self.values else float("nan")

    @property
    def max(self) -> float:
        return max(self.values) if self.values else float("nan")


def fmt_s(seconds: float) -> str:
    return f"{seconds:.2f} s" if seconds == seconds else "n/a"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------ memory


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux/macOS; psutil elsewhere)."""
    try:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
    except ImportError:  # Windows
        import psutil

        info = psutil.Process().memory_info()
        return getattr(info, "peak_wset", info.rss) / (1024 * 1024)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / (1024 * 1024)


# ---------------------------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """CPU model, cores, RAM, library versions, GPU or not. Imports torch/nemo metadata only."""
    import importlib.metadata as md

    import psutil

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("torch", "nemo_toolkit"):
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = "not installed"
    gpu = "CPU only; no GPU on this machine"
    if shutil.which("nvidia-smi"):
        gpu = "nvidia-smi present (GPU not used by this benchmark unless stated)"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        "versions": versions,
        "gpu": gpu,
    }


def _portable(cmd: str) -> str:
    """A command line as RESULTS.md may show it: no path of this machine (the repo root, the folder it
    lies in, with its other checkouts, and temp folders)."""
    cmd = cmd.replace(str(REPO_ROOT) + os.sep, "").replace(str(REPO_ROOT), ".")
    cmd = cmd.replace(str(REPO_ROOT.parent) + os.sep, "../")
    return re.sub(r"/tmp/\S*", "/tmp/...", cmd)


def concurrent_load(sample_seconds: float = 2.0, min_cpu_percent: float = 20.0) -> dict[str, Any]:
    """What else is running: load average and the processes (not ours) using CPU over a short sample."""
    import psutil

    me = {os.getpid()}
    with contextlib.suppress(psutil.Error):
        me |= {p.pid for p in psutil.Process().children(recursive=True)}
    procs = []
    for p in psutil.process_iter(["pid", "name", "cmdline"]):
        if p.info["pid"] in me:
            continue
        with contextlib.suppress(psutil.Error):
            p.cpu_percent(None)
            procs.append(p)
    time.sleep(sample_seconds)
    busy = []
    for p in procs:
        with contextlib.suppress(psutil.Error):
            pct = p.cpu_percent(None)
            if pct >= min_cpu_percent:
                cmd = _portable(" ".join(p.info["cmdline"] or [p.info["name"] or "?"]))
                rss = p.memory_info().rss / 2**30
                busy.append({"pid": p.info["pid"], "cpu_percent": round(pct), "rss_gb": round(rss, 1),
                             "cmd": cmd[:120]})
    busy.sort(key=lambda d: -d["cpu_percent"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    mem = psutil.virtual_memory()
    return {
        "loadavg": [round(x, 2) for x in load],
        "busy": busy,
        "mem_available_gb": round(mem.available / 2**30, 1),
    }


def describe_load(load: dict[str, Any]) -> str:
    parts = [f"load average {load['loadavg'][0]:.2f}/{load['loadavg'][1]:.2f}/{load['loadavg'][2]:.2f}"]
    if load["busy"]:
        parts += [f"{b['cpu_percent']}% CPU, {b['rss_gb']} GB: `{b['cmd']}`" for b in load["busy"]]
    else:
        parts.append("no other busy process")
    parts.append(f"{load['mem_available_gb']} GB RAM available")
    return "; ".join(parts)


# ----------------------------------------------------------------------------- parakeet-shaped model


def parakeet_tdt_config(
    tokenizer_dir: str | None = None,
    *,
    d_model: int = 1024,
    n_layers: int = 24,
    n_heads: int = 8,
    pred_hidden: int = 640,
    joint_hidden: int = 640,
    pred_rnn_layers: int = 2,
    durations: tuple[int, ...] = (0, 1, 2, 3, 4),
) -> dict[str, Any]:
    """The model config of a FastConformer-TDT shaped like nvidia/parakeet-tdt-0.6b-v2 (the defaults).

    Keys as NeMo 3.0.0's EncDecRNNTBPEModel expects them (examples/asr/conf/fastconformer/...tdt...).
    ``tokenizer_dir`` holds ``tokenizer.model``; None leaves a placeholder (for hashing the shape).
    """
    return {
        "sample_rate": 16000,
        "compute_eval_loss": False,
        "log_prediction": True,
        "skip_nan_grad": False,
        "model_defaults": {
            "enc_hidden": d_model,
            "pred_hidden": pred_hidden,
            "joint_hidden": joint_hidden,
            "tdt_durations": list(durations),
            "num_tdt_durations": len(durations),
        },
        "tokenizer": {"dir": tokenizer_dir or "<tokenizer>", "type": "bpe"},
        "preprocessor": {
            "_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
            "sample_rate": 16000,
            "normalize": "per_feature",
            "window_size": 0.025,
            "window_stride": 0.01,
            "window": "hann",
            "features": 128,
            "n_fft": 512,
            "log": True,
            "frame_splicing": 1,
            "dither": 1.0e-05,
            "pad_to": 0,
            "pad_value": 0.0,
        },
        "spec_augment": {
            "_target_": "nemo.collections.asr.modules.SpectrogramAugmentation",
            "freq_masks": 2,
            "time_masks": 10,
            "freq_width": 27,
            "time_width": 0.05,
        },
        "encoder": {
            "_target_": "nemo.collections.asr.modules.ConformerEncoder",
            "feat_in": 128,
            "feat_out": -1,
            "n_layers": n_layers,
            "d_model": d_model,
            "subsampling": "dw_striding",
            "subsampling_factor": 8,
            "subsampling_conv_channels": 256,
            "causal_downsampling": False,
            "ff_expansion_factor": 4,
            "self_attention_model": "rel_pos",
            "n_heads": n_heads,
            "att_context_size": [-1, -1],
            "att_context_style": "regular",
            "xscaling": True,
            "untie_biases": True,
            "pos_emb_max_len": 5000,
            "conv_kernel_size": 9,
            "conv_norm_type": "batch_norm",
            "conv_context_size": None,
            "dropout": 0.1,
            "dropout_pre_encoder": 0.1,
            "dropout_emb": 0.0,
            "dropout_att": 0.1,
            "stochastic_depth_drop_prob": 0.0,
            "stochastic_depth_mode": "linear",
            "stochastic_depth_start_layer": 1,
        },
        "decoder": {
            "_target_": "nemo.collections.asr.modules.RNNTDecoder",
            "normalization_mode": None,
            "random_state_sampling": False,
            "blank_as_pad": True,
            "prednet": {"pred_hidden": pred_hidden, "pred_rnn_layers": pred_rnn_layers, "t_max": None,
                        "dropout": 0.2},
        },
        "joint": {
            "_target_": "nemo.collections.asr.modules.RNNTJoint",
            "log_softmax": None,
            "preserve_memory": False,
            "fuse_loss_wer": True,
            "fused_batch_size": 4,
            "jointnet": {"joint_hidden": joint_hidden, "activation": "relu", "dropout": 0.2},
            "num_extra_outputs": len(durations),
        },
        "decoding": {
            "strategy": "greedy_batch",
            "model_type": "tdt",
            "durations": list(durations),
            "greedy": {"max_symbols": 10},
            "beam": {"beam_size": 2, "return_best_hypothesis": False, "score_norm": True,
                     "tsd_max_sym_exp": 50, "alsd_max_target_len": 2.0},
        },
        "interctc": {"loss_weights": [], "apply_at_layers": []},
        "loss": {
            "loss_name": "tdt",
            "tdt_kwargs": {"fastemit_lambda": 0.0, "clamp": -1.0, "durations": list(durations),
                           "sigma": 0.02, "omega": 0.1},
        },
        "optim": {"name": "adamw", "lr": 5.0, "betas": [0.9, 0.98], "weight_decay": 1e-3,
                  "sched": {"name": "NoamAnnealing", "d_model": d_model, "warmup_steps": 10000,
                            "warmup_ratio": None, "min_lr": 1e-6}},
    }


def generated_text(n_lines: int = 20000, n_words: int = 3000, seed: int = 1234) -> str:
    """English-looking text from a generated lexicon (no word list on the machine, no download)."""
    rng = random.Random(seed)
    onsets = ["", "b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "y",
              "z", "bl", "br", "ch", "cl", "cr", "dr", "fl", "fr", "gl", "gr", "pl", "pr", "sh", "sl", "sm",
              "sn", "sp", "st", "str", "th", "tr", "wh"]
    nuclei = ["a", "e", "i", "o", "u", "ai", "ea", "ee", "oo", "ou", "ie", "oa", "y"]
    codas = ["", "", "", "n", "r", "s", "t", "l", "m", "nd", "ng", "st", "ck", "rt", "ld", "nt", "sh"]
    lexicon = set()
    while len(lexicon) < n_words:
        syllables = rng.choice((1, 1, 2, 2, 2, 3, 3, 4))
        lexicon.add("".join(rng.choice(onsets) + rng.choice(nuclei) + rng.choice(codas)
                            for _ in range(syllables)))
    words = sorted(lexicon)
    weights = [1.0 / (rank + 1) for rank in range(len(words))]  # Zipf-like, as in real text
    lines = [" ".join(rng.choices(words, weights, k=rng.randint(6, 18))) for _ in range(n_lines)]
    return "\n".join(lines) + "\n"


def train_sentencepiece(folder: Path, vocab_size: int = 1024, seed: int = 1234) -> Path:
    """A SentencePiece BPE tokenizer (tokenizer.model, tokenizer.vocab, vocab.txt) in ``folder``."""
    import sentencepiece as spm

    folder.mkdir(parents=True, exist_ok=True)
    text = folder / "text.txt"
    text.write_text(generated_text(n_words=max(3000, 4 * vocab_size), seed=seed), "utf-8")
    spm.SentencePieceTrainer.train(
        input=str(text), model_prefix=str(folder / "tokenizer"), vocab_size=vocab_size, model_type="bpe",
        character_coverage=1.0, minloglevel=2, num_threads=2,
    )
    vocab = [line.split("\t")[0] for line in (folder / "tokenizer.vocab").read_text("utf-8").splitlines()]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", "utf-8")
    text.unlink()
    return folder


def config_hash(cfg: dict[str, Any], **extra: Any) -> str:
    blob = json.dumps({"cfg": cfg, "builder": BUILDER_VERSION, **extra}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


@dataclass
class BuiltModel:
    name: str
    nemo_path: Path
    params: int
    size_bytes: int
    build_seconds: float | None  # None: taken from the cache
    config_hash: str


def build_parakeet_like(work: Path, *, vocab_size: int = 1024, seed: int = 0,
                        log: Callable[[str], None] = print, **shape: Any) -> BuiltModel:
    """Build (once; cached by config hash) a parakeet-shaped .nemo with random weights under ``work``.

    ``shape`` goes to :func:`parakeet_tdt_config` (d_model, n_layers, ...). Imports NeMo when it builds.
    """
    work = Path(work).resolve()
    shape_cfg = parakeet_tdt_config(None, **shape)
    digest = config_hash(shape_cfg, vocab_size=vocab_size, seed=seed)
    name = f"parakeet-like-{digest}"
    nemo_path = work / f"{name}.nemo"
    meta_path = work / f"{name}.json"
    if nemo_path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text("utf-8"))
        log(f"model: cached {nemo_path} ({meta['params'] / 1e6:.1f}M parameters)")
        return BuiltModel(name, nemo_path, meta["params"], nemo_path.stat().st_size, None, digest)

    log(f"model: building {name} (random weights, SentencePiece vocab {vocab_size}) ...")
    start = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    tok_dir = work / f"{name}-tokenizer"
    if tok_dir.exists():
        shutil.rmtree(tok_dir)
    train_sentencepiece(tok_dir, vocab_size=vocab_size, seed=1234 + seed)

    import torch
    from nemo.collections.asr.models import EncDecRNNTBPEModel
    from omegaconf import OmegaConf

    torch.manual_seed(seed)
    cfg = OmegaConf.create(parakeet_tdt_config(str(tok_dir), **shape))
    model = EncDecRNNTBPEModel(cfg=cfg)
    params = sum(p.numel() for p in model.parameters())
    partial = work / f"{name}.partial.nemo"  # NeMo wants the .nemo suffix; renamed when complete
    model.save_to(str(partial))
    del model
    os.replace(partial, nemo_path)
    shutil.rmtree(tok_dir, ignore_errors=True)
    seconds = time.perf_counter() - start
    meta_path.write_text(json.dumps({"params": params, "shape": shape, "vocab_size": vocab_size,
                                     "build_seconds": round(seconds, 1)}, indent=1), "utf-8")
    log(f"model: built {nemo_path} in {seconds:.0f} s ({params / 1e6:.1f}M parameters)")
    return BuiltModel(name, nemo_path, params, nemo_path.stat().st_size, seconds, digest)


def extract_model(nemo_path: Path, work: Path, name: str,
                  log: Callable[[str], None] = print) -> tuple[Path, str]:
    """The model's extracted folder (made once). Returns (folder, how): Chunky's store when it exists."""
    work = Path(work).resolve()
    try:
        from chunky.models.store import ModelStore
    except ImportError:
        ModelStore = None  # noqa: N806 - the store is not written yet
    if ModelStore is not None:
        local_models = work / "local_models"
        extracted_root = work / "extracted-store"
        local_models.mkdir(parents=True, exist_ok=True)
        store = ModelStore(local_models, extracted_root)
        try:
            folder = Path(store.ensure_extracted(name))
        except Exception:
            store.import_archive(nemo_path, name)
            folder = Path(store.ensure_extracted(name))
        return folder, "chunky.models.store.ModelStore"
    folder = work / "extracted" / name
    done = folder / ".bench-extracted"
    if not done.is_file():
        log(f"extract: {nemo_path.name} -> {folder} (tarfile) ...")
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        with tarfile.open(nemo_path, "r:") as tar:
            tar.extractall(partial, filter="data")
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(partial, folder)
        done.write_text("ok\n", "utf-8")
    return folder, "tarfile (chunky/store.py does not exist yet)"


# ---------------------------------------------------------------------------------------- RESULTS.md


def write_results_section(title: str, body: str, path: Path = RESULTS_MD) -> None:
    """Replace (or append) the ``## {title}`` section of RESULTS.md, keeping every other section."""
    text = path.read_text("utf-8") if path.is_file() else RESULTS_HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, "utf-8")
    os.replace(partial, path)


# ----------------------------------------------------------------------------- speech with known words

WORD_CLIPS_DIR = REPO_ROOT / "tests" / "assets" / "audio"
SPEECH_RATE = 16000
CLIP_MARGIN_S = 0.050  # every word clip has exactly this much before the word's onset and after its offset


@dataclass
class SpeechFile:
    """A recording of random digit words with known gaps (see :func:`write_digit_speech`)."""

    path: Path
    seconds: float
    words: list[tuple[str, float, float]]  # (word, true start, true end) in seconds
    build_seconds: float | None  # None: taken from the cache


def word_clips(folder: Path = WORD_CLIPS_DIR) -> list[tuple[Any, str]]:
    """The 40 held-out word clips of tests/assets/audio as (float32 samples, word)."""
    import soundfile as sf

    clips = []
    for path in sorted(folder.glob("word-*.flac")):
        audio, rate = sf.read(str(path), dtype="float32")
        if rate != SPEECH_RATE:
            raise ValueError(f"{path} is {rate} Hz, expected {SPEECH_RATE}")
        clips.append((audio, path.stem.rsplit("-", 1)[1]))
    if not clips:
        raise FileNotFoundError(f"no word-*.flac clips in {folder}")
    return clips


def write_digit_speech(path: Path, seconds: float, *, seed: int = 0, gaps: tuple[float, float] = (0.3, 1.5),
                       gain: tuple[float, float] = (0.3, 1.0), noise_std: float = 10 ** -2.75,
                       block_seconds: float = 60.0, log: Callable[[str], None] = print) -> SpeechFile:
    """A 16 kHz mono 16-bit FLAC of exactly ``seconds``: random held-out digit words (seeded), gaps drawn
    from ``gaps`` seconds, gain from ``gain``, a Gaussian noise floor of ``noise_std`` (as the test model's
    evaluation file, tests/assets/README.md). Written block by block (about ``block_seconds`` at a time),
    so making a 3-hour file holds one block, not the recording. Made once: cached by its parameters, with
    the true words in ``<path>.words.json``."""
    import numpy as np
    import soundfile as sf

    path = Path(path).resolve()
    params = {"seconds": seconds, "seed": seed, "gaps": list(gaps), "gain": list(gain),
              "noise_std": noise_std, "block_seconds": block_seconds, "rate": SPEECH_RATE, "version": 1}
    meta_path = path.with_name(path.name + ".words.json")
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text("utf-8"))
        if meta.get("params") == params:
            log(f"audio: cached {path} ({seconds / 60:.0f} min, {len(meta['words'])} words)")
            return SpeechFile(path, seconds, [tuple(w) for w in meta["words"]], None)  # type: ignore[misc]

    log(f"audio: writing {path} ({seconds / 60:.0f} min of digit words, seed {seed}) ...")
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    clips = word_clips()
    rate = SPEECH_RATE
    total = int(round(seconds * rate))
    margin = int(round(CLIP_MARGIN_S * rate))
    block_n = max(1, int(block_seconds * rate))
    words: list[tuple[str, float, float]] = []
    pending: list[Any] = []
    pending_n = 0
    written = 0
    partial = path.with_name(path.name + ".partial")
    with sf.SoundFile(str(partial), "w", samplerate=rate, channels=1, format="FLAC", subtype="PCM_16") as out:

        def flush(final: bool = False) -> None:
            nonlocal pending, pending_n, written
            if not pending or (pending_n < block_n and not final):
                return
            block = np.concatenate(pending)
            block += rng.normal(0.0, noise_std, len(block)).astype(np.float32)
            out.write(np.clip(block, -1.0, 1.0))
            written += len(block)
            pending, pending_n = [], 0

        def add(piece: Any) -> None:
            nonlocal pending_n
            pending.append(piece)
            pending_n += len(piece)
            flush()

        pos = int(rng.uniform(*gaps) * rate)
        add(np.zeros(pos, np.float32))
        while True:
            clip, word = clips[int(rng.integers(len(clips)))]
            gap = int(rng.uniform(*gaps) * rate)
            if pos + len(clip) + int(gaps[0] * rate) > total:
                break
            words.append((word, round((pos + margin) / rate, 6), round((pos + len(clip) - margin) / rate, 6)))
            add((clip * float(rng.uniform(*gain))).astype(np.float32))
            pos += len(clip)
            gap = min(gap, total - pos)
            add(np.zeros(gap, np.float32))
            pos += gap
        if pos < total:
            add(np.zeros(total - pos, np.float32))
        flush(final=True)
    if written != total:
        raise RuntimeError(f"wrote {written} samples, expected {total}")
    os.replace(partial, path)
    meta_path.write_text(json.dumps({"params": params, "words": words}), "utf-8")
    build = time.perf_counter() - start
    log(f"audio: wrote {path} in {build:.0f} s ({len(words)} words, {path.stat().st_size / 1e6:.0f} MB)")
    return SpeechFile(path, seconds, words, build)


def word_errors(ref: list[str], hyp: list[str]) -> int:
    """The tests' word-error count (jiwer): substitutions + deletions + insertions."""
    from tests.speech import word_errors as count

    return count(ref, hyp)


# ------------------------------------------------------------------------------------- peak memory


def reset_peak_rss() -> bool:
    """Reset this process's RSS high-water mark to its current RSS (Linux 4.0+: /proc/self/clear_refs).

    After it, :func:`peak_rss_mb` measures the peak of what follows. False where it is not supported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class LoadSampler(threading.Thread):
    """Samples what else keeps the machine busy while a benchmark runs (processes whose command line holds
    ``exclude``, i.e. the benchmark's own workers, left out). Command lines are grouped with their numbers
    and temp paths masked, so that many short runs of one test (each with its own port or folder) read
    as one."""

    def __init__(self, exclude: str, every: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.exclude = exclude
        self.every = every
        self.samples: list[dict[str, Any]] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            sample = concurrent_load(sample_seconds=2.0)
            sample["busy"] = [b for b in sample["busy"] if self.exclude not in b["cmd"]]
            self.samples.append(sample)
            self._stop_event.wait(self.every)

    def stop(self) -> None:
        self._stop_event.set()

    @staticmethod
    def group(cmd: str) -> str:
        return re.sub(r"\d+", "N", _portable(cmd))[:90]

    def summary(self, top: int = 5) -> str:
        if not self.samples:
            return "not sampled"
        loads = [s["loadavg"][0] for s in self.samples]
        mem = [s["mem_available_gb"] for s in self.samples]
        others: dict[str, list[int]] = {}
        for s in self.samples:
            seen: dict[str, int] = {}
            for b in s["busy"]:
                key = self.group(b["cmd"])
                seen[key] = seen.get(key, 0) + b["cpu_percent"]
            for key, pct in seen.items():
                others.setdefault(key, []).append(pct)
        busy_samples = sum(1 for s in self.samples if s["busy"])
        text = (f"{len(self.samples)} samples; 1-min load average {min(loads):.2f}-{max(loads):.2f} "
                f"(median {statistics.median(loads):.2f}) on {os.cpu_count()} cores; RAM available "
                f"{min(mem):.1f}-{max(mem):.1f} GB; other processes used more than 20% of a core in "
                f"{busy_samples} of {len(self.samples)} samples")
        ranked = sorted(others.items(), key=lambda kv: -sum(kv[1]))
        for cmd, pcts in ranked[:top]:
            text += (f"; in {len(pcts) / len(self.samples):.0%} of samples at median "
                     f"{statistics.median(pcts):.0f}% CPU: `{cmd}`")
        if len(ranked) > top:
            text += f"; {len(ranked) - top} other kinds"
        return text
