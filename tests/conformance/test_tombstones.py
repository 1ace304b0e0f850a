"""The runtime's tombstones, on SQLite and on CQL: marks, lookups, and expiry after one retention.

Time is an injected clock, never a sleep: a mark made at t is seen until t + RETENTION and not after,
on both backends. The retention itself is derived from the events stream's max_age, which a real
nats-server is asked for.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from services.runtime.cql import READ_STRONG, CqlDatabase, CqlSchema, Query
from services.runtime.events import EVENTS_STREAM, EventBus
from services.runtime.mesh import nats_server_binary
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import (
    EVENT_STREAM_MAX_AGE_SECONDS,
    RETENTION_MARGIN_SECONDS,
    RETENTION_SECONDS,
    SQLITE_TABLE,
    Kind,
    SqliteTombstones,
)
from services.runtime.tombstones_cql import CQL_TABLE, CqlTombstones
from tests.conformance.conftest import Databases
from tests.support.mesh import free_port

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


class Marks:
    """Both backends behind one async face, as a store uses them (SQLite inside a transaction)."""

    def __init__(self, database: Database | CqlDatabase, clock: Clock) -> None:
        self.database = database
        if isinstance(database, Database):
            self._sqlite: SqliteTombstones | None = SqliteTombstones(clock)
        else:
            self._sqlite = None
            self._cql = CqlTombstones(database, clock)

    async def mark(self, kind: Kind, id_: int) -> None:
        if self._sqlite is not None:
            sqlite, database = self._sqlite, self.database
            assert isinstance(database, Database)
            await database.write(lambda conn: sqlite.mark(conn, kind, id_))
        else:
            await self._cql.mark(kind, id_)

    async def is_marked(self, kind: Kind, id_: int) -> bool:
        if self._sqlite is not None:
            sqlite, database = self._sqlite, self.database
            assert isinstance(database, Database)
            return await database.read(lambda conn: sqlite.is_marked(conn, kind, id_))
        return await self._cql.is_marked(kind, id_)

    async def which_marked(self, kind: Kind, ids: Iterable[int]) -> set[int]:
        wanted = list(ids)
        if self._sqlite is not None:
            sqlite, database = self._sqlite, self.database
            assert isinstance(database, Database)
            return await database.read(lambda conn: sqlite.which_marked(conn, kind, wanted))
        return await self._cql.which_marked(kind, wanted)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def marks(backend: str, databases: Databases, clock: Clock) -> Marks:
    if backend == "sqlite":
        return Marks(await databases.sqlite(SqliteSchema((), SQLITE_TABLE)), clock)
    return Marks(await databases.cql(CqlSchema((), (CQL_TABLE,)), service="marks"), clock)


async def test_a_mark_is_seen_for_its_id_and_kind_only(marks: Marks) -> None:
    assert not await marks.is_marked(Kind.PHOTO, 7)
    await marks.mark(Kind.PHOTO, 7)
    await marks.mark(Kind.PHOTO, 7)  # again: idempotent

    assert await marks.is_marked(Kind.PHOTO, 7)
    assert not await marks.is_marked(Kind.USER, 7)  # kinds never collide
    assert not await marks.is_marked(Kind.PHOTO, 8)
    assert await marks.which_marked(Kind.PHOTO, [6, 7, 8, 7]) == {7}
    assert await marks.which_marked(Kind.USER, [7]) == set()
    assert await marks.which_marked(Kind.PHOTO, []) == set()


async def test_lookups_of_many_ids_span_chunks(marks: Marks) -> None:
    ids = range(1, 1100)  # several lookups on both backends (IN_CHUNK on CQL, 500 on SQLite)
    for id_ in ids[::7]:
        await marks.mark(Kind.USER, id_)
    assert await marks.which_marked(Kind.USER, ids) == set(ids[::7])


async def test_a_mark_expires_after_the_retention_and_not_before(marks: Marks, clock: Clock) -> None:
    await marks.mark(Kind.PHOTO, 1)
    clock.now = T0 + RETENTION_SECONDS - 1
    await marks.mark(Kind.USER, 2)  # made later: expires later
    assert await marks.is_marked(Kind.PHOTO, 1)
    assert await marks.which_marked(Kind.PHOTO, [1]) == {1}

    clock.now = T0 + RETENTION_SECONDS + 1
    assert not await marks.is_marked(Kind.PHOTO, 1)
    assert await marks.which_marked(Kind.PHOTO, [1]) == set()
    assert await marks.is_marked(Kind.USER, 2)


async def test_marking_again_renews_the_mark(marks: Marks, clock: Clock) -> None:
    await marks.mark(Kind.PHOTO, 1)
    clock.now = T0 + RETENTION_SECONDS - 10
    await marks.mark(Kind.PHOTO, 1)  # a redelivered deletion
    clock.now = T0 + RETENTION_SECONDS + 10
    assert await marks.is_marked(Kind.PHOTO, 1)
    clock.now = T0 + 2 * RETENTION_SECONDS
    assert not await marks.is_marked(Kind.PHOTO, 1)


async def test_sqlite_drops_expired_marks_as_it_marks(databases: Databases, clock: Clock) -> None:
    database = await databases.sqlite(SqliteSchema((), SQLITE_TABLE))
    marks = Marks(database, clock)
    for id_ in range(1, 6):
        await marks.mark(Kind.PHOTO, id_)
    clock.now = T0 + RETENTION_SECONDS + 1
    await marks.mark(Kind.PHOTO, 99)

    rows = await database.read(lambda conn: conn.execute("SELECT kind, id FROM deleted_ids").fetchall())
    assert rows == [("photo", 99)]


async def test_cql_marks_leave_the_table_after_the_retention(databases: Databases) -> None:
    database = await databases.cql(CqlSchema((), (CQL_TABLE,)), service="marks")
    await CqlTombstones(database).mark(Kind.PHOTO, 1)
    rows = await database.execute(
        Query("SELECT TTL(marked_ms) FROM deleted_ids WHERE kind = ? AND id = ?", READ_STRONG), ("photo", 1)
    )
    assert RETENTION_SECONDS - 60 < rows[0][0] <= RETENTION_SECONDS


def test_the_retention_is_the_redelivery_horizon_plus_a_day() -> None:
    assert RETENTION_SECONDS == EVENT_STREAM_MAX_AGE_SECONDS + RETENTION_MARGIN_SECONDS
    assert RETENTION_MARGIN_SECONDS == 24 * 3600


@pytest.fixture
def nats_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    server = subprocess.Popen(
        [nats_server_binary(), "--jetstream", "--addr", "127.0.0.1", "--port", str(port), "--store_dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_the_horizon_is_the_events_streams_max_age(nats_url: str) -> None:
    """The stream the runtime configures keeps (and redelivers) events exactly this long."""
    bus = EventBus(nats_url, "tombstones-test")
    await bus.start()
    try:
        await bus.ready()
        info = await bus.jetstream.stream_info(EVENTS_STREAM)
    finally:
        await bus.stop()
    assert info.config.max_age == EVENT_STREAM_MAX_AGE_SECONDS
