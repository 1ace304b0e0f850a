"""Broadcast: every replica sees every event of its type (a durable consumer would share them out)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from services.runtime.broadcast import Broadcast
from services.runtime.events import EventBus, message_id, subject_for
from shutter.events.v1 import events_pb2
from tests.support.mesh import Mesh


def deleted(photo_id: int) -> events_pb2.PhotoDeleted:
    return events_pb2.PhotoDeleted(meta=events_pb2.EventMeta(event_id=photo_id, source="test"), photo_id=photo_id)


async def test_each_replica_gets_every_event_from_its_start_on(tmp_path: Path) -> None:
    nats_only = Mesh(tmp_path, services=())
    nats_only.start_nats()
    buses = [EventBus(nats_only.settings.nats_url, f"replica-{n}") for n in range(2)]
    seen: list[list[int]] = [[], []]
    all_seen = asyncio.Event()

    def handler(mine: list[int]):  # type: ignore[no-untyped-def]
        def handle(event: events_pb2.PhotoDeleted) -> None:
            mine.append(event.photo_id)
            if all(len(each) >= 3 for each in seen):
                all_seen.set()

        return handle

    replicas = [Broadcast(bus, events_pb2.PhotoDeleted, handler(mine)) for bus, mine in zip(buses, seen, strict=True)]
    try:
        for bus in buses:
            await bus.start()
            await asyncio.wait_for(bus.ready(), 10)
        await buses[0].publish(subject_for(deleted(1)), deleted(1).SerializeToString(), message_id(deleted(1)))
        for replica in replicas:
            await replica.start()
        for replica in replicas:
            await asyncio.wait_for(replica.attached(), 10)
        for photo_id in (2, 3, 4):
            event = deleted(photo_id)
            await buses[0].publish(subject_for(event), event.SerializeToString(), message_id(event))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_seen.wait(), 10)
        # Both replicas, every event since they started, in order; nothing from before.
        assert seen == [[2, 3, 4], [2, 3, 4]]
    finally:
        for replica in replicas:
            await replica.stop()
        for bus in buses:
            await bus.stop()
        await nats_only.close()
