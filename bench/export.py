"""Export benchmark: how long laying out and writing every format takes for a 3-hour transcript, side by
side with the floor of writing its JSON alone, and what the layout does to the rules on ordinary and on
fast speech.

The transcript is synthetic (no model): sentences of a few hundred common words with punctuation, said at
a chosen rate with pauses between sentences, two speakers taking turns every 10 to 40 seconds. Every
measurement runs in this one process, interleaved (floor, layout, ..., floor, layout, ...) ``--repeats``
times; the table gives medians and the ratio to the floor.

    .venv/bin/python bench/export.py --hours 3 --repeats 3 --write-results
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    Samples,
    concurrent_load,
    machine_info,
    markdown_table,
    write_results_section,
)
from chunky.export import FORMATS, ExportOptions, get_writer, render  # noqa: E402
from chunky.transcript.cues import build_transcript  # noqa: E402
from chunky.transcript.layout import PRESETS, layout  # noqa: E402
from chunky.transcript.model import Transcript, Word  # noqa: E402

WORDS = ("the a of and to in that it is was for on with as his they at be this from I have or by one had "
         "not but what all were when we there can an your which their said if do will each about how up out "
         "them then she many some so these would other into has more her two like him see time could no "
         "make than first been its who now people my made over did down only way find use may water long "
         "little very after words called just where most know get through back much before go good new "
         "write our used me man too any day same right look think also around another came come work three "
         "word must because does part even place well such here take why things help put years different "
         "away again off went old number great tell men say small every found still between name should home "
         "big give air line set own under read last never us left end along while might next sound below "
         "saw something thought both few those always looked show large often together asked house don't "
         "world going want school important until form food keep children feet land side without boy once "
         "animals life enough took sometimes four head above kind began almost live page got earth need far "
         "hand high year mother light parts country father let night following picture being study second "
         "eyes soon times story boys since white days ever paper hard near sentence better best across "
         "during today others however sure means knew it's try told young miles sun ways thing whole hear "
         "example heard several change answer room sea against top turned learn point city play toward five "
         "using "
         "himself usually London Berlin Maria Thompson").split()


def speech(hours: float, words_per_second: float, seed: int = 0) -> Transcript:
    """A transcript of ``hours`` of speech at about ``words_per_second``."""
    rng = random.Random(seed)
    words: list[Word] = []
    t, speaker, turn_end = 0.5, "Speaker 1", rng.uniform(10, 40)
    mean = 1.0 / words_per_second
    while t < hours * 3600:
        n = rng.randint(4, 22)
        for k in range(n):
            text = rng.choice(WORDS)
            if k == 0:
                text = text[:1].upper() + text[1:]
            if k == n - 1:
                text += rng.choice([".", ".", ".", "?", "!"])
            elif rng.random() < 0.08:
                text += ","
            length = mean * rng.uniform(0.5, 1.0) * (0.6 + 0.08 * len(text))
            confidence = round(rng.uniform(0.6, 1.0), 3)
            words.append(Word(text, round(t, 3), round(t + length, 3), confidence, speaker))
            t += length + mean * rng.uniform(0.05, 0.4)
        t += rng.choice([0.25, 0.4, 0.6, 0.9, 1.2, 2.2])
        if t > turn_end:
            speaker = "Speaker 2" if speaker == "Speaker 1" else "Speaker 1"
            turn_end = t + rng.uniform(10, 40)
    return build_transcript(words, t + 1.0, "synthetic", "/recordings/three hours.wav")


def quality(transcript: Transcript, name: str) -> list[str]:
    result = layout(transcript.words, PRESETS[name], 25.0, transcript.duration)
    cues = result.cues
    rules = result.rules
    over_chars = sum(any(len(x) > (rules.max_chars or 10**9) for x in c.lines) for c in cues)
    over_lines = sum(len(c.lines) > (rules.max_lines or 10**9) for c in cues)
    cps = [len(c.text) / max(c.end - c.start, 1e-9) for c in cues]
    over_cps = sum(v > (rules.max_cps or 10**9) + 1e-6 for v in cps)
    broken = ", ".join(f"{k} {v}" for k, v in sorted(result.broken.items())) or "none"
    return [name, str(len(cues)), str(over_chars), str(over_lines), str(over_cps),
            f"{sorted(cps)[len(cps) // 2]:.1f}", broken]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write-results", action="store_true", help="write the Export section of RESULTS.md")
    args = parser.parse_args(argv)

    ordinary = speech(args.hours, 2.5, seed=1)  # about 150 words a minute
    fast = speech(min(args.hours, 0.5), 4.5, seed=2)  # an auctioneer's pace
    n_words = len(ordinary.words)
    options = ExportOptions(fps="25", start_timecode="01:00:00:00")
    samples: dict[str, Samples] = {k: Samples() for k in ("json_floor", "layout_streaming", "paragraphs",
                                                          "every_format")}
    sizes: dict[str, int] = {}
    for _ in range(args.repeats):
        start = time.perf_counter()
        json.dumps(ordinary.to_dict(), ensure_ascii=False, indent=2)
        samples["json_floor"].add(time.perf_counter() - start)
        start = time.perf_counter()
        layout(ordinary.words, PRESETS["streaming"], 25.0, ordinary.duration)
        samples["layout_streaming"].add(time.perf_counter() - start)
        start = time.perf_counter()
        layout(ordinary.words, PRESETS["paragraph"], 25.0, ordinary.duration)
        samples["paragraphs"].add(time.perf_counter() - start)
        start = time.perf_counter()
        doc = render(ordinary, options)
        for name in FORMATS:
            out = get_writer(name).format(doc)
            sizes[name] = len(out.encode("utf-8") if isinstance(out, str) else out)
        samples["every_format"].add(time.perf_counter() - start)
    floor = samples["json_floor"].median
    what = {"json_floor": "json.dumps of the transcript (the floor: no layout)",
            "layout_streaming": "the streaming layout (cue breaks, lines, timing, report)",
            "paragraphs": "the paragraph layout (TXT, DOCX, markers)",
            "every_format": f"render + all {len(FORMATS)} formats (layouts included)"}
    rows = [[k, what[k], f"{s.median:.2f} s", f"{s.median / floor:.1f}x", f"{n_words / s.median:,.0f}"]
            for k, s in samples.items()]
    timing_table = markdown_table(["step", "what", "median", "vs floor", "words/s"], rows)
    quality_rows = [quality(ordinary, p) for p in ("streaming", "broadcast", "social")]
    quality_rows += [[f"{r[0]} (fast speech)", *r[1:]] for r in (quality(fast, "streaming"),)]
    quality_table = markdown_table(["preset", "cues", "lines over the limit", "cues over the line limit",
                                    "cues over the reading speed", "median cps", "broken rules reported"],
                                   quality_rows)
    info = machine_info()
    sampled = concurrent_load()
    avg = sampled["loadavg"]
    load = (f"load average {avg[0]:.2f}/{avg[1]:.2f}/{avg[2]:.2f} from other work on the machine "
            f"({len(sampled['busy'])} other busy processes)")
    body = (
        f"`python bench/export.py --hours {args.hours:g} --repeats {args.repeats}` on {info['cpu']} "
        f"({info['cores']} cores), Python {info['python']}. A synthetic {args.hours:g}-hour transcript of "
        f"{n_words:,} words ({n_words / (ordinary.duration / 60):.0f} a minute, two speakers), medians of "
        f"{args.repeats} interleaved runs in one process, {load}.\n\n"
        f"{timing_table}\n\n"
        f"What the layout does to the rules (the fast speech: half an hour at "
        f"{len(fast.words) / (fast.duration / 60):.0f} words a minute, more than anyone reads; its cues over "
        "the reading speed are what the job's report counts):\n\n"
        f"{quality_table}\n\n"
        "File sizes of the 3-hour transcript: "
        + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sizes.items()) + "."
    )
    print(body)
    if args.write_results:
        write_results_section("Export", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
