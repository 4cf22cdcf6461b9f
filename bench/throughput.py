"""Throughput benchmark: Chunky's pipeline against NeMo's bare ``model.transcribe([path])`` on one long file.

    python bench/throughput.py [--work DIR] [--repeats 2] [--quick] [--write-results]

The same 10-minute recording (random held-out digit words with known gaps, seeded, 16 kHz FLAC written to
bench/out) and the same model, each method in a fresh subprocess, interleaved (A B C, A B C, ...):

  chunky      Chunky: ``Engine(ModelManager(store, "cpu"), EngineOptions()).transcribe(path, name)``: decode,
              find pauses, 30 s chunks cut in pauses, batches of 8, word timestamps, stitch, transcript
  nemo        NeMo bare: ``model.transcribe([path])`` on the whole file, NeMo's defaults (full attention)
  local_attn  Chunky's pipeline with no chunking (one chunk: the whole file) after
              ``model.change_attention_model("rel_pos_local_attn", [128, 128])`` and
              ``model.change_subsampling_conv_chunking_factor(1)``: NeMo's alternative to chunking
  nemo_local  NeMo bare ``model.transcribe([path])`` with that local attention (optional)
  nemo_ts     NeMo bare ``model.transcribe([path], timestamps=True)``: the same, with word times as Chunky's
  chunky_before  ``chunky`` with the engine as it was before issue 14 (``--before REF``, default 59e025d:
              the whole file decoded to float16, pauses found over all of it, one ``transcribe`` per batch),
              its ``chunky`` package exported from git into the work folder

for two models:

  digits     the trained test model tests/assets/digits-ctc.nemo (ConvASR CTC, 266k parameters; it has no
             attention, so only chunky and nemo)
  realistic  a FastConformer-TDT of parakeet's design at 118M parameters (d_model 512, 17 layers; built by
             bench/common.build_parakeet_like), random weights. Its joint's output bias is set so that greedy
             decoding emits one token every 3 encoder frames (4.2 tokens/s, the token rate of dense speech):
             left random, it emits max_symbols (10) tokens on every frame and the decoder (6 ms a token on
             this CPU) would be 90% of the time, which no trained model does.

Every timing starts after NeMo's import and the model's load (both measured apart) and after one warm-up
call of the same method on a 20 s file (first-call costs: oneDNN kernels, NeMo's lazy setup); it ends
with the transcript. "RTFx" is audio seconds / wall seconds. Peak RSS is the worker's high-water mark
during the timed call (reset just before it through /proc/self/clear_refs); "+ over model" is that peak
minus the RSS before the call. The word error rate is against the known words (digits model only).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import (
    DEFAULT_WORK,
    REPO_ROOT,
    LoadSampler,
    Samples,
    build_parakeet_like,
    extract_model,
    machine_info,
    markdown_table,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    word_errors,
    write_digit_speech,
    write_results_section,
)

METHODS: dict[str, str] = {
    "chunky": "Chunky `Engine.transcribe(path)`: 30 s chunks cut in pauses, batch 8, timestamps, stitched",
    "nemo": "NeMo bare `model.transcribe([path])`: the whole file in one pass, NeMo's defaults",
    "local_attn": "Chunky's pipeline, no chunking (the whole file as one chunk), local attention [128, 128]",
    "nemo_local": "NeMo bare `model.transcribe([path])`, whole file, local attention [128, 128]",
    "chunky_b1": "Chunky as `chunky` but `batch_size=1`: one 30 s chunk per `model.transcribe` call",
    "nemo_ts": "NeMo bare `model.transcribe([path], timestamps=True)`: one pass, with word times",
    "chunky_before": "`chunky` with the engine before issue 14 (float16 whole-file decode, whole-file "
                     "pauses, a `transcribe` call per batch)",
}
MODELS = ("digits", "realistic")
DEFAULT_METHODS = {"digits": ["chunky", "nemo", "nemo_ts", "chunky_before"],
                   "realistic": ["chunky", "nemo", "local_attn", "chunky_b1"]}
CHUNKY_METHODS = ("chunky", "chunky_b1", "local_attn", "chunky_before")
NEMO_METHODS = ("nemo", "nemo_local", "nemo_ts")
BEFORE_REF = "59e025d"  # main before issue 14: the figures the issue was filed with
ATTENTION_METHODS = ("local_attn", "nemo_local")
DIGITS_NEMO = REPO_ROOT / "tests" / "assets" / "digits-ctc.nemo"
REALISTIC_SHAPE = {"d_model": 512, "n_layers": 17}
TOKEN_EVERY_FRAMES = 3  # the realistic model's decoding: one token (and a jump of 3 frames) per step
RESULT_MARK = "BENCH_RESULT "
TARGET_RATIO = 1.10  # Chunky / NeMo wall time (both models)
LOCAL_CONTEXT = [128, 128]
WARMUP_SECONDS = 20.0
DERIVED_VERSION = 1


# ============================================================================ worker side (subprocess)


def ensure_validation_ds(model: Any) -> bool:
    """Give a built model the ``validation_ds`` section a released model has: NeMo's RNNT
    ``transcribe(paths)`` reads ``cfg.validation_ds.use_start_end_token`` (parakeet-tdt-0.6b-v2's values)."""
    from omegaconf import open_dict

    if "validation_ds" in model.cfg:
        return False
    with open_dict(model.cfg):
        model.cfg.validation_ds = {"manifest_filepath": None, "sample_rate": 16000, "batch_size": 16,
                                   "shuffle": False, "use_start_end_token": False, "num_workers": 8,
                                   "pin_memory": True}
    return True


def set_token_rate(model: Any, every: int) -> dict[str, Any]:
    """Bias the TDT joint's output layer so that greedy decoding emits a (non-blank) token on every step and
    jumps ``every`` frames: a fixed, speech-like decoding cost for a model whose random weights would
    otherwise emit max_symbols tokens on every frame. Returns what was set."""
    import torch

    linear = model.joint.joint_net[-1]
    n_durations = int(model.joint.num_extra_outputs)
    durations = list(model.cfg.model_defaults.tdt_durations)
    n_tokens = linear.out_features - n_durations  # vocabulary + blank (the last one)
    choice = durations.index(every)
    with torch.no_grad():
        linear.bias[n_tokens - 1] -= 30.0  # blank never wins
        for i in range(n_durations):
            linear.bias[n_tokens + i] += 30.0 if i == choice else -30.0
    return {"blank_bias": -30.0, "duration": every, "durations": durations}


def prepare_realistic(base_nemo: Path, out_nemo: Path) -> dict[str, Any]:
    """The realistic model: the built parakeet-like .nemo with a validation_ds section and a fixed token
    rate (see set_token_rate), saved as its own .nemo. Also measures the token rate it decodes at."""
    import numpy as np
    import soundfile as sf
    import torch
    from nemo.collections.asr.models import ASRModel

    model = ASRModel.restore_from(str(base_nemo), map_location="cpu")
    model.eval()
    ensure_validation_ds(model)
    setting = set_token_rate(model, TOKEN_EVERY_FRAMES)
    # Check: tokens per second of audio when decoding 20 s of the benchmark's speech.
    clips = sorted((REPO_ROOT / "tests" / "assets" / "audio").glob("sentence-*.flac"))
    audio = sf.read(str(clips[0]), dtype="float32")[0]
    reps = int(math.ceil(20 * 16000 / len(audio)))
    x = torch.from_numpy(np.tile(audio, reps)[: 20 * 16000])[None]
    with torch.inference_mode():
        feats, feat_len = model.preprocessor(input_signal=x, length=torch.tensor([x.shape[1]]))
        enc, enc_len = model.encoder(audio_signal=feats, length=feat_len)
        hyps = model.decoding.rnnt_decoder_predictions_tensor(encoder_output=enc, encoded_lengths=enc_len)
    hyp = hyps[0][0] if isinstance(hyps, tuple) else hyps[0]
    tokens = len(hyp.y_sequence)
    partial = out_nemo.with_name(out_nemo.stem + ".partial.nemo")
    model.save_to(str(partial))
    os.replace(partial, out_nemo)
    params = sum(p.numel() for p in model.parameters())
    return {**setting, "tokens_per_s": tokens / 20.0, "frames": int(enc_len[0]), "tokens": tokens,
            "params": params}


def worker(method: str, name: str, work: Path, audio_path: Path, warm_path: Path, chunk_seconds: float,
           batch_size: int) -> dict[str, Any]:
    gc.collect()
    t0 = time.perf_counter()
    import nemo.collections.asr  # noqa: F401 - paid once per process by every method, measured apart
    import torch

    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    import_s = time.perf_counter() - t0
    store = ModelStore(work / "local_models", work / "extracted-store")
    manager = ModelManager(store, device="cpu")
    start = time.perf_counter()
    model = manager.get(name).model
    load_s = time.perf_counter() - start
    if method in ATTENTION_METHODS:
        model.change_attention_model("rel_pos_local_attn", LOCAL_CONTEXT)
        model.change_subsampling_conv_chunking_factor(1)
    # Where the Engine's time goes: wrap what it calls (looked up on the modules / the model at call time).
    parts: dict[str, float] = defaultdict(float)

    def timed(owner: Any, attr: str, key: str) -> None:
        real = getattr(owner, attr)

        def call(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return real(*a, **k)
            finally:
                parts[key] += time.perf_counter() - t

        setattr(owner, attr, call)

    feeds: list[Any] = []  # the engine's feed of each call (streaming engine): its own timings
    if method == "chunky_before":  # the engine before issue 14: decode, then pauses, then the model
        import chunky.audio.decode
        import chunky.audio.vad

        timed(chunky.audio.decode, "load_audio", "decode audio")
        timed(chunky.audio.vad, "pauses", "find pauses")
        timed(model, "transcribe", "model.transcribe")
    elif method in CHUNKY_METHODS:
        import chunky.asr.feed

        feed_close = chunky.asr.feed.ChunkFeed.close

        def close(self: Any) -> None:
            feed_close(self)
            if self not in feeds:
                feeds.append(self)

        chunky.asr.feed.ChunkFeed.close = close  # type: ignore[method-assign]
    chunked = EngineOptions(chunk_seconds=chunk_seconds, overlap_seconds=2.0, batch_size=batch_size)
    one = EngineOptions(chunk_seconds=chunk_seconds, overlap_seconds=2.0, batch_size=1)
    whole = EngineOptions(chunk_seconds=1e9, overlap_seconds=0.0, batch_size=1)
    engine = Engine(manager, chunked)

    def run(path: Path) -> list[str]:
        if method in CHUNKY_METHODS:
            opts = {"chunky": chunked, "chunky_before": chunked, "chunky_b1": one,
                    "local_attn": whole}[method]
            transcript = engine.transcribe(path, name, options=opts)
            return [w.text for w in transcript.words] if transcript.words else transcript.text.split()
        result = model.transcribe([str(path)], timestamps=True) if method == "nemo_ts" else model.transcribe(
            [str(path)])
        if isinstance(result, tuple):  # RNNT models of older NeMo: (best, all)
            result = result[0]
        hyp = result[0]
        return str(getattr(hyp, "text", hyp)).split()

    gc.collect()
    warm_rss_before = rss_mb()
    reset_peak_rss()
    start = time.perf_counter()
    run(warm_path)
    warm_s = time.perf_counter() - start
    warm_peak = peak_rss_mb()
    gc.collect()
    rss_before = rss_mb()
    reset_ok = reset_peak_rss()
    parts.clear()
    feeds.clear()
    cpu0 = os.times()
    start = time.perf_counter()
    words = run(audio_path)
    wall_s = time.perf_counter() - start
    cpu1 = os.times()
    peak = peak_rss_mb()
    cpu_s = sum(b - a for a, b in zip(cpu0[:4], cpu1[:4], strict=True))  # user + sys, self + children
    for feed in feeds:  # the streaming engine: work done in its feed thread, beside the model
        stats = feed.stats
        parts["decode audio (feed thread)"] += stats.decode_seconds
        if feed.plan.pauses is not None:
            parts["find pauses (feed thread)"] += feed.plan.pauses.stats.seconds
        parts["model waited for the feed"] += stats.empty_seconds
    return {
        "method": method, "model": name, "import_s": import_s, "load_s": load_s, "warmup_s": warm_s,
        "wall_s": wall_s, "cpu_s": cpu_s, "rss_before_mb": rss_before, "peak_rss_mb": peak,
        "parts": dict(parts), "peak_reset": reset_ok, "warm_rss_before_mb": warm_rss_before,
        "warm_peak_mb": warm_peak,
        "words": words, "torch_threads": torch.get_num_threads(),
        "params": sum(p.numel() for p in model.parameters()),
    }


def worker_main(args: argparse.Namespace) -> None:
    if args.engine_src:  # an older engine: its chunky package comes first
        sys.path.insert(0, str(Path(args.engine_src).resolve()))
    if args.worker == "prepare":
        result = prepare_realistic(Path(args.base_nemo), Path(args.out_nemo))
    else:
        result = worker(args.worker, args.model_name, Path(args.work), Path(args.audio),
                        Path(args.warm_audio), args.chunk_seconds, args.batch_size)
    print(RESULT_MARK + json.dumps(result), flush=True)


# ============================================================================ parent side


def run_subprocess(args: list[str], work: Path, log_file: Path, label: str,
                   timeout: float | None = None) -> tuple[dict[str, Any] | None, str]:
    """Run this script as a worker; (result, error text)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    env = dict(os.environ)
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    try:
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        with log_file.open("a", encoding="utf-8") as fh:
            fh.write(f"\n===== {label} TIMEOUT after {timeout} s\n")
        return None, f"did not finish within {timeout:.0f} s ({exc.__class__.__name__})"
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write(f"\n===== {label} rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}\n")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):]), ""
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    why = "killed (out of memory?)" if proc.returncode in (-9, 137) else f"exit code {proc.returncode}"
    return None, f"{why}: {' | '.join(tail)[-400:]}"


def prepare_models(work: Path, which: list[str], log_file: Path,
                   log: Callable[[str], None]) -> dict[str, Any]:
    """name, folder and description of each model, extracted with Chunky's store."""
    models: dict[str, Any] = {}
    if "digits" in which:
        folder, how = extract_model(DIGITS_NEMO, work, "digits-ctc")
        models["digits"] = {"name": "digits-ctc", "folder": str(folder), "how": how, "params": 266461,
                            "desc": "trained test model `tests/assets/digits-ctc.nemo` (ConvASR char CTC, "
                                    "266k parameters)"}
    if "realistic" in which:
        built = build_parakeet_like(work, log=log, **REALISTIC_SHAPE)
        name = f"{built.name}-bench{DERIVED_VERSION}"
        out_nemo = work / f"{name}.nemo"
        meta_path = work / f"{name}.json"
        if not (out_nemo.is_file() and meta_path.is_file()):
            log(f"model: deriving {out_nemo.name} (validation_ds, fixed token rate) ...")
            result, error = run_subprocess(["--worker", "prepare", "--base-nemo", str(built.nemo_path),
                                            "--out-nemo", str(out_nemo)], work, log_file, "prepare")
            if result is None:
                raise RuntimeError(f"preparing the realistic model failed: {error}; see {log_file}")
            meta_path.write_text(json.dumps(result, indent=1), "utf-8")
        meta = json.loads(meta_path.read_text("utf-8"))
        folder, how = extract_model(out_nemo, work, name)
        shape = ", ".join(f"{k} {v}" for k, v in REALISTIC_SHAPE.items())
        models["realistic"] = {
            "name": name, "folder": str(folder), "how": how, "params": meta["params"],
            "tokens_per_s": meta["tokens_per_s"],
            "desc": f"FastConformer-TDT of parakeet-tdt-0.6b-v2's design at {meta['params'] / 1e6:.1f}M "
                    f"parameters ({shape}, 8x depthwise-striding subsampling, full relative-position "
                    "attention, 2-layer 640 LSTM prediction net, 1024 SentencePiece BPE, TDT durations 0-4), "
                    f"random weights, joint bias set to emit one token every {meta['duration']} frames "
                    f"(measured {meta['tokens_per_s']:.1f} tokens/s)"}
    return models


def fmt(x: float, unit: str = "s", digits: int = 1) -> str:
    return "n/a" if x != x else f"{x:.{digits}f} {unit}".rstrip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for models, audio, logs")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each method (default 3)")
    parser.add_argument("--seconds", type=float, default=None, help="length of the test file (600)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--realistic-methods", nargs="+", default=DEFAULT_METHODS["realistic"],
                        choices=list(METHODS))
    parser.add_argument("--nemo-repeats", type=int, default=1,
                        help="timed runs of NeMo's bare transcribe with full attention on the realistic "
                             "model (default 1: about 8 minutes each for 10 minutes of audio on 2 cores)")
    parser.add_argument("--chunk-seconds", type=float, default=30.0)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--worker-timeout", type=float, default=900.0,
                        help="seconds after which a worker is given up on (default 900)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 60 s file, one repeat")
    parser.add_argument("--write-results", action="store_true",
                        help="write the '## Throughput' section of bench/RESULTS.md")
    parser.add_argument("--from-json", type=Path, metavar="FILE",
                        help="no measuring: report (and with --write-results write) the run saved in FILE "
                             "(every run saves its figures to <work>/throughput-results.json, --quick "
                             "runs to throughput-results-quick.json)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--warm-audio", help=argparse.SUPPRESS)
    parser.add_argument("--base-nemo", help=argparse.SUPPRESS)
    parser.add_argument("--out-nemo", help=argparse.SUPPRESS)
    parser.add_argument("--engine-src", help=argparse.SUPPRESS)
    parser.add_argument("--before", default=BEFORE_REF,
                        help=f"git revision whose engine `chunky_before` runs (default {BEFORE_REF})")
    parser.add_argument("--digits-methods", nargs="+", default=DEFAULT_METHODS["digits"],
                        choices=[m for m in METHODS if m not in ATTENTION_METHODS])
    args = parser.parse_args(argv)
    if args.worker:
        worker_main(args)
        return 0

    if args.from_json:
        return report(json.loads(args.from_json.read_text("utf-8")), args)
    seconds = args.seconds or (60.0 if args.quick else 600.0)
    repeats = args.repeats or (1 if args.quick else 3)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "throughput-workers.log"
    log_file.write_text("", "utf-8")
    started = dt.datetime.now()
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
          f"torch {machine['versions']['torch']}, nemo {machine['versions']['nemo_toolkit']}; "
          f"{machine['gpu']}")
    sampler = LoadSampler("throughput.py")
    sampler.start()
    t_start = time.perf_counter()

    speech = write_digit_speech(work / f"speech-{seconds:.0f}s-seed0.flac", seconds, seed=0)
    warm = write_digit_speech(work / f"speech-{WARMUP_SECONDS:.0f}s-seed1.flac", WARMUP_SECONDS, seed=1)
    models = prepare_models(work, args.models, log_file, print)
    truth = [w for w, _, _ in speech.words]

    plan = [(m, meth) for m in args.models
            for meth in (args.realistic_methods if m == "realistic" else args.digits_methods)]
    wants_before = any(meth == "chunky_before" for _, meth in plan)
    before_src = export_before(args.before, work) if wants_before else None
    results: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    failures: dict[tuple[str, str], str] = {}
    for rep in range(repeats):
        for model_key, method in plan:
            if (model_key, method) in failures:
                continue  # it failed once (out of memory, timeout): do not hog the machine again
            if (model_key, method) == ("realistic", "nemo") and rep >= args.nemo_repeats:
                continue
            info = models[model_key]
            r, error = run_subprocess(
                ["--worker", method, "--model-name", info["name"], "--work", str(work),
                 "--audio", str(speech.path), "--warm-audio", str(warm.path),
                 "--chunk-seconds", str(args.chunk_seconds), "--batch-size", str(args.batch_size),
                 *(["--engine-src", str(before_src)] if method == "chunky_before" else [])],
                work, log_file, f"{model_key}/{method}", timeout=args.worker_timeout)
            if r is None:
                failures[(model_key, method)] = error
                print(f"[{rep + 1}/{repeats}] {model_key:9s} {method:10s} FAILED: {error}", flush=True)
                continue
            r["errors"] = word_errors(truth, r["words"])
            r["n_words"] = len(r.pop("words"))
            results[(model_key, method)].append(r)
            print(f"[{rep + 1}/{repeats}] {model_key:9s} {method:10s} {r['wall_s']:7.1f} s  "
                  f"(CPU {r['cpu_s']:7.1f} s)  "
                  f"RTFx {seconds / r['wall_s']:6.1f}  peak RSS {r['peak_rss_mb'] / 1024:5.2f} GB "
                  f"(+{(r['peak_rss_mb'] - r['rss_before_mb']) / 1024:.2f})  words {r['n_words']}  "
                  f"errors vs truth {r['errors']}  (import {r['import_s']:.1f} s, load {r['load_s']:.1f} s, "
                  f"warm-up {r['warmup_s']:.1f} s)", flush=True)
    sampler.stop()
    state = {
        "started": started.isoformat(timespec="minutes"), "machine": machine, "load_text": sampler.summary(),
        "total_min": (time.perf_counter() - t_start) / 60, "seconds": seconds, "repeats": repeats,
        "nemo_repeats": args.nemo_repeats, "models": models,
        "speech": {"name": speech.path.name, "words": len(speech.words)},
        "plan": plan, "results": [[k[0], k[1], rs] for k, rs in results.items()],
        "failures": [[k[0], k[1], e] for k, e in failures.items()],
        "command": command_line(args), "quick": args.quick, "before": args.before,
    }
    saved = work / ("throughput-results-quick.json" if args.quick else "throughput-results.json")
    saved.write_text(json.dumps(state, indent=1), "utf-8")
    print(f"figures saved to {saved}")
    return report(state, args)


def export_before(ref: str, work: Path) -> Path:
    """The ``chunky`` package of git revision ``ref``, exported (once) into ``work/engine-<sha>``."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    folder = work / f"engine-{sha}"
    if not (folder / "chunky" / "asr" / "engine.py").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", sha, "chunky"], cwd=REPO_ROOT,
                                 capture_output=True, check=True).stdout
        import io
        import tarfile

        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(folder, filter="data")
    return folder


def command_line(args: argparse.Namespace) -> str:
    cmd = "python bench/throughput.py --write-results"
    if args.repeats:
        cmd += f" --repeats {args.repeats}"
    if args.seconds:
        cmd += f" --seconds {args.seconds:g}"
    if args.nemo_repeats != 1:
        cmd += f" --nemo-repeats {args.nemo_repeats}"
    if args.models != list(MODELS):
        cmd += " --models " + " ".join(args.models)
    if "realistic" in args.models and args.realistic_methods != DEFAULT_METHODS["realistic"]:
        cmd += " --realistic-methods " + " ".join(args.realistic_methods)
    if "digits" in args.models and args.digits_methods != DEFAULT_METHODS["digits"]:
        cmd += " --digits-methods " + " ".join(args.digits_methods)
    return cmd


def report(state: dict[str, Any], args: argparse.Namespace) -> int:
    """Print the summary of a run (measured now or loaded) and write its RESULTS.md section if asked."""
    started = dt.datetime.fromisoformat(state["started"])
    machine, load_text, total_min = state["machine"], state["load_text"], state["total_min"]
    seconds, repeats, models = state["seconds"], state["repeats"], state["models"]
    plan = [tuple(p) for p in state["plan"]]
    results: dict[tuple[str, str], list[dict[str, Any]]] = {(m, k): rs for m, k, rs in state["results"]}
    failures: dict[tuple[str, str], str] = {(m, k): e for m, k, e in state["failures"]}
    n_truth = state["speech"]["words"]

    # ------------------------------------------------------------------ summary
    wall = {k: Samples([r["wall_s"] for r in rs]) for k, rs in results.items()}
    cpu = {k: Samples([r["cpu_s"] for r in rs]) for k, rs in results.items()}
    peak = {k: Samples([r["peak_rss_mb"] for r in rs]) for k, rs in results.items()}
    extra = {k: Samples([r["peak_rss_mb"] - r["rss_before_mb"] for r in rs]) for k, rs in results.items()}
    warm_extra = {k: Samples([r["warm_peak_mb"] - r["warm_rss_before_mb"] for r in rs])
                  for k, rs in results.items()}
    rows = []
    for model_key, method in plan:
        key = (model_key, method)
        if key in failures and key not in results:
            rows.append([model_key, f"`{method}`", METHODS[method], "failed", "", "", "", "", "", "", "",
                         failures[key]])
            continue
        rs = results[key]
        wer = statistics.median(r["errors"] / max(1, n_truth) for r in rs)
        rows.append([
            model_key, f"`{method}`", METHODS[method], fmt(wall[key].median), fmt(wall[key].min),
            str(len(rs)), f"{seconds / wall[key].median:.1f}", fmt(cpu[key].median),
            f"{peak[key].median / 1024:.2f} GB",
            f"{extra[key].median / 1024:.2f} GB", f"{warm_extra[key].median / 1024:.2f} GB",
            (f"{wer:.1%} ({rs[0]['n_words']} words)" if model_key == "digits"
             else f"({rs[0]['n_words']} words)"),
        ])
    table = markdown_table(["model", "method", "what", "wall (median)", "wall (min)", "runs", "RTFx (median)",
                            "CPU time (median)", "peak RSS", "+ over model",
                            f"+ over model, {WARMUP_SECONDS:.0f} s file", "WER vs truth"], rows)

    ratio_lines: list[str] = []
    checks: list[tuple[str, bool]] = []

    def ratio(model_key: str, a: str, b: str, target: float | None = None) -> None:
        ka, kb = (model_key, a), (model_key, b)
        if ka not in wall or kb not in wall:
            return
        med = wall[ka].median / wall[kb].median
        best = wall[ka].min / wall[kb].min
        line = (f"- {model_key}: `{a}` / `{b}` wall time: {med:.2f}x (medians), {best:.2f}x (mins); CPU time "
                f"{cpu[ka].median / cpu[kb].median:.2f}x (medians), {cpu[ka].min / cpu[kb].min:.2f}x (mins); "
                f"RTFx {seconds / wall[ka].median:.1f} vs {seconds / wall[kb].median:.1f}")
        if target is not None:
            met = med <= target
            checks.append((f"{model_key} {a}/{b} <= {target}", met))
            line += f" - target <= {target}x: {'met' if met else 'NOT met'}"
        ratio_lines.append(line)

    ratio("realistic", "chunky", "nemo", TARGET_RATIO)
    ratio("realistic", "chunky", "chunky_before", 1.0)
    ratio("digits", "chunky", "nemo", TARGET_RATIO)
    ratio("digits", "chunky", "nemo_ts")
    ratio("digits", "chunky_before", "nemo")
    ratio("digits", "chunky", "chunky_before")
    ratio("realistic", "chunky", "local_attn")
    ratio("realistic", "local_attn", "nemo")
    ratio("realistic", "nemo_local", "nemo")
    ratio("realistic", "chunky_b1", "chunky")
    if ("realistic", "nemo") in failures and ("realistic", "nemo") not in results:
        ratio_lines.append(f"- realistic: NeMo's bare transcribe of {seconds / 60:.0f} min failed "
                           f"({failures[('realistic', 'nemo')]}), so there is no ratio at this length")
        checks.append(("realistic chunky/nemo <= 1.1", False))

    recommendation = recommend(results, seconds)
    findings = findings_text(results, seconds)
    print("\n" + table + "\n")
    print("\n".join(ratio_lines))
    print("\n" + findings + "\n\n" + recommendation)
    print(f"\nconcurrent load: {load_text}\ntotal {total_min:.1f} min")

    if args.write_results:
        if state["quick"]:
            print("\n--quick: not writing RESULTS.md (a smoke run)")
            return 0
        body = results_body(state, started, machine, load_text, models, seconds, repeats, table,
                            ratio_lines, checks, findings + "\n\n" + recommendation, results, total_min)
        title = "Throughput" if seconds == 600.0 else f"Throughput, {seconds / 3600:g} h" if (
            seconds >= 3600) else f"Throughput, {seconds / 60:g} min"
        write_results_section(title, body)
        print(f"\nwrote the {title} section of {Path('bench/RESULTS.md')}")
    return 0


def findings_text(results: dict[tuple[str, str], list[dict[str, Any]]], seconds: float) -> str:
    """Where the time goes in Chunky's call, and what NeMo's bare call costs, in sentences."""
    lines = ["Findings:", ""]
    for key in (("realistic", "chunky"), ("digits", "chunky"), ("realistic", "local_attn"),
                ("realistic", "chunky_before"), ("digits", "chunky_before")):
        if key not in results:
            continue
        rs = results[key]
        wall = statistics.median(r["wall_s"] for r in rs)
        names = sorted({k for r in rs for k in r["parts"]})
        med = {k: statistics.median(r["parts"].get(k, 0.0) for r in rs) for k in names}
        text = ", ".join(f"{k} {v:.2f} s ({v / wall:.0%})" for k, v in med.items())
        if key[1] == "chunky_before":
            rest = statistics.median(r["wall_s"] - sum(r["parts"].values()) for r in rs)
            lines.append(f"- {key[0]} `{key[1]}` ({wall:.1f} s median), one step after the other: {text}; "
                         f"the rest (chunk planning, slicing, stitching, the transcript) {rest:.1f} s.")
        else:
            lines.append(f"- {key[0]} `{key[1]}` ({wall:.1f} s median): {text}. Decoding and pause finding "
                         "run in the feed thread beside the model; only the wait counts in the wall time.")
    nemo = ("realistic", "nemo")
    if nemo in results and ("realistic", "chunky") in results:
        r = results[nemo][0]
        frames = int(seconds * 100 / 8)
        lines.append(
            f"- NeMo's bare call on the realistic model runs full attention over the whole file: about "
            f"{frames:,} encoder frames, so every layer's attention scores are 8 heads x {frames:,}^2 floats "
            f"({8 * frames**2 * 4 / 2**30:.1f} GB, and twice that for the relative-position term); its time "
            "and memory grow with the square of the length. Here it took "
            f"{(r['peak_rss_mb'] - r['rss_before_mb']) / 1024:.1f} GB over the model and "
            f"{r['cpu_s'] / statistics.median(x['cpu_s'] for x in results[('realistic', 'chunky')]):.1f}x "
            "Chunky's CPU time. Chunky's 30 s chunks hold 375 frames each.")
    b1, b8 = ("realistic", "chunky_b1"), ("realistic", "chunky")
    if b1 in results and b8 in results:
        t1 = statistics.median(r["wall_s"] for r in results[b1])
        t8 = statistics.median(r["wall_s"] for r in results[b8])
        m1 = statistics.median(r["peak_rss_mb"] - r["rss_before_mb"] for r in results[b1]) / 1024
        m8 = statistics.median(r["peak_rss_mb"] - r["rss_before_mb"] for r in results[b8]) / 1024
        lines.append(
            f"- Chunky's memory over the model on the realistic model is the batch: 8 chunks of 30 s at once "
            f"take {m8:.2f} GB (mostly the subsampling convolutions, 256 channels at 1/2 and 1/4 of the "
            f"frame rate), one at a time {m1:.2f} GB; batches of 1 take {t1 / t8 - 1:+.0%} time on this "
            f"CPU ({t1:.1f} s vs {t8:.1f} s).")
    if ("digits", "chunky") in results and ("digits", "nemo") in results:
        c = statistics.median(r["wall_s"] for r in results[("digits", "chunky")])
        n = statistics.median(r["wall_s"] for r in results[("digits", "nemo")])
        lines.append(
            f"- The digits model (266k parameters, convolutions only) transcribes {seconds / 60:g} min "
            f"of audio in {n:.1f} s in one pass, as fast as its hardware: the stand-in for a model that "
            f"outruns everything around it. Chunky took {c:.1f} s: its decoding and pause finding (energy "
            "near each cut on this clean speech; silero VAD only where the background is loud) run beside "
            "the model, and its batches go through one NeMo pass per file.")
    return "\n".join(lines)


def recommend(results: dict[tuple[str, str], list[dict[str, Any]]], seconds: float) -> str:
    """Chunking or local attention, from this run's figures. Speed: the fastest run of each (other processes
    only ever add time) and the median CPU time; memory: the peak over the model, at the 20 s warm-up file
    and at the whole file (how it grows with the length)."""
    chunk, local = ("realistic", "chunky"), ("realistic", "local_attn")
    if chunk not in results or local not in results:
        return "Chunking vs local attention: not measured in this run."

    def stat(key: tuple[str, str], field: str, how: str = "median") -> float:
        values = Samples([r[field] for r in results[key]])
        return values.min if how == "min" else values.median

    def over(key: tuple[str, str], peak: str, before: str) -> float:
        return Samples([r[peak] - r[before] for r in results[key]]).median / 1024

    tc, tl = stat(chunk, "wall_s", "min"), stat(local, "wall_s", "min")
    mc, ml = stat(chunk, "wall_s"), stat(local, "wall_s")
    cc, cl = stat(chunk, "cpu_s", "min"), stat(local, "cpu_s", "min")
    pc, pl = over(chunk, "peak_rss_mb", "rss_before_mb"), over(local, "peak_rss_mb", "rss_before_mb")
    wc = over(chunk, "warm_peak_mb", "warm_rss_before_mb")
    wl = over(local, "warm_peak_mb", "warm_rss_before_mb")
    if (tc < tl) == (cc < cl):
        faster = "chunking" if tc < tl else "local attention"
        speed = (f"faster: {faster} ({max(tc, tl) / min(tc, tl):.2f}x by the fastest runs, "
                 f"{max(cc, cl) / min(cc, cl):.2f}x by the least CPU time)")
    else:
        faster = "neither"
        speed = "speed: a draw (the fastest runs and the CPU times disagree)"
    lighter = "chunking" if pc <= pl else "local attention"
    minutes = seconds / 60
    growth = (pl - wl) / (minutes - WARMUP_SECONDS / 60) if minutes > WARMUP_SECONDS / 60 else float("nan")
    lines = [
        f"Chunking vs local attention (realistic model, {minutes:.0f} min file): Chunky's 30 s chunks "
        f"{tc:.1f} s fastest ({mc:.1f} s median, least CPU {cc:.0f} s) and {pc:.2f} GB over the model "
        f"({wc:.2f} GB on the 20 s file); local attention on the whole file {tl:.1f} s fastest ({ml:.1f} s "
        f"median, least CPU {cl:.0f} s) and {pl:.2f} GB over the model ({wl:.2f} GB on the 20 s file). "
        f"{speed[0].upper() + speed[1:]}; lighter: {lighter} ({max(pc, pl) / max(0.01, min(pc, pl)):.1f}x "
        "less memory over the model at this length).",
        "",
    ]
    if lighter == "chunking" and faster != "local attention":
        lines.append(
            f"**Recommendation: chunking** (30 s chunks) for long inputs, FastConformer models included. "
            f"{'It is faster' if faster == 'chunking' else 'It is as fast'}, and its memory does not grow "
            "with the recording (the chunk batch bounds it), while local attention's grows with the length: "
            f"about {growth:.2f} GB per minute of audio here (from {wl:.2f} GB at 20 s to {pl:.2f} GB at "
            f"{minutes:.0f} min; mostly the subsampling convolutions over the whole file, whose first output "
            "alone is 256 channels x T/2 x 64 floats, 2 GB for 10 minutes; NeMo's automatic conv chunking, "
            "factor 1, only starts above about 44 minutes of audio, and for one recording it still runs "
            "that first convolution over the whole input at once: about 35 GB for 3 hours). "
            "Chunking also gives progress and a partial transcript as chunks finish, works for every model "
            "family (CTC conv models, Canary), and batches chunks on a GPU. Local attention stays worth a "
            "look only for a model whose accuracy suffers at chunk cuts.")
    elif lighter == "local attention" and faster != "chunking":
        lines.append("**Recommendation: local attention** on the whole file for FastConformer models (as "
                     "fast or faster, and lighter here); chunking for the other model families.")
    else:
        lines.append(
            f"**Recommendation: chunking** stays the default: {faster} is faster here but {lighter} uses "
            "less memory, and chunking keeps memory flat for any length (local attention's grows by about "
            f"{growth:.2f} GB per minute of audio here) and works for every model family; local attention "
            "is worth it for FastConformer models only where its speed gain matters more than memory.")
    return "\n".join(lines)


def results_body(state: dict[str, Any], started: dt.datetime, machine: dict[str, Any], load_text: str,
                 models: dict[str, Any], seconds: float, repeats: int, table: str,
                 ratio_lines: list[str], checks: list[tuple[str, bool]], recommendation: str,
                 results: dict[tuple[str, str], list[dict[str, Any]]], total_min: float) -> str:
    imports = Samples([r["import_s"] for rs in results.values() for r in rs])
    loads = {m: Samples([r["load_s"] for (mk, _), rs in results.items() if mk == m for r in rs])
             for m in models}
    warmups = {k: Samples([r["warmup_s"] for r in rs]) for k, rs in results.items()}
    threads = sorted({r["torch_threads"] for rs in results.values() for r in rs})
    cmd = state["command"]
    model_lines = [f"- Model `{k}`: {v['desc']}; extracted with {v['how']}." for k, v in models.items()]
    warm_text = ", ".join(f"{mk} `{meth}` {w.median:.1f} s" for (mk, meth), w in warmups.items())
    return "\n".join([
        f"Run {started:%Y-%m-%d %H:%M} with `{cmd}` ({total_min:.0f} min in all).",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
        f"{machine['os']}, Python {machine['python']}, torch {machine['versions']['torch']} "
        f"({', '.join(map(str, threads))} threads), nemo_toolkit {machine['versions']['nemo_toolkit']}; "
        f"{machine['gpu']}.",
        f"- Concurrent load during the run: {load_text}.",
        f"- Audio: `{state['speech']['name']}`, {seconds / 60:.0f} min, 16 kHz mono FLAC, "
        f"{state['speech']['words']} "
        "random held-out digit words (tests/assets/audio, seeded) with gaps of 0.3-1.5 s, gain 0.3-1.0 and a "
        "noise floor, written block by block by `bench/common.write_digit_speech`.",
        *model_lines,
        f"- Method: each timing is one fresh worker subprocess, the methods interleaved, {repeats} "
        "repeat(s). The worker imports NeMo (median "
        f"{imports.median:.1f} s) and loads the model with Chunky's `ModelManager` ("
        + ", ".join(f"{k} {v.median:.1f} s" for k, v in loads.items())
        + "), both excluded; then one warm-up call of the same method on a 20 s file (excluded: "
        f"{warm_text}), then the timed call on the whole file, ending with the transcript. Chunky's call is "
        "`Engine.transcribe(path, name)` with `EngineOptions(chunk_seconds=30, overlap_seconds=2, "
        "batch_size=8)`: its feed thread decodes the file block by block, finds pauses near each cut and "
        "prepares batches of 8 while the calling thread runs them through one NeMo pass "
        "(`transcribe_generator`, word timestamps on) and stitches the words; then the transcript. "
        "`chunky_before` is the same call with the engine of "
        f"`{state.get('before', BEFORE_REF)}` (the whole file decoded first, pauses over all of it, one "
        "`model.transcribe(arrays, batch_size=8, timestamps=True)` per batch). NeMo's is "
        "`model.transcribe([path])` with NeMo's defaults (no timestamps; `nemo_ts`: `timestamps=True`); on "
        "the realistic model it runs "
        f"{state['nemo_repeats']} time(s) (`--nemo-repeats`), being slow. RTFx = audio seconds / wall "
        "seconds. "
        "Peak RSS: the worker's high-water mark during the timed call (reset just before it); "
        "\"+ over model\": that minus the RSS before the call.",
        "",
        table,
        "",
        "Ratios:",
        "",
        *ratio_lines,
        "",
        "Targets: " + ("; ".join(f"{n}: {'met' if ok else 'NOT met'}" for n, ok in checks) or "none measured")
        + ".",
        "",
        recommendation,
    ])


if __name__ == "__main__":
    raise SystemExit(main())
