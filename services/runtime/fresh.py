"""A cache whose entries are trusted for at most a second: the view's photos, the visibility policy's
relationships.

The promise both make: a change (a photo deleted or edited, a block) is not served past its
acknowledgement + `max_age` (≤ 1 s), whatever NATS, the outbox relay or this process's consumers are
doing. Each entry expires `max_age` after the fetch that read it was *sent*: the store read it after
that moment, so any change was acknowledged later still. Events are only the fast path:
`invalidate(token)` makes every entry naming the token stale at once and refuses what a fetch sent
before it would put back, so a change is never undone by a fetch that raced it.

Refresh ahead. An entry that expired on its own made the next caller wait for a fetch; on the view path
that is a whole extra hop (the photo, then the policy for its owner, in turn), and a photo viewed
several times a second expired every second. With a refresher (`refresh_with`), a hit on an entry older
than `REFRESH_AFTER_SHARE` of `max_age` still answers from the cache but starts one fetch in the
background, so an entry in steady use is replaced before it expires and its callers never wait. The
promise is unchanged: the entry served is the one fetched less than `max_age` ago, and an invalidated
one is never served while its refresh runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

# The promise: never served after a change is acknowledged + this.
MAX_AGE_LIMIT_SECONDS = 1.0
# A hit on an entry this far into its max_age starts its refresh (with a refresher): early enough that
# an entry asked for a few times a second is fetched again before it expires.
REFRESH_AFTER_SHARE = 0.5

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
        self._refresh_after = max_age * REFRESH_AFTER_SHARE
        self._refresher: Callable[[K], None] | None = None
        self._refreshing: set[K] = set()  # keys whose refresh was started and has not ended
        self.hits = 0
        self.misses = 0
        self.refreshes = 0

    def refresh_with(self, refresher: Callable[[K], None]) -> None:
        """Refresh ahead (see the module): `refresher(key)` starts a fetch that put_fetched()s what it finds
        and calls refreshed(key) when it ends, however it ends. It must not block or raise."""
        self._refresher = refresher

    def refreshed(self, key: K) -> None:
        """`key`'s refresh ended (found, gone or failed): the next hit past the refresh age may start another."""
        self._refreshing.discard(key)

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
            now = self._clock()
            if self._fresh(key, entry[1], now):
                self.hits += 1
                refresher = self._refresher
                if refresher is not None and now - entry[1] >= self._refresh_after and key not in self._refreshing:
                    self._refreshing.add(key)  # one refresh at a time, until refreshed(key)
                    self.refreshes += 1
                    refresher(key)
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
