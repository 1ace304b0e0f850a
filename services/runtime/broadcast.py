"""Every event of one type, to every process that asks (each replica sees all of them).

Durable consumers (services.runtime.events.Consumer) share their events among a service's replicas:
right for work that must happen once. State kept in each process — the deleted users every service
refuses, the view's photo cache — needs every event in every replica instead. Each process reads the
subject through an ephemeral ordered push consumer (in memory on the server, nothing durable to clean
up), from a start time or from now on. Like everything on NATS here it attaches in the background,
whenever NATS is there: a service starts and serves without it.

Reconnects: nats-py's ordered consumer re-creates itself after missed heartbeats (NATS restarted, the
in-memory consumer lost) from the last stream sequence it saw. Its re-created config keeps our
opt_start_time next to its BY_START_SEQUENCE, which the server rejects (nats-py 2.16), so once our
consumer exists we clear opt_start_time on the config object nats-py keeps (tested by
tests/integration/test_deleted_users.py across a NATS restart).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Generic, TypeVar

from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from services.runtime.concurrency import cancel_until_done
from services.runtime.events import EVENTS_STREAM, SUBJECTS, EventBus

log = logging.getLogger("shutter.broadcast")

HEARTBEAT_SECONDS = 2.0

EventT = TypeVar("EventT", bound=Message)


class Broadcast(Generic[EventT]):
    """A runtime component calling `handler` (on the event loop, in order) for each `event_type` event.

    `since` (seconds since the epoch): start there, and `caught_up()` tells when the events stored
    since then have all been handled. None: only events published once it is attached.
    """

    def __init__(
        self, bus: EventBus, event_type: type[EventT], handler: Callable[[EventT], None], since: float | None = None
    ) -> None:
        self._bus = bus
        self._event_type = event_type
        self._handler = handler
        self._since = since
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._attached = asyncio.Event()
        self._caught_up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._event_type.DESCRIPTOR.name

    async def start(self) -> None:
        """Returns at once: the subscription is made whenever NATS is there."""
        self._task = asyncio.create_task(self._follow(), name=f"broadcast-{self.name}")

    async def attached(self) -> None:
        """Wait until events are being received (tests, probes)."""
        await self._attached.wait()

    @property
    def is_caught_up(self) -> bool:
        return self._caught_up.is_set()

    async def caught_up(self) -> None:
        """Wait until every event stored before the subscription was made has been handled."""
        await self._caught_up.wait()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_until_done(self._task)
        if self._subscription is not None:
            with contextlib.suppress(NatsError, OSError, ValueError):
                await self._subscription.unsubscribe()

    async def _follow(self) -> None:
        await self._bus.ready()
        delay = 0.2
        while self._subscription is None:
            try:
                await self._subscribe()
            except (NatsError, OSError, TimeoutError) as exc:
                log.info("waiting to follow events", extra={"events": self.name, "error": str(exc)[:300]})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        self._attached.set()

    async def _subscribe(self) -> None:
        if self._since is None:
            config = ConsumerConfig()
            policy = DeliverPolicy.NEW
        else:
            config = ConsumerConfig(opt_start_time=datetime.fromtimestamp(self._since, UTC).isoformat())
            policy = DeliverPolicy.BY_START_TIME
        subscription = await self._bus.jetstream.subscribe(
            SUBJECTS[self._event_type],
            stream=EVENTS_STREAM,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=policy,
            config=config,
            idle_heartbeat=HEARTBEAT_SECONDS,
        )
        # nats-py re-creates the consumer with this same config object from a start *sequence*; see the
        # module docstring.
        config.opt_start_time = None
        try:
            pending = 0 if self._since is None else (await subscription.consumer_info()).num_pending
        except BaseException:
            # Dropped and made again: caught-up is known only from a subscription whose check answered.
            with contextlib.suppress(NatsError, OSError, ValueError):
                await subscription.unsubscribe()
            raise
        self._subscription = subscription
        if pending == 0:
            self._caught_up.set()

    async def _on_message(self, message: Msg) -> None:
        try:
            event = self._event_type.FromString(message.data)
        except Exception:
            log.exception("undecodable event", extra={"events": self.name})
            return
        try:
            self._handler(event)
        except Exception:
            log.exception("broadcast handler failed", extra={"events": self.name})
        if message.metadata.num_pending == 0:
            self._caught_up.set()
