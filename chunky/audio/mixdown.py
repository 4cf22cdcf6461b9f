"""Several tracks of one file mixed into one stream of blocks while they are decoded side by side: the
mix of :meth:`chunky.audio.streams.TrackAudio.mixed` (the mean of the tracks; the longest sets the length)
without holding any track in memory, so mixing four 40-minute streams costs what one block of each does.

Each track is opened and its first block decoded at once: a track that cannot be decoded there is left
out and kept in ``failed`` with its reason (AudioError when none can be decoded). A track that breaks later
is silent from there on, and a note says where (the blocks already handed on cannot be taken back).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from chunky.audio import decode
from chunky.audio.tracks import Track
from chunky.base.errors import AudioError

log = logging.getLogger(__name__)


class _Lane:
    """One track's decoder and the samples it gave that the mix has not used yet."""

    def __init__(self, track: Track, blocks: Iterator[np.ndarray]) -> None:
        self.track = track
        self.blocks = blocks
        self.pending = np.zeros(0, np.float32)
        self.ended = False
        self.decoded = 0  # samples decoded so far

    def pull(self) -> None:
        block = next(self.blocks)
        self.decoded += len(block)
        self.pending = block if not len(self.pending) else np.concatenate([self.pending, block])

    def take(self, n: int) -> np.ndarray:
        out, self.pending = self.pending[:n], self.pending[n:]
        return out

    def close(self) -> None:
        close = getattr(self.blocks, "close", None)
        if close is not None:
            close()


class MixedBlocks(Iterator[np.ndarray]):
    """The mean of ``tracks`` of ``path`` as consecutive mono float32 blocks at ``rate``."""

    def __init__(self, path: str | Path, tracks: tuple[Track, ...] | list[Track], rate: int,
                 block_seconds: float = 30.0) -> None:
        self.path = Path(path)
        self.rate = rate
        self.block = max(1, int(block_seconds * rate))
        self.failed: list[tuple[Track, str]] = []  # left out from the start, and why
        self.notes: list[str] = []  # tracks that broke on the way
        self.samples = 0  # samples handed on so far
        self._lanes: list[_Lane] = []
        try:
            for track in tracks:
                self._open(track, len(tracks) == 1)
        except BaseException:
            self.close()
            raise
        if not self._lanes:
            reasons = "; ".join(f"{t.label()}: {why}" for t, why in self.failed)
            raise AudioError(f"{self.path.name}: none of its audio tracks could be decoded ({reasons}).")
        self._count = np.float32(len(self._lanes))

    @property
    def used(self) -> list[Track]:
        return [lane.track for lane in self._lanes]

    def _open(self, track: Track, alone: bool) -> None:
        lane = None
        try:
            lane = _Lane(track, decode.iter_blocks(self.path, self.rate, self.block / self.rate,
                                                   stream=track.stream, channel=track.channel))
            try:
                lane.pull()
            except StopIteration:
                lane.ended = True
        except AudioError as exc:
            if lane is not None:
                lane.close()
            if alone:
                raise
            log.warning("%s: %s could not be decoded and is left out: %s", self.path.name, track.label(), exc)
            self.failed.append((track, str(exc)))
            return
        self._lanes.append(lane)

    def _fill(self, lane: _Lane) -> None:
        while not lane.ended and len(lane.pending) < self.block:
            try:
                lane.pull()
            except StopIteration:
                lane.ended = True
            except AudioError as exc:
                at = lane.decoded / self.rate
                note = (f"{lane.track.label()} stopped decoding after {at:.1f} s and is silent from there: "
                        f"{exc}")
                log.warning("%s: %s", self.path.name, note)
                self.notes.append(note)
                lane.ended = True
                lane.close()

    def __next__(self) -> np.ndarray:
        for lane in self._lanes:
            self._fill(lane)
        live = [len(lane.pending) for lane in self._lanes if not lane.ended]
        n = min(self.block, *live) if live else max(len(lane.pending) for lane in self._lanes)
        if n == 0:
            raise StopIteration
        out = np.zeros(n, np.float32)
        for lane in self._lanes:
            part = lane.take(n)
            out[: len(part)] += part
        if self._count != 1:
            out /= self._count
        self.samples += n
        return out

    def close(self) -> None:
        for lane in self._lanes:
            lane.close()
