"""The Windows lane's builder without building it (fast): where it cannot be built it says why, and it
never deletes a folder that has something mounted under it. The lane itself: tests/windows."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.windows import lane


def test_no_root_means_unavailable_with_the_reason(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(lane, "CACHE", tmp_path / "empty-cache")
    monkeypatch.setattr(lane.os, "geteuid", lambda: 1000)
    with pytest.raises(lane.LaneUnavailable, match="needs root"):
        lane.ensure_built()
    assert not (tmp_path / "empty-cache").exists(), "nothing is written when it cannot be built"


def test_the_lane_can_be_turned_off(monkeypatch) -> None:
    monkeypatch.setenv("CHUNKY_WINLANE", "0")
    with pytest.raises(lane.LaneUnavailable, match="CHUNKY_WINLANE=0"):
        lane.ensure_built()


def test_missing_debootstrap_without_apt_is_unavailable(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(lane, "CACHE", tmp_path)
    monkeypatch.setattr(lane.os, "geteuid", lambda: 0)
    missing = ("debootstrap", "apt-get")
    monkeypatch.setattr(lane.shutil, "which", lambda name: None if name in missing else name)
    with pytest.raises(lane.LaneUnavailable, match="debootstrap"):
        lane.ensure_built()


def test_safe_rmtree_refuses_while_something_is_mounted_below(monkeypatch, tmp_path) -> None:
    victim = tmp_path / "rootfs"
    (victim / "dev").mkdir(parents=True)
    (victim / "dev" / "null").write_text("a device node")
    monkeypatch.setattr(lane, "_mount_points", lambda: ["/", str(victim / "dev")])
    with pytest.raises(lane.LaneError, match="refusing to delete"):
        lane.safe_rmtree(victim)
    assert (victim / "dev" / "null").exists()
    monkeypatch.setattr(lane, "_mount_points", lambda: ["/", "/proc", str(tmp_path) + "-other"])
    lane.safe_rmtree(victim)
    assert not victim.exists()


def test_the_mount_table_is_read_with_its_escapes(monkeypatch, tmp_path) -> None:
    spaced = tmp_path / "a b"
    spaced.mkdir()
    table = f"proc {str(spaced).replace(' ', chr(92) + '040')}/proc proc rw 0 0\n"
    monkeypatch.setattr(lane.Path, "read_text", lambda self, *a, **k: table)
    assert lane.mounts_under(spaced) == [f"{spaced}/proc"]


def test_the_debian_mirror_comes_from_apt(monkeypatch, tmp_path) -> None:
    sources = tmp_path / "debian.sources"
    sources.write_text("Types: deb\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\n\n"
                       "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n")
    real_path = lane.Path

    def fake_path(p, *rest):
        if str(p) == "/etc/apt/sources.list.d/debian.sources":
            return sources
        return real_path(p, *rest)

    monkeypatch.delenv("CHUNKY_WINLANE_MIRROR", raising=False)
    monkeypatch.setattr(lane, "Path", fake_path)
    assert lane.debian_mirror() == "http://mirror.example/debian"
    monkeypatch.setenv("CHUNKY_WINLANE_MIRROR", "http://other/debian")
    assert lane.debian_mirror() == "http://other/debian"


def test_the_cache_keys_follow_what_the_parts_are_made_from(monkeypatch) -> None:
    tools = lane.tools_key()
    monkeypatch.setattr(lane, "WHEELS", (*lane.WHEELS, "extra==1.0"))
    assert lane.tools_key() != tools
    assert lane.rootfs_key() == lane.rootfs_key()
    assert {p.name for p in Path(lane.STUB_SOURCES).glob("*.c")} == {f"{n}.c" for n in lane.STUBS}
