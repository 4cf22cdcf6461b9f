"""The stretch of a recording that is decoded and still needed: samples appended at the end as blocks
are decoded, dropped at the front once no chunk needs them. numpy only.

Positions are sample indices from the start of the recording, so a chunk's ``sample_range`` reads it
directly. Memory is the live stretch (about a chunk window and a decode block), not the recording.
"""

from __future__ import annotations

import numpy as np


class SampleBuffer:
    """A growing-and-shrinking window ``[start, end)`` of a mono recording's samples."""

    def __init__(self, dtype: type = np.float32, capacity: int = 1 << 20):
        self._data = np.empty(max(1, int(capacity)), dtype=dtype)
        self._offset = 0  # position of self._data[0] in the recording
        self._used = 0  # samples held: self._data[:self._used]
        self._lo = 0  # samples before this index of self._data were dropped

    @property
    def start(self) -> int:
        """Position of the first sample still held."""
        return self._offset + self._lo

    @property
    def end(self) -> int:
        """Position one past the last sample appended (samples decoded so far)."""
        return self._offset + self._used

    def __len__(self) -> int:
        return self._used - self._lo

    @property
    def nbytes(self) -> int:
        """Bytes allocated (the capacity, not the live part)."""
        return self._data.nbytes

    def append(self, block: np.ndarray) -> None:
        block = np.asarray(block)
        if block.ndim != 1:
            raise ValueError(f"expected a mono block, got shape {block.shape}")
        n = len(block)
        if self._used + n > len(self._data):
            live = self._used - self._lo
            if live + n > len(self._data):  # grow (and compact)
                grown = np.empty(max(2 * len(self._data), live + n), dtype=self._data.dtype)
                grown[:live] = self._data[self._lo : self._used]
                self._data = grown
            else:  # move the live part to the front
                self._data[:live] = self._data[self._lo : self._used]
            self._offset += self._lo
            self._used, self._lo = live, 0
        self._data[self._used : self._used + n] = block
        self._used += n

    def read(self, first: int, last: int) -> np.ndarray:
        """A copy of the samples at positions ``[first, last)`` (clipped to what was appended); they must
        not have been dropped."""
        last = min(last, self.end)
        if first < self.start:
            raise ValueError(f"samples from {first} were dropped (the buffer starts at {self.start})")
        first = min(first, last)
        return self._data[first - self._offset : last - self._offset].copy()

    def view(self, first: int, last: int) -> np.ndarray:
        """The samples at ``[first, last)`` without a copy: read-only, and valid only until the next
        :meth:`append` or :meth:`drop_before`."""
        last = min(last, self.end)
        if first < self.start:
            raise ValueError(f"samples from {first} were dropped (the buffer starts at {self.start})")
        first = min(first, last)
        out = self._data[first - self._offset : last - self._offset]
        out.flags.writeable = False
        return out

    def drop_before(self, position: int) -> None:
        """Forget the samples before ``position`` (they will not be read again)."""
        position = min(max(position, self.start), self.end)
        self._lo = position - self._offset
