"""Vocabulary benchmark: does NeMo's phrase boosting, as Chunky applies it, fix the words it is given
without making the rest worse? With the trained digits model (tests/assets/digits-ctc.nemo) on real
espeak-ng speech (tests/assets/audio):

1. Hard clips: the 40 held-out word clips made hard three ways (spoken 1.4x faster, the last quarter cut
   off, faint noise). For every word the model gets wrong, that word alone is boosted: how many of its
   wrong clips come out right, and how many clips that were right go wrong. Then all ten digit words at
   once.
2. The assembled 10-minute recording (tests/speech.py ``assemble(605, seed=11)``, as in
   tests/test_engine.py) through the whole engine: word errors with no vocabulary, with all ten digit
   words, and the false insertions of a word the recording does not contain ("chunky"), at the default
   strength and boosted hard.

    .venv/bin/python bench/vocabulary.py --write-results
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    concurrent_load,
    describe_load,
    machine_info,
    markdown_table,
    write_results_section,
)
from chunky.asr import boosting  # noqa: E402
from chunky.asr.vocabulary import resolve  # noqa: E402
from tests.speech import align, assemble, word_clips, word_errors, write_flac  # noqa: E402

ASSETS = Path(__file__).resolve().parent.parent / "tests" / "assets"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
ABSENT = "chunky"


def fast(audio: np.ndarray, rng) -> np.ndarray:
    n = int(len(audio) / 1.4)
    return np.interp(np.linspace(0, len(audio) - 1, n), np.arange(len(audio)), audio).astype(np.float32)


def cut(audio: np.ndarray, rng) -> np.ndarray:
    return audio[: int(len(audio) * 0.75)].copy()


def noisy(audio: np.ndarray, rng) -> np.ndarray:
    return (audio + rng.normal(0, 0.02, len(audio))).astype(np.float32)


HARD = {"spoken 1.4x faster": fast, "last quarter cut off": cut, "noise (sd 0.02)": noisy}


def transcribe(model, arrays: list[np.ndarray], vocabulary: str | None = None,
               strength: float = 1.0) -> list[str]:
    vocab = resolve(vocabulary)
    with boosting.boosted(model, "digits", vocab, strength, timestamps=False) as boost:
        if vocab:
            assert boost.active, boost.notes
        out = model.transcribe(arrays, batch_size=8, verbose=False, num_workers=0,
                               timestamps=None if boost.active else False, return_hypotheses=True)
    return [h.text.strip() for h in out]


def clip_rows(model, strengths: tuple[float, ...]) -> tuple[list[list[str]], list[str]]:
    from omegaconf import open_dict

    with open_dict(model.cfg.decoding):
        model.cfg.decoding.strategy = "greedy_batch"  # the baseline decodes the way a boosted run does
    model.change_decoding_strategy(model.cfg.decoding, verbose=False)
    clips = word_clips()
    rows, notes = [], []
    for name, make in HARD.items():
        rng = np.random.default_rng(7)
        arrays = [make(a, rng) for a, _ in clips]
        truth = [w for _, w in clips]
        base = transcribe(model, arrays)
        wrong = {i for i, (t, h) in enumerate(zip(truth, base, strict=True)) if t != h}
        for strength in strengths:
            fixed = broke = 0
            fixed_clips = []
            for word in sorted({truth[i] for i in wrong}):
                out = transcribe(model, arrays, word, strength)
                for i, (t, o) in enumerate(zip(truth, out, strict=True)):
                    if t == word and i in wrong and o == t:
                        fixed += 1
                        fixed_clips.append(f"{Path(sorted(ASSETS.glob('audio/word-*.flac'))[i]).stem}")
                    if i not in wrong and o != t:
                        broke += 1
            everything = transcribe(model, arrays, ", ".join(DIGITS), strength)
            right_all = sum(t == o for t, o in zip(truth, everything, strict=True))
            broke_all = sum(1 for i, (t, o) in enumerate(zip(truth, everything, strict=True))
                            if i not in wrong and o != t)
            rows.append([name, f"{len(clips) - len(wrong)}/40", f"{strength:g}", f"{fixed}/{len(wrong)}",
                         str(broke), f"{right_all}/40", str(broke_all)])
            if fixed_clips:
                notes.append(f"{name}, strength {strength:g}: fixed {', '.join(fixed_clips)}")
    return rows, notes


def long_rows(work: Path) -> list[list[str]]:
    from chunky.asr.engine import Engine
    from chunky.asr.options import EngineOptions
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    (work / "local_models").mkdir(parents=True, exist_ok=True)
    (work / "local_models" / "digits.nemo").write_bytes((ASSETS / "digits-ctc.nemo").read_bytes())
    manager = ModelManager(ModelStore(work / "local_models", work / "extracted"), device="cpu")
    audio, truth = assemble(605.0, seed=11)
    path = write_flac(work / "ten minutes.flac", audio)
    ref = [t.word for t in truth]
    runs = [("no vocabulary", None, 1.0), ("all ten digit words", ", ".join(DIGITS), 1.0),
            (f"'{ABSENT}' (not in the recording), default strength", ABSENT, 1.0),
            (f"'{ABSENT}', strength 4", ABSENT, 4.0), (f"'{ABSENT}', strength 10", ABSENT, 10.0)]
    rows, base_hyp = [], None
    for label, vocab, strength in runs:
        engine = Engine(manager, EngineOptions(vocabulary=resolve(vocab), vocabulary_strength=strength))
        started = time.perf_counter()
        hyp = [w.text for w in engine.transcribe(path, "digits").words]
        seconds = time.perf_counter() - started
        if base_hyp is None:
            base_hyp = hyp
        pairs = align(ref, hyp)
        correct_before = {r for r, h in align(ref, base_hyp) if r is not None and h is not None
                          and ref[r] == base_hyp[h]}
        correct_now = {r for r, h in pairs if r is not None and h is not None and ref[r] == hyp[h]}
        inserted = sum(1 for w in hyp if ABSENT in w)
        rows.append([label, str(len(ref)), str(word_errors(ref, hyp)), str(len(correct_before - correct_now)),
                     str(len(correct_now - correct_before)), str(inserted), f"{seconds:.1f} s"])
    manager.unload()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strengths", default="1,2", help="list strengths to try on the hard clips")
    parser.add_argument("--write-results", action="store_true", help="write the Vocabulary section")
    args = parser.parse_args(argv)
    strengths = tuple(float(s) for s in args.strengths.split(","))
    load = concurrent_load()
    from nemo.collections.asr.models import EncDecCTCModel

    model = EncDecCTCModel.restore_from(str(ASSETS / "digits-ctc.nemo"), map_location="cpu").eval()
    started = time.perf_counter()
    clip_table, notes = clip_rows(model, strengths)
    with tempfile.TemporaryDirectory() as tmp:
        long_table = long_rows(Path(tmp))
    info = machine_info()
    body = "\n".join([
        f"Run {time.strftime('%Y-%m-%d %H:%M')} with `python bench/vocabulary.py --strengths {args.strengths}"
        f"{' --write-results' if args.write_results else ''}` ({time.perf_counter() - started:.0f} s).",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores, {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"torch {info['versions']['torch']}, nemo_toolkit {info['versions']['nemo_toolkit']}; {info['gpu']}.",
        f"- Concurrent load: {describe_load(load)}",
        "- Model: tests/assets/digits-ctc.nemo (char CTC, zero..nine); boosting through "
        "`chunky.asr.boosting` (NeMo's `ContextGraph` + `GPUBoostingTreeModel` fused into "
        "`GreedyBatchedCTCInfer`, context score 1, depth scaling 2; alpha = the strength). The baseline "
        "decodes with `greedy_batch` too, so only the boosting differs.",
        "",
        "Hard clips (each wrong word boosted alone; \"broke\": clips right without boosting, wrong with it):",
        "",
        markdown_table(["clips", "right unboosted", "strength", "wrong clips fixed by boosting their word",
                        "broke (summed over words)", "right with all ten digits boosted",
                        "broke (all ten)"], clip_table),
        "",
        *(f"- {n}" for n in notes),
        "",
        "The assembled 10-minute recording through the engine (chunks, VAD, stitching; strength 1 unless "
        "said):",
        "",
        markdown_table(["vocabulary", "words", "word errors", "correct words made wrong",
                        "wrong words made right", f"'{ABSENT}' inserted", "time"], long_table),
    ])
    print(body)
    if args.write_results:
        write_results_section("Vocabulary", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
