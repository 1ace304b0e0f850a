"""The reindex command rebuilds a lost index from the photo service and drops what photo no longer has."""

from __future__ import annotations

import pytest

from services.runtime.sqlite import Database
from services.search.indexer import indexed_photo
from services.search.sqlite import SqliteSearchStore
from services.search.store import STORAGE
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.search import ids, run_reindex, unique_word, until_ids
from tests.support.users import sign_up


@pytest.mark.slow
async def test_reindex_rebuilds_a_lost_index_while_the_service_runs(mesh: Mesh) -> None:
    word = unique_word()
    me = await sign_up(mesh, sign_in=False)
    posted = [
        (await upload(mesh, me.token, me.user_id, make_jpeg(16, 16), title=f"{word} {i}", tags=("Café",))).photo_id
        for i in range(3)
    ]
    expected = sorted(posted, reverse=True)
    await until_ids(mesh, me, expected, text=word)

    # Lose the index: the durable consumer has acked these events, so a restart alone brings nothing back.
    mesh.stop("search")
    index = mesh.workdir / "data" / "search"
    for path in index.glob("search.db*"):
        path.unlink()
    mesh.start_service("search")
    await mesh.wait_serving("search")
    assert await ids(mesh, me, text=word) == []

    # A document photo never had (or has since lost), old enough to be below the reindex watermark.
    database = Database(index / "search.db", STORAGE.sqlite_schema())
    await database.start()
    stale_id = 12345
    await SqliteSearchStore(database).index_photo(*indexed_photo(stale_id, me.user_id, f"{word} stale", "", [], 0))
    await database.stop()
    assert await ids(mesh, me, text=word) == [stale_id]

    output = await run_reindex(mesh)
    assert "stale documents removed" in output
    assert await ids(mesh, me, text=word) == expected
    assert await ids(mesh, me, tag="cafe", text=word) == expected

    await run_reindex(mesh)  # running it again changes nothing
    assert await ids(mesh, me, text=word) == expected
