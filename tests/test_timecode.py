"""SMPTE timecode arithmetic (chunky/transcript/timecode.py) against the `timecode` package, drop-frame
across hour and ten-minute boundaries included. Pure Python."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from timecode import Timecode

from chunky.transcript.timecode import (
    RATES,
    TimecodeError,
    Timing,
    check_timecode,
    frames_per_day,
    frames_to_seconds,
    frames_to_timecode,
    make_timing,
    normalize_timecode,
    parse_rate,
    rate_from_fraction,
    seconds_to_frames,
    timecode_to_frames,
)


def reference(frames: int, label: str) -> str:
    """The `timecode` package's label of a 0-based frame count (it counts frames from 1)."""
    rate = RATES[label]
    tc = Timecode(label.removesuffix("ndf"), frames=frames + 1, force_non_drop_frame=not rate.drop_frame)
    return str(tc)


@pytest.mark.parametrize("label", list(RATES))
def test_every_frame_across_the_first_hour_boundary_matches_the_timecode_package(label):
    rate = RATES[label]
    hour = timecode_to_frames("01:00:00:00", rate)
    for frames in range(hour - 3 * rate.nominal * 60, hour + 3 * rate.nominal * 60):  # 00:57 .. 01:03
        tc = frames_to_timecode(frames, rate)
        assert tc == reference(frames, label), frames
        assert timecode_to_frames(tc, rate) == frames


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(list(RATES)), st.data())
def test_random_frames_match_the_timecode_package_and_round_trip(label, data):
    rate = RATES[label]
    frames = data.draw(st.integers(0, frames_per_day(rate) - 1))
    tc = frames_to_timecode(frames, rate)
    assert tc == reference(frames, label)
    assert timecode_to_frames(tc, rate) == frames


def test_drop_frame_labels_at_the_hour_and_the_minutes():
    df = RATES["29.97"]
    assert frames_to_timecode(107891, df) == "00:59:59;29"
    assert frames_to_timecode(107892, df) == "01:00:00;00"  # 108000 - 108 dropped labels
    assert frames_to_timecode(1800, df) == "00:01:00;02"  # ;00 and ;01 are skipped at minute 1
    assert frames_to_timecode(17982, df) == "00:10:00;00"  # ... but not at minute 10
    assert frames_to_timecode(timecode_to_frames("00:00:59;59", RATES["59.94"]) + 1, RATES["59.94"]) == \
        "00:01:00;04"
    with pytest.raises(TimecodeError, match="does not exist in drop-frame"):
        timecode_to_frames("00:01:00;00", df)
    assert timecode_to_frames("00:10:00;00", df) == 17982
    # An hour of drop-frame timecode is (almost) an hour of clock time; non-drop drifts 3.6 s.
    assert frames_to_seconds(107892, df) == pytest.approx(3599.9964, abs=1e-4)
    assert frames_to_seconds(108000, RATES["29.97ndf"]) == pytest.approx(3603.6)


def test_rates_and_their_names():
    assert parse_rate("29.97") is RATES["29.97"] and RATES["29.97"].drop_frame
    assert parse_rate("29.97df") is RATES["29.97"] and parse_rate("29.97 NDF") is RATES["29.97ndf"]
    assert parse_rate("23.98") is RATES["23.976"] and parse_rate(25) is RATES["25"]
    assert parse_rate("59.94df").dropped_per_minute == 4
    with pytest.raises(TimecodeError, match="Unknown frame rate '31'"):
        parse_rate("31")
    assert rate_from_fraction(Fraction(30000, 1001)) is RATES["29.97"]
    assert rate_from_fraction(Fraction(30000, 1001), drop_frame=False) is RATES["29.97ndf"]
    assert rate_from_fraction(Fraction(24000, 1001)) is RATES["23.976"]
    assert rate_from_fraction(25.0) is RATES["25"] and rate_from_fraction(12.5) is None


def test_timecodes_are_checked():
    for bad in ("1:00:00", "01:00:00:25x", "24:00:00:00", "00:60:00:00", "aa:bb:cc:dd"):
        with pytest.raises(TimecodeError):
            timecode_to_frames(bad, RATES["25"])
    with pytest.raises(TimecodeError, match="out of range at 25 fps"):
        timecode_to_frames("00:00:00:25", RATES["25"])
    assert normalize_timecode("1:00:00:00", RATES["29.97"]) == "01:00:00;00"
    assert check_timecode("01:00:00;00") == "01:00:00;00" and check_timecode(" 10:00:00:12 ") == "10:00:00:12"
    with pytest.raises(TimecodeError):
        check_timecode("99:00:00:00")


def test_seconds_and_frames_and_the_timeline():
    rate = RATES["25"]
    assert seconds_to_frames(1.0, rate) == 25 and seconds_to_frames(0.019, rate) == 0
    assert seconds_to_frames(0.02, rate) == 1  # halves round up
    t = make_timing("25", "01:00:00:00")
    assert t.timecode_of(0.48) == "01:00:00:12" and t.frame_of(0.48) == 90012
    assert t.timecode_of(0.5) == "01:00:00:13"  # 12.5 frames: the nearest frame, halves up
    assert t.clock_offset == 3600.0 and t.source_timecode_of(0.48) == "01:00:00:12"
    df = make_timing("29.97", "00:59:59;00", media="00:00:00;00")
    assert df.timecode_of(1.0) == "01:00:00;00"  # 30 frames on: across the hour
    assert df.source_timecode_of(1.0) == "00:00:01;00"
    assert Timing().start_timecode == "00:00:00:00" and Timing().rate is RATES["25"]
    # A day wraps.
    assert make_timing("25", "23:59:59:24").timecode_of(0.04) == "00:00:00:00"
