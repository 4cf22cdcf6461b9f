"""Fixtures of the Windows lane: the built lane (cached) and one Wine session for the test session."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.windows import lane

TIMINGS = Path(__file__).resolve().parent.parent / "_artifacts" / "winlane-timings.txt"


@pytest.fixture(scope="session")
def lane_build() -> lane.LaneBuild:
    """The lane's Debian folder and tools, built on first use and cached (see tests/windows/lane.py)."""
    try:
        build = lane.ensure_built()
    except lane.LaneUnavailable as e:
        skip_or_fail(f"Windows lane unavailable: {e}")
    TIMINGS.parent.mkdir(parents=True, exist_ok=True)
    with TIMINGS.open("a") as f:
        f.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} ensure_built {build.seconds:.1f} s, "
                f"built: {', '.join(build.built) or 'nothing (cached)'}; {build.wine_version}\n")
    return build


@pytest.fixture(scope="session")
def winlane(lane_build: lane.LaneBuild,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[lane.LaneSession]:
    """A Wine session (its own prefix and work folder) shared by the lane's tests."""
    work = tmp_path_factory.mktemp("winlane")
    with lane.LaneSession(lane_build, work) as session:
        yield session
    assert not lane.mounts_under(work), "the lane left a mount behind"
    assert os.path.isdir(work)
