"""Events on NATS JetStream: subjects, the connection, publishing, and durable pull consumers.

Publishing happens only through the outbox relay (services.runtime.outbox), so an event leaves a
service only after the change it describes has committed. Consumers are durable pull consumers
with explicit acks. A handler failure caused by a dependency being down (a peer UNAVAILABLE, NATS
or the store unreachable) is retried with backoff for as long as the outage lasts; any other
failure is retried a bounded number of times, then the message goes to a dead-letter stream
instead of blocking the ones behind it. Handlers must be idempotent.

NATS is not needed to serve RPCs. The connection is made, and remade, in the background: the outbox
holds events until NATS is there, and consumers attach when it is. An outage is logged once when it
starts (WARNING) and once when it ends (INFO); the nats client's own per-attempt tracebacks are not.

Pulling: each pull request has a reply subject of its own and every message is handled as soon as it
arrives. nats-py's `fetch(batch > 1)` sends every request on one shared inbox, so the 408 that ends a
previous request (it arrives just after the client's own timer gave up on it) answers the next
request's no-wait probe; nats-py then leaves an extra lingering request on the server, and the next
event, delivered to that request, waits inside fetch until the request expires: 0.3–0.9 s of its 1 s.

Every message this process holds (delivered, not yet acked, being handled or waiting its turn) gets an
in-progress heartbeat every third of the ack wait. So the ack wait can be short: a long handler (a
fan-out to many followers) keeps its message, and when the process dies, everything it held is
redelivered within one ack wait (5 s) instead of 30 s.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
from google.protobuf.message import DecodeError, Message
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from services.runtime import errors, metrics, tracing
from services.runtime.concurrency import cancel_until_done
from services.runtime.ids import IdGenerator
from services.runtime.requests import now_timestamp
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.events")

EVENTS_STREAM = "SHUTTER_EVENTS"
DEAD_LETTER_STREAM = "SHUTTER_DLQ"
DUPLICATE_WINDOW_SECONDS = 600.0
# How long the events stream keeps (and can redeliver) an event; tombstone retention derives from it.
EVENT_STREAM_MAX_AGE_SECONDS = 7 * 24 * 3600

# With in-progress heartbeats every ack_wait / 3, this bounds only how long a dead process's messages
# wait before they are redelivered.
DEFAULT_ACK_WAIT_SECONDS = 5.0
# A pull request lingers this long on an idle stream before it is renewed.
PULL_EXPIRES_SECONDS = 5.0
# While NATS stays down, a reminder this often (the first WARNING says it all).
OUTAGE_REMINDER_SECONDS = 300.0
# How often a consumer reads its pending and ack-pending counts from JetStream (for metrics).
LAG_REPORT_SECONDS = 5.0


def _subject(message_name: str) -> str:
    """PhotoPosted → shutter.events.photo.posted: the last word is what happened, the words before it
    (snake_case) what it happened to."""
    *entity, happened = re.findall(r"[A-Z][a-z0-9]*", message_name)
    return f"shutter.events.{'_'.join(entity).lower()}.{happened.lower()}"


def _event_types() -> dict[type[Message], str]:
    """Every message of events.proto that carries an EventMeta `meta` is an event, on its own subject:
    adding an event to the contract is all it takes, the runtime holds no list of them."""
    found: dict[type[Message], str] = {}
    for name, descriptor in events_pb2.DESCRIPTOR.message_types_by_name.items():
        meta = descriptor.fields_by_name.get("meta")
        if meta is not None and meta.message_type is events_pb2.EventMeta.DESCRIPTOR:
            found[getattr(events_pb2, name)] = _subject(name)
    return found


# One subject per event type; consumers filter on the ones they handle.
SUBJECTS: dict[type[Message], str] = _event_types()
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


async def first_of(*awaitables: Awaitable[object]) -> None:
    """Return once any of `awaitables` is done; the others are cancelled."""
    futures = [asyncio.ensure_future(awaitable) for awaitable in awaitables]
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for future in futures:
            if not future.done():
                future.cancel()


def nats_servers(url: str) -> list[str]:
    """SHUTTER_NATS_URL as the client's server list: one URL, or a cluster's URLs comma-separated (the client
    tries them in turn and, connected, learns the rest of the cluster from it)."""
    return [part.strip() for part in url.split(",") if part.strip()]


class NatsUnavailable(NatsError):
    """NATS is not connected (yet, or at the moment); whatever needed it is retried later."""


class _OutageLog:
    """One WARNING when NATS goes away, one INFO when it is back, a reminder now and then in between."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._down_since: float | None = None
        self._reminded_at = 0.0
        self._failures = 0

    @property
    def down(self) -> bool:
        return self._down_since is not None

    def went_down(self, error: BaseException | None) -> None:
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = self._reminded_at = now
            self._failures = 0
            log.warning(
                "NATS unreachable; serving on, events wait in the outbox and consumers resume when it is back",
                extra={"url": self._url, "error": _describe(error)},
            )
            return
        self._failures += 1
        if now - self._reminded_at >= OUTAGE_REMINDER_SECONDS:
            self._reminded_at = now
            log.warning(
                "NATS still unreachable",
                extra={"url": self._url, "seconds": round(now - self._down_since), "attempts": self._failures},
            )

    def came_back(self) -> None:
        if self._down_since is not None:
            log.info(
                "NATS reachable again",
                extra={"url": self._url, "outage_seconds": round(time.monotonic() - self._down_since, 1)},
            )
        self._down_since = None


def _describe(error: BaseException | None) -> str:
    return "" if error is None else (str(error) or type(error).__name__)[:300]


# What the nats client reports while the server is away; anything else is worth a line of its own.
_CONNECTION_ERRORS = (
    OSError,
    TimeoutError,
    nats.errors.StaleConnectionError,
    nats.errors.ConnectionClosedError,
    nats.errors.NoServersError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
)


class EventBus:
    """The process's NATS connection, made in the background; `ready()` waits until JetStream is usable."""

    def __init__(self, url: str, name: str, stream_replicas: int = 1) -> None:
        self._url = url
        self._name = name
        # 3 on a NATS cluster, so losing one node's disk loses no events.
        self._stream_replicas = stream_replicas
        self._nc = NatsClient()
        self._js: JetStreamContext | None = None
        self._ready = asyncio.Event()
        self._connecting: asyncio.Task[None] | None = None
        self._connect_started = False
        self._closing = False
        self._outage = _OutageLog(url)
        self._reconnect_listeners: list[Callable[[], None]] = []

    @property
    def jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise NatsUnavailable("not connected to NATS yet")
        return self._js

    @property
    def client(self) -> NatsClient:
        return self._nc

    @property
    def connected(self) -> bool:
        return self._ready.is_set() and self._nc.is_connected

    async def start(self) -> None:
        """Begin connecting; returns at once (services serve without NATS)."""
        self._connecting = asyncio.create_task(self._connect(), name=f"nats-connect-{self._name}")

    async def ready(self) -> None:
        """Wait until connected and the streams exist."""
        await self._ready.wait()

    def on_reconnect(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each reconnection (pull requests may have died with the old server)."""
        self._reconnect_listeners.append(listener)

    async def _connect(self) -> None:
        self._connect_started = True
        # nats-py retries the first connection forever too (max_reconnect_attempts=-1), reporting each
        # failed attempt to error_cb.
        await self._nc.connect(
            nats_servers(self._url),
            name=self._name,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            connect_timeout=2,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_reconnected,
        )
        self._js = self._nc.jetstream()
        delay = 0.1
        while True:
            try:
                await self.ensure_streams()
                break
            except (NatsError, OSError, TimeoutError) as exc:  # JetStream still starting, or NATS gone again
                self._outage.went_down(exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
        self._outage.came_back()
        self._ready.set()
        log.info("connected to NATS", extra={"url": self._url})

    async def _on_error(self, error: Exception) -> None:
        if self._closing:
            return
        if isinstance(error, _CONNECTION_ERRORS):
            self._outage.went_down(error)
        else:
            log.warning("NATS client error", extra={"url": self._url, "error": _describe(error)})

    async def _on_disconnected(self) -> None:
        if not self._closing and self._ready.is_set():
            self._outage.went_down(None)

    async def _on_reconnected(self) -> None:
        self._outage.came_back()
        for listener in self._reconnect_listeners:
            listener()

    async def ensure_streams(self) -> None:
        """Create the streams, or bring their config up to date (idempotent)."""
        for config in (
            StreamConfig(
                name=EVENTS_STREAM,
                subjects=["shutter.events.>"],
                storage=StorageType.FILE,
                num_replicas=self._stream_replicas,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                max_age=EVENT_STREAM_MAX_AGE_SECONDS,
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
        self._closing = True
        if self._connecting is not None:
            await cancel_until_done(self._connecting)
        if not self._connect_started:
            return  # stopped before the connecting task ran: nats-py's client was never set up to close
        if self._nc.is_connected:
            # Flushes what is buffered (acks, the last publishes) before closing.
            with contextlib.suppress(NatsError, OSError, TimeoutError):
                await self._nc.drain()
        if not self._nc.is_closed:
            with contextlib.suppress(NatsError, OSError, TimeoutError):
                await self._nc.close()

    async def publish(
        self, subject: str, payload: bytes, msg_id: str, timeout: float = 2.0, headers: dict[str, str] | None = None
    ) -> None:
        """Publish and wait for the stream's ack; raises when it is not stored. `headers`: the trace context."""
        if not self.connected:
            raise NatsUnavailable("not connected to NATS")
        await self.jetstream.publish(
            subject, payload, timeout=timeout, headers={**(headers or {}), "Nats-Msg-Id": msg_id}
        )


Handler = Callable[[Message], Awaitable[None]]

# NATS down or not there yet: retryable, in the runtime's one error table (services.runtime.errors).
errors.register(NatsError, lambda exc, where: errors.outage("NATS", exc))


def is_transient(exc: BaseException) -> bool:
    """Whether a handler failed because something it depends on is down, not because of the event: the
    error table's `retryable` (a peer UNAVAILABLE, the store or NATS unreachable, a disk full…)."""
    return errors.answer_for(exc).retryable


def _status(message: Msg) -> str | None:
    """The status of a JetStream status message (100 heartbeat, 404, 408, 409…), None for an event."""
    if message.data or not message.headers:
        return None
    return message.headers.get("Status")


@dataclass
class _PullRequest:
    reply: str
    wanted: int
    expires_at: float
    delivered: int = 0
    done: bool = False


class Consumer:
    """A durable pull consumer running `handler` for each event, acking after it succeeds.

    `batch` bounds how many messages the process holds at once (delivered, not yet acked). `concurrency`
    handlers run at once; events with the same `ordering_key` (an author's, say) still run one at a time, in
    delivery order, so only unrelated events overlap. Without a key, concurrency stays 1.
    """

    def __init__(
        self,
        bus: EventBus,
        durable: str,
        event_types: Iterable[type[Message]],
        handler: Handler,
        *,
        batch: int = 64,
        max_deliver: int = 5,
        ack_wait: float = DEFAULT_ACK_WAIT_SECONDS,
        retry_base_delay: float = 0.2,
        pull_expires: float = PULL_EXPIRES_SECONDS,
        concurrency: int = 1,
        ordering_key: Callable[[Message], Hashable] | None = None,
    ) -> None:
        if concurrency > 1 and ordering_key is None:
            raise ValueError("a consumer handling events concurrently needs an ordering_key")
        self._bus = bus
        self.durable = durable
        self._subjects = [SUBJECTS[kind] for kind in event_types]
        self._handler = handler
        self._batch = batch
        self._max_deliver = max_deliver
        self._ack_wait = ack_wait
        self._retry_base_delay = retry_base_delay
        self._pull_expires = pull_expires
        self._tasks: list[asyncio.Task[None]] = []
        self._inbox: Subscription | None = None
        self._inbox_prefix = ""
        self._request_numbers = itertools.count(1)
        self._request: _PullRequest | None = None
        self._request_changed = asyncio.Event()
        self._queue: asyncio.Queue[Msg] = asyncio.Queue()
        self._held: list[Msg] = []  # queued or being handled, in delivery order
        self._stopping = asyncio.Event()
        self._attached = asyncio.Event()
        self._lag_due = 0.0
        self._concurrency = concurrency
        self._ordering_key = ordering_key
        self._lanes: dict[Hashable, asyncio.Lock] = {}
        self._lane_users: collections.Counter[Hashable] = collections.Counter()

    async def start(self) -> None:
        """Returns at once: the consumer attaches whenever NATS is there."""
        self._tasks.append(asyncio.create_task(self._attach_then_run(), name=f"consumer-{self.durable}"))

    async def attached(self) -> None:
        """Wait until the durable consumer exists and its first pull request is out (tests, probes)."""
        await self._attached.wait()

    async def stop(self) -> None:
        """Finish the message being handled, hand the rest back (nak) so they are redelivered at once."""
        self._stopping.set()
        self._request_changed.set()
        running = [task for task in self._tasks if not task.done()]
        if running:
            _, late = await asyncio.wait(running, timeout=5)
            await asyncio.gather(*(cancel_until_done(task) for task in late))
        if self._inbox is not None:
            with contextlib.suppress(NatsError, OSError, ValueError):
                await self._inbox.unsubscribe()
        for message in self._held:
            with contextlib.suppress(NatsError, OSError):
                await message.nak()
        self._held.clear()

    async def _attach_then_run(self) -> None:
        await first_of(self._bus.ready(), self._stopping.wait())
        delay = 0.2
        while not self._stopping.is_set():
            try:
                await self._attach()
                break
            except (NatsError, OSError, TimeoutError) as exc:
                log.info("consumer waiting for NATS", extra={"consumer": self.durable, "error": _describe(exc)})
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
        if self._stopping.is_set():
            return
        self._bus.on_reconnect(self._renew_request)
        self._tasks += [
            asyncio.create_task(self._pull(), name=f"consumer-{self.durable}-pull"),
            asyncio.create_task(self._heartbeat(), name=f"consumer-{self.durable}-heartbeat"),
        ]
        await self._handle_messages()

    async def _attach(self) -> None:
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
        # Creates the durable consumer, or updates its config (e.g. a new ack wait) when it exists.
        await self._bus.jetstream.add_consumer(EVENTS_STREAM, config)
        if self._inbox is None:
            self._inbox_prefix = self._bus.client.new_inbox()
            self._inbox = await self._bus.client.subscribe(f"{self._inbox_prefix}.*", cb=self._on_message)

    # -- pulling -----------------------------------------------------------------------------------

    def _renew_request(self) -> None:
        """The current pull request may be gone (NATS restarted): send a new one now."""
        if self._request is not None:
            self._request.done = True
        self._request_changed.set()

    async def _pull(self) -> None:
        """Keep one pull request out for as many messages as there is room for."""
        subject = f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.{self.durable}"
        while not self._stopping.is_set():
            room = self._batch - len(self._held)
            if room < max(1, self._batch // 2):
                await self._wait_for_change(self._pull_expires)
                continue
            request = _PullRequest(
                reply=f"{self._inbox_prefix}.{next(self._request_numbers)}",
                wanted=room,
                expires_at=time.monotonic() + self._pull_expires + 1.0,
            )
            body = {"batch": room, "expires": int(self._pull_expires * 1e9)}
            self._request = request
            try:
                await self._bus.client.publish(subject, json.dumps(body).encode(), reply=request.reply)
            except (NatsError, OSError) as exc:  # reconnecting with a full buffer, or closing
                log.debug("pull request not sent", extra={"consumer": self.durable, "error": _describe(exc)})
                await self._wait_for_change(0.5)
                continue
            self._attached.set()
            # Ends with the server's 408 at expiry, when `room` messages came, or (a request lost with a
            # restarted server) when no answer came in time.
            while not request.done and not self._stopping.is_set():
                remaining = request.expires_at - time.monotonic()
                if remaining <= 0:
                    break
                await self._wait_for_change(remaining)

    async def _wait_for_change(self, timeout: float) -> None:
        self._request_changed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._request_changed.wait()

    async def _on_message(self, message: Msg) -> None:
        request = self._request
        status = _status(message)
        if status is None:
            self._held.append(message)
            self._queue.put_nowait(message)
            if request is not None:
                request.delivered += 1
                if request.delivered >= request.wanted:
                    request.done = True
                    self._request_changed.set()
            return
        if status == "100" or request is None or message.subject != request.reply:
            return  # an idle heartbeat, or the end of an older request
        # 408 (expired), 409 (consumer deleted, leadership change, too many waiting…), 503 (no JetStream).
        if status != "408":
            log.info(
                "pull request ended",
                extra={"consumer": self.durable, "status": status, "description": message.headers.get("Description")},
            )
        if status == "503" or (status == "409" and "deleted" in (message.headers.get("Description") or "").lower()):
            asyncio.get_running_loop().call_later(0.5, self._reattach_soon)
        request.done = True
        self._request_changed.set()

    def _reattach_soon(self) -> None:
        """The durable consumer is gone (NATS lost its state): create it again."""
        if not self._stopping.is_set():
            self._tasks.append(asyncio.create_task(self._reattach(), name=f"consumer-{self.durable}-reattach"))

    async def _reattach(self) -> None:
        with contextlib.suppress(NatsError, OSError, TimeoutError):
            await self._bus.ensure_streams()
            await self._attach()
        self._renew_request()

    async def _heartbeat(self) -> None:
        """Restart the ack wait of every held message, so none is redelivered while this process lives."""
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._ack_wait / 3):
                    await self._stopping.wait()
            for message in list(self._held):
                with contextlib.suppress(NatsError, OSError):
                    await message.in_progress()
            if time.monotonic() >= self._lag_due:
                await self._report_lag()

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

    # -- handling ----------------------------------------------------------------------------------

    async def _handle_messages(self) -> None:
        workers = [
            asyncio.create_task(self._work(), name=f"consumer-{self.durable}-worker-{n}")
            for n in range(self._concurrency)
        ]
        try:
            await asyncio.gather(*workers)
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self) -> None:
        while not self._stopping.is_set():
            getting = asyncio.ensure_future(self._queue.get())
            await first_of(getting, self._stopping.wait())
            if not getting.done() or getting.cancelled():
                return  # stopping (the get is being cancelled; a queued message stays queued)
            message = getting.result()
            # Taken before anything is awaited, so a lane's events queue on its lock in delivery order.
            lane = self._lane_of(message)
            try:
                if lane is None:
                    await self._observed(message)
                else:
                    async with self._lanes[lane]:
                        await self._observed(message)
            finally:
                if lane is not None:
                    self._leave_lane(lane)
                with contextlib.suppress(ValueError):
                    self._held.remove(message)
                self._request_changed.set()

    def _lane_of(self, message: Msg) -> Hashable | None:
        """The message's ordering key, its lock made or shared; None when it needs none (or cannot be read:
        `_process` dead-letters what does not decode)."""
        if self._ordering_key is None:
            return None
        try:
            lane = self._ordering_key(decode(message.subject, message.data))
        except (KeyError, DecodeError):
            return None
        if lane not in self._lanes:
            self._lanes[lane] = asyncio.Lock()
        self._lane_users[lane] += 1
        return lane

    def _leave_lane(self, lane: Hashable) -> None:
        self._lane_users[lane] -= 1
        if self._lane_users[lane] <= 0:
            del self._lane_users[lane]
            del self._lanes[lane]

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

    async def _process(self, message: Msg) -> str:
        """Handle one delivery; returns its outcome: acked, retried or dead_lettered."""
        try:
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
