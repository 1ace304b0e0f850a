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

Reconnects: nats-py's ordered consumer re-creates itself after missed heartbeats (NATS restarted, the
in-memory consumer lost) from the last stream sequence it saw. Its re-created config keeps our
opt_start_time next to its BY_START_SEQUENCE, which the server rejects (nats-py 2.16), so once our
consumer exists we clear opt_start_time on the config object nats-py keeps (tested by
tests/integration/test_deleted_users.py across a NATS restart).
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.runtime.events import EVENTS_STREAM, SUBJECTS, EventBus
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.revocation")

# Clock skew between the user service and this process, and event relay delay.
WINDOW_MARGIN_SECONDS = 300.0
HEARTBEAT_SECONDS = 2.0
CATCH_UP_TIMEOUT_SECONDS = 15.0
PRUNE_EVERY_SECONDS = 60.0


class DeletedUsers:
    """The ids of users deleted within the last token lifetime (a runtime component)."""

    def __init__(self, bus: EventBus, token_ttl_seconds: float, margin_seconds: float = WINDOW_MARGIN_SECONDS) -> None:
        self._bus = bus
        self._window = token_ttl_seconds + margin_seconds
        self._deleted_at: dict[int, float] = {}
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._caught_up = asyncio.Event()
        self._last_prune = time.time()

    def is_deleted(self, user_id: int) -> bool:
        return user_id in self._deleted_at

    async def start(self) -> None:
        """Subscribe and wait (bounded) until the deletions already in the window are loaded."""
        since = datetime.fromtimestamp(time.time() - self._window, UTC)
        config = ConsumerConfig(opt_start_time=since.isoformat())
        subject = SUBJECTS[events_pb2.UserDeleted]
        self._subscription = await self._bus.jetstream.subscribe(
            subject,
            stream=EVENTS_STREAM,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            config=config,
            idle_heartbeat=HEARTBEAT_SECONDS,
        )
        # nats-py re-creates the consumer with this same config object from a start *sequence*; see the
        # module docstring.
        config.opt_start_time = None
        if (await self._subscription.consumer_info()).num_pending == 0:
            self._caught_up.set()
        try:
            await asyncio.wait_for(self._caught_up.wait(), CATCH_UP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("deleted users not fully loaded; continuing", extra={"known": len(self._deleted_at)})

    async def stop(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()

    async def _on_message(self, message: Msg) -> None:
        try:
            event = events_pb2.UserDeleted.FromString(message.data)
        except Exception:
            log.exception("undecodable UserDeleted event")
            return
        now = time.time()
        deleted_at = event.meta.occurred_at.ToSeconds() if event.meta.HasField("occurred_at") else now
        if deleted_at >= now - self._window:
            self._deleted_at[event.user_id] = deleted_at
        if message.metadata.num_pending == 0:
            self._caught_up.set()
        if now - self._last_prune > PRUNE_EVERY_SECONDS:
            self._prune(now)

    def _prune(self, now: float) -> None:
        """Forget deletions older than a token lifetime: every token they could concern has expired."""
        cutoff = now - self._window
        self._deleted_at = {user: at for user, at in self._deleted_at.items() if at >= cutoff}
        self._last_prune = now
