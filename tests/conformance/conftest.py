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
_keyspace_numbers = itertools.count(1)
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


@pytest.fixture(scope="session")
def cql_admin(cassandra: CassandraNode) -> Iterator[Session]:
    """A plain driver session for what tests do around a store: inspect the schema, drop keyspaces."""
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    try:
        yield cluster.connect()
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
        self._admin: Session | None = None

    def cql_settings(self) -> Settings:
        """Settings pointing at the session's node, with a keyspace prefix no other test uses."""
        node: CassandraNode = self._request.getfixturevalue("cassandra")
        return Settings.from_env(
            {
                "SHUTTER_STORE": "cql",
                "SHUTTER_DATA_DIR": str(self.workdir),
                "SHUTTER_AUTH_SECRET": "conformance-secret",
                "SHUTTER_CQL_CONTACT_POINTS": "127.0.0.1",
                "SHUTTER_CQL_PORT": str(node.native_port),
                "SHUTTER_CQL_KEYSPACE": f"conformance{next(_keyspace_numbers)}",
            }
        )

    async def sqlite(self, schema: str, *, with_outbox: bool = False, name: str = "store") -> Database:
        database = Database(self.workdir / f"{name}.db", schema + (OUTBOX_SCHEMA if with_outbox else ""))
        await database.start()
        self._opened.append(database)
        return database

    async def cql(self, schema: CqlSchema, *, service: str = "store") -> CqlDatabase:
        database = CqlDatabase(self.cql_settings(), service, ddl(schema))
        self._admin = self._request.getfixturevalue("cql_admin")
        await database.start()
        self._opened.append(database)
        return database

    async def close(self) -> None:
        for database in reversed(self._opened):
            await database.stop()
            if isinstance(database, CqlDatabase) and self._admin is not None:
                self._admin.execute(f"DROP KEYSPACE IF EXISTS {database.keyspace}")


@pytest.fixture
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    opened = Databases(request, tmp_path)
    try:
        yield opened
    finally:
        await opened.close()
