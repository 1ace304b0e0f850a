"""Photo metadata in the view process: bounded, and never trusted for more than `max_age` (≤ 1 s).

A photo's metadata never changes after its upload; only deletion (and, when posts become editable, an
edit) ends it. The promise: a deleted photo is not served after its delete is acknowledged + 1 s.
Each entry expires `max_age` after the fetch that read it was *sent*. The photo store read it after
that moment, while the photo still existed, so any delete was acknowledged later still: the entry
is gone by delete ack + `max_age` whatever NATS, the outbox relay or this process's consumer are
doing. Events are only the fast path: PhotoDeleted (and any future event naming a photo that
changed) drops the entry at once, typically milliseconds after the delete, and refuses what a fetch
sent before it would put back.

What it saves: a photo viewed often is fetched about once per `max_age` per view process instead of
once per view; everything else still reads through, coalesced (services.runtime.batching).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from shutter.photo.v1 import photo_pb2

# The design's promise: never served after delete acknowledged + this.
MAX_AGE_LIMIT_SECONDS = 1.0


class PhotoCache:
    """photo_id → Photo, at most `max_entries` (the oldest go first), each for at most `max_age` s."""

    def __init__(self, max_entries: int, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= max_age <= MAX_AGE_LIMIT_SECONDS:
            raise ValueError(f"a photo may be cached for 0 to {MAX_AGE_LIMIT_SECONDS} s, not {max_age}")
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[int, tuple[photo_pb2.Photo, float]] = {}  # → (photo, expires), oldest first
        self._invalidated: dict[int, float] = {}  # → when, for the last max_age seconds
        self.hits = 0
        self.misses = 0

    def now(self) -> float:
        """The cache's clock: read it just before sending a fetch, and pass it to put()."""
        return self._clock()

    def get(self, photo_id: int) -> photo_pb2.Photo | None:
        entry = self._entries.get(photo_id)
        if entry is not None:
            if self._clock() < entry[1]:
                self.hits += 1
                return entry[0]
            del self._entries[photo_id]
        self.misses += 1
        return None

    def put(self, photos: Iterable[photo_pb2.Photo], sent_at: float) -> None:
        """Remember photos a fetch sent at `sent_at` (from now()) found."""
        if not self._max_entries or not self._max_age:
            return
        expires = sent_at + self._max_age
        if expires <= self._clock():
            return
        for photo in photos:
            invalidated = self._invalidated.get(photo.photo_id)
            if invalidated is not None and sent_at <= invalidated:
                continue  # read before the photo changed or went: not to be put back
            self._entries.pop(photo.photo_id, None)
            self._entries[photo.photo_id] = (photo, expires)
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def invalidate(self, photo_id: int) -> None:
        """The photo was deleted (or changed): forget it, and refuse fetches sent before now."""
        now = self._clock()
        self._entries.pop(photo_id, None)
        self._invalidated.pop(photo_id, None)
        self._invalidated[photo_id] = now
        # An invalidation older than max_age can refuse nothing: anything sent before it expired already.
        while self._invalidated:
            oldest = next(iter(self._invalidated))
            if self._invalidated[oldest] > now - self._max_age:
                break
            del self._invalidated[oldest]

    def __len__(self) -> int:
        return len(self._entries)
