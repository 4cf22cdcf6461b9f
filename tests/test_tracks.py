"""A file's audio streams and channels: probed from real MKV/MOV/MP4/WAV files ffmpeg and soundfile make
here, the speaker modes' plans (which streams are used, and every one that is not named), and the samples
of one stream or one channel. No NeMo."""

from __future__ import annotations

import numpy as np
import pytest

from chunky.audio.streams import load_tracks, probe_streams
from chunky.audio.tracks import StreamInfo, Track, TrackChoiceError, plan_tracks
from chunky.base.errors import AudioError
from tests.audio_fixtures import sine, write_pyav
from tests.multitrack import damaged_second_stream, write_channels, write_streams

RATE = 16000


def tones(*freqs: float, seconds: float = 1.0) -> list[np.ndarray]:
    return [sine(f, RATE, seconds)[:, 0] * 0.5 for f in freqs]


def dominant(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64)))
    return float(np.fft.rfftfreq(len(samples), 1 / RATE)[int(np.argmax(spectrum))])


@pytest.mark.parametrize(("name", "codec", "video"), [
    ("two.mkv", "flac", False), ("two.mov", "pcm_s16le", True), ("two.mp4", "aac", True)])
def test_streams_with_titles_languages_and_the_default(tmp_path, name, codec, video):
    path = write_streams(tmp_path / name, tones(300, 700, 1100), RATE, codec=codec, video=video,
                         titles=["Host", None, "Guest"], languages=["eng", "fra", None], default=1)
    streams = probe_streams(path)
    assert [(s.index, s.channels, s.title, s.language if s.known_language else "", s.default)
            for s in streams] == [(0, 1, "Host", "eng", False), (1, 1, "", "fra", True),
                                  (2, 1, "Guest", "", False)]
    audio = load_tracks(path, plan_tracks(streams, "tracks"), RATE)
    assert [t.name for t, _ in audio.tracks] == ["Host", "fra", "Guest"]
    assert [round(dominant(a)) for _, a in audio.tracks] == [300, 700, 1100]  # each stream on its own


def test_channels_of_a_multichannel_wav(tmp_path):
    path = write_channels(tmp_path / "recorder.wav", tones(300, 500, 700, 900), RATE)
    (stream,) = probe_streams(path)
    assert stream.channels == 4
    plan = plan_tracks([stream], "tracks")
    assert [(t.stream, t.channel, t.name) for t in plan.tracks] == [(0, c, f"Speaker {c + 1}")
                                                                    for c in range(4)]
    audio = load_tracks(path, plan, RATE)
    assert [round(dominant(a)) for _, a in audio.tracks] == [300, 500, 700, 900]
    one = load_tracks(path, plan_tracks([stream], "mix", track=3), RATE)
    assert [round(dominant(a)) for _, a in one.tracks] == [700]


def test_mix_uses_every_stream_of_one_language_and_says_so():
    streams = [StreamInfo(0, 1, language="eng"), StreamInfo(1, 2, title="Guest"), StreamInfo(2, 1)]
    plan = plan_tracks(streams, "mix")
    assert plan.tracks == (Track(0), Track(1), Track(2))
    assert "Mixing all 3 audio streams" in plan.notes[0] and '"Guest"' in plan.notes[0]


def test_streams_in_different_languages_are_alternatives():
    streams = [StreamInfo(0, 2, language="eng"), StreamInfo(1, 2, language="deu", default=True),
               StreamInfo(2, 2, language="fra")]
    plan = plan_tracks(streams, "mix", file_name="film.mkv")
    assert plan.tracks == (Track(1),)
    assert "different languages (deu, eng, fra)" in plan.notes[0] and "the default one" in plan.notes[0]
    assert plan.notes[1:] == ("Not used: stream 1 (eng, 2 channels).",
                              "Not used: stream 3 (fra, 2 channels).")
    no_default = plan_tracks([StreamInfo(0, 1, language="eng"), StreamInfo(1, 1, language="spa")],
                             "diarize")
    assert no_default.tracks == (Track(0),) and "the first one" in no_default.notes[0]


def test_one_track_of_several_streams_or_channels():
    two = [StreamInfo(0, 1), StreamInfo(1, 1)]
    plan = plan_tracks(two, "mix", track=2)
    assert plan.tracks == (Track(1),) and plan.notes == ("Using stream 2, as asked.",
                                                         "Not used: stream 1 (1 channel).")
    stereo = plan_tracks([StreamInfo(0, 2)], "diarize", track=1)
    assert stereo.tracks == (Track(0, 0),) and stereo.mode == "diarize"
    with pytest.raises(TrackChoiceError, match="has 2 audio streams: --track must be between 1 and 2, not 3"):
        plan_tracks(two, "mix", track=3)
    with pytest.raises(TrackChoiceError, match="has 2 channels: --track must be between 1 and 2, not 5"):
        plan_tracks([StreamInfo(0, 2)], "mix", track=5)
    with pytest.raises(TrackChoiceError, match="uses every track"):
        plan_tracks(two, "tracks", track=1)


def test_names_per_stream_are_unique_and_a_mono_file_has_no_tracks():
    plan = plan_tracks([StreamInfo(0, 1, title="Mic"), StreamInfo(1, 1, title="Mic"), StreamInfo(2, 1),
                        StreamInfo(3, 1, language="eng"), StreamInfo(4, 1, language="eng")], "tracks")
    assert [t.name for t in plan.tracks] == ["Mic 1", "Mic 2", "Speaker 3", "Speaker 4", "Speaker 5"]
    with pytest.raises(TrackChoiceError, match="one audio stream of one channel.*--speakers diarize"):
        plan_tracks([StreamInfo(0, 1)], "tracks", file_name="mono.wav")
    with pytest.raises(TrackChoiceError, match="no audio stream"):
        plan_tracks([], "mix")
    with pytest.raises(TrackChoiceError, match="Unknown speaker mode 'all'"):
        plan_tracks([StreamInfo(0, 1)], "all")


def test_a_video_without_sound_and_a_stream_that_is_not_there(tmp_path):
    silent_video = write_pyav(tmp_path / "silent.mp4", None, RATE, None, video_codec="mpeg4")
    with pytest.raises(AudioError, match="no audio track: it is a video without sound"):
        probe_streams(silent_video)
    wav = write_channels(tmp_path / "two.wav", tones(300, 500), RATE)
    with pytest.raises(AudioError, match="has one audio stream: there is no stream 2"):
        load_tracks(wav, plan_tracks([StreamInfo(0, 1), StreamInfo(1, 1)], "mix", track=2), RATE)


def test_a_stream_that_fails_is_named_and_the_others_are_used(tmp_path):
    path = write_streams(tmp_path / "two.mkv", tones(300, 700), RATE)
    streams = probe_streams(path)
    # A plan for a third stream the file does not have stands for a stream that cannot be decoded.
    plan = plan_tracks([*streams, StreamInfo(2, 1)], "tracks")
    audio = load_tracks(path, plan, RATE)
    assert [t.name for t, _ in audio.tracks] == ["Speaker 1", "Speaker 2"]
    assert [(t.name, "no stream 3" in why) for t, why in audio.failed] == [("Speaker 3", True)]
    mixed = audio.mixed()
    assert len(mixed) == max(len(a) for _, a in audio.tracks)


def test_the_streams_command(tmp_path):
    from tests.test_export_settings import run_cli

    path = write_streams(tmp_path / "film.mkv", tones(300, 700), RATE, titles=["Host", None],
                         languages=["eng", "deu"], default=0)
    result = run_cli(tmp_path, "streams", str(path), str(tmp_path / "missing.wav"))
    assert result.returncode == 1
    assert '  stream 1 (eng, "Host", 1 channel), flac, 16000 Hz, default' in result.stdout
    assert "--speakers mix: The audio streams are in different languages (deu, eng)" in result.stdout
    assert "--speakers tracks: One speaker per audio stream: Host (stream 1), deu (stream 2)." \
        in result.stdout
    assert "missing.wav: FAILED" in result.stderr


def test_a_stream_that_cannot_be_decoded_is_named_and_the_other_is_used(tmp_path):
    from chunky.asr.speaker_passes import _audio_report

    good = write_streams(tmp_path / "good.mkv", tones(300, 700, seconds=2.0), RATE, codec="mp3")
    path = damaged_second_stream(tmp_path / "bad.mkv", good)
    streams = probe_streams(path)
    assert [s.codec for s in streams] == ["mp3", "mp3"]
    plan = plan_tracks(streams, "tracks")
    audio = load_tracks(path, plan, RATE)
    assert [t.label() for t, _ in audio.tracks] == ["Speaker 1 (stream 1)"]
    assert round(dominant(audio.tracks[0][1])) == 300
    [(track, why)] = audio.failed
    assert track.stream == 1 and "bad.mkv is damaged or truncated" in why
    report = _audio_report(plan, audio)
    assert report["used"] == ["Speaker 1 (stream 1)"]
    assert report["notes"][-1].startswith("Speaker 2 (stream 2) could not be decoded and was left out: "
                                          "bad.mkv")
    mixed = load_tracks(path, plan_tracks(streams, "mix"), RATE)  # the mix uses what decodes, and says so
    assert [t.stream for t, _ in mixed.tracks] == [0] and len(mixed.failed) == 1
