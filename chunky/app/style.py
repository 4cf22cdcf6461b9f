"""The page's look: the heading text and the style sheet."""

INTRO = """
<div class="chunky-hero">
  <div class="chunky-title">Chunky <span>local transcription</span></div>
  <div class="chunky-sub">Drop in interviews, voice-overs or whole video files and get a timestamped
  transcript plus subtitle files (SRT, VTT) for your editor. Everything runs on this computer: nothing is
  uploaded anywhere. Long recordings are cut at pauses and transcribed piece by piece.</div>
</div>
"""

CSS = """
.gradio-container { max-width: 1280px !important; margin: 0 auto !important; }
.chunky-hero { padding: 6px 2px 2px 2px; }
.chunky-title { font-size: 1.9rem; font-weight: 700; letter-spacing: -0.01em; }
.chunky-title span { font-size: 1.05rem; font-weight: 500; opacity: 0.6; margin-left: 6px; }
.chunky-sub { margin-top: 4px; opacity: 0.8; max-width: 64em; line-height: 1.45; }
.chunky-step { font-weight: 650; font-size: 1.05rem; margin: 2px 0 -4px 0; }
.chunky-banner { display: flex; gap: 10px; align-items: flex-start; padding: 9px 14px; border-radius: 10px;
  border: 1px solid; line-height: 1.4; }
.chunky-banner .dot { width: 10px; height: 10px; border-radius: 50%; margin-top: 5px; flex: none; }
.chunky-banner .note { opacity: 0.85; font-size: 0.92em; }
.chunky-banner.ready { background: #ecfdf5; border-color: #a7f3d0; color: #065f46; }
.chunky-banner.ready .dot { background: #10b981; }
.chunky-banner.busy { background: #eff6ff; border-color: #bfdbfe; color: #1e3a8a; }
.chunky-banner.busy .dot { background: #3b82f6; animation: chunky-pulse 1.2s ease-in-out infinite; }
.chunky-banner.warn { background: #fffbeb; border-color: #fde68a; color: #78350f; }
.chunky-banner.warn .dot { background: #f59e0b; }
.chunky-banner.error { background: #fef2f2; border-color: #fecaca; color: #7f1d1d; }
.chunky-banner.error .dot { background: #ef4444; }
@keyframes chunky-pulse { 50% { opacity: 0.3; } }
.chunky-setup { padding: 14px 16px; border-radius: 10px; background: #fffbeb; border: 1px solid #fde68a;
  color: #78350f; line-height: 1.5; }
.chunky-setup h3 { margin: 0 0 6px 0; font-size: 1.1rem; color: #78350f; }
.chunky-setup code, .chunky-msg code { background: rgba(0,0,0,0.07); padding: 1px 5px; border-radius: 4px; }
.chunky-setup pre { background: #1f2937; color: #f9fafb; padding: 8px 12px; border-radius: 6px;
  margin: 6px 0; white-space: pre-wrap; }
.chunky-job { padding: 14px 16px; border-radius: 10px; border: 1px solid var(--border-color-primary);
  background: var(--block-background-fill); }
.chunky-job-head { display: flex; justify-content: space-between; align-items: baseline; gap: 12px; }
.chunky-stage { font-weight: 650; font-size: 1.05rem; }
.chunky-pct { font-variant-numeric: tabular-nums; font-weight: 650; font-size: 1.05rem; }
progress.chunky-bar { -webkit-appearance: none; appearance: none; display: block; width: 100%; height: 14px;
  margin: 8px 0 6px 0; border: none; border-radius: 7px; overflow: hidden; background: #e5e7eb;
  --bar: #4f46e5; }
progress.chunky-bar::-webkit-progress-bar { background: #e5e7eb; border-radius: 7px; }
progress.chunky-bar::-webkit-progress-value { background: var(--bar); border-radius: 7px;
  transition: width 0.4s ease; }
progress.chunky-bar::-moz-progress-bar { background: var(--bar); border-radius: 7px; }
.chunky-job.done progress.chunky-bar { --bar: #10b981; }
.chunky-job.partial progress.chunky-bar { --bar: #f59e0b; }
.chunky-job.failed progress.chunky-bar { --bar: #ef4444; }
.chunky-job.cancelled progress.chunky-bar, .chunky-job.queued progress.chunky-bar { --bar: #9ca3af; }
.chunky-meta { opacity: 0.8; font-size: 0.92em; font-variant-numeric: tabular-nums; }
.chunky-msg { margin-top: 10px; padding: 9px 12px; border-radius: 8px; white-space: pre-wrap;
  line-height: 1.45; }
.chunky-msg.error { background: #fef2f2; border: 1px solid #fecaca; color: #7f1d1d; }
.chunky-msg.warn { background: #fffbeb; border: 1px solid #fde68a; color: #78350f; }
.chunky-msg.info { background: #eff6ff; border: 1px solid #bfdbfe; color: #1e3a8a; }
.chunky-empty { opacity: 0.65; padding: 14px 4px; }
.chunky-where { margin-top: 8px; font-size: 0.88em; opacity: 0.75; word-break: break-all; }
table.chunky-jobs { width: 100%; border-collapse: collapse; font-size: 0.92em; border: none !important; }
table.chunky-jobs th, table.chunky-jobs td { border: none !important; text-align: left;
  padding: 5px 8px !important; vertical-align: top;
  border-bottom: 1px solid var(--border-color-primary) !important; }
table.chunky-jobs tr, table.chunky-jobs thead, table.chunky-jobs tbody { border: none !important; }
table.chunky-jobs th { font-weight: 600; opacity: 0.7; }
table.chunky-jobs tr.selected td { background: var(--color-accent-soft); }
.chunky-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.85em;
  font-weight: 600; white-space: nowrap; }
.chunky-badge.queued { background: #e5e7eb; color: #374151; }
.chunky-badge.running { background: #dbeafe; color: #1e40af; }
.chunky-badge.done { background: #d1fae5; color: #065f46; }
.chunky-badge.partial { background: #fef3c7; color: #92400e; }
.chunky-badge.failed { background: #fee2e2; color: #991b1b; }
.chunky-badge.cancelled { background: #f3f4f6; color: #4b5563; }
#chunky-transcript textarea { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace;
  font-size: 0.95rem; line-height: 1.55; }
#chunky-check textarea { font-family: ui-monospace, "Cascadia Mono", Consolas, monospace;
  font-size: 0.85rem; }
#chunky-downloads .label-clear-button { display: none; }
#chunky-refresh { align-self: flex-start; }
.chunky-review-link { display: inline-block; margin-top: 8px; font-size: 0.92rem; font-weight: 600;
  color: var(--color-accent, #4f46e5); text-decoration: none; }
.chunky-review-link:hover { text-decoration: underline; }
#chunky-review-step { margin-top: 10px; }
.chunky-mbtn { margin: 2px 4px 2px 0; padding: 3px 10px; border-radius: 6px; font-size: 0.9em;
  cursor: pointer;
  border: 1px solid var(--border-color-primary); background: var(--button-secondary-background-fill); }
.chunky-mbtn.primary { background: var(--button-primary-background-fill, #4f46e5);
  color: var(--button-primary-text-color, #fff); border-color: transparent; }
.chunky-mbtn.stop { background: #fee2e2; color: #991b1b; border-color: #fecaca; }
.chunky-step-small { margin: 10px 0 4px; font-weight: 600; opacity: 0.8; }
.chunky-task-note { font-size: 0.88em; opacity: 0.8; white-space: pre-wrap; }
.chunky-task-figures { min-width: 220px; }
.chunky-catalogue table { width: 100%; font-size: 0.9em; }
"""
