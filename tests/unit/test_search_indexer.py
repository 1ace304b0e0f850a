"""The indexer turns PhotoPosted/PhotoEdited/PhotoDeleted into index changes, idempotently and in any order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime.normalise import query_terms
from services.runtime.requests import timestamp_from_unix_ms
from services.runtime.sqlite import Database
from services.search.indexer import SearchIndexer
from services.search.sqlite import SqliteSearchStore
from services.search.store import STORAGE
from shutter.events.v1 import events_pb2


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteSearchStore]:
    database = Database(tmp_path / "search.db", STORAGE.sqlite_schema())
    await database.start()
    try:
        yield SqliteSearchStore(database)
    finally:
        await database.stop()


def posted(photo_id: int) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(
        photo_id=photo_id,
        user_id=5,
        title="Crème brûlée",
        location="Lyon, France",
        tags=["#Dessert"],
        created_at=timestamp_from_unix_ms(1_750_000_000_123),
    )


async def found(store: SqliteSearchStore, **query: str) -> list[int]:
    terms = query_terms(query.get("tag", ""), query.get("text", ""), query.get("location", ""))
    return [hit.photo_id for hit in await store.search(terms, None, 10)]


async def test_photo_posted_is_indexed_with_its_metadata(store: SqliteSearchStore) -> None:
    indexer = SearchIndexer(store)
    await indexer.handle(posted(1))
    await indexer.handle(posted(1))  # redelivery
    [hit] = await store.search(query_terms("dessert", "creme brulee", "lyon"), None, 10)
    assert (hit.photo_id, hit.user_id, hit.tags, hit.created_at_ms) == (1, 5, ("#Dessert",), 1_750_000_000_123)


async def test_photo_deleted_removes_it_even_when_it_arrives_first(store: SqliteSearchStore) -> None:
    indexer = SearchIndexer(store)
    await indexer.handle(posted(2))
    await indexer.handle(events_pb2.PhotoDeleted(photo_id=2, user_id=5))
    assert await found(store, tag="dessert") == []
    await indexer.handle(events_pb2.PhotoDeleted(photo_id=3, user_id=5))
    await indexer.handle(posted(3))  # the post redelivered after its delete
    assert await found(store, tag="dessert") == []
    await indexer.handle(posted(4))
    assert await found(store, tag="dessert") == [4]


def edited(photo_id: int, title: str, edited_at_ms: int) -> events_pb2.PhotoEdited:
    return events_pb2.PhotoEdited(
        photo_id=photo_id,
        user_id=5,
        title=title,
        location="Lyon, France",
        tags=["#Dessert", "Caramel"],
        caption="now with #Caramel",
        created_at=timestamp_from_unix_ms(1_750_000_000_123),
        edited_at=timestamp_from_unix_ms(edited_at_ms),
    )


async def test_a_late_post_or_older_edit_leaves_the_newest_edit_filed(store: SqliteSearchStore) -> None:
    indexer = SearchIndexer(store)
    await indexer.handle(posted(5))
    await indexer.handle(edited(5, "Tarte tatin", 1_750_000_100_000))
    await indexer.handle(posted(5))  # the post redelivered after its edit
    await indexer.handle(edited(5, "Clafoutis", 1_750_000_050_000))  # an older edit arriving late
    assert await found(store, text="creme brulee") == []
    assert await found(store, text="clafoutis") == []
    assert await found(store, text="tarte tatin") == [5]
    assert await found(store, tag="caramel", text="now") == [5]
