"""Session-wide fixtures: one real mesh (nats-server + every service) for the whole run, one real
Cassandra node for everything that needs CQL (conformance suites, services run on SHUTTER_STORE=cql),
and one real SeaweedFS for everything that needs an object store (SHUTTER_BLOB_STORE=s3)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cassandra.cluster import Cluster, Session

from tests.support.cassandra import CassandraNode, CassandraUnavailable
from tests.support.jaeger import Jaeger, JaegerUnavailable
from tests.support.mesh import Mesh
from tests.support.seaweedfs import SeaweedServer, SeaweedUnavailable

_cassandra_startup: list[float] = []
_seaweedfs_startup: list[float] = []


@pytest.fixture(scope="session")
async def mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(Path(tmp_path_factory.mktemp("mesh")))
    try:
        await running.start()
        yield running
    finally:
        await running.close()


@pytest.fixture(scope="session")
async def gateway(mesh: Mesh) -> AsyncIterator[str]:
    """The gateway in front of the session's mesh, started once (e2e and browser tests share it): its base URL."""
    mesh.start_gateway()
    try:
        await mesh.wait_gateway()
        yield mesh.gateway_url
    finally:
        mesh.stop("gateway")


@pytest.fixture(scope="session")
def cassandra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CassandraNode]:
    """One node per session, started on first use; if it cannot start, the tests using it fail (never skip)."""
    node = CassandraNode(tmp_path_factory.mktemp("cassandra"))
    try:
        node.start()
    except CassandraUnavailable as exc:
        pytest.fail(f"these tests need a real Cassandra node; it did not start: {exc}", pytrace=False)
    assert node.startup_seconds is not None
    _cassandra_startup.append(node.startup_seconds)
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedServer]:
    """One `weed server` per session, started on first use; if it cannot start, the tests using it fail."""
    server = SeaweedServer(tmp_path_factory.mktemp("seaweedfs"))
    try:
        server.start()
    except SeaweedUnavailable as exc:
        pytest.fail(f"these tests need a real SeaweedFS; it did not start: {exc}", pytrace=False)
    assert server.startup_seconds is not None
    _seaweedfs_startup.append(server.startup_seconds)
    try:
        yield server
    finally:
        server.kill()


@pytest.fixture(scope="session")
def jaeger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jaeger]:
    """A real Jaeger (OTLP in, query API out, in-memory storage), started on first use; never skipped."""
    running = Jaeger(tmp_path_factory.mktemp("jaeger"))
    try:
        running.start()
    except JaegerUnavailable as exc:
        pytest.fail(f"these tests need a real Jaeger; it did not start: {exc}", pytrace=False)
    try:
        yield running
    finally:
        running.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _cassandra_startup:
        terminalreporter.write_line(f"cassandra: node started and answered CQL in {_cassandra_startup[0]:.1f}s")
    if _seaweedfs_startup:
        terminalreporter.write_line(f"seaweedfs: weed server answered S3 in {_seaweedfs_startup[0]:.1f}s")


@pytest.fixture(scope="session")
def cql_session(cassandra: CassandraNode) -> Iterator[Session]:
    """A driver session on the session's node, for checking what services stored."""
    cluster = Cluster(["127.0.0.1"], port=cassandra.native_port)
    try:
        yield cluster.connect()
    finally:
        cluster.shutdown()
