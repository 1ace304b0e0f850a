"""One conformance suite, two backends: every store test here runs on SQLite and on CQL.

`backend` is parametrised ("sqlite", "cql"); `databases` opens started databases for one test and
closes them after (CQL: a fresh keyspace per test, dropped afterwards). The CQL run uses one real
Apache Cassandra 5.0 node per session, started on first use: a test selection that only touches
SQLite never starts it. If the node cannot start, the CQL tests fail with the reason; they never skip.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, Session

from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase, CqlSchema
from services.runtime.outbox import OUTBOX_SCHEMA
from services.runtime.outbox_cql import ddl
from services.runtime.sqlite import Database
from tests.support.cassandra import CassandraNode, CassandraUnavailable

BACKENDS = ("sqlite", "cql")
_startup: list[float] = []


@pytest.fixture(scope="session")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraNode]:
    node = CassandraNode(tmp_path_factory.mktemp("cassandra"))
    try:
        node.start()
    except CassandraUnavailable as exc:
        pytest.fail(f"CQL conformance tests need a real Cassandra node; it did not start: {exc}", pytrace=False)
    assert node.startup_seconds is not None
    _startup.append(node.startup_seconds)
    try:
        yield node
    finally:
        node.stop()


class CqlAdmin:
    """A plain driver session for what tests do around a store, and a pool of used keyspaces.

    A test's keyspace is emptied with TRUNCATE (~0.1 s a table) and handed to the next test with the
    same schema, instead of dropping and creating keyspaces (~1.5 s of schema work each).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self._free: dict[tuple[str, ...], list[str]] = {}
        self._numbers = itertools.count(1)

    def take_prefix(self, statements: tuple[str, ...]) -> str:
        """A keyspace prefix for a store with this schema: a clean used one, or a new one."""
        free = self._free.get(statements)
        return free.pop() if free else f"conformance{next(self._numbers)}"

    def give_back(self, statements: tuple[str, ...], prefix: str, keyspace: str) -> None:
        rows = self.session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
        for row in rows:
            self.session.execute(f"TRUNCATE {keyspace}.{row.table_name}", timeout=60)
        self._free.setdefault(statements, []).append(prefix)


@pytest.fixture(scope="session")
def cql_admin(cassandra: CassandraNode) -> Iterator[CqlAdmin]:
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    admin = CqlAdmin(cluster.connect())
    try:
        yield admin
    finally:
        cluster.shutdown()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _startup:
        terminalreporter.write_line(f"cassandra: node started and answered CQL in {_startup[0]:.1f}s")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


class Databases:
    """Started databases for one test, on either backend; `close` stops them (and drops CQL keyspaces)."""

    def __init__(self, request: pytest.FixtureRequest, workdir: Path) -> None:
        self._request = request
        self.workdir = workdir
        self._opened: list[Database | CqlDatabase] = []
        self._reused: list[tuple[CqlDatabase, tuple[str, ...], str]] = []

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

    async def sqlite(self, schema: str, *, with_outbox: bool = False, name: str = "store") -> Database:
        database = Database(self.workdir / f"{name}.db", schema + (OUTBOX_SCHEMA if with_outbox else ""))
        await database.start()
        self._opened.append(database)
        return database

    async def cql(self, schema: CqlSchema, *, service: str = "store") -> CqlDatabase:
        admin: CqlAdmin = self._request.getfixturevalue("cql_admin")
        statements = ddl(schema)
        prefix = admin.take_prefix(statements)
        database = CqlDatabase(self.cql_settings(prefix), service, statements)
        await database.start()
        self._opened.append(database)
        self._reused.append((database, statements, prefix))
        return database

    async def close(self) -> None:
        for database in reversed(self._opened):
            await database.stop()
        if self._reused:
            admin: CqlAdmin = self._request.getfixturevalue("cql_admin")
            for database, statements, prefix in self._reused:
                admin.give_back(statements, prefix, database.keyspace)


@pytest.fixture
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    opened = Databases(request, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
