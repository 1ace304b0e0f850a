"""The search service and its reindex command on the CQL backend, end to end (SHUTTER_STORE=cql).

A small mesh (nats, photo, search), both services on CQL in the session's Cassandra node: photos posted
through the photo service become searchable through the live consumer, and the reindex command (a separate
process, configured by the same environment) rebuilds the index after it is lost. There is no user service
in the mesh, so the poster and the searcher have tokens but no accounts.
"""

from __future__ import annotations

import pytest
from cassandra.cluster import Session

from services.runtime.config import Settings
from services.runtime.cql import CqlDatabase
from services.search.cql import CqlSearchStore
from services.search.indexer import indexed_photo
from services.search.store import STORAGE
from tests.support.cql_mesh import cql_mesh_fixture
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.search import ids, run_reindex, unique_word, until_ids
from tests.support.users import user_without_account

pytestmark = pytest.mark.slow

cql_mesh = cql_mesh_fixture(services=("photo", "search", "follow"))


async def test_posts_are_indexed_in_cql_and_the_reindex_rebuilds_a_lost_index(
    cql_mesh: Mesh, cql_session: Session
) -> None:
    word = unique_word()
    poster, searcher = user_without_account(cql_mesh), user_without_account(cql_mesh)
    posted = [
        (
            await upload(cql_mesh, poster.token, poster.user_id, make_jpeg(16, 16), title=f"{word} {i}", tags=("Café",))
        ).photo_id
        for i in range(3)
    ]
    expected = sorted(posted, reverse=True)
    await until_ids(cql_mesh, searcher, expected, text=word)
    assert await ids(cql_mesh, searcher, tag="cafe", text=word) == expected

    keyspace = cql_mesh.keyspace("search")
    rows = cql_session.execute("SELECT table_name FROM system_schema.tables WHERE keyspace_name = %s", (keyspace,))
    tables = [row.table_name for row in rows]
    assert "photos_by_term" in tables  # the service really keeps its index in Cassandra
    for table in tables:  # lose the index
        cql_session.execute(f"TRUNCATE {keyspace}.{table}", timeout=60)
    assert await ids(cql_mesh, searcher, text=word) == []

    # A document photo never had, old enough to be below the reindex watermark: the reindex drops it.
    database = CqlDatabase(Settings.from_env(cql_mesh.env), "search", STORAGE.cql_schema())
    await database.start()
    try:
        await CqlSearchStore(database).index_photo(*indexed_photo(12345, poster.user_id, f"{word} stale", "", [], 0))
    finally:
        await database.stop()
    assert await ids(cql_mesh, searcher, text=word) == [12345]

    output = await run_reindex(cql_mesh)
    assert "1 stale documents removed" in output
    assert await ids(cql_mesh, searcher, text=word) == expected
    assert await ids(cql_mesh, searcher, tag="cafe", text=word) == expected
