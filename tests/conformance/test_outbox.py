"""Outbox conformance: an entity and its event are written together, then relayed in order, once.

The same tests run against the SQLite outbox (`enqueue` in the write transaction) and the CQL
outbox (`write_with_events`: one logged batch). `Notes` is a minimal entity store standing in for
a service's store.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Protocol

import pytest

from services.runtime.config import Settings
from services.runtime.cql import READ_STRONG, WRITE_DURABLE, CqlDatabase, CqlSchema, Query
from services.runtime.events import EVENTS_STREAM, EventBus, message_id, new_meta, subject_for
from services.runtime.ids import IdGenerator, min_id_at
from services.runtime.mesh import free_port, nats_command
from services.runtime.outbox import OUTBOX_SCHEMA, OutboxRelay, OutboxStore, SqliteOutbox, enqueue
from services.runtime.outbox_cql import (
    BUCKET_MS,
    LATE_WRITE_GRACE_MS,
    OUTBOX_TABLES,
    CqlOutbox,
    bucket_of,
    write_with_events,
)
from services.runtime.sqlite import Database, SqliteSchema
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases

NOTES_SQLITE = SqliteSchema(
    ("CREATE TABLE IF NOT EXISTS notes (note_id INTEGER PRIMARY KEY, body TEXT NOT NULL);",), OUTBOX_SCHEMA
)
NOTES_CQL = CqlSchema(("CREATE TABLE IF NOT EXISTS notes (note_id bigint PRIMARY KEY, body text)",), OUTBOX_TABLES)
INSERT_NOTE = Query("INSERT INTO notes (note_id, body) VALUES (?, ?)", WRITE_DURABLE)
SELECT_NOTE = Query("SELECT body FROM notes WHERE note_id = ?", READ_STRONG)

ids = IdGenerator(77)


class Notes(Protocol):
    """An entity store that emits an event with each change, as every service store does."""

    outbox: OutboxStore
    database: Database | CqlDatabase

    async def save(self, note_id: int, body: str, event: events_pb2.PhotoPosted) -> None: ...

    async def body(self, note_id: int) -> str | None: ...


class SqliteNotes:
    def __init__(self, database: Database) -> None:
        self.database = database
        self.outbox = SqliteOutbox(database)

    async def save(self, note_id: int, body: str, event: events_pb2.PhotoPosted) -> None:
        def transaction(conn) -> None:  # type: ignore[no-untyped-def]
            conn.execute("INSERT OR REPLACE INTO notes (note_id, body) VALUES (?, ?)", (note_id, body))
            enqueue(conn, event)

        await self.database.write(transaction)

    async def body(self, note_id: int) -> str | None:
        rows = await self.database.read(
            lambda conn: conn.execute("SELECT body FROM notes WHERE note_id = ?", (note_id,)).fetchall()
        )
        return rows[0][0] if rows else None


class CqlNotes:
    def __init__(self, database: CqlDatabase) -> None:
        self.database = database
        self.outbox = CqlOutbox(database)

    async def save(self, note_id: int, body: str, event: events_pb2.PhotoPosted) -> None:
        await write_with_events(self.database, [(INSERT_NOTE, (note_id, body))], [event])

    async def body(self, note_id: int) -> str | None:
        rows = await self.database.execute(SELECT_NOTE, (note_id,))
        return rows[0].body if rows else None


@pytest.fixture
async def notes(backend: str, databases: Databases) -> Notes:
    if backend == "sqlite":
        return SqliteNotes(await databases.sqlite(NOTES_SQLITE))
    store = CqlNotes(await databases.cql(NOTES_CQL))
    await store.outbox.start()
    return store


def posted(photo_id: int) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(meta=new_meta(ids, "conformance"), photo_id=photo_id, user_id=7, title="t")


async def test_entity_and_its_event_are_written_together(notes: Notes) -> None:
    event = posted(1)
    await notes.save(1, "hello", event)

    assert await notes.body(1) == "hello"
    [pending] = await notes.outbox.pending(10)
    assert (pending.msg_id, pending.subject, pending.payload) == (
        message_id(event),
        subject_for(event),
        event.SerializeToString(),
    )


async def test_pending_lists_events_in_the_order_they_were_made_up_to_the_limit(notes: Notes) -> None:
    events = [posted(i) for i in range(5)]
    for i, event in enumerate(events):
        await notes.save(i, f"note {i}", event)

    assert [p.msg_id for p in await notes.outbox.pending(10)] == [message_id(e) for e in events]
    assert [p.msg_id for p in await notes.outbox.pending(2)] == [message_id(e) for e in events[:2]]


async def test_mark_sent_removes_events_from_pending(notes: Notes) -> None:
    events = [posted(i) for i in range(4)]
    for i, event in enumerate(events):
        await notes.save(i, "x", event)
    first_two = await notes.outbox.pending(2)

    await notes.outbox.mark_sent([p.seq for p in first_two])

    assert [p.msg_id for p in await notes.outbox.pending(10)] == [message_id(e) for e in events[2:]]


async def test_prune_drops_sent_events_and_keeps_pending_ones(notes: Notes) -> None:
    sent, kept = posted(1), posted(2)
    await notes.save(1, "a", sent)
    await notes.save(2, "b", kept)
    [first, _] = await notes.outbox.pending(10)
    await notes.outbox.mark_sent([first.seq])

    await notes.outbox.prune(time.time() + 60)

    assert [p.msg_id for p in await notes.outbox.pending(10)] == [message_id(kept)]


async def test_enqueueing_the_same_event_again_leaves_one_pending_row(notes: Notes) -> None:
    event = posted(1)
    await notes.save(1, "first try", event)
    await notes.save(1, "retried", event)

    assert await notes.body(1) == "retried"
    assert [p.msg_id for p in await notes.outbox.pending(10)] == [message_id(event)]


# -- relayed to a real JetStream -----------------------------------------------------------------


@pytest.fixture(scope="module")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"nats://127.0.0.1:{free_port()}"
    settings = Settings.from_env({"SHUTTER_NATS_URL": url, "SHUTTER_DATA_DIR": str(tmp_path_factory.mktemp("nats"))})
    process = subprocess.Popen(nats_command(settings), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
async def bus(nats_url: str) -> AsyncIterator[EventBus]:
    connected = EventBus(nats_url, "conformance")
    await connected.start()
    await asyncio.wait_for(connected.ready(), timeout=20)
    try:
        yield connected
    finally:
        await connected.stop()


async def test_the_relay_publishes_each_event_once_and_empties_the_outbox(notes: Notes, bus: EventBus) -> None:
    relay = OutboxRelay(notes.outbox, bus)
    notes.database.add_commit_listener(relay.wake)
    await relay.start()
    try:
        event = posted(99)
        await notes.save(99, "relayed", event)
        for _ in range(200):  # up to 10 s
            if not await notes.outbox.pending(10):
                break
            await asyncio.sleep(0.05)
    finally:
        await relay.stop()

    assert await notes.outbox.pending(10) == []
    stored = await bus.jetstream.get_last_msg(EVENTS_STREAM, subject_for(event))
    assert stored.data == event.SerializeToString()
    assert stored.headers is not None and stored.headers["Nats-Msg-Id"] == message_id(event)


# -- CQL specifics: the bucket cursor and the age guard ------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def test_cql_cursor_waits_for_pending_rows_then_moves_past_drained_buckets(databases: Databases) -> None:
    database = await databases.cql(NOTES_CQL)
    clock = FakeClock()
    outbox = CqlOutbox(database, clock)
    await outbox.start()
    start_cursor = outbox.cursor
    event = posted(1)
    await write_with_events(database, [(INSERT_NOTE, (1, "x"))], [event])

    clock.now += 10 * BUCKET_MS / 1000  # ten minutes later, the event is still pending
    [pending] = await outbox.pending(10)
    assert pending.msg_id == message_id(event)
    assert start_cursor <= outbox.cursor <= bucket_of(pending.seq)  # not past a bucket with a pending row

    await outbox.mark_sent([pending.seq])
    assert await outbox.pending(10) == []
    expected = int(clock.now * 1000 - LATE_WRITE_GRACE_MS) // BUCKET_MS
    assert outbox.cursor == expected

    reopened = CqlOutbox(database, clock)
    await reopened.start()
    assert reopened.cursor == expected  # the cursor is stored, not recomputed


async def test_cql_outbox_refuses_an_event_too_old_for_the_cursor(databases: Databases) -> None:
    database = await databases.cql(NOTES_CQL)
    stale = events_pb2.PhotoPosted(meta=new_meta(ids, "conformance"))
    stale.meta.event_id = min_id_at(int(time.time() * 1000) - 10 * 60_000)  # made ten minutes ago

    with pytest.raises(ValueError, match="too old"):
        await write_with_events(database, [(INSERT_NOTE, (1, "x"))], [stale])

    assert await database.execute(SELECT_NOTE, (1,)) == []
