"""One conformance suite, two backends: every store test here runs on SQLite and on CQL.

`backend` is parametrised ("sqlite", "cql"); `databases` opens started databases for one test and
closes them after (CQL: a keyspace of its own, emptied afterwards). The CQL run uses the session's one
real Apache Cassandra 5.0 node (the `cassandra` fixture in tests/conftest.py), started on first use: a
test selection that only touches SQLite never starts it.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from cassandra.cluster import Cluster, Session

from services.runtime.config import Settings
from services.runtime.cql import WRITE_DURABLE, CqlDatabase, CqlSchema, Query
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.stores import Storage
from services.runtime.tombstones import Kind, SqliteTombstones
from services.runtime.tombstones_cql import CqlTombstones
from tests.support.cassandra import CassandraNode

BACKENDS = ("sqlite", "cql")


class CqlAdmin:
    """A plain driver session for what tests do around a store, and a pool of used keyspaces.

    A test's keyspace is emptied with TRUNCATE (~0.1 s a table) and handed to the next test with the
    same schema, instead of dropping and creating keyspaces (~1.5 s of schema work each). Its schema
    version is kept, so the next test starts on a current keyspace.
    """

    KEPT = frozenset({"schema_version", "schema_lock"})

    def __init__(self, session: Session) -> None:
        self.session = session
        self._free: dict[CqlSchema, list[str]] = {}
        self._numbers = itertools.count(1)

    def take_prefix(self, schema: CqlSchema) -> str:
        """A keyspace prefix for a store with this schema: a clean used one, or a new one."""
        free = self._free.get(schema)
        return free.pop() if free else f"conformance{next(self._numbers)}"

    def give_back(self, schema: CqlSchema, prefix: str, keyspace: str) -> None:
        rows = self.session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
        for row in rows:
            if row.table_name not in self.KEPT:
                self.session.execute(f"TRUNCATE {keyspace}.{row.table_name}", timeout=60)
        self._free.setdefault(schema, []).append(prefix)


@pytest.fixture(scope="session")
def cql_admin(cassandra: CassandraNode) -> Iterator[CqlAdmin]:
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    admin = CqlAdmin(cluster.connect())
    try:
        yield admin
    finally:
        cluster.shutdown()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


class Databases:
    """Started databases for one test, on either backend; `close` stops them. A CQL database gets a keyspace from
    the session's pool (see CqlAdmin), which `close` truncates and returns for the next test: never dropped.
    A schema is a service's `Storage` (its declared runtime tables included) or a bare SqliteSchema / CqlSchema."""

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self._request = request
        self.workdir = workdir
        self._opened: list[Database | CqlDatabase] = []
        self._reused: list[tuple[CqlDatabase, CqlSchema, str]] = []

    def cql_settings(self, keyspace_prefix: str) -> Settings:
        """Settings pointing at the session's node, with a keyspace prefix no running test uses."""
        node: CassandraNode = self._request.getfixturevalue("cassandra")
        return Settings.from_env(
            {
                "SHUTTER_STORE": "cql",
                "SHUTTER_DATA_DIR": str(self.workdir),
                "SHUTTER_AUTH_SECRET": "conformance-secret",
                "SHUTTER_CQL_CONTACT_POINTS": "127.0.0.1",
                "SHUTTER_CQL_PORT": str(node.native_port),
                "SHUTTER_CQL_KEYSPACE": keyspace_prefix,
            }
        )

    async def sqlite(self, schema: SqliteSchema | Storage, *, name: str = "store") -> Database:
        if isinstance(schema, Storage):
            schema = schema.sqlite_schema()
        database = Database(self.workdir / f"{name}.db", schema)
        await database.start()
        self._opened.append(database)
        return database

    async def cql(self, schema: CqlSchema | Storage, *, service: str = "store") -> CqlDatabase:
        if isinstance(schema, Storage):
            schema = schema.cql_schema()
        admin: CqlAdmin = self._request.getfixturevalue("cql_admin")
        prefix = admin.take_prefix(schema)
        database = CqlDatabase(self.cql_settings(prefix), service, schema)
        await database.start()
        self._opened.append(database)
        self._reused.append((database, schema, prefix))
        return database

    async def open(self, backend: str, storage: Storage, *, service: str = "store") -> Database | CqlDatabase:
        """The storage's database on `backend` ("sqlite" or "cql")."""
        if backend == "sqlite":
            return await self.sqlite(storage, name=service)
        return await self.cql(storage, service=service)

    async def close(self) -> None:
        for database in reversed(self._opened):
            await database.stop()
        if self._reused:
            admin: CqlAdmin = self._request.getfixturevalue("cql_admin")
            for database, schema, prefix in self._reused:
                admin.give_back(schema, prefix, database.keyspace)


@pytest.fixture
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    opened = Databases(request, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()


async def tombstoned(database: Database | CqlDatabase, kind: Kind, id_: int) -> bool:
    """Whether a store left a tombstone for `id_`, read through the runtime's tombstone API on either backend."""
    if isinstance(database, Database):
        return await database.read(lambda conn: SqliteTombstones().is_marked(conn, kind, id_))
    return await CqlTombstones(database).is_marked(kind, id_)


class PurgeMidway:
    """A CqlDatabase that runs `purge` just before the first statement `when` picks: the photo's deletion
    landing at the worst moment of a like or a comment, which no ordering of whole calls can produce.
    Used by the like and comment suites' race tests."""

    def __init__(self, db: CqlDatabase, when: Callable[[Query], bool], purge: Callable[[], Awaitable[int]]) -> None:
        self._db = db
        self._when = when
        self._purge: Callable[[], Awaitable[int]] | None = purge

    async def _maybe_purge(self, queries: list[Query]) -> None:
        if self._purge is not None and any(self._when(query) for query in queries):
            purge, self._purge = self._purge, None
            await purge()

    async def execute(self, query: Query, params: Sequence[Any] = ()) -> list[Any]:
        await self._maybe_purge([query])
        return await self._db.execute(query, params)

    async def batch(self, writes: Iterable[tuple[Query, Sequence[Any]]], consistency: int = WRITE_DURABLE) -> None:
        writes = list(writes)
        await self._maybe_purge([query for query, _ in writes])
        await self._db.batch(writes, consistency)

    async def page(self, query: Query, params: Sequence[Any], page_size: int, paging_state: bytes | None = None) -> Any:
        await self._maybe_purge([query])
        return await self._db.page(query, params, page_size, paging_state)
