"""The page in a real Chromium (Debian's /usr/bin/chromium driven by Playwright), against the real app.py
with the digits test model: upload, transcribe, watch the progress, read the transcript, download the
SRT, cancel a long job, record from the microphone; and the page as another computer opens it, with the
key (network mode). A screenshot of the finished page goes to tests/_artifacts/finished-page.png."""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import srt

from tests.app_server import ARTIFACTS, AUDIO, truth
from tests.conftest import NETWORK_NAME, skip_or_fail

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-default-apps",
    # A microphone that plays a beep, and no permission prompt.
    "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    # The name another computer opens the page by, in network mode: 127.0.0.1 here, never a DNS lookup.
    f"--host-resolver-rules=MAP {NETWORK_NAME} 127.0.0.1",
]
DIGITS = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
WAIT_MS = 120_000

# Records every state the progress panel shows (data-state|fraction|stage), as the browser renders it.
WATCH_PROGRESS = """
() => {
  window.__chunkyStates = [];
  const record = () => {
    const el = document.querySelector('#chunky-progress .chunky-job');
    if (!el) return;
    const stage = el.querySelector('.chunky-stage');
    const s = `${el.dataset.state}|${el.dataset.fraction}|${stage ? stage.textContent : ''}`;
    if (window.__chunkyStates[window.__chunkyStates.length - 1] !== s) window.__chunkyStates.push(s);
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
  record();
}
"""


def chromium_path() -> str | None:
    for candidate in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if candidate and Path(candidate).exists():
            return candidate
    return None


def chromium(*extra_args: str):
    """Debian's Chromium driven by Playwright (a generator for module fixtures); skips, or fails under
    CHUNKY_REQUIRE_ALL_TESTS, when either is missing."""
    exe = chromium_path()
    if exe is None:
        skip_or_fail("Chromium is not installed (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("Playwright is not installed (pip install playwright)")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=[*CHROMIUM_ARGS, *extra_args], headless=True)
        try:
            yield b
        finally:
            b.close()


def download(tab, name: str, folder: Path) -> Path:
    """The page's download link ``name``, clicked and saved into ``folder``."""
    from playwright.sync_api import expect

    link = tab.locator(f'#chunky-downloads a[download="{name}"]')
    expect(link).to_be_visible()
    with tab.expect_download() as info:
        link.click()
    saved = folder / name
    info.value.save_as(saved)
    return saved


@pytest.fixture(scope="module")
def browser():
    yield from chromium()


@pytest.fixture
def page(browser, app_server):
    """A fresh tab (its own session, so its own jobs) on the page, progress watcher installed."""
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 1000},
                                  permissions=["microphone"])
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(app_server.url)
    from playwright.sync_api import expect

    expect(tab.locator("#chunky-transcribe")).to_be_visible(timeout=60_000)  # a busy machine starts slowly
    expect(tab.locator("#chunky-status-box")).to_be_visible()
    tab.evaluate(WATCH_PROGRESS)
    try:
        yield tab
    finally:
        context.close()


def upload(page, *files: Path) -> None:
    from playwright.sync_api import expect

    page.locator("#chunky-files input[type=file]").set_input_files([str(f) for f in files])
    for f in files:  # the upload is finished when the component links to the uploaded file
        expect(page.locator(f'#chunky-files a[download="{f.name}"]')).to_have_count(1, timeout=60_000)


def transcript(page) -> str:
    return page.locator("#chunky-transcript textarea").input_value()


def words_of(text: str) -> list[str]:
    out: list[str] = []
    for line in text.splitlines():
        if line.startswith(("(", "===")):
            continue
        out += re.sub(r"^\[\d\d:\d\d:\d\d\]", "", line).replace("…", " ").split()
    return out


def progress_states(page) -> list[str]:
    return page.evaluate("window.__chunkyStates")


def long_recording(path: Path, seconds: float = 300.0) -> Path:
    """Single-word clips of held-out voices joined by pauses, over a quiet noise floor (~5 minutes)."""
    import soundfile as sf

    rng = random.Random(11)
    noise = np.random.default_rng(11)
    clips = sorted(AUDIO.glob("word-*.flac"))
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * 16000:
        audio, rate = sf.read(str(rng.choice(clips)), dtype="float32")
        assert rate == 16000
        gap = np.zeros(int(rng.uniform(0.3, 1.2) * rate), np.float32)
        parts += [audio, gap]
        total += len(audio) + len(gap)
    samples = np.concatenate(parts)
    samples += (noise.standard_normal(len(samples)) * 10**-3).astype(np.float32)
    sf.write(str(path), samples, 16000, subtype="PCM_16")
    return path


def test_transcribe_in_the_browser_and_download_the_srt(page, tmp_path):
    from playwright.sync_api import expect

    expected = truth()["sentence-1.flac"].split()
    upload(page, AUDIO / "sentence-1.flac")
    page.get_by_role("button", name="Transcribe", exact=True).click()
    done = page.locator('#chunky-progress .chunky-job[data-state="done"]')
    expect(done).to_be_visible(timeout=WAIT_MS)

    states = progress_states(page)
    before = [s for s in states if not s.startswith("done|")]
    assert before, f"no progress state was shown before the job was done: {states}"
    assert page.locator("#chunky-progress progress").count() == 1
    expect(page.locator("#chunky-progress .chunky-pct")).to_have_text("100%")

    expect(page.locator("#chunky-transcript textarea")).to_have_value(re.compile(r"\[00:00:0\d\] \w"))
    text = transcript(page)
    assert words_of(text) == expected, text
    expect(page.locator("#chunky-jobs")).to_contain_text("sentence-1.flac")
    expect(page.locator("#chunky-jobs .chunky-badge.done")).to_have_count(1)

    link = page.locator('#chunky-downloads a[download="sentence-1.srt"]')
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "downloaded.srt"
    info.value.save_as(saved)
    cues = list(srt.parse(saved.read_text(encoding="utf-8")))
    assert " ".join(c.content for c in cues).split() == expected
    for name in ("sentence-1.txt", "sentence-1.vtt", "sentence-1.json", "sentence-1.csv"):
        expect(page.locator(f'#chunky-downloads a[download="{name}"]')).to_have_count(1)

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "finished-page.png"), full_page=True)


def test_cancel_a_long_job_keeps_the_partial_transcript(page, tmp_path):
    from playwright.sync_api import expect

    long_file = long_recording(tmp_path / "long-interview.wav")
    upload(page, long_file)
    page.get_by_role("button", name="Transcribe", exact=True).click()
    running = page.locator('#chunky-progress .chunky-job[data-state="running"]')
    expect(running).to_be_visible(timeout=WAIT_MS)
    # Cancel once the transcript has started to grow (some chunks finished).
    expect(page.locator("#chunky-transcript textarea")).to_have_value(re.compile(r"\w+ \w+"), timeout=WAIT_MS)
    cancel = page.get_by_role("button", name="Cancel", exact=True)
    expect(cancel).to_be_enabled()
    cancel.click()
    ended = page.locator("#chunky-progress .chunky-job[data-state=cancelled], "
                         "#chunky-progress .chunky-job[data-state=done]")
    expect(ended).to_be_visible(timeout=WAIT_MS)
    assert ended.get_attribute("data-state") == "cancelled", "the job finished before the cancel reached it"
    states = progress_states(page)
    assert any(s.startswith("running|") and "Transcribing chunk" in s for s in states), states
    fractions = [float(s.split("|")[1]) for s in states if s.startswith("running|")]
    assert fractions == sorted(fractions)
    final = float(page.locator("#chunky-progress .chunky-job").get_attribute("data-fraction"))
    assert 0.0 < final < 0.9, f"the job was not cancelled midway: {final} of the audio transcribed"

    text = transcript(page)
    assert text.startswith("(Cancelled: the transcript up to the cancel)"), text
    kept = words_of(text)
    assert kept and set(kept) <= DIGITS, text
    expect(page.locator('#chunky-downloads a[download="long-interview.partial.srt"]')).to_have_count(1)
    expect(cancel).to_be_disabled()

    # The page stays usable: a short job after it completes (the file list was emptied when it was queued).
    expect(page.locator("#chunky-files a[download]")).to_have_count(0)
    upload(page, AUDIO / "sentence-2.flac")
    page.get_by_role("button", name="Transcribe", exact=True).click()
    expect(page.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)
    assert words_of(transcript(page)) == truth()["sentence-2.flac"].split()
    expect(page.locator("#chunky-jobs .chunky-badge.cancelled")).to_have_count(1)
    expect(page.locator("#chunky-jobs .chunky-badge.done")).to_have_count(1)


def test_record_from_the_microphone_and_transcribe(page):
    from playwright.sync_api import expect

    page.get_by_role("tab", name="Microphone").click()
    mic = page.locator("#chunky-mic")
    mic.get_by_role("button", name="Record", exact=True).click()
    page.wait_for_timeout(1500)
    mic.get_by_role("button", name="Stop", exact=True).first.click()
    # The recording is uploaded when a Download button appears on it.
    expect(mic.locator("button[aria-label='Download']")).to_have_count(1, timeout=30_000)
    page.get_by_role("button", name="Transcribe", exact=True).click()
    # Chromium's fake microphone plays a beep: no digit words, but a finished job with all the outputs.
    expect(page.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#chunky-progress")).to_contain_text("microphone-")
    expect(page.locator("#chunky-downloads a[download$='.srt']")).to_have_count(1)
    expect(mic.locator("button[aria-label='Download']")).to_have_count(0)  # emptied once queued


def test_pick_a_preset_and_formats_download_the_edl_and_fcpxml_and_export_again(page, tmp_path):
    import opentimelineio as otio
    from playwright.sync_api import expect

    expected = truth()["sentence-3.flac"].split()
    page.get_by_text("Subtitles, timecode and formats").click()
    page.locator("#chunky-preset input").click()
    page.get_by_role("option", name="Broadcast: 37 characters, 2 lines").click()
    expect(page.locator("#chunky-max-chars input")).to_have_value("37")  # the preset's rules filled in
    formats = page.locator("#chunky-formats")
    for label in ("EDL: CMX 3600 EDL with a locator per marker",
                  "FCPXML: Final Cut Pro XML (captions or markers)"):
        formats.get_by_label(label).check()
    page.locator("#chunky-start-timecode input, #chunky-start-timecode textarea").fill("01:00:00:00")
    page.locator("#chunky-markers").get_by_label("Cue").check()
    upload(page, AUDIO / "sentence-3.flac")
    page.get_by_role("button", name="Transcribe", exact=True).click()
    expect(page.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)

    def text_of(name: str) -> str:
        return download(page, name, tmp_path).read_text(encoding="utf-8")

    edl = otio.adapters.read_from_string(text_of("sentence-3.edl"), adapter_name="cmx_3600", rate=25)
    track = edl.tracks[0]
    clips = list(track.find_clips())
    assert clips and " ".join(m.name for c in clips for m in c.markers).split() == expected
    first = track.range_of_child(clips[0]).start_time - track.source_range.start_time
    assert first.to_timecode().startswith("01:00:0")  # on the timeline from 01:00:00:00, audio at 25 fps

    [timeline] = otio.adapters.read_from_string(text_of("sentence-3.fcpxml"), adapter_name="fcpx_xml")
    [clip] = list(timeline.find_clips())
    assert clip.name == "sentence-3"
    import xml.etree.ElementTree as ET

    root = ET.fromstring((tmp_path / "sentence-3.fcpxml").read_text(encoding="utf-8"))
    captions = root.findall(".//asset-clip/caption")
    assert " ".join(c.find("./text/text-style").text.replace("\n", " ") for c in captions).split() == expected
    assert root.find(".//sequence").get("tcStart") == "3600s"
    srt_cues = list(srt.parse(text_of("sentence-3.srt")))
    assert all(len(line) <= 37 for c in srt_cues for line in c.content.splitlines())
    assert srt_cues[0].start.total_seconds() >= 3600  # SRT keeps milliseconds, with the offset

    # Export the finished job again with the social preset: new files, nothing transcribed again.
    page.locator("#chunky-preset input").click()
    page.get_by_role("option", name="Social: one line of 32").click()
    page.get_by_role("button", name="Export this job again with the subtitle and format choices").click()
    expect(page.locator("#chunky-progress")).to_contain_text("Exported again:")
    expect(page.locator("#chunky-progress")).to_contain_text("sentence-3-social.srt")
    social = list(srt.parse(text_of("sentence-3-social.srt")))
    assert all(len(c.content.splitlines()) == 1 and len(c.content) <= 32 for c in social)
    assert " ".join(c.content for c in social).split() == expected
    expect(page.locator('#chunky-downloads a[download="sentence-3.srt"]')).to_have_count(1)  # still there
    page.screenshot(path=str(ARTIFACTS / "export-controls.png"), full_page=True)


def test_another_computer_opens_the_page_with_the_key(browser, network_server, tmp_path):
    """Network mode: the page by a machine name, as another computer opens it. Without the key only the
    "enter the key" page shows; a wrong key is refused; the right one opens the page (and leaves the
    address bar), and everything works through the cookie it set: upload, transcribe, download. The
    address Chunky prints (with ?key=) does the same in one click."""
    from playwright.sync_api import expect

    server = network_server
    address = f"http://{NETWORK_NAME}:{server.port}/"
    context = browser.new_context(accept_downloads=True, viewport={"width": 1440, "height": 1000})
    try:
        tab = context.new_page()
        tab.set_default_timeout(30_000)
        response = tab.goto(address)
        assert response is not None and response.status == 401
        expect(tab.get_by_role("heading", name="Chunky asks for its key")).to_be_visible()
        expect(tab.locator("#chunky-transcribe")).to_have_count(0)
        tab.locator("#key").fill("not-the-right-key-at-all")
        tab.get_by_role("button", name="Open Chunky").click()
        expect(tab.get_by_role("alert")).to_contain_text("not right")
        tab.locator("#key").fill(server.key)
        tab.get_by_role("button", name="Open Chunky").click()
        expect(tab.locator("#chunky-transcribe")).to_be_visible(timeout=60_000)
        assert tab.url == address
        (cookie,) = [c for c in context.cookies() if c["name"] == f"chunky-key-{server.port}"]
        assert cookie["httpOnly"] and cookie["domain"] == NETWORK_NAME and server.key not in cookie["value"]

        upload(tab, AUDIO / "sentence-1.flac")
        tab.get_by_role("button", name="Transcribe", exact=True).click()
        expect(tab.locator('#chunky-progress .chunky-job[data-state="done"]')).to_be_visible(timeout=WAIT_MS)
        assert words_of(transcript(tab)) == truth()["sentence-1.flac"].split()
        link = tab.locator('#chunky-downloads a[download="sentence-1.srt"]')
        with tab.expect_download() as info:
            link.click()
        saved = tmp_path / "network.srt"
        info.value.save_as(saved)
        cues = list(srt.parse(saved.read_text(encoding="utf-8")))
        assert " ".join(c.content for c in cues).split() == truth()["sentence-1.flac"].split()
    finally:
        context.close()

    fresh = browser.new_context()
    try:
        tab = fresh.new_page()
        tab.set_default_timeout(30_000)
        tab.goto(f"{address}?key={server.key}")  # the address of the start-up line
        expect(tab.locator("#chunky-transcribe")).to_be_visible(timeout=60_000)
        assert tab.url == address  # the key left the address bar
        expect(tab.locator("#chunky-status-box")).to_be_visible()
    finally:
        fresh.close()
