"""Diarization benchmark: one long conversation through Chunky's diarization, next to Chunky's transcription.

    python bench/diarization.py [--method sortformer|clustering] [--minutes 60] [--speakers 3] [--work DIR]
                                [--write-results]

One recording (default: 60 minutes, 3 speakers, seeded) is assembled by ``tests/conversations.py`` from the
committed held-out word clips (tests/assets/audio: four espeak-ng voices that neither test model heard in
training): turns of 1-20 s, short pauses, sometimes two people at once, a noise floor. It is written as a
16 kHz FLAC under the work folder. Both test models are imported into a fresh ``ModelStore`` and loaded by
one ``ModelManager`` (so both are resident, as in a job that transcribes and diarizes), then, in one process:

  diarize     ``Diarizer(model).diarize(samples)``: features in pieces, the Sortformer's streaming loop one
              chunk at a time with its speaker cache, turns out (tests/assets/diar-sortformer.nemo); with
              ``--method clustering``, ``ClusteringDiarizer(model).diarize(samples)``: VAD, speaker
              embeddings of multi-scale windows, NeMo's long-form clustering
              (tests/assets/speaker-embed.nemo)
  transcribe  ``Engine(manager).transcribe(path, "digits-ctc")``: Chunky's transcription of the same file
              (decode, pauses, 30 s chunks, batches, stitching) with the digits model

It reports the wall time of each (and per hour of audio), the diarization error rate (pyannote.metrics,
collar 0.25 s, that is +-0.125 s around each reference boundary, overlapping speech scored; also with
NIST's +-0.25 s), the same per 10-minute window, whether every window's best speaker mapping is the
recording's (speakers kept across all chunks), and the share of the recognized words given the right
speaker. Diarization runs after one warm-up call on 20 s of audio (excluded).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
from collections import defaultdict
from pathlib import Path

from common import (
    DEFAULT_WORK,
    REPO_ROOT,
    LoadSampler,
    machine_info,
    markdown_table,
    write_results_section,
)

ASSETS = REPO_ROOT / "tests" / "assets"
WINDOW_MINUTES = 10


def held_out_voices():
    import soundfile as sf

    voices = defaultdict(list)
    for path in sorted((ASSETS / "audio").glob("word-*.flac")):
        audio, _ = sf.read(str(path), dtype="float32")
        tag, word = path.stem[len("word-"):].rsplit("-", 1)
        voices[tag].append((audio, word))
    return dict(voices)


def how(diarizer, chunks: list[int]) -> str:
    """How the diarization ran, in one sentence."""
    if hasattr(diarizer.model, "sortformer_modules"):
        return (f"The diarization model ran {max(chunks)} chunks of "
                f"{diarizer.model.sortformer_modules.chunk_len * 0.08:.1f} s.")
    from chunky.asr.clustering import CLUSTER_PIECE, SCALES

    scales = ", ".join(f"{s.length:g}/{s.shift:g} s" for s in SCALES)
    return (f"Clustering: windows (length/shift) {scales}, clustered {CLUSTER_PIECE} base windows at a time "
            "and merged (NeMo's long-form clustering).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=("sortformer", "clustering"), default="sortformer")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--speakers", type=int, default=3, choices=(2, 3, 4))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args(argv)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now()
    sampler = LoadSampler("diarization.py")
    sampler.start()

    import soundfile as sf

    from tests.conversations import RATE, best_mapping, build_conversation, diarization_error_rate
    from tests.speech import align

    voices = held_out_voices()
    names = sorted(voices)[: args.speakers]
    conv = build_conversation({n: voices[n] for n in names}, args.minutes * 60, seed=args.seed,
                              overlap_probability=0.05)
    path = work / f"conversation-{args.speakers}spk-{args.minutes:g}min-seed{args.seed}.flac"
    sf.write(str(path), conv.audio, RATE, subtype="PCM_16")
    audio, _ = sf.read(str(path), dtype="float32")  # what the transcription decodes, 16-bit rounding included
    print(f"audio: {path.name}, {conv.duration / 60:.1f} min, {len(conv.pieces)} words, "
          f"{len(conv.turns())} turns, {conv.overlap_seconds():.0f} s of overlapping speech", flush=True)

    t0 = time.perf_counter()
    import torch

    torch.set_num_threads(args.threads)
    import nemo.collections.asr  # noqa: F401

    import_s = time.perf_counter() - t0
    from chunky.asr.diarizers import diarizer_for
    from chunky.asr.engine import Engine
    from chunky.models.kinds import ASR, DIARIZATION, SPEAKER
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore
    from chunky.transcript.speakers import SpeakerTurn, assign_speakers

    store = ModelStore(work / "diar-bench" / "local_models", work / "diar-bench" / "extracted")
    diar_name, diar_kind = (("diar-sortformer", DIARIZATION) if args.method == "sortformer"
                            else ("speaker-embed", SPEAKER))
    for src, name in ((ASSETS / f"{diar_name}.nemo", diar_name), (ASSETS / "digits-ctc.nemo", "digits-ctc")):
        if name not in {m.name for m in store.list_models()}:
            store.import_archive(src, name)
    manager = ModelManager(store, device="cpu")
    t0 = time.perf_counter()
    diar_loaded = manager.get(diar_name, kind=diar_kind)
    diar_load_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    manager.get("digits-ctc", kind=ASR)
    asr_load_s = time.perf_counter() - t0
    diarizer = diarizer_for(diar_loaded.model, diar_loaded.name)
    diarizer.diarize(audio[: 20 * RATE])  # warm-up

    chunks = []
    t0 = time.perf_counter()
    result = diarizer.diarize(audio, progress=lambda p: chunks.append(p.chunk_count))
    diar_s = time.perf_counter() - t0
    print(f"diarized in {diar_s:.1f} s: {result.speakers}", flush=True)

    engine = Engine(manager)
    t0 = time.perf_counter()
    transcript = engine.transcribe(path, "digits-ctc")
    asr_s = time.perf_counter() - t0
    print(f"transcribed in {asr_s:.1f} s: {len(transcript.words)} words", flush=True)
    sampler.stop()

    strict = diarization_error_rate([(conv, result.turns)], collar=0.25)
    nist = diarization_error_rate([(conv, result.turns)], collar=0.5)
    windows = []
    pairs_all = []
    words = assign_speakers(transcript.words, result.turns)
    truth = conv.pieces
    aligned = [(r, h) for r, h in align([p.text for p in truth], [w.text for w in words])
               if r is not None and h is not None and truth[r].text == words[h].text]
    pairs_all = [(truth[r].speaker, words[h].speaker) for r, h in aligned]
    overall = best_mapping(pairs_all)
    right = sum(1 for t, f in pairs_all if overall.get(f) == t)
    consistent = True
    span = WINDOW_MINUTES * 60
    count = max(1, round(conv.duration / span))  # a last stretch under half a window joins the one before
    for k in range(count):
        lo, hi = k * span, ((k + 1) * span if k < count - 1 else math.inf)
        sub_pieces = [p for p in conv.pieces if lo <= p.start < hi]
        if not sub_pieces:
            continue
        from tests.conversations import Conversation

        sub = Conversation(conv.audio, sub_pieces, conv.speakers)
        sub_turns = [SpeakerTurn(max(t.start, lo), min(t.end, hi), t.speaker) for t in result.turns
                     if t.end > lo and t.start < hi]
        win = diarization_error_rate([(sub, sub_turns)], collar=0.25)
        win_pairs = [(truth[r].speaker, words[h].speaker) for r, h in aligned if lo <= truth[r].start < hi]
        mapping = best_mapping(win_pairs)
        same = mapping == {f: t for f, t in overall.items() if f in mapping}
        consistent = consistent and same
        windows.append((f"{lo / 60:.0f}-{min(hi, conv.duration) / 60:.0f} min", win["der"], same))

    hours = conv.duration / 3600
    machine = machine_info()
    rows = [
        [f"diarize ({'Sortformer, streaming' if args.method == 'sortformer' else 'clustering'})",
         f"{diar_s:.1f} s", f"{diar_s / hours:.1f} s",
         f"{conv.duration / diar_s:.0f}x"],
        ["transcribe (digits CTC, Engine)", f"{asr_s:.1f} s", f"{asr_s / hours:.1f} s",
         f"{conv.duration / asr_s:.0f}x"],
    ]
    window_rows = [[w, f"{100 * d:.1f}%", "yes" if same else "NO"] for w, d, same in windows]
    body = "\n".join([
        f"Run {started:%Y-%m-%d %H:%M} with `python bench/diarization.py {' '.join(sys.argv[1:])}`.",
        "",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram_gb']} GB RAM, "
        f"{machine['os']}, "
        f"Python {machine['python']}, torch {machine['versions']['torch']} ({args.threads} threads), "
        f"nemo_toolkit {machine['versions']['nemo_toolkit']}; {machine['gpu']}.",
        f"- Concurrent load during the run: {sampler.summary()}.",
        f"- Audio: {conv.duration / 60:.1f} min, {args.speakers} speakers ({', '.join(names)}: the held-out "
        f"voices of tests/assets/audio), {len(conv.pieces)} words in {len(conv.turns())} turns of 1-20 s, "
        f"{conv.overlap_seconds():.0f} s with two people at once; built by `tests/conversations.py` "
        f"(seed {args.seed}), 16 kHz FLAC.",
        f"- Models: `tests/assets/{diar_name}.nemo` and `tests/assets/digits-ctc.nemo`, imported into a "
        f"`ModelStore` and both resident in one `ModelManager` (loads: diarization {diar_load_s:.1f} s, "
        f"ASR {asr_load_s:.1f} s; NeMo's import {import_s:.1f} s, all excluded). {how(diarizer, chunks)}",
        "",
        markdown_table(["step", "wall time", "per hour of audio", "RTFx"], rows),
        "",
        f"Ratio: diarization takes {diar_s / asr_s:.2f}x the time of transcription with this (tiny) ASR "
        "model.",
        "",
        f"Diarization error rate over the whole recording: **{100 * strict['der']:.1f}%** (pyannote.metrics "
        f"`DiarizationErrorRate(collar=0.25)`, i.e. +-0.125 s; missed {100 * strict['missed']:.1f}%, false "
        f"alarm {100 * strict['false_alarm']:.1f}%, confusion {100 * strict['confusion']:.1f}%); "
        f"{100 * nist['der']:.1f}% with NIST's +-0.25 s collar (pyannote `collar=0.5`). Speakers found: "
        f"{len(result.speakers)} of {args.speakers}.",
        "",
        f"Words: {len(aligned)} of {len(truth)} recognized; **{100 * right / max(1, len(aligned)):.2f}%** of "
        "them got the right speaker (one speaker mapping for the whole recording).",
        "",
        f"Speakers across chunks: every {WINDOW_MINUTES}-minute window's best speaker mapping is the "
        f"recording's: **{'yes' if consistent else 'NO'}**.",
        "",
        markdown_table(["window", "DER", "same speaker mapping as the whole"], window_rows),
    ])
    print(body)
    if args.write_results:
        section = "Diarization" if args.method == "sortformer" else "Clustering diarization"
        write_results_section(section, body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
