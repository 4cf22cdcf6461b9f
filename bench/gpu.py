"""GPU benchmark: load time, speed (RTFx) and GPU memory of a parakeet-shaped model, NeMo bare against Chunky.

    python bench/gpu.py [--seconds 3600] [--repeats 2] [--write-results]     # on a machine with CUDA
    python bench/gpu.py --device cpu --quick                                  # smoke run of the same code

Without a CUDA GPU it says so and measures nothing (``--write-results`` then records that). The model is
FastConformer-TDT of nvidia/parakeet-tdt-0.6b-v2's shape (bench/common.build_parakeet_like: 24 x 1024
encoder, 618M parameters) with random weights, its joint biased to emit one token every 3 encoder frames
(bench/throughput.py's realistic model, at full size), so decoding costs what a trained model's does.
The audio is random digit words (bench/common.write_digit_speech), 16 kHz FLAC.

Each method runs in a fresh worker process, interleaved, after one warm-up call on a 20 s file:

  nemo_long      NeMo bare ``model.transcribe([path])`` on the whole file with NeMo's long-audio settings
                 (``change_attention_model("rel_pos_local_attn", [128, 128])``,
                 ``change_subsampling_conv_chunking_factor(1)``), float32
  nemo_long_bf16 the same under ``torch.autocast(dtype=bfloat16)``
  nemo_batched   NeMo bare ``model.transcribe(pieces, batch_size=32)`` over the recording cut into 30 s
                 files beforehand (NeMo's own batching; writing the pieces is not timed)
  chunky         Chunky ``Engine.transcribe(path)``: batch size from free GPU memory, float32
  chunky_bf16    the same with ``CHUNKY_PRECISION=bfloat16`` (``EngineOptions(precision="bfloat16")``)
  chunky_fp16    the same in float16

Figures: load time (the model from its extracted folder onto the device, Chunky's ``ModelManager``), wall
time and RTFx (audio seconds / wall seconds) of the timed call, peak GPU memory allocated and reserved
during it (``torch.cuda.max_memory_allocated/reserved``, reset before the call), for Chunky the batch
size it chose and how long the model waited for the feed thread, and how many output words differ from
``chunky`` (float32): random weights make the words meaningless, but not their agreement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from common import (  # noqa: E402 - after the path setup
    DEFAULT_WORK,
    REPO_ROOT,
    LoadSampler,
    build_parakeet_like,
    extract_model,
    machine_info,
    markdown_table,
    word_errors,
    write_digit_speech,
    write_results_section,
)

METHODS = {
    "nemo_long": "NeMo bare `transcribe([path])`, whole file, local attention [128, 128] + conv chunking 1",
    "nemo_long_bf16": "`nemo_long` under `torch.autocast(bfloat16)`",
    "nemo_batched": "NeMo bare `transcribe(30 s pieces, batch_size=32)` (pieces written beforehand)",
    "chunky": "Chunky `Engine.transcribe(path)`, batch size from free GPU memory, float32",
    "chunky_bf16": "Chunky, `precision=\"bfloat16\"`",
    "chunky_fp16": "Chunky, `precision=\"float16\"`",
}
FULL_SHAPE: dict[str, Any] = {}  # parakeet-tdt-0.6b-v2's (build_parakeet_like's defaults)
SMOKE_SHAPE = {"d_model": 256, "n_layers": 2, "n_heads": 4}
RESULT_MARK = "BENCH_RESULT "
WARMUP_SECONDS = 20.0
PIECE_SECONDS = 30.0
NEMO_BATCH = 32


# ============================================================================ worker side (subprocess)


def worker(method: str, name: str, work: Path, audio: Path, warm: Path, pieces: list[str],
           device: str) -> dict[str, Any]:
    import nemo.collections.asr  # noqa: F401
    import torch

    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    cuda = device == "cuda"
    notes: list[str] = []

    class Notes(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            notes.append(record.getMessage())

    logging.getLogger("chunky.asr.engine").addHandler(Notes())
    logging.getLogger("chunky.asr.engine").setLevel(logging.INFO)
    manager = ModelManager(ModelStore(work / "local_models", work / "extracted-store"), device=device)
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model = manager.get(name).model
    if cuda:
        torch.cuda.synchronize()
    load_s = time.perf_counter() - start
    if method.startswith("nemo_long"):
        model.change_attention_model("rel_pos_local_attn", [128, 128])
        model.change_subsampling_conv_chunking_factor(1)
    precision = {"chunky_bf16": "bfloat16", "chunky_fp16": "float16"}.get(method, "float32")
    engine = Engine(manager, EngineOptions(precision=precision))

    def run(path: Path, files: list[str]) -> list[str]:
        if method.startswith("chunky"):
            return [w.text for w in engine.transcribe(path, name).words]
        if method == "nemo_batched":
            hyps = model.transcribe(files, batch_size=NEMO_BATCH, verbose=False)
        else:
            half = torch.autocast(device, dtype=torch.bfloat16) if method.endswith("bf16") else nullcontext()
            with half:
                hyps = model.transcribe([str(path)], verbose=False)
        if isinstance(hyps, tuple):
            hyps = hyps[0]
        return [w for h in hyps for w in str(getattr(h, "text", h)).split()]

    run(warm, [str(warm)])
    notes.clear()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated() if cuda else 0
    start = time.perf_counter()
    words = run(audio, pieces)
    if cuda:
        torch.cuda.synchronize()
    wall = time.perf_counter() - start
    batch = next((n.rsplit("batches of ", 1)[1] for n in notes if "batches of" in n), "")
    waited = next((n.rsplit("the model waited for the feed ", 1)[1] for n in notes
                   if "the model waited for the feed" in n), "")
    info = {}
    if cuda:
        props = torch.cuda.get_device_properties(0)
        info = {"device_name": torch.cuda.get_device_name(0), "capability": f"{props.major}.{props.minor}",
                "total_gb": round(props.total_memory / 2**30, 1), "cuda": torch.version.cuda,
                "bf16": bool(torch.cuda.is_bf16_supported()),
                "peak_allocated_gb": (torch.cuda.max_memory_allocated() - before) / 2**30,
                "peak_reserved_gb": torch.cuda.max_memory_reserved() / 2**30}
    return {"method": method, "load_s": load_s, "wall_s": wall, "words": words, "batch": batch,
            "feed_wait": waited, "torch": torch.__version__, **info}


# ============================================================================ parent side


def cuda_state() -> tuple[bool, str]:
    """(CUDA usable, a sentence about it), asked of a short subprocess (torch only)."""
    code = ("import torch, json; ok = torch.cuda.is_available(); print(json.dumps([ok, torch.__version__, "
            "torch.version.cuda, torch.cuda.get_device_name(0) if ok else None]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    try:
        ok, version, cuda, name = json.loads(out.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return False, f"torch could not be asked ({out.stderr.strip()[-200:]})"
    if ok:
        return True, f"{name} (torch {version}, CUDA {cuda})"
    why = "this torch is a CPU-only build" if cuda is None else f"torch {version} (CUDA {cuda}) finds no GPU"
    return False, f"no CUDA GPU: {why}"


def prepare_model(work: Path, shape: dict[str, Any], log_file: Path) -> tuple[str, str]:
    """The parakeet-shaped model with a fixed token rate (bench/throughput.py's prepare worker), extracted
    into the work folder's store; (name, description)."""
    built = build_parakeet_like(work, **shape)
    name = f"{built.name}-bench1"
    out = work / f"{name}.nemo"
    meta = work / f"{name}.json"
    if not (out.is_file() and meta.is_file()):
        cmd = [sys.executable, str(Path(__file__).with_name("throughput.py")), "--worker", "prepare",
               "--base-nemo", str(built.nemo_path), "--out-nemo", str(out)]
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), capture_output=True, text=True)
        with log_file.open("a", encoding="utf-8") as fh:
            fh.write(f"\n===== prepare rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}\n")
        line = next((x for x in proc.stdout.splitlines() if x.startswith(RESULT_MARK)), None)
        if line is None:
            raise RuntimeError(f"preparing the model failed; see {log_file}")
        meta.write_text(line[len(RESULT_MARK):], "utf-8")
    facts = json.loads(meta.read_text("utf-8"))
    extract_model(out, work, name)
    shape_text = ", ".join(f"{k} {v}" for k, v in shape.items()) or "parakeet-tdt-0.6b-v2's 24 x 1024 encoder"
    return name, (f"FastConformer-TDT, {facts['params'] / 1e6:.0f}M parameters ({shape_text}), random "
                  f"weights, one token every {facts['duration']} encoder frames")


def write_pieces(audio: Path, folder: Path) -> list[str]:
    """The recording as PIECE_SECONDS FLAC files (once)."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    done = folder / "done.json"
    if done.is_file():
        return json.loads(done.read_text("utf-8"))
    paths = []
    with sf.SoundFile(str(audio)) as f:
        n = int(PIECE_SECONDS * f.samplerate)
        i = 0
        while True:
            block = f.read(n, dtype="float32")
            if not len(block):
                break
            path = folder / f"piece-{i:05d}.flac"
            sf.write(str(path), block, f.samplerate, subtype="PCM_16")
            paths.append(str(path))
            i += 1
    done.write_text(json.dumps(paths), "utf-8")
    return paths


def run_worker(args: list[str], log_file: Path, label: str, timeout: float) -> tuple[dict | None, str]:
    cmd = [sys.executable, str(Path(__file__).resolve()), *args]
    try:
        proc = subprocess.run(cmd, cwd=str(REPO_ROOT), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s"
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write(f"\n===== {label} rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}\n")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):]), ""
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-2:]
    return None, f"exit code {proc.returncode}: {' | '.join(tail)[-300:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--seconds", type=float, default=None, help="length of the recording (3600)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs of each method (2)")
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"),
                        help="cpu: run the same code on the CPU (a smoke test; never written)")
    parser.add_argument("--quick", action="store_true", help="small model, 60 s of audio, one repeat")
    parser.add_argument("--worker-timeout", type=float, default=1800.0)
    parser.add_argument("--write-results", action="store_true", help="write the '## GPU' section")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--model-name", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--warm-audio", help=argparse.SUPPRESS)
    parser.add_argument("--pieces", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if args.worker:
        pieces = json.loads(Path(args.pieces).read_text("utf-8")) if args.pieces else []
        result = worker(args.worker, args.model_name, work, Path(args.audio), Path(args.warm_audio), pieces,
                        args.device)
        print(RESULT_MARK + json.dumps(result), flush=True)
        return 0

    machine = machine_info()
    ok, gpu_text = cuda_state()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; GPU: {gpu_text}")
    if args.device == "cuda" and not ok:
        print(f"bench/gpu.py: {gpu_text}. Nothing to measure here: run it on a machine with an NVIDIA GPU "
              "and a CUDA build of torch (`python bench/gpu.py --device cpu --quick` runs the same code on "
              "the CPU as a smoke test).")
        if args.write_results:
            write_results_section("GPU", "\n".join([
                f"Not measured: {dt.datetime.now():%Y-%m-%d}, {machine['cpu']}, {machine['cores']} cores, "
                f"torch {machine['versions']['torch']}: {gpu_text}.",
                "",
                "`python bench/gpu.py --write-results` measures, where a CUDA GPU exists, load time, RTFx "
                "and peak GPU memory of a parakeet-tdt-0.6b-v2-shaped model (random weights) for NeMo bare "
                "(whole file with NeMo's long-audio settings; 30 s pieces batched by NeMo) against Chunky "
                "(batch size from free GPU memory) in float32, bfloat16 and float16, and prints the "
                "device's name. Its CPU smoke run (`--device cpu --quick`) passes here.",
            ]))
            print("wrote the GPU section of bench/RESULTS.md (not measured)")
        return 0

    smoke = args.device == "cpu" or args.quick
    shape = SMOKE_SHAPE if smoke else FULL_SHAPE
    seconds = args.seconds or (60.0 if smoke else 3600.0)
    repeats = args.repeats or (1 if smoke else 2)
    methods = [m for m in args.methods if args.device == "cuda" or m != "chunky_fp16"]
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "gpu-workers.log"
    log_file.write_text("", "utf-8")
    started = dt.datetime.now()
    sampler = LoadSampler("gpu.py")
    sampler.start()
    speech = write_digit_speech(work / f"speech-{seconds:.0f}s-seed0.flac", seconds, seed=0)
    warm = write_digit_speech(work / f"speech-{WARMUP_SECONDS:.0f}s-seed1.flac", WARMUP_SECONDS, seed=1)
    pieces = write_pieces(speech.path, work / f"pieces-{speech.path.stem}")
    pieces_file = work / f"pieces-{speech.path.stem}" / "done.json"
    name, model_text = prepare_model(work, shape, log_file)

    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    failures: dict[str, str] = {}
    for rep in range(repeats):
        for method in methods:
            if method in failures:
                continue
            r, error = run_worker(["--worker", method, "--model-name", name, "--work", str(work),
                                   "--audio", str(speech.path), "--warm-audio", str(warm.path),
                                   "--pieces", str(pieces_file), "--device", args.device],
                                  log_file, method, args.worker_timeout)
            if r is None:
                failures[method] = error
                print(f"[{rep + 1}/{repeats}] {method:15s} FAILED: {error}", flush=True)
                continue
            results[method].append(r)
            print(f"[{rep + 1}/{repeats}] {method:15s} wall {r['wall_s']:7.1f} s  "
                  f"RTFx {seconds / r['wall_s']:7.1f}  load {r['load_s']:5.1f} s  "
                  f"GPU peak {r.get('peak_allocated_gb', float('nan')):5.2f} GB  batch {r['batch'] or '-'}  "
                  f"waited {r['feed_wait'] or '-'}", flush=True)
    sampler.stop()
    reference = results.get("chunky", [{}])[0].get("words")
    rows = []
    for method in methods:
        if method not in results:
            rows.append([f"`{method}`", METHODS[method], "failed", "", "", "", "", "", "",
                         failures.get(method, "")])
            continue
        rs = results[method]
        wall = statistics.median(r["wall_s"] for r in rs)
        differ = "" if reference is None else f"{word_errors(reference, rs[0]['words'])} of {len(reference)}"
        rows.append([f"`{method}`", METHODS[method], f"{statistics.median(r['load_s'] for r in rs):.1f} s",
                     f"{wall:.1f} s", f"{seconds / wall:.0f}",
                     f"{statistics.median(r.get('peak_allocated_gb', float('nan')) for r in rs):.2f} GB",
                     f"{statistics.median(r.get('peak_reserved_gb', float('nan')) for r in rs):.2f} GB",
                     rs[0]["batch"] or "-", rs[0]["feed_wait"] or "-", differ])
    table = markdown_table(["method", "what", "load", "wall (median)", "RTFx", "GPU peak allocated",
                            "GPU peak reserved", "batch", "model waited for the feed",
                            "word edits from `chunky`"], rows)
    ratios = []
    for a, b in (("chunky", "nemo_long"), ("chunky", "nemo_batched"), ("chunky_bf16", "chunky"),
                 ("chunky_fp16", "chunky"), ("nemo_long_bf16", "nemo_long")):
        if a in results and b in results:
            wa = statistics.median(r["wall_s"] for r in results[a])
            wb = statistics.median(r["wall_s"] for r in results[b])
            ratios.append(f"- `{a}` / `{b}` wall time: {wa / wb:.2f}x")
    print("\n" + table + "\n\n" + "\n".join(ratios))
    first = next(iter(results.values()), [{}])[0]
    device = first.get("device_name", "the CPU (smoke run)")
    print(f"\ndevice: {device}; concurrent load: {sampler.summary()}")
    if args.write_results and not smoke:
        body = "\n".join([
            f"Run {started:%Y-%m-%d %H:%M} with `python bench/gpu.py --write-results"
            + (f" --seconds {args.seconds:g}" if args.seconds else "") + "`.",
            "",
            f"- Device: **{device}** (compute capability {first.get('capability')}, "
            f"{first.get('total_gb')} GB, bfloat16: {first.get('bf16')}), CUDA {first.get('cuda')}, "
            f"torch {first.get('torch')}; "
            f"{machine['cpu']}, {machine['cores']} cores.",
            f"- Concurrent load: {sampler.summary()}.",
            f"- Model: {model_text}. Audio: {seconds / 60:g} min of digit words, 16 kHz FLAC.",
            "",
            table,
            "",
            *ratios,
        ])
        write_results_section("GPU", body)
        print("wrote the GPU section of bench/RESULTS.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
