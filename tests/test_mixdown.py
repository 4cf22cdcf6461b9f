"""Several streams mixed while they are decoded (chunky.audio.mixdown): the same samples as decoding
every track whole and mixing them, whatever the block size; tracks that fail at the start or break on
the way. Real MKV/WAV files; no NeMo."""

from __future__ import annotations

import numpy as np
import pytest

from chunky.audio.mixdown import MixedBlocks
from chunky.audio.streams import load_tracks, probe_streams
from chunky.audio.tracks import StreamInfo, Track, plan_tracks
from chunky.base.errors import AudioError
from tests.multitrack import damaged_second_stream, write_channels, write_streams
from tests.test_tracks import RATE, dominant, tones


def joined(mix: MixedBlocks) -> np.ndarray:
    try:
        return np.concatenate(list(mix))
    finally:
        mix.close()


@pytest.mark.parametrize("block_seconds", [0.37, 1.0, 30.0])
def test_the_streamed_mix_is_the_mix_of_the_whole_tracks(tmp_path, block_seconds):
    a, b, c = tones(300, 700, 1100, seconds=3.0)
    path = write_streams(tmp_path / "three.mkv", [a, b[: int(1.7 * RATE)], c], RATE)  # one is shorter
    plan = plan_tracks(probe_streams(path), "mix")
    assert len(plan.tracks) == 3
    whole = load_tracks(path, plan, RATE).mixed()
    mix = MixedBlocks(path, plan.tracks, RATE, block_seconds)
    streamed = joined(mix)
    assert streamed.dtype == np.float32 and len(streamed) == len(whole) == mix.samples
    assert np.abs(streamed - whole).max() < 1e-6
    assert mix.used == list(plan.tracks) and mix.failed == [] and mix.notes == []


def test_channels_and_one_track(tmp_path):
    path = write_channels(tmp_path / "rec.wav", tones(300, 500, 700, 900), RATE)
    (stream,) = probe_streams(path)
    two = (Track(0, 1), Track(0, 3))
    streamed = joined(MixedBlocks(path, two, RATE, 0.25))
    whole = load_tracks(path, plan_tracks([stream], "tracks"), RATE)
    expect = (whole.tracks[1][1] + whole.tracks[3][1]) / 2
    assert np.abs(streamed - expect).max() < 1e-6
    one = joined(MixedBlocks(path, (Track(0, 2),), RATE))
    assert round(dominant(one)) == 700


def test_a_track_that_fails_at_the_start_is_left_out_and_named(tmp_path):
    good = write_streams(tmp_path / "good.mkv", tones(300, 700, seconds=2.0), RATE, codec="mp3")
    path = damaged_second_stream(tmp_path / "bad.mkv", good)
    streams = probe_streams(path)
    mix = MixedBlocks(path, plan_tracks(streams, "mix").tracks, RATE, 0.5)
    streamed = joined(mix)
    assert [t.stream for t in mix.used] == [0]
    [(track, why)] = mix.failed
    assert track.stream == 1 and "bad.mkv is damaged or truncated" in why
    assert round(dominant(streamed)) == 300
    with pytest.raises(AudioError, match="none of its audio tracks could be decoded"):
        MixedBlocks(path, (Track(1), Track(5)), RATE)
    with pytest.raises(AudioError, match="damaged or truncated"):  # one track alone: its own error
        MixedBlocks(path, (Track(1),), RATE)
    with pytest.raises(AudioError, match="no stream 3"):
        MixedBlocks(tmp_path / "good.mkv", plan_tracks([*probe_streams(good), StreamInfo(2, 1)], "mix",
                                                       track=3).tracks, RATE)


def test_a_damaged_stretch_ends_that_track_there_as_a_whole_decode_does(tmp_path):
    good = write_streams(tmp_path / "good.mkv", tones(300, 700, seconds=6.0), RATE, codec="mp3")
    path = damaged_second_stream(tmp_path / "breaks.mkv", good, from_seconds=3.0)
    plan = plan_tracks(probe_streams(path), "mix")
    whole = load_tracks(path, plan, RATE).mixed()
    mix = MixedBlocks(path, plan.tracks, RATE, 0.5)
    streamed = joined(mix)
    assert len(mix.used) == 2 and mix.failed == [] and mix.notes == []
    assert len(streamed) == len(whole) and np.abs(streamed - whole).max() < 1e-6
    assert round(dominant(streamed[int(4.5 * RATE):])) == 300  # after the damage only stream 1 is left


def test_a_track_whose_decoder_fails_on_the_way_is_silent_from_there_and_said(tmp_path, monkeypatch):
    from chunky.audio import decode

    path = write_streams(tmp_path / "two.mkv", tones(300, 700, seconds=4.0), RATE)
    real = decode.iter_blocks

    def failing_later(p, rate, block_seconds, *, stream=None, channel=None):
        blocks = real(p, rate, block_seconds, stream=stream, channel=channel)
        if stream != 1:
            return blocks

        def gen():
            for i, block in enumerate(blocks):
                if i == 4:
                    raise AudioError("two.mkv cannot be decoded: a read error (fault injected)")
                yield block
        return gen()

    monkeypatch.setattr(decode, "iter_blocks", failing_later)
    mix = MixedBlocks(path, (Track(0), Track(1)), RATE, 0.5)
    streamed = joined(mix)
    assert len(mix.used) == 2 and mix.failed == []
    [note] = mix.notes
    assert note == ("stream 2 stopped decoding after 2.0 s and is silent from there: two.mkv cannot be "
                    "decoded: a read error (fault injected)")
    assert len(streamed) == 4 * RATE  # the first stream whole
    assert round(dominant(streamed[: 2 * RATE])) in (300, 700)
    assert round(dominant(streamed[int(2.5 * RATE):])) == 300
