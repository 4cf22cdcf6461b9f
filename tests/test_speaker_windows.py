"""The pure half of clustering diarization (chunky.asr.speaker_windows): which windows are embedded, and
each speech frame's speaker from the labelled base windows."""

from __future__ import annotations

import numpy as np
import pytest

from chunky.asr.speaker_turns import turns_from_activity
from chunky.asr.speaker_windows import (
    Scale,
    activity,
    frame_speakers,
    merge_small_clusters,
    speech_share,
    window_bounds,
)

FRAME = 0.032


def test_windows_slide_by_their_shift_and_the_last_one_is_cut_at_the_end() -> None:
    scale = Scale(1.5, 0.75)
    assert window_bounds(scale, 0, None) == (0.0, 1.5)
    assert window_bounds(scale, 3, None) == (2.25, 3.75)  # length unknown yet: the whole window
    assert window_bounds(scale, 3, 3.5) == (2.25, 3.5)  # cut by the end, 1.25 s of 1.5 kept
    assert window_bounds(scale, 4, 3.5) is None  # 0.5 s left of 1.5: too short to say who speaks
    assert window_bounds(scale, 0, 0.4) == (0.0, 0.4)  # a short recording still has its first window
    assert window_bounds(scale, 5, 3.5) is None
    with pytest.raises(ValueError, match="shift"):
        Scale(0.5, 0.75)


def test_speech_share_counts_the_frames_inside_the_window() -> None:
    speech = np.zeros(100, bool)
    speech[10:20] = True  # 0.32-0.64 s
    assert speech_share(speech, FRAME, 0.32, 0.64) == 1.0
    assert speech_share(speech, FRAME, 0.0, 0.64) == 0.5
    assert speech_share(speech, FRAME, 1.0, 2.0) == 0.0
    assert speech_share(speech, FRAME, 5.0, 6.0) == 0.0  # past the frames the VAD has read


def test_each_speech_frame_takes_the_nearest_base_window_and_turns_split_between_them() -> None:
    speech = np.zeros(200, bool)  # 6.4 s
    speech[10:150] = True  # 0.32-4.8 s
    centres = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    labels = np.array([4, 4, 4, 7, 7, 7, 7])
    who = frame_speakers(speech, FRAME, centres, labels)
    assert (who[~speech] == -1).all()
    t = (np.arange(200) + 0.5) * FRAME
    assert (who[speech & (t < 1.75)] == 4).all() and (who[speech & (t > 1.75) & (t < 4.5)] == 7).all()
    assert (who[speech & (t > 4.5)] == -1).all()  # more than a second from every labelled window
    act = activity(who)
    assert act.shape == (200, 2) and act.sum(axis=1).max() == 1.0
    turns = turns_from_activity(act, FRAME)
    assert [(t.speaker, round(t.start, 2), round(t.end, 2)) for t in turns] == [
        ("Speaker 1", 0.32, 1.76), ("Speaker 2", 1.76, 4.51)]


def test_no_windows_no_speakers() -> None:
    speech = np.ones(50, bool)
    who = frame_speakers(speech, FRAME, np.zeros(0), np.zeros(0, np.int64))
    assert (who == -1).all() and activity(who).shape == (50, 0)
    assert turns_from_activity(activity(who), FRAME) == []


def test_a_scrap_cluster_joins_the_voice_it_is_closest_to() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=16), rng.normal(size=16)
    near_b = b + 0.3 * rng.normal(size=16)
    emb = np.stack([a + 0.1 * rng.normal(size=16) for _ in range(60)]
                   + [b + 0.1 * rng.normal(size=16) for _ in range(60)]
                   + [near_b + 0.05 * rng.normal(size=16) for _ in range(2)])
    labels = np.array([3] * 60 + [5] * 60 + [9] * 2)
    merged = merge_small_clusters(labels, emb)
    assert (merged[:60] == 3).all() and (merged[60:] == 5).all()  # 2 of 122 windows: under 2%, into b
    assert np.array_equal(merge_small_clusters(labels, emb, min_share=0.01), labels)  # 1.6%: kept
    assert np.array_equal(merge_small_clusters(labels[:60], emb[:60]), labels[:60])  # one cluster stays
    assert len(merge_small_clusters(np.zeros(0, np.int64), np.zeros((0, 16)))) == 0
