"""Events on NATS JetStream: subjects, the connection, publishing, and durable pull consumers.

Publishing happens only through the outbox relay (services.runtime.outbox), so an event leaves a
service only after the change it describes has committed. Consumers are durable pull consumers
with explicit acks. A handler failure caused by a dependency being down (a peer UNAVAILABLE, NATS
or the store unreachable) is retried with backoff for as long as the outage lasts; any other
failure is retried a bounded number of times, then the message goes to a dead-letter stream
instead of blocking the ones behind it. Handlers must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

import cassandra
import grpc
import nats
from cassandra.cluster import NoHostAvailable
from google.protobuf.message import Message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from services.runtime import metrics, tracing
from services.runtime.errors import ServiceError, Unavailable
from services.runtime.ids import IdGenerator
from services.runtime.requests import now_timestamp
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.events")

EVENTS_STREAM = "SHUTTER_EVENTS"
DEAD_LETTER_STREAM = "SHUTTER_DLQ"
DUPLICATE_WINDOW_SECONDS = 600.0
# How often a consumer reads its pending and ack-pending counts from JetStream (for metrics).
LAG_REPORT_SECONDS = 5.0

# One subject per event type; consumers filter on the ones they handle.
SUBJECTS: dict[type[Message], str] = {
    events_pb2.PhotoPosted: "shutter.events.photo.posted",
    events_pb2.PhotoDeleted: "shutter.events.photo.deleted",
    events_pb2.FollowCreated: "shutter.events.follow.created",
    events_pb2.FollowDeleted: "shutter.events.follow.deleted",
    events_pb2.LikeChanged: "shutter.events.like.changed",
    events_pb2.CommentChanged: "shutter.events.comment.changed",
    events_pb2.UserDeleted: "shutter.events.user.deleted",
}
TYPES_BY_SUBJECT: dict[str, type[Message]] = {subject: kind for kind, subject in SUBJECTS.items()}

EventT = TypeVar("EventT", bound=Message)


def subject_for(event: Message) -> str:
    return SUBJECTS[type(event)]


def decode(subject: str, payload: bytes) -> Message:
    event = TYPES_BY_SUBJECT[subject]()
    event.ParseFromString(payload)
    return event


def new_meta(ids: IdGenerator, source: str) -> events_pb2.EventMeta:
    return events_pb2.EventMeta(event_id=ids.next_id(), occurred_at=now_timestamp(), source=source)


def message_id(event: Message) -> str:
    """The Nats-Msg-Id: unique per event, so JetStream drops a re-published copy."""
    meta = event.meta  # type: ignore[attr-defined]
    return f"{meta.source}-{meta.event_id}"


class EventBus:
    """The process's NATS connection; start() waits until NATS is reachable and streams exist."""

    def __init__(self, url: str, name: str, stream_replicas: int = 1) -> None:
        self._url = url
        self._name = name
        # 3 on a NATS cluster, so losing one node's disk loses no events.
        self._stream_replicas = stream_replicas
        self._nc: NatsClient | None = None
        self._js: JetStreamContext | None = None

    @property
    def jetstream(self) -> JetStreamContext:
        assert self._js is not None, "event bus not started"
        return self._js

    async def start(self) -> None:
        delay = 0.1
        while True:
            try:
                self._nc = await nats.connect(
                    self._url,
                    name=self._name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                )
                break
            except (OSError, NatsError) as exc:
                log.warning("waiting for NATS", extra={"url": self._url, "error": str(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._js = self._nc.jetstream()
        await self.ensure_streams()

    async def ensure_streams(self) -> None:
        """Create the streams, or bring their config up to date (idempotent)."""
        for config in (
            StreamConfig(
                name=EVENTS_STREAM,
                subjects=["shutter.events.>"],
                storage=StorageType.FILE,
                num_replicas=self._stream_replicas,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                max_age=7 * 24 * 3600,
            ),
            StreamConfig(
                name=DEAD_LETTER_STREAM,
                subjects=["shutter.dlq.>"],
                storage=StorageType.FILE,
                num_replicas=self._stream_replicas,
                max_age=30 * 24 * 3600,
            ),
        ):
            try:
                await self.jetstream.stream_info(config.name)
                await self.jetstream.update_stream(config)
            except NotFoundError:
                await self.jetstream.add_stream(config)

    async def stop(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            await self._nc.drain()

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def publish(
        self, subject: str, payload: bytes, msg_id: str, timeout: float = 2.0, headers: dict[str, str] | None = None
    ) -> None:
        """Publish and wait for the stream's ack; raises when it is not stored. `headers`: the trace context."""
        await self.jetstream.publish(
            subject, payload, timeout=timeout, headers={**(headers or {}), "Nats-Msg-Id": msg_id}
        )


Handler = Callable[[Message], Awaitable[None]]

_TRANSIENT_GRPC_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
    }
)
_TRANSIENT_ERRORS = (
    OSError,
    TimeoutError,
    NatsError,
    sqlite3.OperationalError,  # "database is locked" and friends
    cassandra.Unavailable,
    cassandra.Timeout,
    cassandra.OperationTimedOut,
    NoHostAvailable,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a handler failed because something it depends on is down, not because of the event."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return exc.code() in _TRANSIENT_GRPC_CODES
    if isinstance(exc, ServiceError):
        return isinstance(exc, Unavailable)
    return isinstance(exc, _TRANSIENT_ERRORS)


class Consumer:
    """A durable pull consumer running `handler` for each event, acking after it succeeds."""

    def __init__(
        self,
        bus: EventBus,
        durable: str,
        event_types: Iterable[type[Message]],
        handler: Handler,
        *,
        batch: int = 64,
        max_deliver: int = 5,
        ack_wait: float = 30.0,
        retry_base_delay: float = 0.2,
    ) -> None:
        self._bus = bus
        self.durable = durable
        self._subjects = [SUBJECTS[kind] for kind in event_types]
        self._handler = handler
        self._batch = batch
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._retry_base_delay = retry_base_delay
        self._task: asyncio.Task[None] | None = None
        self._subscription: JetStreamContext.PullSubscription | None = None
        self._stopping = asyncio.Event()
        self._lag_due = 0.0

    async def start(self) -> None:
        config = ConsumerConfig(
            durable_name=self.durable,
            filter_subjects=self._subjects,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            # Unlimited on the server: an outage must not exhaust deliveries. `_process` dead-letters
            # messages that fail for other reasons after `max_deliver` attempts.
            max_deliver=-1,
            ack_wait=self._ack_wait,
            max_ack_pending=10_000,
        )
        await self._bus.jetstream.add_consumer(EVENTS_STREAM, config)
        subscription = await self._bus.jetstream.pull_subscribe_bind(durable=self.durable, stream=EVENTS_STREAM)
        self._subscription = subscription
        self._task = asyncio.create_task(self._run(subscription), name=f"consumer-{self.durable}")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, timeout=5)
            except TimeoutError:
                self._task.cancel()
        if self._subscription is not None:
            # A pull subscription left open makes the connection's drain wait out its whole timeout
            # (30 s), longer than any shutdown grace; the durable consumer itself stays on the server.
            with contextlib.suppress(NatsError, ValueError):
                await self._subscription.unsubscribe()

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            if time.monotonic() >= self._lag_due:
                await self._report_lag()
            try:
                messages = await subscription.fetch(self._batch, timeout=1.0)
            except (NatsTimeoutError, TimeoutError):  # nats-py raises either when a fetch times out
                continue
            except (NatsError, OSError) as exc:
                log.warning("fetch failed", extra={"consumer": self.durable, "error": str(exc)})
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                await self._observed(message)

    async def _observed(self, message: Msg) -> None:
        """`_process` inside the delivery's trace span, timed and counted by outcome."""
        started = time.perf_counter()
        outcome = "failed"  # _process raised: acking or the dead-letter publish failed; the message comes again
        try:
            with tracing.consuming(self.durable, message.subject, message.headers):
                outcome = await self._process(message)
                if outcome != "acked":
                    tracing.mark_error(f"event {outcome}")
        finally:
            deliveries = message.metadata.num_delivered or 1
            metrics.observe_event(self.durable, message.subject, outcome, deliveries, time.perf_counter() - started)

    async def _report_lag(self) -> None:
        """Pending and ack-pending from JetStream's view of this durable consumer, every few seconds."""
        self._lag_due = time.monotonic() + LAG_REPORT_SECONDS
        try:
            info = await self._bus.jetstream.consumer_info(EVENTS_STREAM, self.durable)
        except (NatsError, OSError, TimeoutError) as exc:
            log.debug("consumer info failed", extra={"consumer": self.durable, "error": repr(exc)})
            return
        metrics.CONSUMER_PENDING.labels(self.durable).set(info.num_pending or 0)
        metrics.CONSUMER_ACK_PENDING.labels(self.durable).set(info.num_ack_pending or 0)

    async def _process(self, message: Msg) -> str:
        """Handle one delivery; returns its outcome: acked, retried or dead_lettered."""
        try:
            # A batch is handled one message at a time; restart this one's ack_wait so the tail of a
            # slow batch is not redelivered (to another replica) while it waits its turn.
            await message.in_progress()
            event = decode(message.subject, message.data)
            await self._handler(event)
        except Exception as exc:
            attempts = message.metadata.num_delivered
            transient = is_transient(exc)
            if not transient and attempts >= self._max_deliver:
                await self._dead_letter(message, exc)
                return "dead_lettered"
            log.warning(
                "event handler failed; will retry",
                exc_info=None if transient else exc,
                extra={
                    "consumer": self.durable,
                    "subject": message.subject,
                    "attempt": attempts,
                    "transient": transient,
                    "error": repr(exc)[:300],
                },
            )
            await message.nak(delay=min(self._retry_base_delay * 2 ** min(attempts, 16), 10.0))
            return "retried"
        await message.ack()
        return "acked"

    async def _dead_letter(self, message: Msg, exc: Exception) -> None:
        subject = f"shutter.dlq.{self.durable}.{message.subject.removeprefix('shutter.events.')}"
        log.error("event dead-lettered", exc_info=exc, extra={"consumer": self.durable, "subject": message.subject})
        headers = dict(message.headers or {})
        headers["Shutter-Error"] = repr(exc)[:500]
        await self._bus.jetstream.publish(subject, message.data, headers=headers)
        await message.term()
