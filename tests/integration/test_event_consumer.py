"""The runtime's JetStream consumer against the mesh's real nats-server: retries and dead letters.

A dependency outage must never push an event to the dead-letter stream (it would then never reach
feeds or the index); a handler that fails for any other reason must not block the stream forever.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from google.protobuf.message import Message
from prometheus_client import REGISTRY

from bench.backlog import wait_for_consumers
from services.runtime.errors import Unavailable
from services.runtime.events import DEAD_LETTER_STREAM, SUBJECTS, Consumer, EventBus, is_transient, new_meta
from services.runtime.ids import IdGenerator
from shutter.events.v1 import events_pb2
from tests.support.mesh import Mesh
from tests.support.waiting import eventually

ids = IdGenerator(4000)


async def _publish_like(bus: EventBus, photo_id: int) -> None:
    event = events_pb2.LikeChanged(meta=new_meta(ids, "consumer-test"), photo_id=photo_id, user_id=1, liked=True)
    await bus.publish(
        SUBJECTS[events_pb2.LikeChanged], event.SerializeToString(), f"consumer-test-{event.meta.event_id}"
    )


async def _dead_letters(bus: EventBus, durable: str) -> list[bytes]:
    subscription = await bus.jetstream.subscribe(
        f"shutter.dlq.{durable}.>", stream=DEAD_LETTER_STREAM, ordered_consumer=True
    )
    found: list[bytes] = []
    try:
        while True:
            found.append((await subscription.next_msg(timeout=1.0)).data)
    except Exception:
        return found
    finally:
        await subscription.unsubscribe()


@pytest.fixture
async def bus(mesh: Mesh) -> AsyncIterator[EventBus]:
    connected = EventBus(mesh.settings.nats_url, "consumer-test")
    await connected.start()
    await asyncio.wait_for(connected.ready(), 20)
    yield connected
    await connected.stop()


async def _run_consumer(
    bus: EventBus,
    photo_id: int,
    fail: Callable[[int], Exception | None],
    until: Callable[[Counter[str]], bool],
) -> tuple[Counter[str], str]:
    durable = f"test-{uuid.uuid4().hex[:10]}"
    calls: Counter[str] = Counter()

    async def handle(event: Message) -> None:
        assert isinstance(event, events_pb2.LikeChanged)
        if event.photo_id != photo_id:
            return  # other tests' events on the shared stream
        calls["delivered"] += 1
        error = fail(calls["delivered"])
        if error is not None:
            raise error
        calls["handled"] += 1

    consumer = Consumer(bus, durable, [events_pb2.LikeChanged], handle, max_deliver=3, retry_base_delay=0.01)
    await consumer.start()
    try:
        await _publish_like(bus, photo_id)
        await eventually(lambda: until(calls), timeout=15)
    finally:
        await consumer.stop()
        await bus.jetstream.delete_consumer("SHUTTER_EVENTS", durable)
    return calls, durable


async def test_an_outage_longer_than_max_deliver_is_ridden_out(bus: EventBus) -> None:
    photo_id = ids.next_id()
    calls, durable = await _run_consumer(
        bus, photo_id, fail=lambda n: Unavailable("follow is down") if n <= 7 else None, until=lambda c: c["handled"]
    )
    assert calls["delivered"] == 8 and calls["handled"] == 1
    assert await _dead_letters(bus, durable) == []


async def test_a_poison_event_is_dead_lettered_after_max_deliver(bus: EventBus) -> None:
    photo_id = ids.next_id()
    calls, durable = await _run_consumer(
        bus, photo_id, fail=lambda n: ValueError("cannot handle this event"), until=lambda c: c["delivered"] >= 3
    )
    await asyncio.sleep(0.3)
    letters = await _dead_letters(bus, durable)
    assert calls["delivered"] == 3 and calls["handled"] == 0
    assert len(letters) == 1
    assert events_pb2.LikeChanged.FromString(letters[0]).photo_id == photo_id


def test_transient_classification() -> None:
    assert is_transient(Unavailable("down"))
    assert is_transient(ConnectionRefusedError())
    assert not is_transient(ValueError("bad event"))
    assert not is_transient(KeyError("missing"))


async def _publish_likes(bus: EventBus, photo_ids: list[int]) -> None:
    for photo_id in photo_ids:
        await _publish_like(bus, photo_id)


async def test_a_handler_longer_than_the_ack_wait_gets_its_events_once(bus: EventBus) -> None:
    """In-progress heartbeats keep every held event (the one being handled and those waiting their turn)
    from being redelivered, however long the handler takes: a short ack wait costs no duplicates."""
    photo_ids = [ids.next_id() for _ in range(3)]
    durable = f"test-{uuid.uuid4().hex[:10]}"
    deliveries: Counter[int] = Counter()
    handled = asyncio.Event()

    async def slow(event: Message) -> None:
        assert isinstance(event, events_pb2.LikeChanged)
        if event.photo_id not in photo_ids:
            return
        deliveries[event.photo_id] += 1
        await asyncio.sleep(2.5)  # 2.5 ack waits
        if sum(deliveries.values()) >= len(photo_ids):
            handled.set()

    consumer = Consumer(bus, durable, [events_pb2.LikeChanged], slow, ack_wait=1.0)
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.attached(), 20)
        await _publish_likes(bus, photo_ids)  # all three are delivered at once and held
        await asyncio.wait_for(handled.wait(), 60)
        await asyncio.sleep(1.5)  # a redelivery of any of them would come within one ack wait
    finally:
        await consumer.stop()
        await bus.jetstream.delete_consumer("SHUTTER_EVENTS", durable)
    assert deliveries == Counter({photo_id: 1 for photo_id in photo_ids})


async def test_an_event_is_handled_while_its_pull_request_is_still_open(bus: EventBus) -> None:
    """A lone event is handled when it arrives: not when the batch of 64 fills or the pull request
    (30 s here) expires."""
    photo_id = ids.next_id()
    durable = f"test-{uuid.uuid4().hex[:10]}"
    handled = asyncio.Event()

    async def handle(event: Message) -> None:
        if isinstance(event, events_pb2.LikeChanged) and event.photo_id == photo_id:
            handled.set()

    consumer = Consumer(bus, durable, [events_pb2.LikeChanged], handle, batch=64, pull_expires=30.0)
    await consumer.start()
    try:
        await asyncio.wait_for(consumer.attached(), 20)
        await _publish_like(bus, photo_id)
        await asyncio.wait_for(handled.wait(), 15)
    finally:
        await consumer.stop()
        await bus.jetstream.delete_consumer("SHUTTER_EVENTS", durable)


async def test_retries_redeliveries_and_dead_letters_are_counted_per_consumer(bus: EventBus) -> None:
    """The consumer runs in this process, so its metrics are this process's registry."""
    photo_id = ids.next_id()
    calls, durable = await _run_consumer(
        bus, photo_id, fail=lambda n: ValueError("cannot handle this event"), until=lambda c: c["delivered"] >= 3
    )
    subject = SUBJECTS[events_pb2.LikeChanged]

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, {"consumer": durable, **labels}) or 0.0

    assert calls["delivered"] == 3
    handled = "shutter_events_handled_total"
    assert value(handled, subject=subject, outcome="retried") == 2
    assert value(handled, subject=subject, outcome="dead_lettered") == 1
    assert value("shutter_events_redelivered_total", subject=subject) == 2  # deliveries 2 and 3
    assert value("shutter_events_dead_lettered_total", subject=subject) == 1
    # Every delivery was timed, the stream's other LikeChanged events (acked untouched) included.
    assert value("shutter_event_handler_seconds_count") >= 3
    # Consumer lag was read from JetStream as the consumer started.
    assert REGISTRY.get_sample_value("shutter_consumer_pending_events", {"consumer": durable}) is not None


async def test_concurrent_handlers_overlap_unrelated_events_and_keep_one_keys_events_in_order(bus: EventBus) -> None:
    """`concurrency` handlers at once, but events with the same ordering key (here the liking user: two users,
    five likes each) one at a time, in delivery order."""
    first = ids.next_id()
    photo_ids = [first + n for n in range(10)]
    users = {photo_id: 1 + n % 2 for n, photo_id in enumerate(photo_ids)}
    running: dict[int, int] = Counter()
    handled: dict[int, list[int]] = {1: [], 2: []}
    peak = {"overall": 0, "one key": 0}

    async def handle(event: Message) -> None:
        assert isinstance(event, events_pb2.LikeChanged)
        if event.photo_id not in users:
            return  # other tests' events on the shared stream
        user = users[event.photo_id]
        running[user] += 1
        peak["overall"] = max(peak["overall"], sum(running.values()))
        peak["one key"] = max(peak["one key"], running[user])
        await asyncio.sleep(0.05)
        handled[user].append(event.photo_id)
        running[user] -= 1

    durable = f"test-{uuid.uuid4().hex[:10]}"
    consumer = Consumer(
        bus,
        durable,
        [events_pb2.LikeChanged],
        handle,
        concurrency=4,
        ordering_key=lambda event: users.get(event.photo_id, 0),  # type: ignore[attr-defined]
    )
    for photo_id in photo_ids:
        event = events_pb2.LikeChanged(meta=new_meta(ids, "consumer-test"), photo_id=photo_id, user_id=1, liked=True)
        await bus.publish(
            SUBJECTS[events_pb2.LikeChanged], event.SerializeToString(), f"consumer-test-{event.meta.event_id}"
        )
    await consumer.start()
    try:
        await eventually(lambda: len(handled[1]) + len(handled[2]) == 10, timeout=15)
    finally:
        await consumer.stop()
        await bus.jetstream.delete_consumer("SHUTTER_EVENTS", durable)
    assert handled == {1: photo_ids[0::2], 2: photo_ids[1::2]}
    assert peak == {"overall": 2, "one key": 1}


def test_a_concurrent_consumer_without_an_ordering_key_is_refused() -> None:
    with pytest.raises(ValueError, match="ordering_key"):
        Consumer(None, "never", [events_pb2.LikeChanged], lambda event: None, concurrency=2)  # type: ignore[arg-type]


async def test_the_bench_waits_until_every_consumer_has_caught_up(bus: EventBus, mesh: Mesh) -> None:
    """bench.backlog: events a consumer has not handled yet hold the wait; once handled, it ends."""
    photo_ids = {ids.next_id() for _ in range(5)}
    release = asyncio.Event()

    async def handle(event: Message) -> None:
        if isinstance(event, events_pb2.LikeChanged) and event.photo_id in photo_ids:
            await release.wait()

    durable = f"test-{uuid.uuid4().hex[:10]}"
    consumer = Consumer(bus, durable, [events_pb2.LikeChanged], handle, batch=2)
    await consumer.start()
    try:
        await consumer.attached()
        await _publish_likes(bus, sorted(photo_ids))
        # Only this consumer: the session mesh keeps other tests' consumers, some left with events on purpose.
        held = await wait_for_consumers(mesh.settings.nats_url, timeout=2, label="test", durables={durable})
        assert not held.caught_up and held.events_at_start >= 5
        release.set()
        drained = await wait_for_consumers(mesh.settings.nats_url, timeout=30, label="test", durables={durable})
        assert drained.caught_up, drained
    finally:
        await consumer.stop()
        await bus.jetstream.delete_consumer("SHUTTER_EVENTS", durable)
