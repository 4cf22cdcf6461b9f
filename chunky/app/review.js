// Chunky's review view: the recording beside its transcript, to play, follow, search and correct.
//
// This is the body of the #chunky-review gr.HTML's js_on_load: Gradio runs it once with `element` (the
// component), `trigger` (fires one of the component's events: review_save, review_restore, review_file,
// review_threshold; the page handles them queue-free), `props` (props.value is the descriptor JSON that
// chunky/app/review.py builds) and `watch` (called when the descriptor changes). The component's template
// never changes, so Gradio never touches the DOM built here.
//
// Speed: the transcript (a 3-hour recording has ~30,000 words) is drawn once with one innerHTML; pages of
// segments off screen skip layout and paint (content-visibility: auto). While playing, one requestAnimationFrame
// loop finds the word under the playhead by binary search and moves two classes: nothing else changes; the
// layout is read (to follow) only when the spoken word moved to another line. window.chunkyReview.timings
// holds the last open's fetch / parse / draw / open times (bench/review.py reads them).
// Corrections splice only the words they touch. window.chunkyReview is this view (tests, benchmarks and
// user scripts use it); every word is a span.chunky-word with data-start and data-end in seconds.

const mount = element.querySelector(".chunky-review-mount") || element;
const send = (name, data) => trigger(name, data);

const ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"};
const esc = (s) => { s = String(s); return /[&<>"]/.test(s) ? s.replace(/[&<>"]/g, (c) => ESCAPES[c]) : s; };
const ms = (t) => Math.round(t * 1000) / 1000;
const PAGE = 40; // segments per page of the drawn transcript
const fold = (s) => String(s).normalize("NFD").replace(/\p{M}/gu, "").toLowerCase();

function clock(t, long) {
  t = Math.max(0, t || 0);
  const h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), s = Math.floor(t % 60);
  const mm = String(m).padStart(h || long ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
  return h || long ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function tenths(t, long) {
  return `${clock(t, long)}.${Math.floor(((t || 0) % 1) * 10)}`;
}

// The words of `text` over start..end, each a share by its length with a space's share between words: the
// same rule as chunky.transcript.edits.spread_words (the server's result replaces this one after a save).
function spread(text, start, end, spk) {
  const tokens = text.split(/\s+/).filter(Boolean);
  if (!tokens.length) return [];
  const span = Math.max(0, end - start);
  const total = tokens.reduce((n, t) => n + t.length, 0) + tokens.length - 1;
  let pos = 0;
  return tokens.map((t) => {
    const a = start + (span * pos) / total;
    pos += t.length;
    const b = start + (span * pos) / total;
    pos += 1;
    return {text: t, start: ms(a), end: ms(b), conf: null, spk, fixed: true};
  });
}

const wordJSON = (w) => {
  const d = {word: w.text, start: w.start, end: w.end};
  if (w.conf != null) d.confidence = w.conf;
  if (w.spk != null) d.speaker = w.spk;
  return d;
};
const fromJSON = (d) => ({text: String(d.word), start: +d.start, end: +d.end,
  conf: d.confidence == null ? null : +d.confidence, spk: d.speaker == null ? null : String(d.speaker)});

const SHELL = `
<div class="cr" data-state="empty">
  <div class="cr-empty">When a job is done, its transcript appears here beside the recording: play it,
    click a word to jump there, fix what was misheard and save. Every download follows your corrections.</div>
  <div class="cr-ready">
    <div class="cr-head">
      <div class="cr-title"><span class="cr-name"></span><span class="cr-rev"></span></div>
      <div class="cr-files" role="tablist" aria-label="Files of this job"></div>
    </div>
    <div class="cr-body">
      <aside class="cr-side">
        <div class="cr-media"></div>
        <div class="cr-transport">
          <span class="cr-time">0:00.0</span>
          <select class="cr-rate" title="Playback speed" aria-label="Playback speed">
            <option value="0.75">0.75&times;</option><option value="1" selected>1&times;</option>
            <option value="1.25">1.25&times;</option><option value="1.5">1.5&times;</option>
            <option value="2">2&times;</option></select>
          <label class="cr-follow-label" title="Keep the spoken word in view"><input type="checkbox" class="cr-follow" checked> Follow</label>
        </div>
        <div class="cr-block cr-search">
          <div class="cr-row"><input type="search" class="cr-find" placeholder="Search the transcript"
            aria-label="Search the transcript" autocomplete="off" spellcheck="false">
            <button type="button" class="cr-btn cr-prev" title="Previous match (Shift+Enter)" aria-label="Previous match">&#8593;</button>
            <button type="button" class="cr-btn cr-next" title="Next match (Enter)" aria-label="Next match">&#8595;</button></div>
          <div class="cr-count" aria-live="polite"></div>
        </div>
        <div class="cr-block cr-conf">
          <div class="cr-row cr-spread"><span class="cr-label">Uncertain words</span>
            <span class="cr-low-count"></span></div>
          <input type="range" class="cr-thr" min="0" max="100" step="5" aria-label="Confidence threshold">
          <button type="button" class="cr-btn cr-wide cr-next-low" title="Next uncertain word (N)">Next uncertain word</button>
          <div class="cr-noconf">This model gives no word confidence.</div>
        </div>
        <div class="cr-block cr-speakers"><div class="cr-label">Speakers <span class="cr-hint">(rename: type a name)</span></div>
          <div class="cr-spk-list"></div></div>
        <div class="cr-block cr-edit">
          <div class="cr-row">
            <button type="button" class="cr-btn cr-undo" title="Undo (Ctrl+Z)">&#8630; Undo</button>
            <button type="button" class="cr-btn cr-redo" title="Redo (Ctrl+Shift+Z)">&#8631; Redo</button>
            <button type="button" class="cr-btn cr-primary cr-save" title="Save: writes every output again (Ctrl+S)">Save</button>
          </div>
          <div class="cr-dirty" aria-live="polite"></div>
        </div>
        <div class="cr-block cr-history"><div class="cr-label">Revisions</div>
          <div class="cr-row"><select class="cr-revs" aria-label="Revisions"></select>
            <button type="button" class="cr-btn cr-restore" title="Make this revision the latest">Restore</button></div></div>
        <details class="cr-keys"><summary>Keyboard</summary><dl>
          <dt>Space</dt><dd>play / pause</dd><dt>J K L</dt><dd>back 5 s, pause, play (again: faster)</dd>
          <dt>&larr; &rarr;</dt><dd>previous / next word (Shift: select)</dd><dt>&uarr; &darr;</dt><dd>previous / next line</dd>
          <dt>Enter, double-click</dt><dd>retype the word or the selection</dd>
          <dt>typing</dt><dd>replaces selected words (drag or Shift+click to select)</dd>
          <dt>Delete</dt><dd>removes the selected words</dd><dt>N</dt><dd>next uncertain word</dd>
          <dt>/</dt><dd>search</dd><dt>Ctrl+Z, Ctrl+Shift+Z</dt><dd>undo, redo</dd><dt>Ctrl+S</dt><dd>save</dd>
          <dt>Esc</dt><dd>cancel, clear the selection</dd></dl></details>
      </aside>
      <section class="cr-main">
        <div class="cr-note" role="status" hidden></div>
        <button type="button" class="cr-btn cr-back" hidden>&#8615; Back to the playhead</button>
        <div class="cr-text" tabindex="0" role="document" aria-label="Transcript"></div>
      </section>
    </div>
  </div>
</div>`;

class Review {
  constructor(root) {
    root.innerHTML = SHELL;
    this.root = root.querySelector(".cr");
    const q = (s) => this.root.querySelector(s);
    this.ui = {
      name: q(".cr-name"), rev: q(".cr-rev"), files: q(".cr-files"), media: q(".cr-media"),
      time: q(".cr-time"), rate: q(".cr-rate"), follow: q(".cr-follow"), find: q(".cr-find"), count: q(".cr-count"),
      prev: q(".cr-prev"), next: q(".cr-next"), conf: q(".cr-conf"), thr: q(".cr-thr"),
      lowCount: q(".cr-low-count"), nextLow: q(".cr-next-low"), speakers: q(".cr-speakers"),
      spkList: q(".cr-spk-list"), undo: q(".cr-undo"), redo: q(".cr-redo"), save: q(".cr-save"),
      dirty: q(".cr-dirty"), history: q(".cr-history"), revs: q(".cr-revs"), restore: q(".cr-restore"),
      note: q(".cr-note"), back: q(".cr-back"), text: q(".cr-text"),
    };
    this.desc = null;
    this.key = null; // job/file/revision shown
    this.words = [];
    this.segs = [];
    this.starts = new Float64Array(0);
    this.indexDirty = false;
    this.current = -1;
    this.currentSeg = null;
    this.cursor = -1; // the word the keyboard works from
    this.sel = null; // {a, b} inclusive, explicit (typing replaces it)
    this.undoStack = [];
    this.redoStack = [];
    this.pending = []; // operations since the last save (the server replays them on `base`)
    this.base = 0;
    this.saving = 0; // operations in the save on its way (0: none)
    this.lastNote = 0;
    this.threshold = 0.6;
    this.hasConf = false;
    this.media = null;
    this.raf = 0;
    this.followPausedUntil = 0;
    this.search = {q: "", hits: [], at: -1};
    this.edit = null;
    this.timings = {};
    this.loads = 0;
    this.bind();
  }

  // --- the descriptor ------------------------------------------------------------------------------

  update(raw) {
    let d;
    try { d = raw ? JSON.parse(raw) : {state: "empty"}; } catch (e) { d = {state: "empty"}; }
    const before = this.desc;
    this.desc = d;
    if (typeof d.threshold === "number" && (!before || before.threshold !== d.threshold) && !this.thrTouched) {
      this.setThreshold(d.threshold, false);
    }
    const note = d.note;
    const fresh = note && note.id !== this.lastNote;
    if (fresh) this.lastNote = note.id;
    if (d.state !== "ready") {
      this.root.dataset.state = d.state === "empty" ? "empty" : "none";
      this.showWaiting(d);
      this.stopMedia();
      this.key = null;
      return;
    }
    const key = `${d.job}/${d.file}`;
    const same = this.key && this.key.startsWith(key + "@");
    if (this.saving && fresh) {
      const ops = this.saving;
      this.saving = 0;
      if (note.saved != null) {
        this.pending.splice(0, ops);
        this.base = note.saved;
        if (note.restored) this.clearHistory();
      }
      this.showNote(note.kind, note.text);
    } else if (fresh) {
      if (note.saved != null && same && note.restored) this.clearHistory();
      if (note.saved != null && same) this.base = note.saved;
      this.showNote(note.kind, note.text);
    }
    this.renderFiles(d);
    this.renderRevisions(d);
    if (!same) {
      this.resetEdits(d.revision);
      this.load(d, false);
    } else if (d.revision !== this.base && !this.saving) {
      // Another tab saved this file: the later save wins.
      const when = (d.revisions || []).find((r) => r.revision === d.revision);
      const at = when ? new Date(when.saved * 1000).toLocaleTimeString() : "";
      if (this.pending.length) {
        this.showNote("warn", `Another tab saved revision ${d.revision} of this file${at ? " at " + at : ""}. ` +
          "Your unsaved corrections are still here; saving them replaces that revision (it stays in the history).");
      } else {
        this.showNote("warn", `Another tab saved revision ${d.revision} of this file${at ? " at " + at : ""}; ` +
          "it replaces the one you saw, which stays in the history. Showing it now.");
        this.resetEdits(d.revision);
        this.load(d, true);
      }
    } else if (this.key !== `${key}@${d.revision}` && !this.saving && !this.pending.length) {
      this.load(d, true); // our own save: the server's words and cues
    }
    this.root.dataset.state = "ready";
  }

  showWaiting(d) {
    const empty = this.root.querySelector(".cr-empty");
    if (this.emptyText == null) this.emptyText = empty.textContent;
    empty.textContent = d.state === "empty" ? this.emptyText : d.state === "waiting"
      ? `${d.name || "This file"} is being transcribed: its transcript appears here when it is done.`
      : `${d.name || "This file"} has no transcript to review.`;
  }

  resetEdits(revision) {
    this.clearHistory();
    this.pending = [];
    this.base = revision || 0;
    this.saving = 0;
    this.updateEditButtons();
  }

  clearHistory() {
    this.undoStack = [];
    this.redoStack = [];
    this.updateEditButtons();
  }

  renderFiles(d) {
    const files = d.files || [];
    const html = files.length > 1 ? files.map((f, i) =>
      `<button type="button" role="tab" class="cr-file${i === d.file ? " cr-on" : ""}" data-file="${i}"` +
      `${f.ready ? "" : " disabled"} aria-selected="${i === d.file}">${esc(f.name)}</button>`).join("") : "";
    if (this.ui.files.innerHTML !== html) this.ui.files.innerHTML = html;
    this.ui.name.textContent = d.name || "";
    this.ui.rev.textContent = (d.partial ? " · the part finished before the cancel" : "") +
      (d.revision ? ` · revision ${d.revision}` : " · as transcribed");
  }

  renderRevisions(d) {
    const revs = (d.revisions || []).slice().reverse();
    this.ui.history.hidden = revs.length < 2;
    const today = new Date().toDateString();
    const html = revs.map((r) => {
      const when = new Date((r.saved || 0) * 1000);
      const at = when.toDateString() === today ? when.toLocaleTimeString([], {hour: "2-digit", minute: "2-digit"})
        : when.toLocaleString([], {dateStyle: "short", timeStyle: "short"});
      const label = r.revision === 0 ? "Original (the model's)" : `Revision ${r.revision} · ${at} · ${r.summary}`;
      return `<option value="${r.revision}"${r.revision === d.revision ? " selected" : ""}>${esc(label)}</option>`;
    }).join("");
    if (this.ui.revs.innerHTML !== html) this.ui.revs.innerHTML = html;
  }

  // --- loading and drawing -------------------------------------------------------------------------

  async load(d, keepPlace) {
    const seq = ++this.loads;
    this.root.classList.add("cr-loading");
    this.setMedia(d);
    let data;
    const t0 = performance.now();
    try {
      const res = await fetch(d.data, {credentials: "same-origin", cache: "no-store"});
      if (!res.ok) throw new Error(`the server answered ${res.status}`);
      const body = await res.text();
      this.timings.fetch = performance.now() - t0;
      if (seq !== this.loads) return;
      const t1 = performance.now();
      this.timings.arrived = t1; // the data's arrival: its last byte
      data = JSON.parse(body);
      this.timings.parse = performance.now() - t1;
    } catch (e) {
      if (seq !== this.loads) return;
      this.root.classList.remove("cr-loading");
      this.showNote("error", `The transcript could not be loaded (${e.message}). Reload the page.`);
      return;
    }
    const scroll = this.ui.text.scrollTop;
    const t2 = performance.now();
    this.draw(data);
    this.timings.draw = performance.now() - t2;
    this.key = `${d.job}/${d.file}@${d.revision}`;
    if (keepPlace) this.ui.text.scrollTop = scroll;
    this.root.classList.remove("cr-loading");
    requestAnimationFrame(() => requestAnimationFrame(() => {
      this.timings.open = performance.now() - this.timings.arrived; // parsed, drawn and painted
      this.timings.total = performance.now() - t0;
      this.root.dispatchEvent(new CustomEvent("chunky-review-drawn", {bubbles: true}));
    }));
  }

  draw(data) {
    const tDraw = performance.now();
    const words = (data.words || []).map(fromJSON);
    const segsIn = data.segments || [];
    this.duration = +data.duration || 0;
    this.long = this.duration >= 3600;
    // Each segment's words are the next ones of the list; a list that does not add up goes by time.
    let n = 0;
    const counts = segsIn.map((s) => (s.words || []).length);
    if (counts.reduce((a, b) => a + b, 0) !== words.length) {
      counts.fill(0);
      let k = 0;
      for (const w of words) {
        while (k + 1 < segsIn.length && w.start >= +segsIn[k + 1].start) k++;
        if (segsIn.length) counts[k]++;
      }
    }
    const thr = this.threshold;
    this.hasConf = words.some((w) => w.conf != null);
    const parts = [];
    const segs = [];
    let lastSpk = null;
    if (!words.length && segsIn.length) { // a model without word times: the text, read only
      for (const s of segsIn) {
        parts.push(`<div class="cr-seg"><div class="cr-seg-head"><button type="button" class="cr-tc" tabindex="-1" ` +
          `data-start="${+s.start}">${clock(+s.start, this.long)}</button></div><div class="cr-line cr-plain">` +
          `${esc(s.text)}</div></div>`);
      }
    }
    for (let k = 0; k < (words.length ? counts.length : 0); k++) {
      const s = segsIn[k];
      const first = n;
      const count = counts[k];
      const spk = count ? words[first].spk : null;
      const label = spk != null && spk !== lastSpk ? `<span class="cr-spk">${esc(spk)}</span>` : "";
      if (spk != null) lastSpk = spk;
      let line = "";
      for (let i = first; i < first + count; i++) {
        const w = words[i];
        const low = w.conf != null && w.conf < thr;
        line += `<span class="chunky-word${low ? " cr-low" : ""}" data-start="${w.start}" data-end="${w.end}"` +
          `${w.conf != null ? ` data-conf="${w.conf}"` : ""}>${esc(w.text)}</span> `;
      }
      n += count;
      const start = count ? words[first].start : +s.start;
      parts.push(`<div class="cr-seg${count ? "" : " cr-gone"}"><div class="cr-seg-head"><button type="button" ` +
        `class="cr-tc" tabindex="-1" data-start="${start}" title="Play from here">${clock(start, this.long)}</button>` +
        `${label}</div><div class="cr-line">${line}</div></div>`);
      segs.push({count});
    }
    // Segments go in pages of PAGE: a page off screen skips its layout and paint (content-visibility), and
    // the browser tracks a few hundred pages, not every segment, at each frame.
    const pages = [];
    for (let k = 0; k < parts.length; k += PAGE) {
      const n = Math.min(PAGE, parts.length - k);
      pages.push(`<div class="cr-page" style="contain-intrinsic-size: auto ${(n * 2.6).toFixed(1)}em">` +
        parts.slice(k, k + PAGE).join("") + "</div>");
    }
    const tHtml = performance.now();
    this.ui.text.innerHTML = pages.join("");
    const tDom = performance.now();
    this.timings.html = tHtml - tDraw;
    this.timings.dom = tDom - tHtml;
    this.ui.text.classList.toggle("cr-readonly", !words.length);
    const els = this.ui.text.getElementsByClassName("chunky-word");
    const segEls = this.ui.text.getElementsByClassName("cr-seg");
    n = 0;
    for (let k = 0; k < segs.length; k++) {
      const seg = segs[k];
      seg.el = segEls[k];
      seg.line = seg.el.lastElementChild;
      seg.el._seg = seg;
      for (let i = n; i < n + seg.count; i++) {
        words[i].el = els[i];
        words[i].seg = seg;
        els[i]._w = words[i];
      }
      n += seg.count;
    }
    this.timings.link = performance.now() - tDom;
    this.words = words;
    this.segs = segs;
    this.indexDirty = true;
    this.current = -1;
    this.currentSeg = null;
    if (this.cursor >= words.length) this.cursor = words.length - 1;
    if (this.sel && this.sel.b >= words.length) this.sel = null;
    this.paintSelection();
    this.ui.conf.classList.toggle("cr-off", !this.hasConf);
    this.countLow();
    this.renderSpeakers();
    this.runSearch(false);
    this.updateEditButtons();
    if (this.media) this.setPlayhead(this.media.currentTime, true);
    this.timings.rest = performance.now() - tDom - this.timings.link;
  }

  // --- the recording -------------------------------------------------------------------------------

  setMedia(d) {
    const src = d.media || "";
    const kind = d.kind === "video" ? "video" : "audio";
    if (this.media && this.mediaSrc === src && this.media.tagName.toLowerCase() === kind) return;
    this.stopMedia();
    this.mediaSrc = src;
    this.root.classList.toggle("cr-video", kind === "video");
    if (!src) {
      this.ui.media.innerHTML = `<div class="cr-nomedia">The recording of ${esc(d.name || "this file")} is no ` +
        "longer on this computer: the transcript can still be searched and corrected.</div>";
      this.media = null;
      return;
    }
    const m = document.createElement(kind);
    m.controls = true;
    m.preload = "auto";
    m.className = "cr-player";
    if (kind === "video") m.playsInline = true;
    m.src = src;
    this.ui.media.replaceChildren(m);
    this.media = m;
    m.playbackRate = +this.ui.rate.value || 1;
    const tick = () => {
      this.raf = 0;
      if (this.media !== m) return;
      this.setPlayhead(m.currentTime);
      if (!m.paused && !m.ended) this.raf = requestAnimationFrame(tick);
    };
    m.addEventListener("play", () => { if (!this.raf) this.raf = requestAnimationFrame(tick); });
    m.addEventListener("pause", () => { this.ui.back.hidden = true; this.setPlayhead(m.currentTime); });
    for (const ev of ["seeked", "timeupdate", "loadedmetadata"]) {
      m.addEventListener(ev, () => { if (m.paused) this.setPlayhead(m.currentTime); });
    }
    m.addEventListener("loadedmetadata", () => {
      if (kind === "video" && !m.videoWidth) this.root.classList.add("cr-audio-only");
    });
    m.addEventListener("error", () => {
      const note = document.createElement("div");
      note.className = "cr-nomedia";
      note.textContent = `This browser cannot play ${d.name || "this recording"}. The transcript can still be ` +
        "searched and corrected; its times follow the recording.";
      this.ui.media.append(note);
    });
  }

  stopMedia() {
    if (this.media) { this.media.pause(); this.media.removeAttribute("src"); this.media.load(); }
    this.media = null;
    this.mediaSrc = null;
    if (this.raf) cancelAnimationFrame(this.raf);
    this.raf = 0;
  }

  seek(t, play) {
    const m = this.media;
    if (!m) return;
    m.currentTime = Math.max(0, t);
    this.setPlayhead(m.currentTime, true);
    if (play) m.play().catch(() => {});
  }

  togglePlay() {
    const m = this.media;
    if (!m) return;
    if (m.paused) { m.playbackRate = +this.ui.rate.value || 1; m.play().catch(() => {}); } else m.pause();
  }

  // The index of the word under the playhead (start <= t <= end), else -1.
  wordAt(t) {
    if (this.indexDirty) {
      this.starts = Float64Array.from(this.words, (w) => w.start);
      this.indexDirty = false;
    }
    const s = this.starts;
    let lo = 0, hi = s.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (s[mid] <= t) { found = mid; lo = mid + 1; } else hi = mid - 1;
    }
    return found >= 0 && t <= this.words[found].end ? found : -1;
  }

  setPlayhead(t, force) {
    this.showTime(t);
    const i = this.wordAt(t);
    if (i === this.current && !force) return;
    const old = this.words[this.current];
    if (old && old.el) old.el.classList.remove("cr-now");
    this.current = i;
    const w = this.words[i];
    const seg = w ? w.seg : this.currentSeg;
    if (seg !== this.currentSeg) {
      if (this.currentSeg) this.currentSeg.el.classList.remove("cr-seg-now");
      if (seg) seg.el.classList.add("cr-seg-now");
      this.currentSeg = seg;
    }
    if (!w) return;
    w.el.classList.add("cr-now");
    // Following reads the layout (getBoundingClientRect), so only when the spoken word moved to another
    // line: the same top as the word before means the same line, which was checked then.
    if (this.media && !this.media.paused && this.ui.follow.checked && performance.now() > this.followPausedUntil && !this.edit) {
      const top = w.el.offsetTop;
      if (force || top !== this.followTop || w.seg !== this.followSeg) this.reveal(w.el, true);
      this.followTop = top;
      this.followSeg = w.seg;
    }
  }

  showTime(t) {
    const label = `${tenths(t, this.long)} / ${clock(this.duration || (this.media && this.media.duration) || 0, this.long)}`;
    if (label !== this.shownTime) { this.ui.time.textContent = label; this.shownTime = label; }
  }

  // Scrolls `el` into the view's upper third when it is not in view. A smooth scroll only over a short
  // way: smoothly over a long one, every segment in between would be laid out and painted on the way.
  reveal(el, smooth) {
    const box = this.ui.text.getBoundingClientRect();
    const r = el.getBoundingClientRect();
    if (r.top >= box.top + 24 && r.bottom <= box.bottom - 48) return;
    const top = this.ui.text.scrollTop + (r.top - box.top) - box.height * 0.3;
    const near = Math.abs(top - this.ui.text.scrollTop) < box.height * 1.5;
    this.autoScroll = performance.now();
    this.ui.text.scrollTo({top: Math.max(0, top), behavior: smooth && near ? "smooth" : "auto"});
  }

  // --- selection -----------------------------------------------------------------------------------

  // The cursor: one word the keyboard works from (letters stay shortcuts). A selection: words chosen by
  // dragging, Shift+click or Shift+arrows (typing replaces them).
  setCursor(i) {
    const n = this.words.length;
    if (!n) return;
    i = Math.max(0, Math.min(n - 1, i));
    this.anchor = this.cursor = i;
    this.sel = {a: i, b: i, explicit: false};
    this.paintSelection();
  }

  selectRange(i, j) {
    const n = this.words.length;
    if (!n) return;
    i = Math.max(0, Math.min(n - 1, i));
    j = Math.max(0, Math.min(n - 1, j));
    this.anchor = i;
    this.cursor = j;
    this.sel = {a: Math.min(i, j), b: Math.max(i, j), explicit: true};
    this.paintSelection();
  }

  extendTo(i) {
    this.selectRange(this.anchor != null && this.anchor >= 0 ? this.anchor : (this.cursor >= 0 ? this.cursor : i), i);
  }

  paintSelection() {
    for (const el of this.ui.text.querySelectorAll(".cr-sel, .cr-cursor")) el.classList.remove("cr-sel", "cr-cursor");
    const s = this.sel;
    if (!s) return;
    for (let i = s.a; i <= s.b; i++) this.words[i].el.classList.add(s.a === s.b ? "cr-cursor" : "cr-sel");
  }

  clearSelection() {
    this.sel = null;
    this.anchor = null;
    this.paintSelection();
  }

  goTo(i, extend) {
    if (i < 0 || i >= this.words.length) return;
    if (extend) this.extendTo(i); else this.setCursor(i);
    const w = this.words[i];
    this.reveal(w.el, false);
    this.seek(w.start, false);
  }

  // --- corrections ---------------------------------------------------------------------------------

  startEdit(initial) {
    if (!this.sel || this.edit || !this.words.length) return;
    const {a, b} = this.sel;
    const old = this.words.slice(a, b + 1).map((w) => w.text).join(" ");
    const input = document.createElement("input");
    input.className = "cr-input";
    input.value = initial == null ? old : initial;
    input.setAttribute("aria-label", "Correct the words (Enter: done, Esc: cancel)");
    input.spellcheck = true;
    const size = () => { input.size = Math.max(3, input.value.length + 1); };
    size();
    input.addEventListener("input", size);
    const first = this.words[a].el;
    first.parentNode.insertBefore(input, first);
    for (let i = a; i <= b; i++) this.words[i].el.classList.add("cr-hidden");
    this.edit = {a, b, input, old};
    input.focus();
    if (initial == null) input.select(); else input.setSelectionRange(input.value.length, input.value.length);
    input.addEventListener("blur", () => { if (this.edit && this.edit.input === input) this.finishEdit(true); });
  }

  finishEdit(commit) {
    const e = this.edit;
    if (!e) return;
    this.edit = null;
    for (let i = e.a; i <= e.b; i++) this.words[i].el.classList.remove("cr-hidden");
    const text = e.input.value.trim().split(/\s+/).filter(Boolean).join(" ");
    e.input.remove();
    if (commit && text !== e.old) this.replace(e.a, e.b + 1, text);
    this.ui.text.focus({preventScroll: true});
  }

  replace(start, stop, text) {
    const old = this.words.slice(start, stop);
    const tokens = text.split(/\s+/).filter(Boolean);
    const fresh = tokens.length === 1 && old.length === 1
      ? [{text: tokens[0], start: old[0].start, end: old[0].end, conf: null, spk: old[0].spk, fixed: true}]
      : spread(text, old[0].start, Math.max(...old.map((w) => w.end)), old[0].spk);
    this.record({op: "replace", start, stop, text},
      {op: "set", start, stop: start + fresh.length, words: old.map(wordJSON)});
    this.splice(start, stop, fresh);
    if (fresh.length) this.selectRange(start, start + fresh.length - 1);
    else if (this.words.length) this.setCursor(Math.min(start, this.words.length - 1));
    else this.clearSelection();
    if (this.sel && this.sel.a !== this.sel.b) this.sel.explicit = false; // new words: a cursor, not a selection
    this.paintSelection();
  }

  record(op, inverse) {
    this.undoStack.push({op, inverse});
    this.redoStack = [];
    this.pending.push(op);
    this.updateEditButtons();
  }

  apply(op) { // an operation of chunky.transcript.edits, applied here as the server will
    if (op.op === "set") this.splice(op.start, op.stop, op.words.map((d) => ({...fromJSON(d), fixed: true})));
    else if (op.op === "replace") {
      const old = this.words.slice(op.start, op.stop);
      const tokens = op.text.split(/\s+/).filter(Boolean);
      this.splice(op.start, op.stop, tokens.length === 1 && old.length === 1
        ? [{text: tokens[0], start: old[0].start, end: old[0].end, conf: null, spk: old[0].spk, fixed: true}]
        : spread(op.text, old[0].start, Math.max(...old.map((w) => w.end)), old[0].spk));
    } else if (op.op === "speaker") this.renameLocal(op.from, op.to, op.at);
  }

  undo() {
    const e = this.undoStack.pop();
    if (!e) return;
    this.apply(e.inverse);
    this.pending.push(e.inverse);
    this.redoStack.push(e);
    this.afterStep(e.inverse);
  }

  redo() {
    const e = this.redoStack.pop();
    if (!e) return;
    this.apply(e.op);
    this.pending.push(e.op);
    this.undoStack.push(e);
    this.afterStep(e.op);
  }

  afterStep(op) {
    if (op.start != null && this.words.length) {
      const n = op.op === "set" ? op.words.length : op.text.split(/\s+/).filter(Boolean).length;
      if (n) { this.selectRange(op.start, op.start + n - 1); this.sel.explicit = false; this.paintSelection(); }
      else this.setCursor(Math.min(op.start, this.words.length - 1));
      this.reveal(this.words[this.sel.a].el, false);
    }
    this.updateEditButtons();
  }

  // Words start..stop-1 become `fresh` (in the list and on the page); only those elements change.
  splice(start, stop, fresh) {
    const words = this.words;
    const old = words.slice(start, stop);
    let seg, ref;
    if (old.length) { seg = old[0].seg; ref = old[0].el; } else if (start > 0) { // after the word before
      const prev = words[start - 1];
      seg = prev.seg;
      ref = prev.el.nextSibling && prev.el.nextSibling.nodeType === 3 ? prev.el.nextSibling.nextSibling : prev.el.nextSibling;
    } else if (words.length) { seg = words[0].seg; ref = words[0].el; } else { seg = this.segs[0]; ref = null; }
    if (!seg) return;
    for (const w of fresh) {
      const el = document.createElement("span");
      el.className = "chunky-word" + (w.fixed ? " cr-fixed" : "") + (w.conf != null && w.conf < this.threshold ? " cr-low" : "");
      el.dataset.start = w.start;
      el.dataset.end = w.end;
      if (w.conf != null) el.dataset.conf = w.conf;
      el.textContent = w.text;
      el._w = w;
      w.el = el;
      w.seg = seg;
      seg.line.insertBefore(el, ref);
      seg.line.insertBefore(document.createTextNode(" "), ref);
      seg.count++;
    }
    const touched = new Set([seg]);
    for (const w of old) {
      const next = w.el.nextSibling;
      if (next && next.nodeType === 3) next.remove();
      w.el.remove();
      w.seg.count--;
      touched.add(w.seg);
    }
    for (const s of touched) s.el.classList.toggle("cr-gone", s.count <= 0);
    words.splice(start, stop - start, ...fresh);
    this.indexDirty = true;
    if (this.current >= 0) {
      const cur = this.words[this.current];
      if (cur && cur.el) cur.el.classList.remove("cr-now");
    }
    this.current = -1;
    if (this.sel && this.sel.b >= words.length) this.sel = null;
    this.countLow();
    if (fresh.some((w) => w.spk != null) || old.some((w) => w.spk != null)) this.renderSpeakers();
    if (this.search.q) this.runSearch(false);
    if (this.media) this.setPlayhead(this.media.currentTime, true);
  }

  removeSelection() {
    if (!this.sel) return;
    this.replace(this.sel.a, this.sel.b + 1, "");
  }

  // --- speakers ------------------------------------------------------------------------------------

  speakers() {
    const seen = new Map();
    for (const w of this.words) if (w.spk != null && !seen.has(w.spk)) seen.set(w.spk, 0);
    for (const w of this.words) if (w.spk != null) seen.set(w.spk, seen.get(w.spk) + 1);
    return seen;
  }

  renderSpeakers() {
    const names = this.speakers();
    this.ui.speakers.hidden = names.size === 0;
    const html = [...names].map(([name, n]) => `<div class="cr-row"><input class="cr-spk-name" value="${esc(name)}" ` +
      `data-speaker="${esc(name)}" aria-label="Name of ${esc(name)}"><span class="cr-hint">${n} words</span></div>`).join("");
    // Never under the user's typing (a name half typed when another tab's save reloads the view).
    const typing = this.ui.spkList.contains(document.activeElement);
    if (this.ui.spkList.innerHTML !== html && !typing) this.ui.spkList.innerHTML = html;
    this.relabel();
  }

  relabel() { // the speaker's name at the head of each segment where the speaker changes
    let last = null;
    for (const seg of this.segs) {
      const head = seg.el.firstElementChild;
      let label = head.querySelector(".cr-spk");
      const firstWord = seg.line.querySelector(".chunky-word");
      const spk = firstWord && firstWord._w ? firstWord._w.spk : null;
      const show = spk != null && spk !== last && seg.count > 0;
      if (spk != null && seg.count > 0) last = spk;
      if (show) {
        if (!label) { label = document.createElement("span"); label.className = "cr-spk"; head.append(label); }
        if (label.textContent !== spk) label.textContent = spk;
      } else if (label) label.remove();
    }
  }

  rename(from, to) {
    to = to.split(/\s+/).filter(Boolean).join(" ");
    if (!to || to === from) { this.renderSpeakers(); return; }
    const names = this.speakers();
    let inverse = {op: "speaker", from: to, to: from};
    if (names.has(to)) { // a merge: undo must know which words were `from`
      const at = [];
      this.words.forEach((w, i) => {
        if (w.spk !== from) return;
        if (at.length && at[at.length - 1][1] === i) at[at.length - 1][1] = i + 1; else at.push([i, i + 1]);
      });
      inverse = {op: "speaker", from: to, to: from, at};
    }
    const op = {op: "speaker", from, to};
    this.record(op, inverse);
    this.renameLocal(from, to);
  }

  renameLocal(from, to, at) {
    const ranges = at || [[0, this.words.length]];
    for (const [a, b] of ranges) for (let i = a; i < b; i++) if (this.words[i].spk === from) this.words[i].spk = to;
    this.renderSpeakers();
  }

  // --- confidence ----------------------------------------------------------------------------------

  setThreshold(value, user) {
    this.threshold = Math.max(0, Math.min(1, value));
    const pct = Math.round(this.threshold * 100);
    this.ui.thr.value = String(pct);
    this.ui.thr.title = `Mark words the model was less than ${pct} % sure of`;
    for (const w of this.words) {
      if (w.conf == null || !w.el) continue;
      const low = w.conf < this.threshold;
      if (low !== w.el.classList.contains("cr-low")) w.el.classList.toggle("cr-low", low);
    }
    this.countLow();
    if (user) this.thrTouched = true;
  }

  countLow() {
    if (!this.hasConf) { this.ui.lowCount.textContent = ""; return; }
    let n = 0;
    for (const w of this.words) if (w.conf != null && w.conf < this.threshold) n++;
    this.lowWords = n;
    this.ui.lowCount.textContent = `${n} below ${Math.round(this.threshold * 100)} %`;
    this.ui.nextLow.disabled = n === 0;
  }

  nextUncertain(back) {
    const n = this.words.length;
    if (!n || !this.hasConf) return;
    const from = this.cursor >= 0 ? this.cursor : Math.max(0, this.current);
    for (let k = 1; k <= n; k++) {
      const i = ((back ? from - k : from + k) % n + n) % n;
      const w = this.words[i];
      if (w.conf != null && w.conf < this.threshold) { this.goTo(i, false); return; }
    }
  }

  // --- search --------------------------------------------------------------------------------------

  runSearch(jump) {
    const q = fold(this.ui.find.value).split(/\s+/).filter(Boolean).join(" ");
    for (const el of this.ui.text.querySelectorAll(".cr-hit")) el.classList.remove("cr-hit", "cr-hit-now");
    this.search = {q, hits: [], at: -1};
    if (!q) { this.ui.count.textContent = ""; return; }
    // The words folded (case and accents) and joined by spaces; each hit is a run of words.
    const offs = new Int32Array(this.words.length + 1);
    let text = "";
    this.words.forEach((w, i) => { offs[i] = text.length; text += fold(w.text) + " "; });
    offs[this.words.length] = text.length;
    const hits = [];
    let pos = text.indexOf(q);
    let wi = 0;
    while (pos >= 0) {
      while (offs[wi + 1] <= pos) wi++;
      let wj = wi;
      while (offs[wj + 1] < pos + q.length) wj++;
      hits.push([wi, wj]);
      pos = text.indexOf(q, pos + 1);
    }
    this.search.hits = hits;
    for (const [a, b] of hits.slice(0, 5000)) for (let i = a; i <= b; i++) this.words[i].el.classList.add("cr-hit");
    if (!hits.length) { this.ui.count.textContent = "No match"; return; }
    const from = this.cursor >= 0 ? this.cursor : 0;
    const at = hits.findIndex(([a]) => a >= from);
    this.search.at = jump ? (at < 0 ? 0 : at) : -1;
    this.showHit(jump);
  }

  showHit(jump) {
    const {hits, at} = this.search;
    for (const el of this.ui.text.querySelectorAll(".cr-hit-now")) el.classList.remove("cr-hit-now");
    this.ui.count.textContent = at < 0 ? `${hits.length} match${hits.length === 1 ? "" : "es"}`
      : `${at + 1} of ${hits.length}`;
    if (at < 0) return;
    const [a, b] = hits[at];
    for (let i = a; i <= b; i++) this.words[i].el.classList.add("cr-hit-now");
    if (jump) this.goTo(a, false);
  }

  stepHit(d) {
    const {hits} = this.search;
    if (!hits.length) { this.runSearch(true); return; }
    this.search.at = ((this.search.at < 0 ? (d > 0 ? -1 : 0) : this.search.at) + d + hits.length) % hits.length;
    this.showHit(true);
  }

  // --- saving --------------------------------------------------------------------------------------

  save() {
    if (!this.pending.length || this.saving || !this.desc) return;
    if (this.edit) this.finishEdit(true);
    this.saving = this.pending.length;
    this.ui.dirty.textContent = "Saving… every output of this file is written again.";
    send("review_save", {job: this.desc.job, file: this.desc.file, base: this.base, ops: this.pending.slice()});
  }

  restore() {
    const r = +this.ui.revs.value;
    if (!this.desc || Number.isNaN(r) || r === this.desc.revision) return;
    if (this.pending.length && !window.confirm("Restoring a revision drops your unsaved corrections. Restore?")) return;
    this.pending = [];
    this.saving = -1;
    send("review_restore", {job: this.desc.job, file: this.desc.file, base: this.base, revision: r});
  }

  updateEditButtons() {
    const n = this.pending.length;
    this.ui.undo.disabled = !this.undoStack.length;
    this.ui.redo.disabled = !this.redoStack.length;
    this.ui.save.disabled = !n || !!this.saving;
    this.root.classList.toggle("cr-unsaved", n > 0);
    if (!this.saving) {
      this.ui.dirty.textContent = n ? `${n} unsaved correction${n === 1 ? "" : "s"}` : (this.base ? "All corrections saved." : "");
    }
  }

  showNote(kind, text) {
    this.ui.note.className = `cr-note cr-${kind || "info"}`;
    this.ui.note.textContent = text || "";
    this.ui.note.hidden = !text;
    this.updateEditButtons();
  }

  // --- events --------------------------------------------------------------------------------------

  bind() {
    const ui = this.ui;
    ui.text.addEventListener("click", (e) => {
      const tc = e.target.closest(".cr-tc");
      if (tc) {
        const w = tc.closest(".cr-seg").querySelector(".chunky-word");
        if (w && w._w) this.setCursor(this.words.indexOf(w._w));
        this.seek(+tc.dataset.start, false);
        return;
      }
      if (this.dragged) { this.dragged = false; return; } // a drag: mouseup chose the words
      const el = e.target.closest(".chunky-word");
      if (!el || !el._w || this.edit) return;
      const i = this.words.indexOf(el._w);
      if (e.shiftKey && this.cursor >= 0) { this.extendTo(i); return; }
      this.setCursor(i);
      this.seek(el._w.start, false);
    });
    ui.text.addEventListener("dblclick", (e) => {
      const el = e.target.closest(".chunky-word");
      if (!el || !el._w || this.edit) return;
      window.getSelection().removeAllRanges();
      const i = this.words.indexOf(el._w);
      if (!this.sel || i < this.sel.a || i > this.sel.b || !this.sel.explicit) this.setCursor(i);
      this.startEdit(null);
    });
    ui.text.addEventListener("mouseup", () => {
      const sel = window.getSelection();
      if (!sel || sel.isCollapsed || this.edit) return;
      const word = (node) => (node && (node.nodeType === 3 ? node.parentElement : node)).closest?.(".chunky-word");
      const a = word(sel.anchorNode), b = word(sel.focusNode);
      if (!a || !b || !a._w || !b._w) return;
      const i = this.words.indexOf(a._w), j = this.words.indexOf(b._w);
      sel.removeAllRanges();
      this.dragged = true;
      setTimeout(() => { this.dragged = false; }, 0); // the click that ends this drag comes first
      this.selectRange(i, j);
    });
    const userScroll = () => {
      if (this.autoScroll && performance.now() - this.autoScroll < 800) return;
      this.followPausedUntil = performance.now() + 5000;
      ui.back.hidden = !(this.media && !this.media.paused);
    };
    ui.text.addEventListener("wheel", userScroll, {passive: true});
    ui.text.addEventListener("touchmove", userScroll, {passive: true});
    ui.back.addEventListener("click", () => {
      this.followPausedUntil = 0; ui.back.hidden = true;
      const w = this.words[this.current]; if (w) this.reveal(w.el, true);
    });
    ui.rate.addEventListener("change", () => { if (this.media) this.media.playbackRate = +ui.rate.value; });
    let searchTimer = 0;
    ui.find.addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(() => this.runSearch(true), 150); });
    ui.find.addEventListener("keydown", (e) => {
      if (e.key === "Enter") { e.preventDefault(); clearTimeout(searchTimer); if (this.search.q !== fold(ui.find.value).trim()) this.runSearch(true); else this.stepHit(e.shiftKey ? -1 : 1); }
      if (e.key === "Escape") { ui.find.value = ""; this.runSearch(false); ui.text.focus({preventScroll: true}); }
    });
    ui.prev.addEventListener("click", () => this.stepHit(-1));
    ui.next.addEventListener("click", () => this.stepHit(1));
    let thrFrame = 0;
    ui.thr.addEventListener("input", () => {
      cancelAnimationFrame(thrFrame);
      thrFrame = requestAnimationFrame(() => this.setThreshold(+ui.thr.value / 100, true));
    });
    ui.thr.addEventListener("change", () => {
      this.setThreshold(+ui.thr.value / 100, true);
      send("review_threshold", {value: this.threshold});
    });
    ui.nextLow.addEventListener("click", () => this.nextUncertain(false));
    ui.undo.addEventListener("click", () => this.undo());
    ui.redo.addEventListener("click", () => this.redo());
    ui.save.addEventListener("click", () => this.save());
    ui.restore.addEventListener("click", () => this.restore());
    ui.files.addEventListener("click", (e) => {
      const b = e.target.closest(".cr-file");
      if (!b || b.disabled || !this.desc || +b.dataset.file === this.desc.file) return;
      if (this.pending.length && !window.confirm("This file has unsaved corrections. Open the other file without saving them?")) return;
      this.pending = [];
      send("review_file", {file: +b.dataset.file});
    });
    ui.spkList.addEventListener("change", (e) => {
      const input = e.target.closest(".cr-spk-name");
      if (input) this.rename(input.dataset.speaker, input.value);
    });
    ui.spkList.addEventListener("keydown", (e) => { if (e.key === "Enter") e.target.blur(); });
    this.root.addEventListener("keydown", (e) => { if (this.edit && e.target === this.edit.input) this.editKey(e); });
    document.addEventListener("keydown", (e) => this.key_(e));
    window.addEventListener("beforeunload", (e) => { if (this.pending.length) { e.preventDefault(); e.returnValue = ""; } });
  }

  editKey(e) {
    if (e.key === "Enter") { e.preventDefault(); this.finishEdit(true); }
    else if (e.key === "Escape") { e.preventDefault(); this.finishEdit(false); }
    else if (e.key === "Tab") {
      e.preventDefault();
      const e0 = this.edit;
      const before = this.words.length;
      this.finishEdit(true);
      const next = e0.a + (this.words.length - before) + (e0.b - e0.a + 1) + (e.shiftKey ? -2 - (e0.b - e0.a) : 0);
      if (next >= 0 && next < this.words.length) { this.goTo(next, false); this.startEdit(null); }
    }
    e.stopPropagation();
  }

  key_(e) {
    if (this.root.dataset.state !== "ready" || this.edit || !this.words.length && !this.media) return;
    const t = e.target;
    const field = t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
    const mod = e.ctrlKey || e.metaKey;
    const inside = this.root.contains(t) || t === document.body || t === document.documentElement;
    if (mod && !e.altKey && e.key.toLowerCase() === "s" && (inside || this.pending.length)) {
      e.preventDefault(); this.save(); return;
    }
    if (field || !inside) return;
    const button = /^(BUTTON|SUMMARY|A)$/.test(t.tagName);
    if (button && (e.key === " " || e.key === "Enter")) return; // the button's own click
    if (mod && !e.altKey && e.key.toLowerCase() === "z") { e.preventDefault(); if (e.shiftKey) this.redo(); else this.undo(); return; }
    if (mod && !e.altKey && e.key.toLowerCase() === "y") { e.preventDefault(); this.redo(); return; }
    if (mod && e.key.toLowerCase() === "f" && this.root.contains(t)) { e.preventDefault(); this.ui.find.focus(); this.ui.find.select(); return; }
    if (mod || e.altKey) return;
    const m = this.media;
    const sel = this.sel;
    // Typing over a selection of words (dragged, or Shift+click / Shift+arrows) replaces them.
    if (sel && sel.explicit && e.key.length === 1 && e.key !== " ") { e.preventDefault(); this.startEdit(e.key); return; }
    switch (e.key) {
      case " ": e.preventDefault(); this.togglePlay(); break;
      case "k": case "K": e.preventDefault(); if (m) { m.pause(); this.ui.rate.value = "1"; m.playbackRate = 1; } break;
      case "j": case "J": e.preventDefault(); if (m) this.seek(m.currentTime - 5, !m.paused); break;
      case "l": case "L": {
        e.preventDefault();
        if (!m) break;
        if (m.paused) { m.playbackRate = +this.ui.rate.value || 1; m.play().catch(() => {}); } else {
          const rates = ["1", "1.25", "1.5", "2"];
          const next = rates[Math.min(rates.length - 1, rates.indexOf(this.ui.rate.value) + 1)] || "1.5";
          this.ui.rate.value = next; m.playbackRate = +next;
        }
        break;
      }
      case "ArrowRight": case "ArrowLeft": {
        e.preventDefault();
        const from = this.cursor >= 0 ? this.cursor : (this.current >= 0 ? this.current : -1);
        this.goTo(Math.max(0, Math.min(this.words.length - 1, from + (e.key === "ArrowRight" ? 1 : -1))), e.shiftKey);
        break;
      }
      case "ArrowDown": case "ArrowUp": {
        e.preventDefault();
        const from = this.cursor >= 0 ? this.words[this.cursor].seg : this.currentSeg;
        let k = this.segs.indexOf(from);
        do { k += e.key === "ArrowDown" ? 1 : -1; } while (k >= 0 && k < this.segs.length && this.segs[k].count <= 0);
        const seg = this.segs[k];
        if (seg) { const w = seg.line.querySelector(".chunky-word"); if (w && w._w) this.goTo(this.words.indexOf(w._w), false); }
        break;
      }
      case "Home": e.preventDefault(); this.goTo(0, e.shiftKey); break;
      case "End": e.preventDefault(); this.goTo(this.words.length - 1, e.shiftKey); break;
      case "Enter": case "F2": if (sel) { e.preventDefault(); this.startEdit(null); } break;
      case "Delete": case "Backspace": if (sel) { e.preventDefault(); this.removeSelection(); } break;
      case "n": case "N": e.preventDefault(); this.nextUncertain(e.shiftKey); break;
      case "/": e.preventDefault(); this.ui.find.focus(); this.ui.find.select(); break;
      case "Escape": this.clearSelection(); break;
      default: break;
    }
  }
}

const view = new Review(mount);
window.chunkyReview = view;
view.update(props.value);
watch("value", () => view.update(props.value));
