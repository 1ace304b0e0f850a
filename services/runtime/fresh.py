"""A cache whose entries are trusted for at most a second: the view's photos, the visibility policy's
relationships.

The promise both make: a change (a photo deleted or edited, a block) is not served past its
acknowledgement + `max_age` (≤ 1 s), whatever NATS, the outbox relay or this process's consumers are
doing. Each entry expires `max_age` after the fetch that read it was *sent*: the store read it after
that moment, so any change was acknowledged later still. Events are only the fast path:
`invalidate(token)` makes every entry naming the token stale at once and refuses what a fetch sent
before it would put back, so a change is never undone by a fetch that raced it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

# The promise: never served after a change is acknowledged + this.
MAX_AGE_LIMIT_SECONDS = 1.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class FreshCache(Generic[K, V]):
    """key → value, at most `max_entries` (the oldest go first), each for at most `max_age` s after the fetch
    that read it was sent. A key is stale once any of its tokens (`tokens`: a photo id names itself, a
    (viewer, author) pair names both users) is invalidated after that fetch was sent."""

    def __init__(self, max_entries: int, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        if not 0 <= max_age <= MAX_AGE_LIMIT_SECONDS:
            raise ValueError(f"entries may be cached for 0 to {MAX_AGE_LIMIT_SECONDS} s, not {max_age}")
        self._max_entries = max_entries
        self._max_age = max_age
        self._clock = clock
        self._entries: dict[K, tuple[V, float]] = {}  # → (value, sent_at), oldest first
        self._invalidated: dict[Hashable, float] = {}  # token → when, for the last max_age seconds
        self.hits = 0
        self.misses = 0

    def tokens(self, key: K) -> Iterable[Hashable]:
        """What invalidates `key`: itself, unless a cache says otherwise."""
        return (key,)

    def now(self) -> float:
        """The cache's clock: read it just before sending a fetch, and pass it to put_fetched()."""
        return self._clock()

    def _fresh(self, key: K, sent_at: float, now: float) -> bool:
        if now - sent_at >= self._max_age:
            return False
        invalidated = self._invalidated
        return not invalidated or all(invalidated.get(token, -1.0) < sent_at for token in self.tokens(key))

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is not None:
            if self._fresh(key, entry[1], self._clock()):
                self.hits += 1
                return entry[0]
            del self._entries[key]
        self.misses += 1
        return None

    def put_fetched(self, found: Iterable[tuple[K, V]], sent_at: float) -> None:
        """Remember what a fetch sent at `sent_at` (from now()) found, except what changed since it was sent."""
        if not self._max_entries or not self._max_age:
            return
        now = self._clock()
        for key, value in found:
            if self._fresh(key, sent_at, now):
                self._entries.pop(key, None)
                self._entries[key] = (value, sent_at)
        while len(self._entries) > self._max_entries:
            del self._entries[next(iter(self._entries))]

    def invalidate(self, token: Hashable) -> None:
        """`token` changed: every entry naming it is stale now, and fetches sent before now are refused."""
        now = self._clock()
        self._invalidated.pop(token, None)
        self._invalidated[token] = now
        # An invalidation older than max_age can refuse nothing: anything sent before it expired already.
        while self._invalidated:
            oldest = next(iter(self._invalidated))
            if self._invalidated[oldest] > now - self._max_age:
                break
            del self._invalidated[oldest]

    def __len__(self) -> int:
        return len(self._entries)
