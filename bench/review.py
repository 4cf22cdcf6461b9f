"""Review benchmark: a 3-hour transcript (about 30,000 words) opened in the page's review view in Chromium,
and the word highlight followed while the recording plays.

The real app (``python app.py``, no model) is started on a CHUNKY_HOME whose outputs hold one finished job
of an earlier run: the synthetic 3-hour transcript of bench/export.py (two speakers, word confidence) and a
3-hour silent Opus recording hard-linked as its media (made once with ffmpeg). Debian's Chromium, driven
by Playwright, opens the page and picks the job, as a user does.

- **Open**: the view's own clock (``window.chunkyReview.timings``): the fetch of the JSON, its parse, the
  draw (one innerHTML), and *open* = from the data's arrival (its last byte) to the first frame painted
  after the draw. Long tasks (over 50 ms) seen by a PerformanceObserver meanwhile. ``--repeats`` page loads.
- **Play**: the recording plays for ``--seconds`` at three places (start, middle, end) and once at 2x; a
  requestAnimationFrame loop records every frame's interval, a PerformanceObserver the long tasks, and the
  view's ``setPlayhead`` (what runs each frame) is timed. A frame over 1.5 refresh intervals counts as
  dropped. The same loop without playing gives the machine's baseline. Also: how many words were lit and
  whether the lit word stayed in view (follow).
- **Edit and search**: one word retyped (the splice) and a search with many hits, timed in the page.

    .venv/bin/python bench/review.py --write-results
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (  # noqa: E402
    DEFAULT_WORK,
    concurrent_load,
    describe_load,
    machine_info,
    markdown_table,
    write_results_section,
)
from bench.export import speech  # noqa: E402
from tests.app_server import AppServer, make_home  # noqa: E402
from tests.test_browser import CHROMIUM_ARGS, chromium_path  # noqa: E402

JOB_ID = "bench3hourreview"
STEM = "three-hours"
TARGET_OPEN_MS = 1000.0
# Playing with "Follow" off: the highlight alone, no scrolling (what the scrolling costs is the difference).
NO_FOLLOW = "middle, 1x, Follow off"
# Playing with the transcript not shown: what playing the recording costs this machine without the view.
HIDDEN = "middle, 1x, transcript hidden"

FRAMES = """
async ([seconds, play, rate]) => {
  const v = window.chunkyReview, m = v.media;
  const longs = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longs.push(e.duration);
  });
  obs.observe({type: "longtask"});
  const orig = v.setPlayhead;
  const costs = [];
  v.setPlayhead = function (...a) { const t = performance.now(); const r = orig.apply(this, a);
    costs.push(performance.now() - t); return r; };
  const lit = new Set();
  let outOfView = 0, litFrames = 0;
  if (play) { m.playbackRate = rate; await m.play(); }
  const t0 = performance.now(), tm0 = m.currentTime;
  const intervals = [];
  await new Promise((done) => {
    let last = performance.now();
    const step = (now) => {
      intervals.push(now - last); last = now;
      const el = v.words[v.current] && v.words[v.current].el;
      if (el) {
        lit.add(v.current); litFrames++;
        const box = v.ui.text.getBoundingClientRect(), r = el.getBoundingClientRect();
        if (r.bottom < box.top || r.top > box.bottom) outOfView++;
      }
      if (now - t0 < seconds * 1000) requestAnimationFrame(step); else done();
    };
    requestAnimationFrame((now) => { last = now; requestAnimationFrame(step); });
  });
  const played = m.currentTime - tm0;
  if (play) m.pause();
  v.setPlayhead = orig;
  await new Promise((r) => setTimeout(r, 100));
  obs.disconnect();
  return {intervals, longs, costs, lit: lit.size, litFrames, outOfView, played};
}
"""

EDITS = """
() => {
  const v = window.chunkyReview;
  const i = Math.floor(v.words.length / 2);
  const old = v.words[i].text;
  let t = performance.now();
  v.replace(i, i + 1, "Correction");
  const edit = performance.now() - t;
  t = performance.now();
  v.undo();
  const undo = performance.now() - t;
  const back = v.words[i].text === old;
  v.ui.find.value = "the";
  t = performance.now();
  v.runSearch(true);
  const search = performance.now() - t;
  const hits = v.search.hits.length;
  v.ui.find.value = "";
  v.runSearch(false);
  return {edit, undo, back, search, hits};
}
"""


def silent_recording(path: Path, seconds: float) -> Path:
    """``seconds`` of silence as Opus in Ogg (made once: a few MB)."""
    if path.is_file() and path.stat().st_size > 0:
        return path
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        raise SystemExit("ffmpeg is needed to make the 3-hour recording (apt-get install ffmpeg)")
    partial = path.with_suffix(".partial.ogg")
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=16000:cl=mono", "-t",
                    str(seconds), "-c:a", "libopus", "-b:a", "8k", str(partial)], check=True)
    partial.replace(path)
    return path


def make_job(home: Path, hours: float, words_per_second: float, recording: Path) -> tuple[int, float]:
    """The finished job of an earlier run: its transcript JSON, its media link and its job.json."""
    transcript = speech(hours, words_per_second, seed=7)
    folder = home / "model_cache" / "outputs" / JOB_ID
    if folder.exists():
        shutil.rmtree(folder)
    (folder / "media").mkdir(parents=True)
    data = transcript.to_dict()
    (folder / f"{STEM}.json").write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    media = folder / "media" / f"{STEM}.ogg"
    try:
        media.hardlink_to(recording)
    except OSError:
        shutil.copyfile(recording, media)
    job = {"version": 1, "id": JOB_ID, "owner": "bench", "state": "done", "model": "synthetic",
           "created": time.time() - 60, "started": time.time() - 60, "finished": time.time() - 1,
           "error": None, "zip": None, "formats": ["json"], "export": {},
           "files": [{"name": f"{STEM}.ogg", "source": str(recording), "stem": STEM, "state": "done",
                      "error": None, "outputs": [f"{STEM}.json"], "text": "", "duration": transcript.duration,
                      "rule_breaks": [], "revision": 0, "exports": [], "media": media.name}]}
    (folder / "job.json").write_text(json.dumps(job), encoding="utf-8")
    return len(transcript.words), transcript.duration


def frame_stats(run: dict, refresh_ms: float) -> dict[str, float]:
    iv = sorted(run["intervals"])
    costs = sorted(run["costs"]) or [0.0]
    return {
        "frames": len(iv),
        "median": statistics.median(iv),
        "p99": iv[min(len(iv) - 1, int(len(iv) * 0.99))],
        "max": iv[-1],
        "dropped": sum(1 for x in iv if x > 1.5 * refresh_ms),
        "longtasks": len(run["longs"]),
        "longest_task": max(run["longs"], default=0.0),
        "cost_median": statistics.median(costs),
        "cost_max": costs[-1],
        "lit": run["lit"],
        "out_of_view": run["outOfView"],
        "played": run["played"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--words-per-second", type=float, default=3.2, help="3.2: about 30,000 in 3 hours")
    parser.add_argument("--repeats", type=int, default=7, help="page loads timed")
    parser.add_argument("--seconds", type=float, default=10.0, help="seconds of playback per place")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK / "review")
    parser.add_argument("--write-results", action="store_true", help="write the Review section of RESULTS.md")
    args = parser.parse_args(argv)

    from playwright.sync_api import expect, sync_playwright

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    recording = silent_recording(work / f"silence-{args.hours:g}h.ogg", args.hours * 3600)
    home = work / "home"
    if home.exists():
        shutil.rmtree(home)
    make_home(home)
    n_words, duration = make_job(home, args.hours, args.words_per_second, recording)
    print(f"{n_words:,} words over {duration / 3600:.2f} h; starting the app", flush=True)
    server = AppServer(home, work / "app.log").start().wait_ready()
    exe = chromium_path()
    if exe is None:
        raise SystemExit("Chromium is not installed (apt-get install chromium)")
    opens: list[dict] = []
    runs: dict[str, dict] = {}
    try:
        time.sleep(3.0)  # the app's start-up work in the background settles
        load = concurrent_load()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=exe, headless=True,
                                         args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"])
            context = browser.new_context(viewport={"width": 1440, "height": 900})
            tab = context.new_page()
            tab.set_default_timeout(120_000)
            for k in range(args.repeats):
                tab.goto(server.url)
                expect(tab.locator("#chunky-transcribe")).to_be_visible()
                tab.evaluate("""() => { window.__longs = []; new PerformanceObserver((l) => {
                    for (const e of l.getEntries()) window.__longs.push(e.duration); })
                    .observe({type: "longtask"}); }""")
                tab.locator("#chunky-picker input").click()
                tab.get_by_role("option", name=f"{STEM}.ogg", exact=False).first.click()
                tab.wait_for_function("() => window.chunkyReview && window.chunkyReview.timings.open != null"
                                      " && window.chunkyReview.words.length > 0", timeout=120_000)
                t = tab.evaluate("() => ({...window.chunkyReview.timings, words: window.chunkyReview.words."
                                 "length, elements: document.querySelectorAll('#chunky-review .chunky-word')"
                                 ".length, longs: window.__longs})")
                opens.append(t)
                print(f"open {k + 1}: fetch {t['fetch']:.0f} ms, parse {t['parse']:.0f} ms, draw "
                      f"{t['draw']:.0f} ms (html {t['html']:.0f}, dom {t['dom']:.0f}, link {t['link']:.0f}, "
                      f"rest {t['rest']:.0f}), open {t['open']:.0f} ms ({t['elements']:,} word elements)",
                      flush=True)
            tab.locator("#chunky-review .cr-text").scroll_into_view_if_needed()
            tab.wait_for_function("() => window.chunkyReview.media && "
                                  "window.chunkyReview.media.readyState >= 1")
            refresh = statistics.median(tab.evaluate(FRAMES, [3.0, False, 1])["intervals"][2:])
            runs["idle (not playing)"] = tab.evaluate(FRAMES, [args.seconds, False, 1])
            for label, at, rate in (("start, 1x", 10.0, 1), ("middle, 1x", duration / 2, 1),
                                    ("end, 1x", duration - args.seconds * 2 - 30, 1),
                                    ("middle, 2x", duration / 2 + 600, 2),
                                    (NO_FOLLOW, duration / 2 - 600, 1), (HIDDEN, duration / 2 - 1200, 1)):
                follow = "false" if label == NO_FOLLOW else "true"
                shown = "none" if label == HIDDEN else ""
                tab.evaluate(f"() => {{ const v = window.chunkyReview; v.ui.follow.checked = {follow}; "
                             f"v.ui.text.style.display = '{shown}'; v.seek({at}, false); }}")
                tab.wait_for_function("() => !window.chunkyReview.media.seeking")
                runs[label] = tab.evaluate(FRAMES, [args.seconds, True, rate])
                s = frame_stats(runs[label], refresh)
                print(f"{label}: {s['frames']} frames, played {s['played']:.1f} s, dropped {s['dropped']}, "
                      f"long tasks {s['longtasks']}, {s['lit']} words lit", flush=True)
            tab.evaluate("() => { window.chunkyReview.ui.text.style.display = ''; }")
            edits = tab.evaluate(EDITS)
            browser_version = browser.version
            browser.close()
    finally:
        server.stop()

    def med(key: str) -> float:
        return statistics.median(o[key] for o in opens)

    def mx(key: str) -> float:
        return max(o[key] for o in opens)

    open_rows = [[k, what, f"{med(k):.0f} ms", f"{mx(k):.0f} ms"] for k, what in (
        ("fetch", "GET of the transcript JSON (the file route, behind the guard)"),
        ("parse", "JSON.parse"),
        ("draw", "one innerHTML of every segment and word, words indexed"),
        ("open", "**from the data's arrival (its last byte) to the first frame painted after the draw: "
                 "parse, draw, style, layout, paint**"),
        ("total", "fetch + parse + draw + paint"))]
    longs = [d for o in opens for d in o["longs"]]
    stats = {label: frame_stats(run, refresh) for label, run in runs.items()}
    frame_rows = [[label, f"{s['frames']}", f"{s['played']:.1f} s" if label != "idle (not playing)" else "-",
                   f"{s['median']:.1f} / {s['p99']:.1f} / {s['max']:.1f} ms", f"{s['dropped']}",
                   f"{s['longtasks']}" + (f" (longest {s['longest_task']:.0f} ms)" if s["longtasks"] else ""),
                   f"{s['cost_median'] * 1000:.0f} / {s['cost_max'] * 1000:.0f} µs",
                   f"{s['lit']}", f"{s['out_of_view']}"]
                  for label, s in stats.items()]
    playing = [s for label, s in stats.items() if label not in ("idle (not playing)", NO_FOLLOW, HIDDEN)]
    dropped = sum(s["dropped"] for s in playing)
    frames = sum(s["frames"] for s in playing)
    idle, still, hidden = stats["idle (not playing)"], stats[NO_FOLLOW], stats[HIDDEN]
    info = machine_info()
    words = opens[0]["words"]
    body = (
        f"`python bench/review.py --repeats {args.repeats} --seconds {args.seconds:g}` on {info['cpu']} "
        f"({info['cores']} cores, {info['ram_gb']} GB), Chromium {browser_version} headless (software "
        f"rendering), viewport 1440x900. A synthetic {args.hours:g}-hour transcript of {words:,} words "
        f"(every load drew {opens[0]['elements']:,} span.chunky-word"
        f"{'' if len({o['elements'] for o in opens}) == 1 else ' or fewer: NOT all of them'}), two speakers, "
        f"word confidence; a silent Opus recording of the same length. "
        f"The real app serves both; the page picks the job as a user does. Machine load when it started: "
        f"{describe_load(load)}.\n\n"
        f"Opening the view ({args.repeats} page loads; median and max):\n\n"
        + markdown_table(["step", "what", "median", "max"], open_rows)
        + f"\n\n- Open: median **{med('open'):.0f} ms**, max {mx('open'):.0f} ms - target < "
          f"{TARGET_OPEN_MS:.0f} ms: {'met' if mx('open') < TARGET_OPEN_MS else 'NOT met'}. "
          f"Long tasks during the loads: {len(longs)}"
          + (f" (longest {max(longs):.0f} ms: the draw and parse run as one task)" if longs else "") + ".\n\n"
        f"Playing ({args.seconds:g} s at each place; refresh interval {refresh:.1f} ms; a frame over "
        f"{1.5 * refresh:.1f} ms counts as dropped; the highlight's cost is `setPlayhead`'s per frame, in "
        "the browser's 0.1 ms steps):\n\n"
        + markdown_table(["where", "frames", "played", "frame interval median / p99 / max", "dropped",
                          "long tasks", "highlight cost median / max", "words lit",
                          "frames lit word out of view"],
                         frame_rows)
        + f"\n\n- While playing and following: **{dropped} dropped of {frames} frames** "
          f"({100 * dropped / max(1, frames):.1f} %); with Follow off (the highlight alone, no scrolling) "
          f"{still['dropped']} of {still['frames']} "
          f"({100 * still['dropped'] / max(1, still['frames']):.1f} %); "
          f"playing with the transcript hidden (the recording alone) {hidden['dropped']} of "
          f"{hidden['frames']} ({100 * hidden['dropped'] / max(1, hidden['frames']):.1f} %); "
          f"not playing at all {idle['dropped']} of {idle['frames']} "
          f"({100 * idle['dropped'] / max(1, idle['frames']):.1f} %).\n"
        f"- One word retyped in the middle of the 3 hours: {edits['edit']:.1f} ms "
        f"(undo {edits['undo']:.1f} ms, "
        f"{'restored' if edits['back'] else 'NOT restored'}); a search for \"the\" ({edits['hits']:,} hits): "
        f"{edits['search']:.0f} ms.\n"
    )
    print(body)
    if args.write_results:
        write_results_section("Review", body)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
