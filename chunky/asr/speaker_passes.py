"""The speaker modes over one recording (docs/speakers.md): which audio is transcribed, how often, and how
the words get their speakers.

- mix: the plan's tracks mixed as they are decoded (:class:`MixedBlocks`, no track held in memory),
  transcribed once; no speakers.
- tracks: each track transcribed on its own, streamed from the file block by block into the engine's
  feed (memory flat in the number of tracks and their length: of each track only its level is kept, to
  judge bleed); the words merged in time order, each with its track's speaker, a word two microphones
  picked up kept once (``merge_tracks``, the bleed rule).
- diarize: the mix diarized by the Sortformer model and transcribed once, each pass decoding and mixing
  the tracks as it goes (:class:`MixedBlocks`); each word gets the speaker of the turn that covers most
  of it.

The engine calls :func:`run_plan` with a function that transcribes samples; this module knows no Gradio and
no job runner.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from chunky.asr.diarization import SAMPLE_RATE, DiarizationOptions, check_speaker_count
from chunky.asr.diarizers import diarizer_for
from chunky.asr.feed import BLOCK_SECONDS
from chunky.asr.options import EngineOptions, PartialTranscriptCancelled, Progress, ProgressFn, SpeakerOptions
from chunky.audio import decode
from chunky.audio.levels import LevelBlocks
from chunky.audio.mixdown import MixedBlocks
from chunky.audio.streams import TrackAudio, probe_streams
from chunky.audio.tracks import Track, TrackPlan, plan_tracks
from chunky.base.errors import AudioError
from chunky.models.catalogue import choose_diarization_model
from chunky.models.kinds import FINDS_SPEAKERS
from chunky.transcript.cues import build_transcript
from chunky.transcript.model import Transcript
from chunky.transcript.speakers import TrackWords, assign_speakers, merge_tracks

log = logging.getLogger(__name__)

# (samples at the ASR model's rate, or an iterator of their blocks; progress; cancel; the blocks' expected
# seconds, for the progress) -> Transcript of those samples
TranscribeSamples = Callable[..., Transcript]


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
    return _report(plan, [t for t, _ in audio.tracks], audio.failed)


def _report(plan: TrackPlan, used: list[Track], failed: list[tuple[Track, str]]) -> dict:
    """Transcript.audio: the mode, the tracks used, the plan's notes and the tracks left out, and why."""
    notes = list(plan.notes)
    notes += [f"{t.label()} could not be decoded and was left out: {why}" for t, why in failed]
    return {"mode": plan.mode, "used": [t.label() for t in used], "notes": notes}


def run_plan(manager, path: Path, plan: TrackPlan, rate: int, transcribe: TranscribeSamples,
             model_name: str, opts: EngineOptions, report: ProgressFn, cancel: threading.Event) -> Transcript:
    """The transcript of ``path`` read as ``plan`` says, with speakers where the mode finds them."""
    report(Progress("decoding", 0.0, 0.0))
    if plan.mode == "tracks":  # each track streamed through its own pass: no track is held in memory
        return _per_track(path, plan, rate, transcribe, model_name, opts, report, cancel)
    for note in plan.notes:
        log.info("%s: %s", path.name, note)
    seconds = max(_track_seconds(path, plan), default=0.0)
    if plan.mode == "diarize":
        return _diarized(manager, path, plan, rate, transcribe, model_name, opts, report, cancel, seconds)
    mix = MixedBlocks(path, plan.tracks, rate, BLOCK_SECONDS)  # the tracks mixed as they are decoded
    try:
        transcript = transcribe(mix, report, cancel, seconds)
    except PartialTranscriptCancelled as exc:  # the partial transcript says which streams it comes from
        if exc.partial is None:
            raise
        partial = replace(exc.partial, audio=_mix_report(plan, mix))
        raise PartialTranscriptCancelled(str(exc), partial) from exc
    finally:
        mix.close()
    return replace(transcript, audio=_mix_report(plan, mix))


def _mix_report(plan: TrackPlan, mix: MixedBlocks) -> dict:
    info = _report(plan, mix.used, mix.failed)
    info["notes"] += mix.notes
    for note in info["notes"][len(plan.notes):]:
        log.info("%s: %s", mix.path.name, note)
    return info


def _track_speakers(tracks: list[Track], words) -> list[dict]:
    """The speakers table of a tracks transcript: each track's speaker that has words, in track order."""
    used = {w.speaker for w in words}
    return [{"name": t.name or t.label(), "source": t.label()} for t in tracks
            if (t.name or t.label()) in used]


def _per_track(path: Path, plan: TrackPlan, rate: int, transcribe: TranscribeSamples, model_name: str,
               opts: EngineOptions, report: ProgressFn, cancel: threading.Event) -> Transcript:
    """One pass per track, each decoded block by block into the engine's feed (only the track's level
    is kept, :class:`LevelTrace`), the words merged with the bleed rule. A track that cannot be decoded,
    at its start or on the way, is left out and named; AudioError when none can be."""
    for note in plan.notes:
        log.info("%s: %s", path.name, note)
    source = str(path)
    lengths = _track_seconds(path, plan)
    total = sum(lengths)
    done = 0.0
    per: list[TrackWords] = []
    used: list[Track] = []
    failed: list[tuple[Track, str]] = []
    durations: list[float] = []

    def merged(parts: list[TrackWords], tracks: list[Track], duration: float) -> Transcript:
        words = merge_tracks(parts)
        transcript = build_transcript(words, duration, model_name, source, opts.limits)
        return replace(transcript, speakers=_track_speakers(tracks, words),
                       audio=_report(plan, tracks, failed))

    for track, seconds in zip(plan.tracks, lengths, strict=True):
        name = track.name or track.label()
        blocks: LevelBlocks | None = None
        try:
            blocks = LevelBlocks(decode.iter_blocks(path, rate, BLOCK_SECONDS, stream=track.stream,
                                                    channel=track.channel), rate)
            part = transcribe(blocks, _scaled(report, done, total), cancel, seconds)
        except PartialTranscriptCancelled as exc:
            # What was finished: the whole tracks and the cancelled one's words so far.
            parts, tracks = list(per), list(used)
            if blocks is not None and exc.partial is not None and exc.partial.words:
                parts.append(TrackWords(name, exc.partial.words, blocks.trace.level))
                tracks.append(track)
            partial = None
            if any(p.words for p in parts):
                decoded = blocks.trace.samples / rate if blocks is not None else 0.0
                partial = merged(parts, tracks, max([*durations, decoded]))
            raise PartialTranscriptCancelled(str(exc), partial) from exc
        except AudioError as exc:
            if len(plan.tracks) == 1:
                raise
            log.warning("%s: %s could not be decoded and is left out: %s", path.name, track.label(), exc)
            failed.append((track, str(exc)))
            done += seconds
            continue
        finally:
            if blocks is not None:
                blocks.close()  # the feed closed it already, unless the pass failed before it started
        per.append(TrackWords(name, part.words, blocks.trace.level))
        used.append(track)
        durations.append(part.duration or blocks.trace.samples / rate)
        done += seconds
    if not used:
        reasons = "; ".join(f"{t.label()}: {why}" for t, why in failed)
        raise AudioError(f"{path.name}: none of its audio tracks could be decoded ({reasons}).")
    for note in _report(plan, used, failed)["notes"][len(plan.notes):]:
        log.info("%s: %s", path.name, note)
    transcript = merged(per, used, max(durations))
    report(Progress("done", transcript.duration, transcript.duration, 0, 0, transcript.words))
    return transcript


def _track_seconds(path: Path, plan: TrackPlan) -> list[float]:
    """Each track's length as its stream's header says (the file's when it does not): for the progress."""
    try:
        streams = {s.index: s for s in probe_streams(path)}
        fallback = float(decode.probe(path).duration or 0.0)
    except AudioError:
        streams, fallback = {}, 0.0
    out = []
    for track in plan.tracks:
        info = streams.get(track.stream)
        out.append(float(info.duration) if info is not None and info.duration else fallback)
    return out


def _diarized(manager, path: Path, plan: TrackPlan, rate: int, transcribe: TranscribeSamples, model_name: str,
              opts: EngineOptions, report: ProgressFn, cancel: threading.Event, seconds: float) -> Transcript:
    """Two passes over the mix, each decoded as it goes: the diarization model's (at its 16 kHz), then the
    transcription's; the words get the speaker of the turn that covers most of them."""
    sp = opts.speakers
    store = manager.store
    kinds = {m.name: m.kind for m in store.list_models() if m.kind in FINDS_SPEAKERS}
    name = choose_diarization_model(list(kinds), sp.diarization_model, store.local_models)
    # Diarization first: a wrong speaker count or a missing model fails before the long transcription.
    loaded = manager.get(name, kind=kinds[name])
    diarizer = diarizer_for(loaded.model, loaded.name)
    check_speaker_count(sp.num_speakers, diarizer.max_speakers, name)
    mix = MixedBlocks(path, plan.tracks, SAMPLE_RATE, BLOCK_SECONDS)
    try:
        found = diarizer.diarize(mix, options=DiarizationOptions(num_speakers=sp.num_speakers),
                                 progress=lambda p: report(Progress("diarizing", p.done_seconds, seconds,
                                                                    p.chunk_index, p.chunk_count)),
                                 cancel=cancel, seconds=seconds)
    finally:
        mix.close()
    info = _mix_report(plan, mix)
    duration = mix.samples / SAMPLE_RATE
    if found.silent:  # nothing to transcribe, nobody spoke
        report(Progress("done", duration, duration))
        transcript = build_transcript([], duration, model_name, str(path), opts.limits, text="")
        return replace(transcript, audio=info)

    def with_speakers(transcript: Transcript) -> Transcript:
        words = assign_speakers(transcript.words, found.turns)
        out = build_transcript(words, transcript.duration, transcript.model, transcript.source, opts.limits)
        names = dict.fromkeys(w.speaker for w in words if w.speaker)
        return replace(out, speakers=[{"name": s, "source": "diarization"} for s in names], audio=info)

    # The same tracks as the diarization pass (those that failed then are not tried again).
    mix = MixedBlocks(path, tuple(mix.used), rate, BLOCK_SECONDS)
    try:
        transcript = transcribe(mix, report, cancel, duration)
    except PartialTranscriptCancelled as exc:  # the words so far get their speakers too
        if exc.partial is None:
            raise
        partial = with_speakers(exc.partial) if exc.partial.words else replace(exc.partial, audio=info)
        raise PartialTranscriptCancelled(str(exc), partial) from exc
    finally:
        mix.close()
    return with_speakers(transcript)
