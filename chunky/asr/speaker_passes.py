"""The speaker modes over one recording (docs/speakers.md): which audio is transcribed, how often, and how
the words get their speakers.

- mix: the plan's tracks mixed into one, transcribed once; no speakers.
- tracks: each track transcribed on its own; the words merged in time order, each with its track's
  speaker, a word two microphones picked up kept once (``merge_tracks``, the bleed rule).
- diarize: the mix transcribed once and diarized by the Sortformer model; each word gets the speaker of
  the turn that covers most of it.

The engine calls :func:`run_plan` with a function that transcribes samples; this module knows no Gradio and
no job runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from chunky.asr.diarization import SAMPLE_RATE, DiarizationOptions, Diarizer, check_speaker_count
from chunky.asr.options import EngineOptions, PartialTranscriptCancelled, Progress, ProgressFn, SpeakerOptions
from chunky.audio import decode
from chunky.audio.levels import track_level
from chunky.audio.streams import TrackAudio, load_tracks, probe_streams
from chunky.audio.tracks import TrackPlan, plan_tracks
from chunky.models.catalogue import choose_diarization_model
from chunky.models.kinds import DIARIZATION
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Transcript
from chunky.transcript.speakers import TrackWords, assign_speakers, merge_tracks

log = logging.getLogger(__name__)

# (samples at the ASR model's rate, progress, cancel) -> Transcript of those samples
TranscribeSamples = Callable[[np.ndarray, ProgressFn, threading.Event], Transcript]


def plan_for(path: Path, speakers: SpeakerOptions) -> TrackPlan:
    """The tracks to read from ``path`` for these speaker options (TrackChoiceError when they do not fit)."""
    return plan_tracks(probe_streams(path), speakers.mode, speakers.track, file_name=path.name)


def _scaled(report: ProgressFn, offset: float, total: float) -> ProgressFn:
    """Progress of one pass of several, as part of the whole (no "done" until the last pass)."""
    def forward(p: Progress) -> None:
        if p.stage == "done":
            return
        report(Progress(p.stage, offset + p.done_seconds, total, p.chunk_index, p.chunk_count, None))

    return forward


def _audio_report(plan: TrackPlan, audio: TrackAudio) -> dict:
    notes = list(plan.notes)
    notes += [f"{t.label()} could not be decoded and was left out: {why}" for t, why in audio.failed]
    return {"mode": plan.mode, "used": [t.label() for t, _ in audio.tracks], "notes": notes}


def run_plan(manager, path: Path, plan: TrackPlan, rate: int, transcribe: TranscribeSamples,
             model_name: str, opts: EngineOptions, report: ProgressFn, cancel: threading.Event) -> Transcript:
    """The transcript of ``path`` read as ``plan`` says, with speakers where the mode finds them."""
    report(Progress("decoding", 0.0, 0.0))
    audio = load_tracks(path, plan, rate)  # float32: the samples NeMo itself would give the model
    info = _audio_report(plan, audio)
    for note in info["notes"]:
        log.info("%s: %s", path.name, note)
    try:
        if plan.mode == "tracks":
            transcript = _per_track(audio, transcribe, model_name, str(path), opts, report, cancel)
        else:
            samples = audio.mixed()
            del audio  # the tracks are mixed: only the mix is needed now
            if decode.is_silent(samples):
                duration = len(samples) / rate
                report(Progress("done", duration, duration))
                transcript = build_transcript([], duration, model_name, str(path), opts.limits, text="")
            elif plan.mode == "diarize":
                transcript = _diarized(manager, samples, rate, transcribe, model_name, opts, report, cancel)
            else:
                transcript = transcribe(samples, report, cancel)
    except PartialTranscriptCancelled as exc:  # the partial transcript says which streams it comes from
        if exc.partial is None:
            raise
        raise PartialTranscriptCancelled(str(exc), replace(exc.partial, audio=info)) from exc
    return replace(transcript, audio=info)


def _track_speakers(audio: TrackAudio, words) -> list[dict]:
    """The speakers table of a tracks transcript: each track's speaker that has words, in track order."""
    used = {w.speaker for w in words}
    return [{"name": t.name or t.label(), "source": t.label()} for t, _ in audio.tracks
            if (t.name or t.label()) in used]


def _per_track(audio: TrackAudio, transcribe: TranscribeSamples, model_name: str, source: str,
               opts: EngineOptions, report: ProgressFn, cancel: threading.Event) -> Transcript:
    rate = audio.rate
    lengths = [len(a) / rate for _, a in audio.tracks]
    duration = max(lengths)
    total = sum(lengths)
    done = 0.0
    per: list[TrackWords] = []
    for (track, samples), seconds in zip(audio.tracks, lengths, strict=True):
        name = track.name or track.label()
        try:
            if decode.is_silent(samples):
                part = build_transcript([], seconds, model_name, source, opts.limits, text="")
            else:
                part = transcribe(samples, _scaled(report, done, total), cancel)
        except PartialTranscriptCancelled as exc:
            finished = per + ([TrackWords(name, exc.partial.words, track_level(samples, rate))]
                              if exc.partial is not None else [])
            words = merge_tracks(finished)
            partial = None
            if words:  # what was finished: whole tracks and the cancelled one's words so far, with speakers
                partial = replace(build_transcript(words, duration, model_name, source, opts.limits),
                                  speakers=_track_speakers(audio, words))
            raise PartialTranscriptCancelled(str(exc), partial) from exc
        per.append(TrackWords(name, part.words, track_level(samples, rate)))
        done += seconds
    words = merge_tracks(per)
    transcript = build_transcript(words, duration, model_name, source, opts.limits)
    report(Progress("done", duration, duration, 0, 0, transcript.words))
    return replace(transcript, speakers=_track_speakers(audio, words))


def _diarized(manager, samples: np.ndarray, rate: int, transcribe: TranscribeSamples, model_name: str,
              opts: EngineOptions, report: ProgressFn, cancel: threading.Event) -> Transcript:
    sp = opts.speakers
    store = manager.store
    installed = [m.name for m in store.list_models() if m.kind == DIARIZATION]
    name = choose_diarization_model(installed, sp.diarization_model, store.local_models)
    duration = len(samples) / rate
    # Diarization first: a wrong speaker count or a missing model fails before the long transcription.
    loaded = manager.get(name, kind=DIARIZATION)
    diarizer = Diarizer(loaded.model, loaded.name)
    check_speaker_count(sp.num_speakers, diarizer.max_speakers, name)
    mono = samples.astype(np.float32)
    if rate != SAMPLE_RATE:
        import soxr

        mono = soxr.resample(mono, rate, SAMPLE_RATE).astype(np.float32)
    found = diarizer.diarize(mono, options=DiarizationOptions(num_speakers=sp.num_speakers),
                             progress=lambda p: report(Progress("diarizing", p.done_seconds, duration,
                                                                p.chunk_index, p.chunk_count)),
                             cancel=cancel)
    del mono

    def with_speakers(transcript: Transcript) -> Transcript:
        words = assign_speakers(transcript.words, found.turns)
        out = build_transcript(words, transcript.duration, transcript.model, transcript.source, opts.limits)
        names = dict.fromkeys(w.speaker for w in words if w.speaker)
        return replace(out, speakers=[{"name": s, "source": "diarization"} for s in names])

    try:
        transcript = transcribe(samples, report, cancel)
    except PartialTranscriptCancelled as exc:  # the words so far get their speakers too
        if exc.partial is None or not exc.partial.words:
            raise
        raise PartialTranscriptCancelled(str(exc), with_speakers(exc.partial)) from exc
    return with_speakers(transcript)
