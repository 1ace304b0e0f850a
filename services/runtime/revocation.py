"""Deleted users, known to every service, so a deleted user's still-valid token stops working at once.

Tokens are stateless JWTs valid for SHUTTER_TOKEN_TTL_SECONDS. Without this, a user deleted by
DeleteUser could keep writing (photos, likes, comments…) with their old token until it expired, and
those writes would outlive the one-off per-service purges run on the UserDeleted event.

Each process reads the UserDeleted subject through an ephemeral ordered consumer (in memory on the
server, nothing durable to clean up) that starts at `now - token TTL - margin`: only deletions within
one token lifetime matter, because any token issued before an older deletion has expired by now and is
refused as expired anyway. Entries older than that window are dropped for the same reason, so the set
stays as small as one TTL's worth of deletions. User ids are never reused, so "this id was deleted" is
enough; no per-token bookkeeping.

Remaining window: the event reaches every process milliseconds after the user service commits and
relays it (longer if NATS is down, but then the deletion's event is delayed too). A write that races the
deletion inside that window can survive; the per-service UserDeleted purges remain the backstop for data
written before the deletion, and a write landing after the purge in that window is the accepted residue.

Every process sees every deletion (services.runtime.broadcast), from `now - token TTL - margin` on.
"""

from __future__ import annotations

import time

from services.runtime.broadcast import Broadcast
from services.runtime.events import EventBus
from shutter.events.v1 import events_pb2

# Clock skew between the user service and this process, and event relay delay.
WINDOW_MARGIN_SECONDS = 300.0
PRUNE_EVERY_SECONDS = 60.0


class DeletedUsers:
    """The ids of users deleted within the last token lifetime (a runtime component)."""

    def __init__(self, bus: EventBus, token_ttl_seconds: float, margin_seconds: float = WINDOW_MARGIN_SECONDS) -> None:
        self._window = token_ttl_seconds + margin_seconds
        self._deleted_at: dict[int, float] = {}
        self._last_prune = time.time()
        self._deletions = Broadcast(bus, events_pb2.UserDeleted, self._on_deleted, since=time.time() - self._window)

    def is_deleted(self, user_id: int) -> bool:
        return user_id in self._deleted_at

    async def start(self) -> None:
        """Subscribe and wait (bounded) until the deletions already in the window are loaded."""
        await self._deletions.start()

    async def stop(self) -> None:
        await self._deletions.stop()

    def _on_deleted(self, event: events_pb2.UserDeleted) -> None:
        now = time.time()
        deleted_at = event.meta.occurred_at.ToSeconds() if event.meta.HasField("occurred_at") else now
        if deleted_at >= now - self._window:
            self._deleted_at[event.user_id] = deleted_at
        if now - self._last_prune > PRUNE_EVERY_SECONDS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget deletions older than a token lifetime: every token they could concern has expired."""
        cutoff = now - self._window
        self._deleted_at = {user: at for user, at in self._deleted_at.items() if at >= cutoff}
        self._last_prune = now
