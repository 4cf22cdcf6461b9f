"""Memory benchmark: the peak memory of Chunky's pipeline on 12 hours of audio against 10 minutes.

    python bench/memory.py [--work DIR] [--repeats 1] [--quick] [--write-results]

Writes (once, cached) two 16 kHz mono FLAC files of random held-out digit words with known gaps (seeded;
bench/common.write_digit_speech writes them block by block, so the generator never holds the recording),
then transcribes each with Chunky's pipeline, ``Engine(ModelManager(store, "cpu")).transcribe(path,
name)``, with the trained test model tests/assets/digits-ctc.nemo (small, so 12 hours finish in minutes on
2 cores), each in a fresh worker subprocess, interleaved (10 min, 12 h, 10 min, 12 h, ...).

The figure is each worker's RSS high-water mark (NeMo's import and the model included, as a user's
process would hold them). Target (issue 14): the 12-hour peak at most 150 MB above the 10-minute peak.

To show where the memory goes, the worker also splits the call into stages and takes the exact RSS
high-water mark of each (the mark is reset through /proc/self/clear_refs as each stage starts): NeMo
import + model load, the chunks through the model (decoding, pause finding and batch preparation run in
the engine's feed thread meanwhile; a progress callback samples the RSS after every batch, to see any
creep), and assembling the transcript (stitching the words, building segments). It also records the
feed's largest decode buffer. It checks the words against the truth (word error rate).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
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

DIGITS_NEMO = REPO_ROOT / "tests" / "assets" / "digits-ctc.nemo"
MODEL_NAME = "digits-ctc"
RESULT_MARK = "BENCH_RESULT "
TARGET_MB = 150.0  # the 12-hour peak may exceed the 10-minute peak by at most this much
VARIANTS: dict[str, str] = {
    "chunky": "Chunky's pipeline as it is.",
    "chunky_trim": "experiment: the same, plus glibc's `malloc_trim(0)` after every batch of chunks (called "
                   "from the progress callback, which the Engine calls after each batch; the Engine itself "
                   "trims only when the process grew 64 MB past its size after the first batch).",
}
VARIANT_ENV: dict[str, dict[str, str]] = {}
STAGES = ("import + load model", "chunks through the model", "assemble transcript")


# ============================================================================ worker side (subprocess)


class StageMeter:
    """Exact RSS high-water mark and wall time of consecutive stages (the mark is reset at each start)."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.rss_at_start: dict[str, float] = {}
        self.current: str | None = None
        self._t = time.perf_counter()
        self.resets_ok = True

    def enter(self, stage: str) -> None:
        now = time.perf_counter()
        if self.current is not None:
            self.peaks[self.current] = max(self.peaks.get(self.current, 0.0), peak_rss_mb())
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self._t
        self.current = stage
        self._t = now
        if stage:
            self.rss_at_start.setdefault(stage, rss_mb())
            self.resets_ok = reset_peak_rss() and self.resets_ok

    def close(self) -> None:
        self.enter("")
        self.current = None


def malloc_trim() -> Callable[[], Any] | None:
    """glibc's ``malloc_trim(0)`` (gives the free pages of every heap arena back to the system), or None
    where there is no glibc."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    return lambda: trim(0)


def worker(work: Path, audio_path: Path, variant: str) -> dict[str, Any]:
    meter = StageMeter()
    meter.current = "import + load model"  # from the process start: ru_maxrss covers it
    t_proc = time.perf_counter()
    gc.collect()
    import nemo.collections.asr  # noqa: F401
    import torch

    import chunky.asr.engine
    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions, Progress
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    import_s = time.perf_counter() - t_proc
    manager = ModelManager(ModelStore(work / "local_models", work / "extracted-store"), device="cpu")
    manager.get(MODEL_NAME)
    rss_loaded = rss_mb()

    # Stage marks: wrap what the Engine calls (it looks them up on the classes at call time).
    import chunky.asr.feed

    real_start = chunky.asr.feed.ChunkFeed.start
    real_assemble = chunky.asr.engine.Engine.__dict__["_assemble"].__func__
    info: dict[str, Any] = {}
    feeds: list[Any] = []

    def start(self: Any) -> Any:
        meter.enter("chunks through the model")
        feeds.append(self)
        return real_start(self)

    def assemble(*a: Any, **k: Any) -> Any:
        meter.enter("assemble transcript")
        return real_assemble(*a, **k)

    chunky.asr.feed.ChunkFeed.start = start  # type: ignore[method-assign]
    chunky.asr.engine.Engine._assemble = staticmethod(assemble)  # type: ignore[method-assign]

    creep: list[tuple[int, float]] = []  # (chunks done, RSS MB) after each batch
    chunk_count = [0]
    trim = malloc_trim() if variant == "chunky_trim" else None
    if variant == "chunky_trim" and trim is None:
        raise RuntimeError("malloc_trim is not available here (no glibc)")

    def progress(p: Progress) -> None:
        if p.stage == "transcribing":
            if trim is not None:  # the experiment: what the Engine could do after every batch
                trim()
            if p.chunk_index:
                creep.append((p.chunk_index, rss_mb()))
                chunk_count[0] = p.chunk_count

    engine = Engine(manager, EngineOptions())
    start = time.perf_counter()
    transcript = engine.transcribe(audio_path, MODEL_NAME, progress=progress)
    wall_s = time.perf_counter() - start
    meter.enter("after")
    rss_end = rss_mb()
    meter.close()
    words = [w.text for w in transcript.words]
    del transcript
    if feeds:
        stats = feeds[-1].stats
        info["buffer_mb"] = stats.buffer_bytes / 2**20
        info["feed_decode_s"] = stats.decode_seconds
        info["feed_waited_s"] = stats.empty_seconds
        if feeds[-1].plan.pauses is not None:
            info["pauses_s"] = feeds[-1].plan.pauses.stats.seconds
    return {
        "import_s": import_s, "wall_s": wall_s, "rss_loaded_mb": rss_loaded, "rss_end_mb": rss_end,
        "process_peak_mb": max(meter.peaks.values()), "stage_peak_mb": meter.peaks,
        "stage_s": meter.seconds, "stage_rss_start_mb": meter.rss_at_start, "resets_ok": meter.resets_ok,
        "creep": creep, "chunks": chunk_count[0], "words": words, "torch_threads": torch.get_num_threads(),
        **info,
    }


# ============================================================================ parent side


def findings_text(results: dict[tuple[str, float], list[dict[str, Any]]], variants: list[str], short: float,
                  long: float) -> str:
    """Where the memory goes, with this run's figures."""

    def med(key: tuple[str, float], field: str, stage: str | None = None) -> float:
        vals = [r[field][stage] if stage else r[field] for r in results.get(key, [])
                if stage is None or stage in r[field]]
        return statistics.median(vals) if vals else float("nan")

    base = ("chunky", long)
    if base not in results:
        return ""
    loaded = med(base, "rss_loaded_mb")
    chunks_start = med(base, "stage_rss_start_mb", "chunks through the model")
    chunks_peak = med(base, "stage_peak_mb", "chunks through the model")
    buffer = statistics.median(r.get("buffer_mb", float("nan")) for r in results[base])
    lines = [
        f"Where the memory goes ({label_of(long)}, `chunky`):",
        "",
        f"- NeMo's import and the model: {loaded:.0f} MB before the call, the same for any length.",
        f"- The recording is never held whole: the feed thread decodes it block by block into a buffer of "
        f"{buffer:.1f} MB (a chunk window, the shortest last chunk and a decode block; the same for any "
        "length), copies each chunk out and keeps two prepared batches waiting for the model.",
        f"- The chunk loop: from {chunks_start:.0f} MB to a peak of {chunks_peak:.0f} MB: the batches "
        "(8 x 30 s of features and activations), the same size for any length; the freed heap is given "
        "back to the system (glibc's `malloc_trim(0)`) whenever the process has grown 64 MB past its size "
        "after the first batch. What grows with the length is the words (a few MB for 12 hours).",
        "",
        "History: the first run of this benchmark (3 h against 10 min; Chunky then held the samples as "
        "float32 and did not trim the heap) measured 1152 MB; with float16 samples and trimming, 392 MB "
        "(330 MB of it the samples array of the whole recording, 1.3 GB at 12 h). Issue 14 streamed the "
        "recording instead.",
    ]
    return "\n".join(lines)


def run_worker(work: Path, audio: Path, variant: str, log_file: Path, label: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", "--work", str(work),
           "--audio", str(audio), "--variant", variant]
    env = dict(os.environ)
    tmp = work / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env.update(TMPDIR=str(tmp), TEMP=str(tmp), TMP=str(tmp))
    env.update(VARIANT_ENV.get(variant, {}))
    proc = subprocess.run(cmd, cwd=str(REPO_ROOT), env=env, capture_output=True, text=True)
    with log_file.open("a", encoding="utf-8") as fh:
        fh.write(f"\n===== {label} rc={proc.returncode}\n{proc.stderr}\n{proc.stdout}\n")
    for line in proc.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return json.loads(line[len(RESULT_MARK):])
    raise RuntimeError(f"worker {label} failed (rc {proc.returncode}); see {log_file}\n{proc.stderr[-3000:]}")


def label_of(seconds: float) -> str:
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="folder for audio, models, logs")
    parser.add_argument("--repeats", type=int, default=None, help="runs of each length and variant (2)")
    parser.add_argument("--short", type=float, default=None, help="seconds of the short file (600)")
    parser.add_argument("--long", type=float, default=None, help="seconds of the long file (43200)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 min against 10 min, once")
    parser.add_argument("--write-results", action="store_true",
                        help="write the '## Memory' section of bench/RESULTS.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--audio", help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="chunky", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    work = args.work.resolve()
    if args.worker:
        print(RESULT_MARK + json.dumps(worker(work, Path(args.audio), args.variant)), flush=True)
        return 0

    short = args.short or (60.0 if args.quick else 600.0)
    long = args.long or (600.0 if args.quick else 43200.0)
    repeats = args.repeats or (1 if args.quick else 2)
    variants = args.variants
    work.mkdir(parents=True, exist_ok=True)
    log_file = work / "memory-workers.log"
    log_file.write_text("", "utf-8")
    started = dt.datetime.now()
    machine = machine_info()
    print(f"machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
          f"torch {machine['versions']['torch']}, nemo {machine['versions']['nemo_toolkit']}")
    sampler = LoadSampler("memory.py")
    sampler.start()
    t_start = time.perf_counter()
    files = {}
    for seconds, seed in ((short, 0), (long, 2 if long != 600.0 else 0)):
        path = work / f"speech-{seconds:.0f}s-seed{seed}.flac"
        files[seconds] = write_digit_speech(path, seconds, seed=seed)
    folder, how = extract_model(DIGITS_NEMO, work, MODEL_NAME)

    results: dict[tuple[str, float], list[dict[str, Any]]] = defaultdict(list)
    for rep in range(repeats):
        for variant in variants:
            for seconds in (short, long):
                speech = files[seconds]
                r = run_worker(work, speech.path, variant, log_file, f"{variant} {label_of(seconds)}")
                truth = [w for w, _, _ in speech.words]
                r["errors"] = word_errors(truth, r["words"])
                r["n_truth"] = len(truth)
                r["n_words"] = len(r.pop("words"))
                results[(variant, seconds)].append(r)
                stages = "  ".join(f"{k}: {v:.0f}" for k, v in r["stage_peak_mb"].items())
                print(f"[{rep + 1}/{repeats}] {variant:12s} {label_of(seconds):7s} peak "
                      f"{r['process_peak_mb']:6.0f} MB  wall {r['wall_s']:6.1f} s (RTFx "
                      f"{seconds / r['wall_s']:5.0f})  words {r['n_words']} errors {r['errors']}  | stage "
                      f"peaks MB: {stages}", flush=True)
    sampler.stop()
    total_min = (time.perf_counter() - t_start) / 60
    load_text = sampler.summary()

    # ------------------------------------------------------------------ summary
    peak = {k: Samples([r["process_peak_mb"] for r in rs]) for k, rs in results.items()}
    wall = {k: Samples([r["wall_s"] for r in rs]) for k, rs in results.items()}

    def med(key: tuple[str, float], field: str, stage: str | None = None) -> float:
        vals = [r[field][stage] if stage else r[field] for r in results[key]
                if stage is None or stage in r[field]]
        return statistics.median(vals) if vals else float("nan")

    rows = []
    for variant in variants:
        for seconds in (short, long):
            key = (variant, seconds)
            r0 = results[key][0]
            rows.append([
                f"`{variant}`", label_of(seconds),
                f"{peak[key].median:.0f} MB" + (f" ({peak[key].min:.0f}-{peak[key].max:.0f})"
                                                 if len(peak[key].values) > 1 else ""),
                f"{med(key, 'rss_loaded_mb'):.0f} MB", f"{r0.get('buffer_mb', float('nan')):.1f} MB",
                *[f"{med(key, 'stage_peak_mb', st):.0f} MB" for st in STAGES[1:]],
                f"{med(key, 'rss_end_mb'):.0f} MB",
                f"{wall[key].median:.1f} s", f"{seconds / wall[key].median:.0f}",
                f"{r0['chunks']}", f"{r0['errors']} / {r0['n_truth']}",
            ])
    table = markdown_table(
        ["variant", "file", "process peak RSS (median; range)", "RSS after model load",
         "feed's decode buffer", *[f"peak: {st}" for st in STAGES[1:]], "RSS at the end",
         "wall (median)", "RTFx", "chunks", "word errors"], rows)

    stage_rows = []
    for st in STAGES[1:]:
        stage_rows.append([st] + [f"{med((v, sec), 'stage_s', st):.1f} s" for v in variants
                                  for sec in (short, long)])
    stage_table = markdown_table(["stage (wall time, median)"] + [f"`{v}` {label_of(sec)}" for v in variants
                                                                   for sec in (short, long)], stage_rows)

    lines: list[str] = []
    checks: list[tuple[str, bool]] = []
    for variant in variants:
        a, b = (variant, short), (variant, long)
        diff = peak[b].median - peak[a].median
        worst = peak[b].max - peak[a].min
        met = diff <= TARGET_MB
        checks.append((variant, met))
        grow_long = med(b, "stage_peak_mb", "chunks through the model") - med(b, "stage_rss_start_mb",
                                                                                "chunks through the model")
        grow_short = med(a, "stage_peak_mb", "chunks through the model") - med(a, "stage_rss_start_mb",
                                                                                 "chunks through the model")
        creep = results[b][0]["creep"]
        creep_text = ""
        if len(creep) >= 4:
            q = creep[len(creep) // 4]
            creep_text = (f"; RSS after chunk {q[0]} of {results[b][0]['chunks']}: {q[1]:.0f} MB, after the "
                          f"last: {creep[-1][1]:.0f} MB ({creep[-1][1] - q[1]:+.0f} MB over the last three "
                          "quarters)")
        lines += [
            f"- `{variant}`: {label_of(long)} peak - {label_of(short)} peak: **{diff:.0f} MB** (medians; "
            f"{worst:.0f} MB between the worst pair) - target <= {TARGET_MB:.0f} MB: "
            f"{'met' if met else 'NOT met'}. Of it: the chunk loop's growth above its starting RSS "
            f"{grow_long:.0f} MB vs {grow_short:.0f} MB ({grow_long - grow_short:+.0f} MB){creep_text}.",
        ]
    print("\n" + table + "\n\n" + stage_table + "\n")
    print("\n".join(lines))
    print(f"\nconcurrent load: {load_text}\ntotal {total_min:.1f} min")

    if args.write_results:
        if args.quick:
            print("\n--quick: not writing RESULTS.md (a smoke run)")
            return 0
        cmd = "python bench/memory.py --write-results"
        cmd += f" --repeats {args.repeats}" if args.repeats else ""
        body = "\n".join([
            f"Run {started:%Y-%m-%d %H:%M} with `{cmd}` ({total_min:.0f} min in all).",
            "",
            f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
            f"{machine['os']}, Python {machine['python']}, torch {machine['versions']['torch']}, "
            f"nemo_toolkit {machine['versions']['nemo_toolkit']}; {machine['gpu']}.",
            f"- Concurrent load during the run: {load_text}.",
            f"- Audio: {label_of(short)} and {label_of(long)} of random held-out digit words "
            "(tests/assets/audio, seeded; gaps 0.3-1.5 s, gain 0.3-1.0, noise floor), 16 kHz mono FLAC, "
            "written block by block by `bench/common.write_digit_speech` "
            f"({files[long].path.stat().st_size / 1e6:.0f} MB for {label_of(long)}).",
            f"- Model: the trained test model `tests/assets/digits-ctc.nemo` (ConvASR char CTC, 266k "
            f"parameters), extracted with {how}.",
            "- Method: Chunky's pipeline, `Engine(ModelManager(store, 'cpu'), EngineOptions())"
            ".transcribe(path, name)` (30 s chunks, batch 8 (automatic on the CPU), pauses near each cut "
            "by `chunky.audio.cuts`), one fresh worker "
            f"subprocess per run, {repeats} run(s) of each length and variant, interleaved. \"Process peak "
            "RSS\" is the worker's high-water mark over its whole life (NeMo import and model included). "
            "Stage peaks are exact high-water marks of each stage (reset through /proc/self/clear_refs as "
            "it starts).",
            *[f"- `{v}`: {VARIANTS[v]}" for v in variants],
            "",
            table,
            "",
            stage_table,
            "",
            *lines,
            "",
            "Targets: " + "; ".join(f"`{v}` {label_of(long)} peak <= {label_of(short)} peak + "
                                    f"{TARGET_MB:.0f} MB: {'met' if ok else 'NOT met'}"
                                    for v, ok in checks) + ".",
            "",
            findings_text(results, variants, short, long),
        ])
        write_results_section("Memory", body)
        print(f"\nwrote the Memory section of {Path('bench/RESULTS.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
