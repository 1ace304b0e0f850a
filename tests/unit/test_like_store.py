"""LikeStore conformance: every backend must pass these (SQLite now; the CQL issue adds its fixture)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.like.sqlite import SCHEMA, SqliteLikeStore
from services.like.store import LikerCursor, LikeStore, PhotoGone, Summary
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OUTBOX_SCHEMA
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2

ids = IdGenerator(1)


def event(photo_id: int, user_id: int, liked: bool) -> events_pb2.LikeChanged:
    meta = events_pb2.EventMeta(event_id=ids.next_id(), source="like")
    return events_pb2.LikeChanged(meta=meta, photo_id=photo_id, user_id=user_id, liked=liked)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "like.db", SCHEMA + OUTBOX_SCHEMA)
    await db.start()
    yield db
    await db.stop()


@pytest.fixture
def store(database: Database) -> LikeStore:
    return SqliteLikeStore(database)


async def outbox_events(database: Database) -> list[events_pb2.LikeChanged]:
    def rows(conn: sqlite3.Connection) -> list[bytes]:
        return [row[0] for row in conn.execute("SELECT payload FROM outbox ORDER BY seq")]

    return [events_pb2.LikeChanged.FromString(payload) for payload in await database.read(rows)]


async def test_like_is_idempotent_and_emits_one_event_per_change(store: LikeStore, database: Database) -> None:
    assert await store.like(1, 10, 1000, event(1, 10, True)) is True
    assert await store.like(1, 10, 2000, event(1, 10, True)) is False
    assert await store.summaries([1], 10) == [Summary(1, 1, True)]
    assert await store.unlike(1, 10, event(1, 10, False)) is True
    assert await store.unlike(1, 10, event(1, 10, False)) is False
    assert await store.summaries([1], 10) == [Summary(1, 0, False)]
    assert [(e.photo_id, e.user_id, e.liked) for e in await outbox_events(database)] == [(1, 10, True), (1, 10, False)]


async def test_summaries_follow_request_order_with_duplicates_and_unknown_photos(store: LikeStore) -> None:
    for user in (10, 11, 12):
        await store.like(2, user, 1000 + user, event(2, user, True))
    await store.like(3, 11, 5000, event(3, 11, True))
    assert await store.summaries([3, 99, 2, 3], 11) == [
        Summary(3, 1, True),
        Summary(99, 0, False),
        Summary(2, 3, True),
        Summary(3, 1, True),
    ]
    assert await store.summaries([2], 0) == [Summary(2, 3, False)]
    assert await store.summaries([], 11) == []


async def test_likers_page_newest_first_with_ties_broken_by_user(store: LikeStore) -> None:
    for user, at in ((1, 100), (2, 300), (3, 300), (4, 200), (5, 50)):
        await store.like(7, user, at, event(7, user, True))
    first = await store.likers(7, 2, None)
    assert [(like.user_id, like.liked_at_ms) for like in first] == [(3, 300), (2, 300)]
    second = await store.likers(7, 2, LikerCursor(first[-1].liked_at_ms, first[-1].user_id))
    assert [like.user_id for like in second] == [4, 1]
    third = await store.likers(7, 2, LikerCursor(second[-1].liked_at_ms, second[-1].user_id))
    assert [like.user_id for like in third] == [5]


async def test_purge_photo_drops_its_likes_and_refuses_new_ones(store: LikeStore) -> None:
    await store.like(8, 1, 10, event(8, 1, True))
    await store.like(8, 2, 11, event(8, 2, True))
    await store.like(9, 1, 12, event(9, 1, True))
    assert await store.purge_photo(8) == 2
    assert await store.purge_photo(8) == 0
    assert await store.summaries([8, 9], 1) == [Summary(8, 0, False), Summary(9, 1, True)]
    assert await store.likers(8, 10, None) == []
    with pytest.raises(PhotoGone):
        await store.like(8, 3, 13, event(8, 3, True))
    # The user's other likes are untouched, and purging the user later finds only those.
    assert await store.purge_user(1) == 1


async def test_purge_user_fixes_counts_everywhere_and_is_idempotent(store: LikeStore) -> None:
    for photo in range(1, 1202):  # more than one purge chunk
        await store.like(photo, 42, photo, event(photo, 42, True))
    await store.like(1, 43, 5, event(1, 43, True))
    assert await store.purge_user(42) == 1201
    assert await store.purge_user(42) == 0
    assert await store.summaries([1, 2, 1201], 42) == [
        Summary(1, 1, False),
        Summary(2, 0, False),
        Summary(1201, 0, False),
    ]
    assert [like.user_id for like in await store.likers(1, 10, None)] == [43]
