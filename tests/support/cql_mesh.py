"""Meshes on SHUTTER_STORE=cql: the services under test keep their data in the session's Cassandra node.

    cql_mesh = cql_mesh_fixture(services=("user", "follow"))      # at a test module's top level

    async def test_x(cql_mesh: Mesh, cql_session: Session) -> None:
        row = cql_session.execute(f"SELECT … FROM {cql_mesh.keyspace('user')}.users …").one()

Each mesh gets keyspaces of its own (a fresh prefix), so a module's data never meets another's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.runtime.topology import SERVICE_NAMES
from tests.support.cassandra import CassandraNode
from tests.support.mesh import Mesh


def cql_env(node: CassandraNode, keyspace_prefix: str) -> dict[str, str]:
    """Settings that put a mesh's services on `node`, each in a keyspace of its own under the prefix.
    Photo bytes go to the cluster too (the small-cluster blob store): an object store is opt-in here."""
    return {
        "SHUTTER_STORE": "cql",
        "SHUTTER_BLOB_STORE": "cql",
        "SHUTTER_CQL_CONTACT_POINTS": "127.0.0.1",
        "SHUTTER_CQL_PORT": str(node.native_port),
        "SHUTTER_CQL_KEYSPACE": keyspace_prefix,
    }


def cql_mesh_fixture(services: tuple[str, ...] = SERVICE_NAMES, *, gateway: bool = False) -> Any:
    """A module-scoped fixture: nats-server and `services` on CQL (plus the gateway when asked), started once."""

    @pytest.fixture(scope="module")
    async def cql_mesh(tmp_path_factory: pytest.TempPathFactory, cassandra: CassandraNode) -> AsyncIterator[Mesh]:
        prefix = f"mesh{uuid.uuid4().hex[:12]}"
        env = cql_env(cassandra, prefix)
        async with Mesh(tmp_path_factory.mktemp("cqlmesh"), services=services, extra_env=env) as running:
            if gateway:
                running.start_gateway()
                await running.wait_gateway()
            yield running

    return cql_mesh
