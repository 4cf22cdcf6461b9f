"""Word-level speaker accuracy of one speaker per track, through Chunky's engine, on the files the tests
build (tests/test_speaker_files.py): a 2-stream MKV and MOV, a 4-channel WAV and stereo, each microphone
hearing the others at -20 dB, people sometimes talking at once (30% of turns), held-out espeak-ng voices,
the digits test model.

    python bench/speaker_tracks.py [--seconds 60] [--write-results]

For each file: the words of the truth, how many were found (same word, within 0.15 s), how many of those
got the right speaker, bleed copies left over (a word where its speaker said nothing) and the other words
the recognizer made up under overlapping speech.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, machine_info, markdown_table, write_results_section

sys.path.insert(0, str(REPO_ROOT))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args(argv)

    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions, SpeakerOptions
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore
    from tests.conversations import RATE
    from tests.multitrack import write_channels, write_streams
    from tests.test_diarization import ASR_MODEL
    from tests.test_speaker_files import conversation, renamed, score

    work = Path(tempfile.mkdtemp(prefix="chunky-speaker-tracks-"))
    store = ModelStore(work / "local_models", work / "extracted")
    store.import_archive(ASR_MODEL, "digits-ctc")
    engine = Engine(ModelManager(store, device="cpu"))
    options = EngineOptions(speakers=SpeakerOptions("tracks"))
    two = ["Host", "Guest"]
    four = [f"Speaker {i}" for i in range(1, 5)]
    cases = []
    conv = renamed(conversation(2, args.seconds, seed=51), two)
    cases.append(("2-stream MKV (FLAC)", conv, write_streams(
        work / "a.mkv", [conv.tracks[n] for n in two], RATE, titles=two)))
    cases.append(("2-stream MOV (PCM, with video)", conv, write_streams(
        work / "a.mov", [conv.tracks[n] for n in two], RATE, codec="pcm_s16le", video=True, titles=two)))
    conv4 = renamed(conversation(4, args.seconds, seed=52), four)
    cases.append(("4-channel WAV", conv4,
                  write_channels(work / "b.wav", [conv4.tracks[n] for n in four], RATE)))
    conv2 = renamed(conversation(2, args.seconds, seed=53), four[:2])
    cases.append(("stereo FLAC, a voice per side", conv2,
                  write_channels(work / "c.flac", [conv2.tracks[n] for n in four[:2]], RATE)))
    rows = []
    for label, truth, path in cases:
        started = time.perf_counter()
        transcript = engine.transcribe(path, "digits-ctc", options=options)
        seconds = time.perf_counter() - started
        r = score(truth, transcript.words)
        overlap = truth.overlap_seconds()
        rows.append([label, f"{len(truth.speakers)}", f"{overlap:.1f} s", str(r["words"]),
                     f"{r['found']} ({100 * r['found'] / r['words']:.1f}%)",
                     f"{100 * r['speaker_accuracy']:.1f}%", str(len(r["bleed"])), str(r["misrecognized"]),
                     f"{seconds:.1f} s"])
        print(label, r, flush=True)
    table = markdown_table(["file", "speakers", "two at once", "words", "found", "right speaker",
                            "bleed kept", "made-up words", "wall time"], rows)
    m = machine_info()
    body = "\n".join([
        f"Run {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC with `python bench/speaker_tracks.py "
        f"--seconds {args.seconds:g}{' --write-results' if args.write_results else ''}`.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM; CPU only.",
        f"- Audio: {args.seconds:g} s per file, held-out voices of tests/assets/audio, every microphone "
        "hearing the others at -20 dB, 30% of turns starting before the last one ends "
        "(tests/conversations.py); `--speakers tracks` through `Engine.transcribe` with "
        "tests/assets/digits-ctc.nemo.",
        "",
        table,
        "",
        "\"right speaker\" is over the words found; \"made-up words\" are what the digits model (trained "
        "on one voice at a time) hears in overlapping speech (\"eighto\"), kept with the right speaker; "
        "\"bleed kept\" counts words left on a microphone whose speaker said nothing then. The wall time "
        "of the first file includes loading the model and the VAD; this is an accuracy check, not a speed "
        "benchmark.",
    ])
    print(body)
    if args.write_results:
        write_results_section("Speakers per track", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
