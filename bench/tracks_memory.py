"""Memory of one speaker per track (or of mixing the tracks): the peak memory of a multi-track file against
the number of tracks times their length.

    python bench/tracks_memory.py [--work DIR] [--quick] [--speakers tracks|mix|diarize]
                                  [--diarizer sortformer|clustering] [--write-results]

Writes (once, cached) 16 kHz mono FLAC files of random held-out digit words (bench/common.write_digit_speech,
block by block), one per speaker, and muxes them with ffmpeg into MKV files with one audio stream each
(2 tracks x 10 min and 4 tracks x 40 min by default: 8 times the audio); then transcribes each with
``--speakers tracks`` (or ``mix``: every stream mixed into one and transcribed once; or ``diarize``: that
mix diarized by tests/assets/diar-sortformer.nemo, or with ``--diarizer clustering`` by clustering the
embeddings of tests/assets/speaker-embed.nemo, then transcribed) through Chunky's
engine (``Engine(ModelManager(store, "cpu")).transcribe``) and the trained test model
tests/assets/digits-ctc.nemo, each in a fresh worker subprocess, interleaved.

Variants:

- ``chunky``: as Chunky does it: each track streamed from the file into the engine's feed, only its level
  kept (chunky/audio/levels.py LevelTrace); for ``mix``, the tracks mixed block by block as they are
  decoded (chunky/audio/mixdown.py MixedBlocks); for ``diarize``, that twice (the diarizer keeps only the
  features).
- ``held``: experiment: the same, with every track first decoded in full and held while transcribing (what
  Chunky did before each track was streamed: ``chunky.audio.streams.load_tracks``; for ``mix``, the
  tracks and their mix).

The figure is each worker's RSS high-water mark while transcribing (the mark reset after NeMo's import
and the model's load, through /proc/self/clear_refs), above the RSS at that point (for ``held``, the
decoded tracks included). Both files fill the model's batches (8 chunks of 30 s on the CPU), so only the
tracks x length differ. Target: the ``chunky``
peak of the large file at most 150 MB above the small one's (the level traces of 4 x 40 min are 4.6 MB);
``held`` shows the memory that grows with tracks x length instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import (
    DEFAULT_WORK,
    REPO_ROOT,
    extract_model,
    machine_info,
    markdown_table,
    peak_rss_mb,
    reset_peak_rss,
    rss_mb,
    write_digit_speech,
    write_results_section,
)

DIGITS_NEMO = REPO_ROOT / "tests" / "assets" / "digits-ctc.nemo"
DIAR_NEMO = REPO_ROOT / "tests" / "assets" / "diar-sortformer.nemo"
SPEAKER_NEMO = REPO_ROOT / "tests" / "assets" / "speaker-embed.nemo"
DIARIZERS = {"sortformer": ("diar-sortformer", DIAR_NEMO), "clustering": ("speaker-embed", SPEAKER_NEMO)}
MODEL_NAME = "digits-ctc"
RESULT_MARK = "BENCH_RESULT "
TARGET_MB = 150.0
VARIANTS = {
    "chunky": "Chunky as it is: each track streamed into the engine's feed, only its level kept.",
    "held": "experiment: every track decoded in full first and held while transcribing (the old way).",
}
MIX_VARIANTS = {
    "chunky": "Chunky as it is: the tracks mixed block by block as they are decoded (MixedBlocks), streamed "
              "into the engine's feed.",
    "held": "experiment: every track decoded in full, mixed, and the tracks and the mix held while "
            "transcribing (the old way).",
}


def multitrack(work: Path, tracks: int, minutes: float, log=print) -> Path:
    """An MKV of ``tracks`` FLAC streams of ``minutes`` each (made once)."""
    path = work / f"tracks-{tracks}x{minutes:g}min.mkv"
    if path.is_file():
        log(f"audio: cached {path}")
        return path
    if shutil.which("ffmpeg") is None:
        raise SystemExit("ffmpeg is needed (apt-get install ffmpeg)")
    parts = [write_digit_speech(work / f"speaker-{k}-{minutes:g}min.flac", minutes * 60, seed=100 + k,
                                log=log).path for k in range(tracks)]
    cmd = ["ffmpeg", "-loglevel", "error", "-y"]
    for p in parts:
        cmd += ["-i", str(p)]
    for k in range(tracks):
        cmd += ["-map", f"{k}:a", f"-metadata:s:a:{k}", f"title=Speaker {k + 1}"]
    partial = path.with_name(path.name + ".partial.mkv")
    subprocess.run([*cmd, "-c:a", "flac", str(partial)], check=True)
    partial.replace(path)
    return path


def worker(args: argparse.Namespace) -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions, SpeakerOptions
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    work = Path(args.work)
    manager = ModelManager(ModelStore(work / "local_models", work / "extracted-store"), device="cpu")
    engine = Engine(manager)
    manager.get(MODEL_NAME)
    diar_name = DIARIZERS[args.diarizer][0]
    if args.speakers == "diarize":
        manager.get(diar_name, kind=manager.store.kind(diar_name))
    path = Path(args.file)
    base = rss_mb()  # NeMo and the model loaded
    reset_peak_rss()
    held = None
    held_mb = 0.0
    if args.variant == "held":
        from chunky.audio.streams import load_tracks, probe_streams
        from chunky.audio.tracks import plan_tracks

        held = load_tracks(path, plan_tracks(probe_streams(path), args.speakers), 16000)
        held_mb = sum(a.nbytes for _, a in held.tracks) / 2**20
        if args.speakers in ("mix", "diarize"):
            held = (held, held.mixed())
            held_mb += held[1].nbytes / 2**20
    started = time.perf_counter()
    transcript = engine.transcribe(path, MODEL_NAME,
                                   options=EngineOptions(speakers=SpeakerOptions(
                                       args.speakers, diarization_model=diar_name)))
    seconds = time.perf_counter() - started
    peak = peak_rss_mb()
    result = {"variant": args.variant, "file": path.name, "peak_mb": round(peak, 1),
              "base_mb": round(base, 1), "above_mb": round(peak - base, 1), "seconds": round(seconds, 1),
              "words": len(transcript.words),
              "speakers": sorted({w.speaker or "-" for w in transcript.words}),
              "held_mb": round(held_mb, 1)}
    print(RESULT_MARK + json.dumps(result), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=str(DEFAULT_WORK / "tracks-memory"))
    parser.add_argument("--quick", action="store_true", help="2 x 5 min against 4 x 20 min")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--speakers", choices=("tracks", "mix", "diarize"), default="tracks",
                        help="one speaker per track (default), every track mixed into one, or that mix "
                             "diarized")
    parser.add_argument("--diarizer", choices=tuple(DIARIZERS), default="sortformer",
                        help="for --speakers diarize: the Sortformer test model (default) or clustering with "
                             "the speaker-embedding test model")
    parser.add_argument("--write-results", action="store_true")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--variant", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    # Both sizes fill the model's batches (8 chunks of 30 s on the CPU), so only the tracks x length differ.
    sizes = [(2, 5.0), (4, 20.0)] if args.quick else [(2, 10.0), (4, 40.0)]
    files = {f"{n} x {m:g} min": multitrack(work, n, m) for n, m in sizes}
    extract_model(DIGITS_NEMO, work, MODEL_NAME)  # once, before the workers
    if args.speakers == "diarize":
        name, nemo = DIARIZERS[args.diarizer]
        extract_model(nemo, work, name)
    variants = [v for v in args.variants.split(",") if v]
    results: list[dict] = []
    for _ in range(args.repeats):
        for variant in variants:
            for label, path in files.items():
                cmd = [sys.executable, __file__, "--worker", "--work", str(work), "--variant", variant,
                       "--file", str(path), "--speakers", args.speakers, "--diarizer", args.diarizer]
                out = subprocess.run(cmd, capture_output=True, text=True, check=False)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith(RESULT_MARK)]
                if out.returncode != 0 or not lines:
                    print(out.stdout[-2000:], out.stderr[-4000:], file=sys.stderr)
                    raise SystemExit(f"worker failed: {variant} {label}")
                r = json.loads(lines[-1][len(RESULT_MARK):]) | {"size": label}
                print(f"{variant:7s} {label:12s} peak {r['peak_mb']:.0f} MB, {r['above_mb']:.0f} MB above "
                      f"the loaded model, {r['seconds']:.0f} s, {r['words']} words", flush=True)
                results.append(r)
    rows, verdict = [], []
    for variant in variants:
        above = {}
        for label in files:
            mine = [r for r in results if r["variant"] == variant and r["size"] == label]
            above[label] = statistics.median(r["above_mb"] for r in mine)
            held = f"{mine[0]['held_mb']:.0f} MB" if mine[0]["held_mb"] else "-"
            rows.append([f"`{variant}`", label, f"{statistics.median(r['peak_mb'] for r in mine):.0f} MB",
                         f"{above[label]:.0f} MB", f"{statistics.median(r['seconds'] for r in mine):.0f} s",
                         str(mine[0]["words"]), held])
        small, large = list(files)
        growth = above[large] - above[small]
        verdict.append(f"`{variant}`: {large} peaks {growth:+.0f} MB against {small}"
                       + (f" (target <= {TARGET_MB:.0f} MB: {'met' if growth <= TARGET_MB else 'NOT met'})"
                          if variant == "chunky" else ""))
    table = markdown_table(["variant", "file", "peak RSS", "above the loaded model", "time", "words",
                            "tracks held"], rows)
    print(table)
    print("\n".join(verdict))
    if args.write_results:
        info = machine_info()
        clustering = " --diarizer clustering" if args.diarizer == "clustering" else ""
        diar_model = (" and the speaker-embedding test model (clustering)" if clustering
                      else " and the diarization test model")
        when = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
        body = "\n".join([
            f"Run {when} with `python bench/tracks_memory.py{' --quick' if args.quick else ''} "
            f"--speakers {args.speakers}{clustering} --repeats {args.repeats} --write-results` "
            "(medians of the repeats).",
            "",
            f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, {info['os']}, "
            f"Python {info['python']}, torch {info['versions']['torch']}, nemo_toolkit "
            f"{info['versions']['nemo_toolkit']}; {info['gpu']}.",
            "- Files: MKV with one FLAC stream of held-out digit words per speaker (bench/common.py), "
            f"`--speakers {args.speakers}`, the digits test model"
            f"{diar_model if args.speakers == 'diarize' else ''} on the CPU; each run "
            "a fresh worker process.",
            *[f"- `{k}`: {v}" for k, v in (VARIANTS if args.speakers == "tracks" else MIX_VARIANTS).items()
              if k in variants],
            "- Time: the transcription call (for `held`, after the tracks were decoded: its decoding is "
            "not in it); peak RSS: the worker's high-water mark; above the loaded model: that, less the "
            "RSS with NeMo imported and the model loaded.",
            "",
            table,
            "",
            *[f"- {v}" for v in verdict],
        ])
        title = {"tracks": "Tracks memory", "mix": "Mix memory", "diarize": "Diarize memory"}[args.speakers]
        if args.speakers == "diarize" and args.diarizer == "clustering":
            title = "Clustering memory"
        write_results_section(title, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
