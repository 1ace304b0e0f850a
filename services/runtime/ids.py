"""64-bit time-ordered ids, Instagram style: sorting by id sorts by creation time.

Layout: 41 bits of milliseconds since EPOCH_MS, 13 bits of shard, 10 bits of sequence. No
coordination between processes as long as each has its own shard.
"""

from __future__ import annotations

import threading
import time

EPOCH_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z
SHARD_BITS = 13
SEQUENCE_BITS = 10
MAX_SHARD = (1 << SHARD_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1


class IdGenerator:
    """Thread-safe; never goes backwards even if the wall clock does."""

    def __init__(self, shard_id: int) -> None:
        if not 0 <= shard_id <= MAX_SHARD:
            raise ValueError(f"shard_id must be within 0..{MAX_SHARD}")
        self._shard = shard_id
        self._lock = threading.Lock()
        self._last_ms = 0
        self._sequence = 0

    def next_id(self) -> int:
        with self._lock:
            now = max(int(time.time() * 1000) - EPOCH_MS, self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:  # 1,024 ids in this millisecond: borrow the next one
                    now += 1
            else:
                self._sequence = 0
            self._last_ms = now
            return (now << (SHARD_BITS + SEQUENCE_BITS)) | (self._shard << SEQUENCE_BITS) | self._sequence


def id_timestamp_ms(id_: int) -> int:
    """Unix milliseconds at which an id was made."""
    return (id_ >> (SHARD_BITS + SEQUENCE_BITS)) + EPOCH_MS


def min_id_at(unix_ms: int) -> int:
    """The smallest id that could have been made at unix_ms (for time-range scans)."""
    return max(unix_ms - EPOCH_MS, 0) << (SHARD_BITS + SEQUENCE_BITS)
