"""Live updates: per-user subjects on core NATS, published after a write, streamed to bounded watchers.

How an update reaches the right stream with several replicas of everything: the process that made the
change (the notification consumer after storing a notification, the feed fan-out after writing feed
rows) publishes it on `shutter.live.<topic>.<user id>`; every process serving a watch of that user
(any replica: the gateway relays the client's stream to whichever replica its call reached) holds one
subscription to that subject and hands each message to its watchers. Core NATS, not JetStream: the
store is the durable copy, a live message only spares the watcher a read.

What a watcher misses: a message published while NATS is away, or while the watcher's queue is full
(a slow reader). Neither is lost for good: after a reconnection, and when its queue overflows, the
watcher gets RESYNC, and its handler re-reads the store after the last position it sent (a client
that reconnects does the same from its Last-Event-ID). Memory is bounded: each watcher queues at most
`queue_size` updates (then drops them all for one RESYNC), and a user has at most
`max_watchers_per_user` watchers per process (RESOURCE_EXHAUSTED beyond).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Final, Protocol, TypeVar

import grpc
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError

from services.runtime import callctx
from services.runtime.errors import InvalidArgument, ResourceExhausted, Unauthenticated, Unavailable
from services.runtime.events import EventBus

log = logging.getLogger("shutter.live")

LIVE_PREFIX = "shutter.live"


class _Marker:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


# Updates were dropped (queue overflow, NATS reconnected): re-read the store from the last position sent.
RESYNC: Final = _Marker("RESYNC")
# The process is stopping: end the stream.
_END: Final = _Marker("END")
# Nothing arrived for a while (a chance to check the token's expiry).
IDLE: Final = _Marker("IDLE")


def live_subject(topic: str, user_id: int) -> str:
    return f"{LIVE_PREFIX}.{topic}.{user_id}"


class Watcher:
    """One stream's queue of raw updates (serialized messages), bounded."""

    def __init__(self, queue_size: int) -> None:
        self._queue: asyncio.Queue[bytes | _Marker] = asyncio.Queue(maxsize=queue_size + 2)
        self._limit = queue_size
        self.dropped = 0

    def offer(self, item: bytes | _Marker) -> None:
        if item is RESYNC or item is _END:
            self._replace_all(item)
            return
        if self._queue.qsize() >= self._limit:
            self.dropped += self._queue.qsize()
            self._replace_all(RESYNC)
            return
        self._queue.put_nowait(item)

    def _replace_all(self, marker: _Marker) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(marker)

    async def next(self, wait: float) -> bytes | _Marker:
        """The next update; IDLE after `wait` seconds of nothing. `asyncio.timeout`, not `wait_for`: on Python 3.11
        wait_for swallows a cancellation (the client went away) that arrives as an update does (gh-86296)."""
        try:
            async with asyncio.timeout(wait):
                return await self._queue.get()
        except TimeoutError:
            return IDLE

    async def updates(self, until: float | None, idle_every: float = 15.0) -> AsyncIterator[bytes | _Marker]:
        """Updates (and IDLE now and then) until the process stops or `until` (unix seconds) passes."""
        while True:
            wait = idle_every if until is None else min(idle_every, until - time.time())
            if wait <= 0:
                return
            item = await self.next(wait)
            if item is _END:
                return
            yield item


class LiveUpdates:
    """The live side of one topic ("notifications", "feed") in one process: publishing and watching."""

    def __init__(self, bus: EventBus, topic: str, *, max_watchers_per_user: int, queue_size: int) -> None:
        self._bus = bus
        self._topic = topic
        self._max_watchers = max_watchers_per_user
        self._queue_size = queue_size
        self._watchers: dict[int, set[Watcher]] = {}
        self._subscriptions: dict[int, Subscription] = {}
        self._subscribing = asyncio.Lock()
        bus.on_reconnect(self._resync_all)

    async def start(self) -> None:
        """Nothing to start: subscriptions are made per watched user."""

    async def stop(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.offer(_END)

    @property
    def watcher_count(self) -> int:
        return sum(len(watchers) for watchers in self._watchers.values())

    async def publish(self, user_id: int, update: Message) -> None:
        """Best effort, after the write: with NATS away the update is dropped and watchers catch up on
        reconnection from the store."""
        await self.publish_to_each((user_id,), update)

    async def publish_to_each(self, user_ids: Iterable[int], update: Message) -> None:
        """The same update to each user's watchers (a fan-out page), serialized once; as `publish`, best effort (a
        failure is the connection's, so the rest of the page is dropped with it)."""
        if not self._bus.connected:
            return
        payload = update.SerializeToString()
        client = self._bus.client
        try:
            for user_id in user_ids:
                await client.publish(live_subject(self._topic, user_id), payload)
        except (NatsError, OSError) as exc:
            log.warning("live update not published", extra={"topic": self._topic, "error": str(exc)[:200]})

    @contextlib.asynccontextmanager
    async def watch(self, user_id: int) -> AsyncIterator[Watcher]:
        """A watcher of the user's updates, subscribed before this returns (so a read of the store made
        after it misses nothing); RESOURCE_EXHAUSTED when the user already has the most watchers here."""
        watchers = self._watchers.setdefault(user_id, set())
        if len(watchers) >= self._max_watchers:
            raise ResourceExhausted(
                f"at most {self._max_watchers} live {self._topic} streams per user; close one first", retry_after=5.0
            )
        watcher = Watcher(self._queue_size)
        watchers.add(watcher)
        try:
            async with self._subscribing:
                if user_id not in self._subscriptions:
                    await self._subscribe(user_id)
            yield watcher
        finally:
            watchers.discard(watcher)
            if not watchers:
                self._watchers.pop(user_id, None)
                subscription = self._subscriptions.pop(user_id, None)
                if subscription is not None:
                    with contextlib.suppress(NatsError, OSError):
                        await subscription.unsubscribe()

    async def _subscribe(self, user_id: int) -> None:
        client = self._bus.client
        if not (client.is_connected or client.is_reconnecting):
            raise Unavailable("live updates are unavailable (NATS unreachable); retry", retry_after=1.0)

        async def deliver(message: Msg) -> None:
            for watcher in list(self._watchers.get(user_id, ())):
                watcher.offer(message.data)

        try:
            self._subscriptions[user_id] = await client.subscribe(live_subject(self._topic, user_id), cb=deliver)
            if client.is_connected:
                await client.flush(timeout=2)  # the server has the subscription before the caller reads the store
        except (NatsError, OSError, TimeoutError) as exc:
            raise Unavailable("live updates are unavailable (NATS unreachable); retry", retry_after=1.0) from exc

    def _resync_all(self) -> None:
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.offer(RESYNC)


async def watch_stream(
    live: LiveUpdates,
    user_id: int,
    after_position: int,
    context: grpc.aio.ServicerContext,
    *,
    newest: Callable[[], Awaitable[int]],
    catch_up: Callable[[int, bool], Awaitable[Sequence[UpdateT]]],
    parse: Callable[[bytes], UpdateT],
) -> AsyncIterator[UpdateT]:
    """A Watch* RPC's answer: `after_position` checked, the user's updates subscribed to before the store is
    read, position 0 meaning "from `newest()` on" (live only), then `relay`. Ends when the caller's token does."""
    if after_position < 0:
        raise InvalidArgument("after_position", "must be a position, or 0 for live updates only")
    caller = callctx.principal()
    async with live.watch(user_id) as watcher:
        after = after_position or await newest()
        updates = relay(
            watcher,
            context,
            after=after,
            until=None if caller is None else caller.expires_at,
            catch_up=catch_up,
            parse=parse,
        )
        async for update in updates:
            yield update


class Positioned(Protocol):
    """A watch response: `position` is its SSE event id (0 for an update that is not a new item)."""

    position: int

    def SerializeToString(self) -> bytes: ...


UpdateT = TypeVar("UpdateT", bound=Positioned)


async def relay(
    watcher: Watcher,
    context: grpc.aio.ServicerContext,
    *,
    after: int,
    until: float | None,
    catch_up: Callable[[int, bool], Awaitable[Sequence[UpdateT]]],
    parse: Callable[[bytes], UpdateT],
    remember: int = 1000,
) -> AsyncIterator[UpdateT]:
    """A watch stream. Its headers go at once, telling the caller (the gateway) that the watch was accepted
    (a refusal comes before, as a plain error status). Then `catch_up(after, False)` (what the store has
    after position `after`, oldest first), then live updates; on RESYNC, `catch_up(last position sent,
    True)` again. An item already sent (caught up, then arriving live) is not sent twice. Ends with
    UNAUTHENTICATED when `until` (the token's expiry) passes, and quietly when the process stops."""
    last = after
    sent: dict[int, None] = {}  # insertion-ordered: the oldest are forgotten first

    def fresh(update: UpdateT) -> bool:
        nonlocal last
        if not update.position:
            return True
        if update.position in sent:
            return False
        sent[update.position] = None
        if len(sent) > remember:
            del sent[next(iter(sent))]
        last = max(last, update.position)
        return True

    await context.send_initial_metadata(())
    for update in await catch_up(last, False):
        if fresh(update):
            yield update
    async for item in watcher.updates(until):
        if item is IDLE:
            continue
        updates = await catch_up(last, True) if item is RESYNC else [parse(item)]  # type: ignore[arg-type]
        for update in updates:
            if fresh(update):
                yield update
    if until is not None and time.time() >= until:
        raise Unauthenticated("access token expired: watch again with a new one")
