"""The review view in a real Chromium (Debian's /usr/bin/chromium driven by Playwright), against the real
app.py with the digits test model: the player plays the job's recording, a click on a word seeks there,
the spoken word is highlighted and followed, the keyboard, search, confidence marking and the next
uncertain word, corrections (retype, replace several words, remove, undo/redo, rename a speaker), saving a
revision of every output (read back with real parsers), restoring the original, downloads and exports again
with the corrected text, and the corrections kept over a restart of the app. Screenshots of the view at
1280x800 and 1920x1080 go to tests/_artifacts/ (review-view.png is the README's picture,
docs/images/review.png)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import srt

from tests.app_server import ARTIFACTS, DIGITS_MODEL, AppServer, make_home
from tests.speech import assemble, bury_word, write_flac
from tests.test_browser import chromium, download, upload

pytestmark = [pytest.mark.slow, pytest.mark.browser]

WAIT_MS = 120_000
VIEW = "#chunky-review"


@pytest.fixture(scope="module")
def recordings(tmp_path_factory) -> dict[str, Path]:
    """Two recordings of one job: ~150 s of clean words (more than 100 of them) and 40 s with one word
    buried in noise (the recording of tests/test_confidence.py)."""
    folder = tmp_path_factory.mktemp("review-audio")
    long_audio, _ = assemble(150.0, seed=3)
    noisy, truth = assemble(40.0, seed=5)
    noisy, lo, hi = bury_word(noisy, truth, 7, snr_db=-5.0)
    return {"long": write_flac(folder / "interview.flac", long_audio),
            "noisy": write_flac(folder / "noisy.flac", noisy), "buried": (lo, hi)}  # type: ignore[dict-item]


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return make_home(tmp_path_factory.mktemp("review-home"), {"digits": DIGITS_MODEL})


def start_server(home: Path, log_name: str) -> AppServer:
    server = AppServer(home, ARTIFACTS / log_name, env={"CHUNKY_BATCH_SIZE": "4"})
    return server.start().wait_ready()


@pytest.fixture(scope="module")
def server(home):
    s = start_server(home, "review-server.log")
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def browser():
    yield from chromium("--autoplay-policy=no-user-gesture-required")


def open_page(browser, url: str, width: int = 1440, height: int = 1000):
    from playwright.sync_api import expect

    context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": height})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(url)
    expect(tab.locator("#chunky-transcribe")).to_be_visible(timeout=60_000)  # a busy machine starts slowly
    return context, tab


def wait_drawn(tab, name: str) -> None:
    from playwright.sync_api import expect

    expect(tab.locator(f"{VIEW} .cr")).to_have_attribute("data-state", "ready", timeout=WAIT_MS)
    expect(tab.locator(f"{VIEW} .cr-name")).to_have_text(name)
    tab.wait_for_function("() => window.chunkyReview && window.chunkyReview.key && "
                          "!document.querySelector('#chunky-review .cr').classList.contains('cr-loading')")


def words(tab) -> list[dict]:
    return tab.evaluate("() => [...document.querySelectorAll('#chunky-review .chunky-word')].map(e => ("
                        "{text: e.textContent, start: +e.dataset.start, end: +e.dataset.end,"
                        " conf: e.dataset.conf == null ? null : +e.dataset.conf,"
                        " low: e.classList.contains('cr-low'), now: e.classList.contains('cr-now')}))")


def current_time(tab) -> float:
    return tab.evaluate("() => window.chunkyReview.media.currentTime")


def outputs_of(home: Path) -> Path:
    [json_path] = home.glob("model_cache/outputs/*/interview.json")
    return json_path.parent


@pytest.fixture(scope="module")
def job(browser, server, recordings):
    """One job of both recordings (with DOCX too) transcribed in the page; its tab stays open for the tests,
    which run in order on it. The viewport is low so that the transcript scrolls."""
    from playwright.sync_api import expect

    context, tab = open_page(browser, server.url, 1280, 640)
    tab.get_by_text("Subtitles, timecode and formats").click()
    tab.locator("#chunky-formats").get_by_label("DOCX: Word document with timecodes").check()
    upload(tab, recordings["long"], recordings["noisy"])
    tab.get_by_role("button", name="Transcribe", exact=True).click()
    expect(tab.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)
    wait_drawn(tab, "interview.flac")
    tab.locator(f"{VIEW} .cr-text").scroll_into_view_if_needed()
    try:
        yield tab
    finally:
        context.close()


def test_the_player_plays_the_job_recording_and_a_click_seeks_to_the_word(job, server):
    tab = job
    src = tab.evaluate("() => window.chunkyReview.media.src")
    folder = outputs_of(server.home)
    assert "gradio_api/file=" in src and src.endswith("/media/interview.flac"), src
    assert (folder / "media" / "interview.flac").is_file()
    tab.wait_for_function("() => window.chunkyReview.media.readyState >= 1")
    assert tab.evaluate("() => window.chunkyReview.media.duration") == pytest.approx(
        sf_duration(folder / "media" / "interview.flac"), abs=0.05)
    shown = words(tab)
    assert len(shown) > 100, len(shown)
    for i in (9, 99, len(shown) - 1):  # the 10th, 100th and last word
        tab.locator(f"{VIEW} .chunky-word").nth(i).click()
        tab.wait_for_function("() => !window.chunkyReview.media.seeking")
        assert current_time(tab) == pytest.approx(shown[i]["start"], abs=0.05), i
        assert tab.locator(f"{VIEW} .chunky-word").nth(i).evaluate("e => e.classList.contains('cr-cursor')")
    # A segment's timecode seeks to the segment's first word.
    tc = tab.locator(f"{VIEW} .cr-tc").nth(3)
    first = tab.locator(f"{VIEW} .cr-seg").nth(3).locator(".chunky-word").first
    tc.click()
    assert current_time(tab) == pytest.approx(float(first.get_attribute("data-start")), abs=0.05)


def sf_duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


# Samples every frame: the playhead and the highlighted word, while the recording plays.
SAMPLE = """
(seconds) => new Promise((done) => {
  const v = window.chunkyReview, m = v.media, out = [];
  const t0 = performance.now();
  const step = () => {
    const now = document.querySelector('#chunky-review .chunky-word.cr-now');
    const box = v.ui.text.getBoundingClientRect();
    const r = now ? now.getBoundingClientRect() : null;
    out.push({t: m.currentTime, now: now ? [+now.dataset.start, +now.dataset.end] : null,
              visible: r ? r.top >= box.top && r.bottom <= box.bottom : null});
    if (performance.now() - t0 < seconds * 1000) requestAnimationFrame(step); else done(out);
  };
  requestAnimationFrame(step);
})
"""


def test_playing_highlights_the_spoken_word_and_the_view_follows_it(job):
    tab = job
    shown = words(tab)
    text = tab.locator(f"{VIEW} .cr-text")
    assert text.evaluate("e => e.scrollHeight > e.clientHeight + 100")  # it scrolls
    start = shown[60]["start"] - 0.2
    tab.evaluate(f"() => {{ const v = window.chunkyReview; v.seek({start}, false); "
                 "v.ui.text.scrollTop = 0; }")
    tab.wait_for_function("() => !window.chunkyReview.media.seeking")
    tab.evaluate("() => window.chunkyReview.media.play()")
    samples = tab.evaluate(SAMPLE, 3.0)
    tab.evaluate("() => window.chunkyReview.media.pause()")
    assert samples[-1]["t"] - samples[0]["t"] > 2.0, (samples[0], samples[-1])  # it played
    inside = 0
    for s in samples:
        t = s["t"]
        under = [w for w in shown if w["start"] + 0.05 <= t <= w["end"] - 0.05]
        if under:
            inside += 1
            assert s["now"] == [under[0]["start"], under[0]["end"]], s
        between = not any(w["start"] - 0.05 <= t <= w["end"] + 0.05 for w in shown)
        if between:
            assert s["now"] is None, s
    assert inside >= 10, samples
    # The view followed: the spoken word came into sight although the transcript was scrolled to the top.
    seen = [s["visible"] for s in samples if s["now"] is not None]
    assert seen and seen[-1], samples[-5:]
    assert text.evaluate("e => e.scrollTop") > 0


def test_keyboard_plays_pauses_steps_by_word_and_jumps(job):
    tab = job
    shown = words(tab)
    m = "window.chunkyReview.media"
    tab.locator(f"{VIEW} .chunky-word").nth(20).click()
    tab.keyboard.press("ArrowRight")
    assert current_time(tab) == pytest.approx(shown[21]["start"], abs=0.05)
    assert tab.evaluate("() => window.chunkyReview.cursor") == 21
    tab.keyboard.press("ArrowRight")
    tab.keyboard.press("ArrowLeft")
    assert tab.evaluate("() => window.chunkyReview.cursor") == 21
    tab.keyboard.press("ArrowDown")  # the next line's first word
    cursor = tab.evaluate("() => window.chunkyReview.cursor")
    assert cursor > 21 and current_time(tab) == pytest.approx(shown[cursor]["start"], abs=0.05)
    tab.keyboard.press(" ")
    tab.wait_for_function(f"() => !{m}.paused && {m}.currentTime > {shown[cursor]['start'] + 0.2}")
    tab.keyboard.press(" ")
    assert tab.evaluate(f"() => {m}.paused")
    tab.keyboard.press("l")
    tab.wait_for_function(f"() => !{m}.paused")
    tab.keyboard.press("l")  # again: faster
    assert tab.evaluate(f"() => {m}.playbackRate") == 1.25
    tab.keyboard.press("k")
    assert tab.evaluate(f"() => {m}.paused && {m}.playbackRate === 1")
    before = current_time(tab)
    tab.keyboard.press("j")  # back 5 s
    assert current_time(tab) == pytest.approx(max(0.0, before - 5), abs=0.05)


def test_search_counts_the_matches_and_jumps_between_them(job):
    from playwright.sync_api import expect

    tab = job
    shown = words(tab)
    hits = [i for i, w in enumerate(shown) if w["text"] == "seven"]
    pairs = [i for i in range(len(shown) - 1)
             if shown[i]["text"] == "seven" and shown[i + 1]["text"] == "five"]
    assert len(hits) > 3
    tab.locator(f"{VIEW} .chunky-word").first.click()
    find = tab.locator(f"{VIEW} .cr-find")
    find.fill("SEVEN")
    count = tab.locator(f"{VIEW} .cr-count")
    expect(count).to_have_text(f"1 of {len(hits)}")
    assert tab.locator(f"{VIEW} .chunky-word.cr-hit").count() == len(hits)
    assert tab.evaluate("() => window.chunkyReview.cursor") == hits[0]
    find.press("Enter")
    expect(count).to_have_text(f"2 of {len(hits)}")
    assert tab.evaluate("() => window.chunkyReview.cursor") == hits[1]
    assert current_time(tab) == pytest.approx(shown[hits[1]]["start"], abs=0.05)
    tab.locator(f"{VIEW} .cr-prev").click()
    expect(count).to_have_text(f"1 of {len(hits)}")
    tab.locator(f"{VIEW} .cr-prev").click()  # round to the last
    expect(count).to_have_text(f"{len(hits)} of {len(hits)}")
    find.fill("seven five")  # a run of words
    expect(count).to_have_text(re.compile(rf"^(\d+ of )?{len(pairs)}( match(es)?)?$") if pairs
                               else re.compile("No match"))
    find.fill("no such words")
    expect(count).to_have_text("No match")
    find.press("Escape")
    expect(count).to_have_text("")
    assert tab.locator(f"{VIEW} .chunky-word.cr-hit").count() == 0


def test_the_word_in_noise_is_marked_and_next_uncertain_word_goes_there(job, recordings, server):
    from playwright.sync_api import expect

    tab = job
    tab.locator(f"{VIEW} .cr-file", has_text="noisy.flac").click()
    wait_drawn(tab, "noisy.flac")
    lo, hi = recordings["buried"]
    shown = words(tab)
    assert all(w["conf"] is not None for w in shown)
    buried = [i for i, w in enumerate(shown) if w["start"] < hi and w["end"] > lo]
    clean = [i for i, w in enumerate(shown) if w["end"] < lo - 0.3 or w["start"] > hi + 0.3]
    assert buried and len(clean) > 30
    assert all(shown[i]["low"] for i in buried), [shown[i] for i in buried]
    assert not any(shown[i]["low"] for i in clean), [shown[i] for i in clean if shown[i]["low"]]
    low = [i for i, w in enumerate(shown) if w["low"]]
    expect(tab.locator(f"{VIEW} .cr-low-count")).to_have_text(f"{len(low)} below 50 %")
    tab.locator(f"{VIEW} .chunky-word").first.click()
    tab.locator(f"{VIEW} .cr-next-low").click()
    assert tab.evaluate("() => window.chunkyReview.cursor") == low[0]
    assert current_time(tab) == pytest.approx(shown[low[0]]["start"], abs=0.05)

    # A higher threshold marks more words; it is kept as the setting (the next page load shows it).
    confs = sorted(w["conf"] for w in shown)
    value = next(p for p in range(55, 101, 5) if sum(c < p / 100 for c in confs) > len(low))
    tab.locator(f"{VIEW} .cr-thr").fill(str(value))
    shown = words(tab)
    marked = [i for i, w in enumerate(shown) if w["low"]]
    assert marked == [i for i, w in enumerate(shown) if w["conf"] < value / 100]
    assert len(marked) > len(low)
    expect(tab.locator(f"{VIEW} .cr-low-count")).to_have_text(f"{len(marked)} below {value} %")
    tab.locator(f"{VIEW} .chunky-word").nth(marked[0]).click()
    tab.keyboard.press("n")
    assert tab.evaluate("() => window.chunkyReview.cursor") == marked[1]
    # The picture of the view (README): the uncertain words marked, a search, the cursor on one of them.
    tab.set_viewport_size({"width": 1280, "height": 800})
    tab.locator(f"{VIEW} .cr-find").fill("three")
    tab.locator(f"{VIEW} .chunky-word").nth(marked[1]).click()
    tab.locator(VIEW).scroll_into_view_if_needed()
    tab.locator(VIEW).screenshot(path=str(ARTIFACTS / "review-view.png"))
    tab.locator(f"{VIEW} .cr-find").fill("")
    tab.set_viewport_size({"width": 1280, "height": 640})
    settings = server.home / "model_cache" / "settings.json"
    deadline = 50
    while deadline and not (settings.is_file() and "confidence_threshold" in settings.read_text("utf-8")):
        tab.wait_for_timeout(100)
        deadline -= 1
    assert json.loads(settings.read_text("utf-8"))["confidence_threshold"] == pytest.approx(value / 100)
    tab.locator(f"{VIEW} .cr-thr").fill("50")
    tab.locator(f"{VIEW} .cr-file", has_text="interview.flac").click()
    wait_drawn(tab, "interview.flac")


def texts(tab) -> list[str]:
    return [w["text"] for w in words(tab)]


def edit_word(tab, i: int, text: str) -> None:
    tab.locator(f"{VIEW} .chunky-word").nth(i).dblclick()
    field = tab.locator(f"{VIEW} .cr-input")
    field.fill(text)
    field.press("Enter")


def wait_note(tab, text: str) -> None:
    """The view's note says ``text`` (a save or restore answered); when it names the revision made, wait
    until the view has drawn that revision too (it fetches the saved JSON after the note)."""
    from playwright.sync_api import expect

    expect(tab.locator(f"{VIEW} .cr-note")).to_contain_text(text, timeout=WAIT_MS)
    tab.wait_for_function("() => !window.chunkyReview.saving")
    made = re.search(r"(?:as|saved) revision (\d+)$", text)
    if made:
        tab.wait_for_function(f"() => window.chunkyReview.key.endsWith('@{made.group(1)}') && !document"
                              ".querySelector('#chunky-review .cr').classList.contains('cr-loading')")


def srt_words(path: Path) -> list[str]:
    return " ".join(c.content for c in srt.parse(path.read_text(encoding="utf-8"))).split()


def test_corrections_in_the_page_reach_every_output_and_the_original_is_kept(job, server, tmp_path):
    import docx
    import pysubs2
    from playwright.sync_api import expect

    tab = job
    folder = outputs_of(server.home)
    original_bytes = (folder / "interview.json").read_bytes()
    noisy_bytes = (folder / "noisy.json").read_bytes()
    original = json.loads(original_bytes)
    before = words(tab)
    expected = [w["text"] for w in before]
    assert expected == [w["word"] for w in original["words"]]

    edit_word(tab, 4, "Gdańsk")  # retype one word: its times stay
    expected[4] = "Gdańsk"
    assert texts(tab) == expected
    fixed = words(tab)[4]
    assert (fixed["start"], fixed["end"]) == (before[4]["start"], before[4]["end"])
    assert tab.locator(f"{VIEW} .chunky-word").nth(4).evaluate("e => e.classList.contains('cr-fixed')")

    # Select three words (click, Shift+click) and type: two words spread over the three's time span.
    tab.locator(f"{VIEW} .chunky-word").nth(10).click()
    tab.locator(f"{VIEW} .chunky-word").nth(12).click(modifiers=["Shift"])
    assert tab.locator(f"{VIEW} .chunky-word.cr-sel").count() == 3
    tab.keyboard.type("alpha beta")
    tab.keyboard.press("Enter")
    expected[10:13] = ["alpha", "beta"]
    assert texts(tab) == expected
    now = words(tab)
    assert now[10]["start"] == before[10]["start"] and now[11]["end"] == before[12]["end"]
    assert now[10]["end"] <= now[11]["start"]

    # An empty text removes the word; Delete removes the selection; undo and redo step through them.
    edit_word(tab, 20, "")
    removed = expected.pop(20)
    assert texts(tab) == expected
    tab.locator(f"{VIEW} .chunky-word").nth(30).click()
    tab.keyboard.press("Delete")
    second = expected.pop(30)
    assert texts(tab) == expected
    tab.keyboard.press("Control+z")
    expected.insert(30, second)
    assert texts(tab) == expected
    tab.locator(f"{VIEW} .cr-undo").click()
    expected.insert(20, removed)
    assert texts(tab) == expected
    assert words(tab)[20]["start"] == before[21]["start"]  # with its times (2 words for 3 before)
    tab.locator(f"{VIEW} .cr-redo").click()
    expected.pop(20)
    assert texts(tab) == expected
    tab.keyboard.press("Control+z")
    expected.insert(20, removed)
    assert texts(tab) == expected
    expect(tab.locator(f"{VIEW} .cr-dirty")).to_contain_text("unsaved correction")

    tab.locator(f"{VIEW} .cr-save").click()
    wait_note(tab, "Saved as revision 1")
    expect(tab.locator(f"{VIEW} .cr-rev")).to_have_text(" · revision 1")
    assert texts(tab) == expected  # the server's words, drawn again

    # On disk: every output rewritten, the model's transcript kept byte for byte, the history.
    assert (folder / "interview.original.json").read_bytes() == original_bytes
    saved = json.loads((folder / "interview.json").read_text(encoding="utf-8"))
    assert [w["word"] for w in saved["words"]] == expected
    history = json.loads((folder / "interview.revisions.json").read_text(encoding="utf-8"))
    assert [r["revision"] for r in history["revisions"]] == [1]  # 0 is the original file
    assert (folder / "noisy.json").read_bytes() == noisy_bytes  # the other file: untouched
    assert not (folder / "noisy.original.json").exists()

    # The page's downloads are the corrected files, read by real parsers.
    assert srt_words(download(tab, "interview.srt", tmp_path)) == expected
    vtt = pysubs2.load(str(download(tab, "interview.vtt", tmp_path)))
    assert " ".join(e.plaintext for e in vtt).split() == expected
    data = json.loads(download(tab, "interview.json", tmp_path).read_text(encoding="utf-8"))
    assert [w["word"] for w in data["words"]] == expected
    assert " ".join(s["text"] for s in data["segments"]).split() == expected
    document = docx.Document(str(download(tab, "interview.docx", tmp_path)))
    body = " ".join(p.text for p in document.paragraphs)
    assert "Gdańsk" in body and "alpha beta" in body
    txt = download(tab, "interview.txt", tmp_path).read_text(encoding="utf-8")
    assert "Gdańsk" in txt

    # Exported again with other rules: the corrected text.
    tab.locator("#chunky-preset input").click()
    tab.get_by_role("option", name="Social: one line of 32").click()
    tab.get_by_role("button", name="Export this job again with the subtitle and format choices").click()
    expect(tab.locator("#chunky-progress")).to_contain_text("interview-social.srt")
    assert srt_words(download(tab, "interview-social.srt", tmp_path)) == expected

    # Restore the model's original: a new revision with the original words; then the correction again.
    tab.locator(f"{VIEW} .cr-revs").select_option("0")
    tab.locator(f"{VIEW} .cr-restore").click()
    wait_note(tab, "Revision 0 restored as revision 2")
    expect(tab.locator(f"{VIEW} .cr-rev")).to_have_text(" · revision 2")
    assert texts(tab) == [w["word"] for w in original["words"]]
    restored = json.loads((folder / "interview.json").read_text(encoding="utf-8"))
    assert restored["words"] == original["words"]
    assert srt_words(download(tab, "interview.srt", tmp_path)) == [w["word"] for w in original["words"]]
    assert (folder / "interview.original.json").read_bytes() == original_bytes
    tab.locator(f"{VIEW} .cr-revs").select_option("1")
    tab.locator(f"{VIEW} .cr-restore").click()
    wait_note(tab, "Revision 1 restored as revision 3")
    assert texts(tab) == expected
    assert srt_words(download(tab, "interview.srt", tmp_path)) == expected
    tab.screenshot(path=str(ARTIFACTS / "review-corrected.png"), full_page=False)


def test_the_media_route_serves_only_chunky_folders_and_only_to_this_page(job, server):
    """The player's recording comes over Gradio's file route behind the guard: byte ranges (for seeking)
    of the job folder's link, nothing outside Chunky's folders, nothing for a foreign Host or Origin."""
    import requests

    folder = outputs_of(server.home)
    media = folder / "media" / "interview.flac"
    src = job.evaluate("() => window.chunkyReview.media.src")
    whole = server.get(src)
    assert whole.status_code == 200 and whole.content == media.read_bytes()
    part = requests.get(server.loopback(src), headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206 and part.content == media.read_bytes()[100:200]
    base = src.split("gradio_api/file=")[0] + "gradio_api/file="
    outside = [Path("/etc/passwd"), server.home / "local_models" / "digits.nemo",
               server.home / "model_cache" / "settings.json", Path(__file__).resolve()]
    for path in outside:
        assert path.is_file()
        r = server.get(base + str(path))
        assert r.status_code in (403, 404), (path, r.status_code)
        assert r.content != path.read_bytes()
    sneaky = server.get(base + str(folder) + "/../../settings.json")
    assert sneaky.status_code in (400, 403, 404), sneaky.status_code
    for headers in ({"Host": f"evil.example:{server.port}"}, {"Origin": "https://evil.example"}):
        r = requests.get(server.loopback(src), headers=headers, timeout=30)
        assert r.status_code in (400, 403, 421), (headers, r.status_code)
        assert media.read_bytes()[:1000] not in r.content


def test_a_video_plays_in_a_video_player_and_a_click_seeks_it(browser, server, tmp_path):
    """A WebM with a picture (VP8 + Opus, made by ffmpeg): the view plays it in a <video> with its picture,
    not as sound only, and a click on a word seeks the video there."""
    import subprocess

    from playwright.sync_api import expect

    audio, _ = assemble(20.0, seed=8)
    wav = write_flac(tmp_path / "take.flac", audio)
    clip = tmp_path / "take.webm"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=navy:s=320x240:r=25",
                    "-i", str(wav), "-shortest", "-c:v", "libvpx", "-b:v", "200k", "-c:a", "libopus",
                    str(clip)], check=True, timeout=120)
    context, tab = open_page(browser, server.url)
    try:
        upload(tab, clip)
        tab.get_by_role("button", name="Transcribe", exact=True).click()
        expect(tab.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)
        wait_drawn(tab, "take.webm")
        tab.wait_for_function("() => window.chunkyReview.media.readyState >= 1")
        assert tab.evaluate("() => window.chunkyReview.media.tagName") == "VIDEO"
        assert tab.evaluate("() => [window.chunkyReview.media.videoWidth, "
                            "window.chunkyReview.media.videoHeight]") == [320, 240]
        root = tab.locator(f"{VIEW} .cr")
        assert root.evaluate("e => e.classList.contains('cr-video') && "
                             "!e.classList.contains('cr-audio-only')")
        shown = words(tab)
        assert len(shown) > 10, shown
        tab.locator(f"{VIEW} .chunky-word").nth(5).click()
        tab.wait_for_function("() => !window.chunkyReview.media.seeking")
        assert current_time(tab) == pytest.approx(shown[5]["start"], abs=0.05)
    finally:
        context.close()


def speakers_of(path: Path) -> list[str | None]:
    return [w.get("speaker") for w in json.loads(path.read_text("utf-8"))["words"]]


def test_corrections_survive_a_restart_the_later_tab_wins_speakers_are_renamed(browser, server, home):
    """After a restart the job is an earlier one, which every tab may open: two tabs correct the same
    file; the later save wins and the earlier tab is told. Then a speaker is renamed everywhere."""
    from playwright.sync_api import expect

    folder = outputs_of(home)
    corrected = [w["word"] for w in json.loads((folder / "interview.json").read_text("utf-8"))["words"]]
    assert "Gdańsk" in corrected
    server.stop()
    # Speakers, as a diarizing model writes them (the digits model knows none): every other segment's, in
    # the model's transcript and the latest revision (each revision is rebuilt from the original).
    for name in ("interview.original.json", "interview.json"):
        data = json.loads((folder / name).read_text("utf-8"))
        starts = [s["start"] for s in data["segments"]]
        for w in [*data["words"], *(w for seg in data["segments"] for w in seg.get("words", []))]:
            w["speaker"] = f"SPEAKER_{sum(st <= w['start'] for st in starts[1:]) % 2}"
        (folder / name).write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    again = start_server(home, "review-server-2.log")
    try:
        tabs = []
        for _ in range(2):
            context, tab = open_page(browser, again.url, 1280, 800)
            tab.locator("#chunky-picker input").click()
            tab.get_by_role("option", name=re.compile("interview.flac")).first.click()
            wait_drawn(tab, "interview.flac")
            tabs.append((context, tab))
        (_, a), (_, b) = tabs
        assert texts(a) == corrected
        expect(a.locator(f"{VIEW} .cr-rev")).to_have_text(" · revision 3")
        edit_word(a, 0, "first")
        edit_word(b, 1, "second")
        a.locator(f"{VIEW} .cr-save").click()
        wait_note(a, "Saved as revision 4")
        # The other tab hears of it at its next poll, and keeps its unsaved correction.
        expect(b.locator(f"{VIEW} .cr-note")).to_contain_text("Another tab saved revision 4", timeout=WAIT_MS)
        assert texts(b)[1] == "second"
        b.locator(f"{VIEW} .cr-save").click()
        wait_note(b, "Saved as revision 5")
        expect(b.locator(f"{VIEW} .cr-note")).to_contain_text("Another tab had saved revision 4")
        final = [w["word"] for w in json.loads((folder / "interview.json").read_text("utf-8"))["words"]]
        assert final[1] == "second" and final[0] == corrected[0]  # the later save, on revision 3
        # Renaming a speaker renames them everywhere (undo, redo), and the outputs follow.
        expect(a.locator(f"{VIEW} .cr-note")).to_contain_text("Another tab saved revision 5", timeout=WAIT_MS)
        expect(a.locator(f"{VIEW} .cr-rev")).to_have_text(" · revision 5")
        a.wait_for_function("() => window.chunkyReview.key.endsWith('@5') && "
                            "!document.querySelector('#chunky-review .cr').classList.contains('cr-loading')")
        before = speakers_of(folder / "interview.json")
        names = a.locator(f"{VIEW} .cr-spk-name")
        expect(names).to_have_count(2)
        spk = a.locator(f"{VIEW} .cr-spk")
        labels = spk.count()
        assert labels >= 2 and spk.nth(1).text_content() == "SPEAKER_1"
        field = a.locator(f'{VIEW} .cr-spk-name[data-speaker="SPEAKER_1"]')
        field.fill("Ana Ruiz")
        field.press("Enter")
        expect(a.locator(f"{VIEW} .cr-spk", has_text="Ana Ruiz")).to_have_count(labels // 2)
        expect(a.locator(f"{VIEW} .cr-spk", has_text="SPEAKER_1")).to_have_count(0)
        a.locator(f"{VIEW} .cr-undo").click()
        expect(a.locator(f"{VIEW} .cr-spk", has_text="SPEAKER_1")).to_have_count(labels // 2)
        a.locator(f"{VIEW} .cr-redo").click()
        a.locator(f"{VIEW} .cr-save").click()
        wait_note(a, "Saved as revision 6")
        saved = speakers_of(folder / "interview.json")
        assert saved == [{"SPEAKER_1": "Ana Ruiz"}.get(s, s) for s in before], (saved, before)
        assert "Ana Ruiz" in saved and "SPEAKER_0" in saved
        assert "Ana Ruiz: " in (folder / "interview.txt").read_text("utf-8")
        assert "<v Ana Ruiz>" in (folder / "interview.vtt").read_text("utf-8")
        assert "SPEAKER_1" not in (folder / "interview.vtt").read_text("utf-8")
        b.set_viewport_size({"width": 1280, "height": 800})
        b.locator(VIEW).scroll_into_view_if_needed()
        b.screenshot(path=str(ARTIFACTS / "review-1280x800.png"))
        b.set_viewport_size({"width": 1920, "height": 1080})
        b.locator(VIEW).scroll_into_view_if_needed()
        b.screenshot(path=str(ARTIFACTS / "review-1920x1080.png"))
        for context, _ in tabs:
            context.close()
    finally:
        again.stop()
