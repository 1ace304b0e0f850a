"""The search service and its reindex command on the CQL backend, end to end (SHUTTER_STORE=cql).

A small mesh (nats, photo, search) whose search keeps its index in the session's Cassandra node:
photos posted through the photo service become searchable through the live consumer, and the
reindex command (a separate process, configured by the same environment) rebuilds the index after it
is lost. Photo picks its own store from the same setting (today it always uses SQLite).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase
from services.search.cql import CqlSearchStore
from services.search.indexer import indexed_photo
from services.search.store import STORAGE
from tests.conformance.conftest import CqlAdmin
from tests.support.cassandra import CassandraNode, cql_env
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.search import ids, run_reindex, unique_word, until_ids

pytestmark = pytest.mark.slow

USER = 7102
KEYSPACE_PREFIX = "searchmesh"


@pytest.fixture(scope="module")
async def cql_mesh(tmp_path_factory: pytest.TempPathFactory, cassandra: CassandraNode) -> AsyncIterator[Mesh]:
    workdir = Path(tmp_path_factory.mktemp("search-cql-mesh"))
    env = cql_env(cassandra, KEYSPACE_PREFIX)
    async with Mesh(workdir, services=("photo", "search"), extra_env=env) as running:
        yield running


async def test_posts_are_indexed_in_cql_and_the_reindex_rebuilds_a_lost_index(
    cql_mesh: Mesh, cql_admin: CqlAdmin
) -> None:
    word = unique_word()
    token = cql_mesh.user_token(USER)
    posted = [
        (await upload(cql_mesh, token, USER, make_jpeg(16, 16), title=f"{word} {i}", tags=("Café",))).photo_id
        for i in range(3)
    ]
    expected = sorted(posted, reverse=True)
    await until_ids(cql_mesh, expected, text=word)
    assert await ids(cql_mesh, tag="cafe", text=word) == expected

    keyspace = f"{KEYSPACE_PREFIX}_search"
    rows = cql_admin.session.execute(
        "SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,)
    )
    tables = [row.table_name for row in rows]
    assert "photos_by_term" in tables  # the service really keeps its index in Cassandra
    for table in tables:  # lose the index
        cql_admin.session.execute(f"TRUNCATE {keyspace}.{table}", timeout=60)
    assert await ids(cql_mesh, text=word) == []

    # A document photo never had, old enough to be below the reindex watermark: the reindex drops it.
    database = CqlDatabase(Settings.from_env(cql_mesh.env), "search", STORAGE.cql_schema())
    await database.start()
    try:
        await CqlSearchStore(database).index_photo(*indexed_photo(12345, USER, f"{word} stale", "", [], 0))
    finally:
        await database.stop()
    assert await ids(cql_mesh, text=word) == [12345]

    output = await run_reindex(cql_mesh)
    assert "1 stale documents removed" in output
    assert await ids(cql_mesh, text=word) == expected
    assert await ids(cql_mesh, tag="cafe", text=word) == expected
