"""Who said each word, without models: turns onto words, cues split at speaker changes, the tracks of several
microphones merged (bleed once, simultaneous speech twice), frame activity to turns, speaker-count checks."""

from __future__ import annotations

import random

import numpy as np
import pytest

from chunky.asr.diarization import DiarizationError, TooManySpeakersError, check_speaker_count
from chunky.asr.speaker_turns import TurnRules, activity_segments, keep_speakers, turns_from_activity
from chunky.audio.levels import SILENCE_DB, LevelBlocks, LevelTrace, level_db, track_level
from chunky.transcript.model import Segment, Transcript, Word
from chunky.transcript.speakers import (
    SpeakerTurn,
    TrackWords,
    assign_speakers,
    merge_tracks,
    same_word,
    speaker_names,
    speaker_runs,
    split_at_speaker_changes,
)


def words(*specs: tuple[str, float, float]) -> list[Word]:
    return [Word(t, a, b) for t, a, b in specs]


# --- the speaker field of Word ------------------------------------------------------------------------


def test_word_speaker_is_in_json_only_when_set_and_round_trips() -> None:
    assert "speaker" not in Word("one", 0.0, 0.5).to_dict()
    d = Word("one", 0.0, 0.5, 0.9, "Speaker 2").to_dict()
    assert d["speaker"] == "Speaker 2"
    assert Word.from_dict(d) == Word("one", 0.0, 0.5, 0.9, "Speaker 2")
    t = Transcript("one", [Word("one", 0.0, 0.5, speaker="Host")], [], 1.0)
    assert Transcript.from_dict(t.to_dict()) == t


# --- turns onto words ---------------------------------------------------------------------------------


def test_a_turn_change_mid_sentence_splits_the_sentence_there() -> None:
    sentence = words(("so", 0.0, 0.3), ("what", 0.4, 0.7), ("did", 0.8, 1.0), ("you", 1.25, 1.4),
                     ("say", 1.5, 1.8), ("then", 1.9, 2.2))
    turns = [SpeakerTurn(0.0, 1.1, "Speaker 1"), SpeakerTurn(1.15, 2.3, "Speaker 2")]
    out = assign_speakers(sentence, turns)
    assert [w.speaker for w in out] == ["Speaker 1"] * 3 + ["Speaker 2"] * 3
    assert [w.text for w in out] == [w.text for w in sentence]  # copies; the input is unchanged
    assert all(w.speaker is None for w in sentence)
    segment = Segment(0.0, 2.2, "so what did you say then", out)
    first, second = split_at_speaker_changes([segment])
    assert (first.text, first.start, first.end) == ("so what did", 0.0, 1.0)
    assert (second.text, second.start, second.end) == ("you say then", 1.25, 2.2)
    assert [len(r) for r in speaker_runs(out)] == [3, 3]


def test_a_word_across_a_turn_change_goes_to_the_speaker_covering_more_of_it() -> None:
    turns = [SpeakerTurn(0.0, 1.0, "A"), SpeakerTurn(1.0, 3.0, "B")]
    (w,) = assign_speakers(words(("across", 0.7, 1.5)), turns)
    assert w.speaker == "B"
    (w,) = assign_speakers(words(("across", 0.4, 1.2)), turns)
    assert w.speaker == "A"


def test_overlapping_turns_and_words_outside_every_turn() -> None:
    turns = [SpeakerTurn(0.0, 4.0, "A"), SpeakerTurn(2.0, 2.6, "B"), SpeakerTurn(8.0, 9.0, "C")]
    out = assign_speakers(words(("mm", 2.1, 2.5), ("yes", 3.0, 3.3), ("late", 4.5, 4.9),
                                ("alone", 6.0, 6.4), ("early", 7.5, 7.9)), turns)
    # "mm" lies inside both A and B: each covers all of it, the tie goes to the turn that started first.
    assert [w.speaker for w in out] == ["A", "A", "A", None, "C"]
    assert [w.speaker for w in assign_speakers(out, [])] == [None] * 5
    assert [w.speaker for w in assign_speakers(words(("far", 5.5, 5.9)), turns, max_gap=2.5)] == ["A"]


def test_zero_length_words_still_get_their_speaker() -> None:
    out = assign_speakers(words(("a", 1.0, 1.0), ("b", 3.0, 3.0)),
                          [SpeakerTurn(0.5, 2.0, "A"), SpeakerTurn(2.5, 4.0, "B")])
    assert [w.speaker for w in out] == ["A", "B"]


def _naive(word: Word, turns: list[SpeakerTurn], max_gap: float) -> str | None:
    lo, hi = word.start, max(word.end, word.start + 0.02)
    cover: dict[str, float] = {}
    for t in turns:
        shared = min(hi, t.end) - max(lo, t.start)
        if shared > 0:
            cover[t.speaker] = cover.get(t.speaker, 0.0) + shared
    if cover:
        best = max(cover.values())
        tied = [t for t in sorted(turns, key=lambda t: t.start)
                if cover.get(t.speaker) == best and min(hi, t.end) > max(lo, t.start)]
        return tied[0].speaker
    near = [(max(t.start - hi, lo - t.end), t.start, t.speaker) for t in turns]
    near = [n for n in near if n[0] <= max_gap]
    return min(near)[2] if near else None


def test_assignment_agrees_with_a_brute_force_count_on_random_turns() -> None:
    rng = random.Random(5)
    for _ in range(30):
        turns = []
        for _ in range(rng.randint(1, 40)):
            a = rng.uniform(0, 100)
            turns.append(SpeakerTurn(a, a + rng.uniform(0.1, 8), rng.choice("ABC")))
        ws = []
        for _ in range(60):
            a = rng.uniform(0, 110)
            ws.append(Word("w", a, a + rng.uniform(0, 0.8)))
        got = [w.speaker for w in assign_speakers(ws, turns)]
        assert got == [_naive(w, turns, 1.0) for w in ws]


def test_speaker_turns_refuse_to_end_before_they_start_and_names_come_in_order() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        SpeakerTurn(2.0, 1.0, "A")
    turns = [SpeakerTurn(5, 6, "B"), SpeakerTurn(1, 2, "C"), SpeakerTurn(3, 4, "A"), SpeakerTurn(7, 8, "C")]
    assert speaker_names(turns) == ["C", "A", "B"]


# --- several microphones ------------------------------------------------------------------------------


def level_map(spans: dict[tuple[float, float], float], floor: float = -60.0):
    """A level function: the loudest of the given spans that overlaps the asked one, else ``floor``."""
    def level(start: float, end: float) -> float:
        found = [db for (a, b), db in spans.items() if min(end, b) > max(start, a)]
        return max(found, default=floor)

    return level


def test_a_word_heard_by_two_microphones_is_kept_once_on_the_louder_track() -> None:
    host = TrackWords("Host", words(("five", 1.0, 1.4), ("six", 2.0, 2.3)),
                      level_map({(1.0, 1.4): -12.0, (2.0, 2.3): -14.0}))
    guest = TrackWords("Guest", words(("five", 1.02, 1.38), ("seven", 3.0, 3.5)),
                       level_map({(1.0, 1.4): -32.0, (2.0, 2.3): -34.0, (3.0, 3.5): -11.0}))
    merged = merge_tracks([host, guest])
    assert [(w.text, w.speaker) for w in merged] == [("five", "Host"), ("six", "Host"), ("seven", "Guest")]
    assert merged[0].start == 1.0  # the kept copy is the louder track's own word


def test_a_word_said_by_two_people_at_once_stays_twice() -> None:
    a = TrackWords("A", words(("yes", 1.0, 1.3)), level_map({(1.0, 1.3): -12.0}))
    b = TrackWords("B", words(("yes", 1.05, 1.32)), level_map({(1.0, 1.35): -15.0}))
    assert [(w.text, w.speaker) for w in merge_tracks([a, b])] == [("yes", "A"), ("yes", "B")]
    # ... but not when the second copy is bleed (more than the margin quieter).
    b = TrackWords("B", words(("yes", 1.05, 1.32)), level_map({(1.0, 1.35): -31.0}))
    assert [(w.text, w.speaker) for w in merge_tracks([a, b])] == [("yes", "A")]


def test_different_words_at_the_same_time_are_two_people_talking_unless_one_is_bleed() -> None:
    a = TrackWords("A", words(("five", 1.0, 1.4)), level_map({(1.0, 1.4): -12.0}))
    b = TrackWords("B", words(("two", 1.1, 1.5)), level_map({(1.0, 1.5): -14.0}))
    assert [(w.text, w.speaker) for w in merge_tracks([a, b])] == [("five", "A"), ("two", "B")]
    # B's recognizer heard A's bleed as "nine": B is 20 dB quieter over it, so it goes.
    b = TrackWords("B", words(("nine", 1.0, 1.4)), level_map({(1.0, 1.4): -32.0}))
    assert [(w.text, w.speaker) for w in merge_tracks([a, b])] == [("five", "A")]


def test_four_tracks_each_word_once_in_time_order() -> None:
    rng = random.Random(2)
    truth = []  # (text, start, end, owner)
    t = 0.5
    for _ in range(200):
        truth.append((rng.choice(["one", "two", "three", "four"]), t, t + 0.35, rng.randrange(4)))
        t += rng.uniform(0.45, 0.9)  # one word at a time (simultaneous words: the tests above)
    tracks = []
    for k in range(4):
        spans = {(a, b): (-12.0 if o == k else -33.0) for _, a, b, o in truth}
        heard = [Word(w, a + rng.uniform(-0.03, 0.03), b + rng.uniform(-0.03, 0.03))
                 for w, a, b, o in truth if o == k or rng.random() < 0.7]  # most bleed is recognized
        tracks.append(TrackWords(f"Speaker {k + 1}", heard, level_map(spans)))
    merged = merge_tracks(tracks)
    assert [(w.text, w.speaker) for w in merged] == [(w, f"Speaker {o + 1}") for w, _, _, o in truth]


def test_same_word_tolerates_spelling_and_punctuation() -> None:
    assert same_word("Two,", "two")
    assert same_word("seven", "sevn")
    assert not same_word("five", "two")
    assert same_word("", "")


def test_level_db_of_real_samples() -> None:
    rate = 16000
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    samples = np.concatenate([np.zeros(rate, np.float32), tone, 0.1 * tone])
    assert level_db(samples, rate, 0.0, 1.0) == SILENCE_DB
    assert level_db(samples, rate, 1.0, 2.0) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.01)
    level = track_level(samples, rate)
    assert level(1.0, 2.0) - level(2.0, 3.0) == pytest.approx(20.0, abs=0.01)
    assert level(5.0, 6.0) == SILENCE_DB  # past the end


def test_a_level_trace_keeps_the_level_without_the_samples() -> None:
    """LevelTrace (what a streamed track keeps): within 1.5 dB of level_db on real speech with bleed, over
    word spans, their surroundings and 20 ms slices, whatever the decoder's block size."""
    from collections import defaultdict

    import soundfile as sf

    from tests.conversations import build_conversation
    from tests.speech import AUDIO

    voices: dict[str, list] = defaultdict(list)
    for path in sorted(AUDIO.glob("word-*.flac")):
        audio, _ = sf.read(str(path), dtype="float32")
        voices[path.stem[len("word-"):].rsplit("-", 1)[0]].append((audio, path.stem.rsplit("-", 1)[1]))
    names = sorted(voices)[:2]
    conv = build_conversation({n: voices[n] for n in names}, 30, seed=5, bleed_db=-20.0,
                              overlap_probability=0.3)
    rate = 16000
    for samples in conv.tracks.values():
        blocks = LevelBlocks(iter(samples[k:k + 160_003] for k in range(0, len(samples), 160_003)), rate)
        assert np.array_equal(np.concatenate(list(blocks)), samples)  # passed on unchanged
        trace = blocks.trace
        assert trace.samples == len(samples)
        for p in conv.pieces:
            for a, b in ((p.start, p.end), (p.start - 0.1, p.end + 0.05), (p.start + 0.05, p.start + 0.07)):
                assert trace.level(a, b) == pytest.approx(level_db(samples, rate, a, b), abs=1.5)
        end = len(samples) / rate
        assert trace.level(end + 1, end + 2) == SILENCE_DB
    empty = LevelTrace(rate)
    assert empty.level(0.0, 1.0) == SILENCE_DB


# --- frame activity to turns --------------------------------------------------------------------------


def test_activity_segments_follow_nemo_hysteresis_padding_and_filtering() -> None:
    p = np.array([0, 0.7, 0.55, 0.45, 0.3, 0, 0.9, 0, 0, 0.8, 0.8, 0.8, 0], np.float32)
    assert activity_segments(p, 1.0) == [(1.0, 3.0), (6.0, 7.0), (9.0, 12.0)]
    rules = TurnRules(onset=0.6, offset=0.4)
    assert activity_segments(p, 1.0, rules) == [(1.0, 4.0), (6.0, 7.0), (9.0, 12.0)]
    assert activity_segments(p, 1.0, TurnRules(min_duration_on=1.5)) == [(1.0, 3.0), (9.0, 12.0)]
    assert activity_segments(p, 1.0, TurnRules(min_duration_off=2.5)) == [(1.0, 3.0), (6.0, 12.0)]
    # Padding makes the turns touch: they become one.
    assert activity_segments(p, 1.0, TurnRules(pad_onset=1.5, pad_offset=1.5)) == [(0.0, 13.5)]
    assert activity_segments(p, 1.0, TurnRules(pad_onset=0.5, pad_offset=0.5)) == [(0.5, 3.5), (5.5, 7.5),
                                                                                  (8.5, 12.5)]
    assert activity_segments(np.array([0.9, 0.9]), 0.08) == [(0.0, 0.16)]
    assert activity_segments(np.zeros(5), 0.08) == []


def test_turn_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="onset"):
        TurnRules(onset=1.5)
    with pytest.raises(ValueError, match="negative"):
        TurnRules(min_duration_off=-1)


def test_turns_are_named_in_the_order_speakers_first_speak() -> None:
    p = np.zeros((10, 4), np.float32)
    p[5:8, 0] = 0.9  # slot 0 speaks second
    p[1:3, 2] = 0.9  # slot 2 speaks first
    turns = turns_from_activity(p, 0.5, offset=10.0)
    assert turns == [SpeakerTurn(10.5, 11.5, "Speaker 1"), SpeakerTurn(12.5, 14.0, "Speaker 2")]


def test_keep_speakers_merges_the_extra_slot_into_its_closest_kept_one() -> None:
    p = np.zeros((30, 4), np.float32)
    p[0:10, 0] = 0.9
    p[10:20, 1] = 0.9
    p[20:24, 2] = 0.8  # a third slot the model opened for the first voice...
    p[20:24, 0] = 0.3  # ... which it also half-believes is slot 0
    p[20:24, 1] = 0.1
    two = keep_speakers(p, 2)
    assert two.shape == (30, 2)
    assert (two[20:24, 0] == pytest.approx(0.8)) and (two[20:24, 1] == pytest.approx(0.1))
    turns = turns_from_activity(p, 1.0, num_speakers=2)
    assert [(t.start, t.end, t.speaker) for t in turns] == [(0, 10, "Speaker 1"), (10, 20, "Speaker 2"),
                                                            (20, 24, "Speaker 1")]
    assert keep_speakers(p, 6).shape == (30, 4)
    with pytest.raises(ValueError):
        keep_speakers(p, 0)


def test_speaker_counts_beyond_the_model_give_a_clear_error() -> None:
    check_speaker_count(None, 4)
    check_speaker_count(4, 4)
    with pytest.raises(TooManySpeakersError, match="at most 4 speakers, but 6 were asked for"):
        check_speaker_count(6, 4, "diar_streaming_sortformer_4spk-v2")
    with pytest.raises(DiarizationError, match="at least 1"):
        check_speaker_count(0, 4)


# --- which diarization model, and its licence ---------------------------------------------------------


def test_a_missing_diarization_model_names_the_command_that_installs_it(tmp_path) -> None:
    from chunky.base.errors import ModelNotFoundError
    from chunky.models.catalogue import choose_diarization_model

    with pytest.raises(ModelNotFoundError) as missing:
        choose_diarization_model([], None, tmp_path)
    text = str(missing.value)
    assert "needs a diarization model, and none is installed" in text
    assert "python setup_local_models.py nvidia/diar_streaming_sortformer_4spk-v2" in text
    assert "CC-BY-4.0" in text
    assert text.endswith("clustering diarization with:\n    python setup_local_models.py "
                         "nvidia/titanet_large")
    with pytest.raises(ModelNotFoundError, match="No diarization model named 'mine'.*diarization models: a"):
        choose_diarization_model(["a"], "mine", tmp_path)
    assert choose_diarization_model(["b", "a"], None, tmp_path) == "a"
    assert choose_diarization_model(["a", "diar_streaming_sortformer_4spk-v2"], None, tmp_path) == \
        "diar_streaming_sortformer_4spk-v2"
    assert choose_diarization_model(["a", "b"], "b", tmp_path) == "b"


def test_licences_of_the_known_diarization_models() -> None:
    from chunky.models.catalogue import known_model, licence_line

    assert known_model("nvidia/diar_sortformer_4spk-v1").licence == "CC-BY-NC-4.0"
    assert "non-commercial" in licence_line("diar_sortformer_4spk-v1")
    v2 = known_model("diar_streaming_sortformer_4spk-v2")
    assert (v2.kind, v2.licence, v2.max_speakers) == ("diarization", "CC-BY-4.0", 4)
    assert licence_line("nvidia/parakeet-tdt-0.6b-v2").startswith("Licence: CC-BY-4.0")
    assert "not known to Chunky" in licence_line("someone/else")


def test_model_kinds_come_from_the_config_target() -> None:
    from chunky.models.kinds import ASR, DIARIZATION, SPEAKER, kind_of_target, target_in

    config = "sample_rate: 16000\nencoder:\n  target: x\ntarget: nemo.collections.asr.models." \
             "sortformer_diar_models.SortformerEncLabelModel\n"
    assert kind_of_target(target_in(config)) == DIARIZATION
    assert kind_of_target("nemo.collections.asr.models.ctc_models.EncDecCTCModel") == ASR
    assert kind_of_target("nemo.collections.asr.models.label_models.EncDecSpeakerLabelModel") == SPEAKER
    assert kind_of_target(None) == ASR
    assert target_in("encoder:\n  target: nested.only\n") is None
