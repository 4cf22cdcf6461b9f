"""Speakers end to end through Chunky's engine: real files with a microphone per person (a 2-stream MKV and
MOV, a 4-channel WAV, stereo with one voice per side) made by ffmpeg and soundfile from espeak-ng voices
that no test model heard in training, every microphone hearing the others at -20 dB and people sometimes
talking at once; and a single mix diarized by the Sortformer test model. Real models (digits ASR and the
diarization model from tests/assets), stored and loaded by Chunky's store and manager."""

from __future__ import annotations

import json
import shutil

import pytest

from chunky.asr.engine import Engine
from chunky.asr.options import EngineOptions, SpeakerOptions
from chunky.audio.tracks import TrackChoiceError
from chunky.base.errors import ModelNotFoundError
from tests.conversations import RATE, Conversation, best_mapping, build_conversation
from tests.multitrack import write_channels, write_streams
from tests.test_clustering import SPEAKER_MODEL
from tests.test_diarization import ASR_MODEL, DIAR_MODEL, held_out_voices
from tests.test_speaker_tracks import match_words

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("speaker-files")


@pytest.fixture(scope="module")
def engine(home):
    from chunky.models.manager import ModelManager
    from chunky.models.store import ModelStore

    store = ModelStore(home / "local_models", home / "extracted")
    store.import_archive(ASR_MODEL, "digits-ctc")
    manager = ModelManager(store, device="cpu")
    yield Engine(manager)
    manager.unload()


def conversation(speakers: int, seconds: float, seed: int) -> Conversation:
    voices = held_out_voices()
    names = sorted(voices)[:speakers]
    return build_conversation({n: voices[n] for n in names}, seconds, seed=seed, bleed_db=-20.0,
                              overlap_probability=0.3, overlap_seconds=(0.3, 0.8), turn_seconds=(1.0, 8.0))


def renamed(conv: Conversation, names: list[str]) -> Conversation:
    """The conversation with its speakers called by the names the file gives its tracks."""
    mapping = dict(zip(conv.speakers, names, strict=True))
    pieces = [type(p)(p.text, p.start, p.end, mapping[p.speaker]) for p in conv.pieces]
    return Conversation(conv.audio, pieces, names, {mapping[k]: v for k, v in conv.tracks.items()})


def match_by_speaker(conv: Conversation, words) -> dict[int, int]:
    """Truth piece -> word: first each speaker's pieces against that speaker's words, then what is left
    against what is left (so a word one speaker said and the recognizer lost is not filled in by the other
    speaker's same word said at the same moment, which then counts as wrong)."""
    out: dict[int, int] = {}
    for name in conv.speakers:
        own = [k for k, p in enumerate(conv.pieces) if p.speaker == name]
        theirs = [i for i, w in enumerate(words) if w.speaker == name]
        sub = match_words(Conversation(conv.audio, [conv.pieces[k] for k in own], [name]),
                          [words[i] for i in theirs])
        out |= {own[k]: theirs[i] for k, i in sub.items()}
    rest = [k for k in range(len(conv.pieces)) if k not in out]
    free = [i for i in range(len(words)) if i not in set(out.values())]
    sub = match_words(Conversation(conv.audio, [conv.pieces[k] for k in rest], conv.speakers),
                      [words[i] for i in free])
    return out | {rest[k]: free[i] for k, i in sub.items()}


def score(conv: Conversation, words) -> dict[str, float]:
    matched = match_by_speaker(conv, words)
    wrong = [(conv.pieces[k].text, conv.pieces[k].start, words[i].speaker) for k, i in matched.items()
             if words[i].speaker != conv.pieces[k].speaker]
    extra = [w for i, w in enumerate(words) if i not in set(matched.values())]
    # A word left over where its speaker said nothing is bleed the merge kept; the others are the
    # recognizer's misses under overlapping speech ("eighto" for "eight").
    bleed = [(w.text, round(w.start, 2), w.speaker) for w in extra
             if not any(p.speaker == w.speaker and p.start - 0.15 < w.end and w.start < p.end + 0.15
                        for p in conv.pieces)]
    return {"words": len(conv.pieces), "found": len(matched), "wrong_speaker": len(wrong),
            "misrecognized": len(extra) - len(bleed), "bleed": bleed,
            "speaker_accuracy": 1 - len(wrong) / max(1, len(matched)), "examples": wrong[:3]}


def check(conv: Conversation, transcript) -> dict[str, float]:
    result = score(conv, transcript.words)
    # Every word found has the right speaker (the bleed of the other microphones included); the digits
    # model loses a few words under overlapping speech, and no bleed copy is left over.
    assert result["wrong_speaker"] == 0, result
    assert result["found"] >= 0.9 * result["words"], result
    assert not result["bleed"], result
    assert result["misrecognized"] <= 0.08 * result["words"], result
    assert [w.start for w in transcript.words] == sorted(w.start for w in transcript.words)
    return result


@pytest.mark.parametrize(("name", "codec", "video"), [("interview.mkv", "flac", False),
                                                      ("interview.mov", "pcm_s16le", True)])
def test_one_speaker_per_stream(engine, tmp_path, name, codec, video) -> None:
    conv = renamed(conversation(2, 60, seed=51), ["Host", "Guest"])
    path = write_streams(tmp_path / name, [conv.tracks["Host"], conv.tracks["Guest"]], RATE, codec=codec,
                         video=video, titles=["Host", "Guest"], languages=["eng", "eng"])
    tracks = EngineOptions(speakers=SpeakerOptions("tracks"))
    transcript = engine.transcribe(path, "digits-ctc", options=tracks)
    check(conv, transcript)
    assert transcript.speakers == [{"name": "Host", "source": "Host (stream 1)"},
                                   {"name": "Guest", "source": "Guest (stream 2)"}]
    assert transcript.audio["used"] == ["Host (stream 1)", "Guest (stream 2)"]
    assert transcript.to_dict()["words"][0]["speaker"] in ("Host", "Guest")


def test_one_speaker_per_channel_of_a_4_channel_wav_and_of_stereo(engine, tmp_path) -> None:
    names = [f"Speaker {i}" for i in range(1, 5)]
    conv = renamed(conversation(4, 60, seed=52), names)
    path = write_channels(tmp_path / "recorder.wav", [conv.tracks[n] for n in names], RATE)
    tracks = EngineOptions(speakers=SpeakerOptions("tracks"))
    check(conv, engine.transcribe(path, "digits-ctc", options=tracks))
    pair = renamed(conversation(2, 40, seed=53), names[:2])
    stereo = write_channels(tmp_path / "stereo.flac", [pair.tracks[n] for n in names[:2]], RATE)
    transcript = engine.transcribe(stereo, "digits-ctc", options=tracks)
    check(pair, transcript)
    assert transcript.audio["notes"] == ["One speaker per channel: Speaker 1 (stream 1 channel 1), Speaker 2 "
                                         "(stream 1 channel 2)."]


def test_mix_and_one_track_say_which_streams_were_used(engine, tmp_path) -> None:
    conv = conversation(2, 30, seed=54)
    a, b = conv.speakers
    path = write_streams(tmp_path / "two.mkv", [conv.tracks[a], conv.tracks[b]], RATE)
    mixed = engine.transcribe(path, "digits-ctc")
    assert mixed.audio["used"] == ["stream 1", "stream 2"]
    assert "Mixing all 2 audio streams" in mixed.audio["notes"][0]
    assert mixed.speakers == [] and all(w.speaker is None for w in mixed.words)
    assert score(conv, mixed.words)["found"] >= 0.85 * len(conv.pieces)  # both voices are heard in the mix
    second = engine.transcribe(path, "digits-ctc", options=EngineOptions(speakers=SpeakerOptions("mix", 2)))
    assert second.audio["notes"] == ["Using stream 2, as asked.", "Not used: stream 1 (1 channel)."]
    own = [p for p in conv.pieces if p.speaker == b]
    assert len(match_words(Conversation(conv.audio, own, [b]), second.words)) >= 0.9 * len(own)
    dubbed = write_streams(tmp_path / "dub.mkv", [conv.tracks[a], conv.tracks[b]], RATE,
                           languages=["eng", "deu"], default=1)
    alt = engine.transcribe(dubbed, "digits-ctc")
    assert alt.audio["used"] == ["stream 2"] and "different languages" in alt.audio["notes"][0]
    with pytest.raises(TrackChoiceError, match="has 2 audio streams: --track must be between 1 and 2, not 3"):
        engine.transcribe(path, "digits-ctc", options=EngineOptions(speakers=SpeakerOptions("mix", 3)))


def found_and_right(conv: Conversation, words) -> tuple[dict[int, int], int]:
    """The truth's pieces matched to diarized words (speakers left out), and how many of those got the right
    speaker once the model's names ("Speaker 1"...) are mapped to the truth's the best way."""
    matched = match_words(conv, [type(w)(w.text, w.start, w.end, w.confidence, None) for w in words])
    mapping = best_mapping([(conv.pieces[k].speaker, words[i].speaker) for k, i in matched.items()])
    return matched, sum(mapping.get(words[i].speaker) == conv.pieces[k].speaker for k, i in matched.items())


def test_diarize_a_single_mix_and_the_clear_errors(engine, tmp_path) -> None:
    voices = held_out_voices()
    names = sorted(voices)[-2:]
    conv = build_conversation({n: voices[n] for n in names}, 90, seed=55, overlap_probability=0.0)
    path = tmp_path / "one-mic.wav"
    write_channels(path, [conv.audio], RATE)
    store = engine.manager.store
    diarize = EngineOptions(speakers=SpeakerOptions("diarize"))
    with pytest.raises(ModelNotFoundError, match="setup_local_models.py nvidia/diar_streaming_sortformer"):
        engine.transcribe(path, "digits-ctc", options=diarize)
    store.import_archive(DIAR_MODEL, "diar-sortformer")
    with pytest.raises(Exception, match="at most 4 speakers, but 5 were asked for"):
        engine.transcribe(path, "digits-ctc",
                          options=EngineOptions(speakers=SpeakerOptions("diarize", num_speakers=5)))
    seen = []
    transcript = engine.transcribe(path, "digits-ctc", options=diarize, progress=seen.append)
    assert any(p.stage == "diarizing" for p in seen) and seen[-1].stage == "done"
    assert {s["source"] for s in transcript.speakers} == {"diarization"} and len(transcript.speakers) == 2
    matched, right = found_and_right(conv, transcript.words)
    assert len(matched) >= 0.95 * len(conv.pieces), f"{len(matched)} of {len(conv.pieces)} words found"
    assert right / len(matched) >= 0.95, f"{right}/{len(matched)} words with the right speaker"
    data = json.loads(json.dumps(transcript.to_dict()))
    assert {s["name"] for s in data["speakers"]} == {w["speaker"] for w in data["words"]}


def test_diarize_mixes_the_streams_as_it_decodes_them_and_a_silent_file_has_no_speakers(engine, tmp_path):
    """Diarizing a 2-stream file: both passes mix the streams block by block as they are decoded."""
    store = engine.manager.store
    if "diar-sortformer" not in {m.name for m in store.list_models()}:
        store.import_archive(DIAR_MODEL, "diar-sortformer")
    voices = held_out_voices()
    names = sorted(voices)[-2:]
    conv = build_conversation({n: voices[n] for n in names}, 60, seed=56, overlap_probability=0.0,
                              bleed_db=-20.0)
    path = write_streams(tmp_path / "two.mkv", [conv.tracks[n] for n in names], RATE)
    diarize = EngineOptions(speakers=SpeakerOptions("diarize"))
    transcript = engine.transcribe(path, "digits-ctc", options=diarize)
    assert transcript.audio["mode"] == "diarize"
    assert transcript.audio["used"] == ["stream 1", "stream 2"]
    assert "Mixing all 2 audio streams" in transcript.audio["notes"][0]
    assert len(transcript.speakers) == 2
    matched, right = found_and_right(conv, transcript.words)
    assert len(matched) >= 0.9 * len(conv.pieces) and right >= 0.9 * len(matched), (len(matched), right)
    silent = write_streams(tmp_path / "silent.mkv", [conv.tracks[names[0]][: 3 * RATE] * 0] * 2, RATE)
    quiet = engine.transcribe(silent, "digits-ctc", options=diarize)
    assert quiet.words == [] and quiet.speakers == [] and quiet.audio["used"] == ["stream 1", "stream 2"]
    assert 2.9 < quiet.duration < 3.1


def test_diarize_by_clustering_with_a_speaker_embedding_model(engine, tmp_path) -> None:
    """The clustering way (a speaker-embedding model, chunky.asr.clustering), chosen by name, on three
    people in one mix; the same speaker count limit and errors as the Sortformer's."""
    voices = held_out_voices()
    names = sorted(voices)[:3]
    conv = build_conversation({n: voices[n] for n in names}, 90, seed=60, overlap_probability=0.0)
    assert min(sum(p.end - p.start for p in conv.pieces if p.speaker == n) for n in names) > 15
    path = tmp_path / "three.wav"
    write_channels(path, [conv.audio], RATE)
    store = engine.manager.store
    store.import_archive(SPEAKER_MODEL, "speaker-embed")
    clustering = EngineOptions(speakers=SpeakerOptions("diarize", diarization_model="speaker-embed"))
    with pytest.raises(Exception, match="at most 8 speakers, but 9 were asked for"):
        engine.transcribe(path, "digits-ctc", options=EngineOptions(
            speakers=SpeakerOptions("diarize", num_speakers=9, diarization_model="speaker-embed")))
    seen = []
    transcript = engine.transcribe(path, "digits-ctc", options=clustering, progress=seen.append)
    assert any(p.stage == "diarizing" for p in seen) and seen[-1].stage == "done"
    assert [s["name"] for s in transcript.speakers] == ["Speaker 1", "Speaker 2", "Speaker 3"]
    matched, right = found_and_right(conv, transcript.words)
    assert len(matched) >= 0.95 * len(conv.pieces), f"{len(matched)} of {len(conv.pieces)} words found"
    assert right / len(matched) >= 0.95, f"{right}/{len(matched)} words with the right speaker"
    assert engine.manager.store.kind("speaker-embed") == "speaker"


def test_the_command_line_says_which_streams_and_speakers(tmp_path) -> None:
    """``python -m chunky transcribe talk.mkv --speakers tracks``: the flags reach the engine, the CLI
    prints the streams used and the speakers, and the JSON carries them."""
    from tests.test_export_settings import run_cli

    (tmp_path / "local_models").mkdir()
    shutil.copyfile(ASR_MODEL, tmp_path / "local_models" / "digits-ctc.nemo")
    conv = renamed(conversation(2, 20, seed=56), ["Host", "Guest"])
    path = write_streams(tmp_path / "talk.mkv", [conv.tracks["Host"], conv.tracks["Guest"]], RATE,
                         titles=["Host", "Guest"])
    result = run_cli(tmp_path, "transcribe", str(path), "--speakers", "tracks", "--format", "json,srt",
                     "--device", "cpu")
    assert result.returncode == 0, result.stderr
    assert "audio: One speaker per audio stream: Host (stream 1), Guest (stream 2)." in result.stderr
    assert "speakers: Host, Guest" in result.stderr
    data = json.loads((tmp_path / "talk.json").read_text(encoding="utf-8"))
    assert [s["name"] for s in data["speakers"]] == ["Host", "Guest"]
    assert {w["speaker"] for w in data["words"]} == {"Host", "Guest"}
    assert "Host: " in (tmp_path / "talk.srt").read_text(encoding="utf-8")
