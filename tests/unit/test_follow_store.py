"""The SQLite follow store on its own: counts stay right through every path, purges are bounded."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.follow.sqlite import SCHEMA, SqliteFollowStore
from services.follow.store import DeletedUser, FollowCounts, FollowEdge
from services.runtime.outbox import OUTBOX_SCHEMA
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[tuple[SqliteFollowStore, Database]]:
    database = Database(tmp_path / "follow.db", SCHEMA + OUTBOX_SCHEMA)
    await database.start()
    try:
        yield SqliteFollowStore(database), database
    finally:
        await database.stop()


_next = iter(range(1, 1_000_000))


def _meta() -> events_pb2.EventMeta:
    return events_pb2.EventMeta(event_id=next(_next), source="test")


async def _follow(store: SqliteFollowStore, follower: int, followee: int) -> bool:
    edge = FollowEdge(follower, followee, next(_next), 1000)
    event = events_pb2.FollowCreated(meta=_meta(), follower_id=follower, followee_id=followee)
    return (await store.follow(edge, event))[1]


async def _outbox_size(database: Database) -> int:
    return await database.read(lambda conn: conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])


async def test_events_are_enqueued_only_for_real_changes(store: tuple[SqliteFollowStore, Database]) -> None:
    follows, database = store
    assert await _follow(follows, 1, 2)
    assert not await _follow(follows, 1, 2)
    assert await _outbox_size(database) == 1
    deleted = events_pb2.FollowDeleted(meta=_meta(), follower_id=1, followee_id=2)
    assert await follows.unfollow(1, 2, deleted)
    assert not await follows.unfollow(1, 2, events_pb2.FollowDeleted(meta=_meta(), follower_id=1, followee_id=2))
    assert await _outbox_size(database) == 2
    assert await follows.counts(1) == FollowCounts(0, 0)
    assert await follows.counts(2) == FollowCounts(0, 0)


async def test_keyset_pages_walk_newest_first(store: tuple[SqliteFollowStore, Database]) -> None:
    follows, _ = store
    for follower in range(10, 20):
        await _follow(follows, follower, 1)
    first = await follows.followers(1, None, 4)
    rest = await follows.followers(1, first[-1].follow_id, 100)
    assert [e.follower_id for e in first + rest] == list(range(19, 9, -1))
    assert await follows.following(12, [1, 2]) == {1}


async def test_purging_a_user_is_bounded_per_call_and_keeps_counts(store: tuple[SqliteFollowStore, Database]) -> None:
    follows, _ = store
    doomed = 100
    for other in range(1, 8):
        await _follow(follows, other, doomed)  # seven followers
    for other in range(1, 4):
        await _follow(follows, doomed, other)  # follows three of them
    await _follow(follows, 1, 2)  # an unrelated edge that must survive

    removed = []
    while count := await follows.remove_user_edges(doomed, 3):
        removed.append(count)
    assert removed == [3, 3, 3, 1]
    assert await follows.remove_user_edges(doomed, 3) == 0  # a redelivered event finds nothing
    assert await follows.counts(doomed) == FollowCounts(0, 0)
    assert await follows.counts(1) == FollowCounts(0, 1)
    assert await follows.counts(2) == FollowCounts(1, 0)
    assert await follows.counts(5) == FollowCounts(0, 0)
    assert [e.followee_id for e in await follows.followees(1, None, 10)] == [2]
    assert await follows.followers(doomed, None, 10) == []


async def test_a_tombstoned_user_gets_no_new_edges(store: tuple[SqliteFollowStore, Database]) -> None:
    follows, database = store
    await follows.tombstone_user(7)
    await follows.tombstone_user(7)
    for follower, followee in ((7, 1), (1, 7)):
        with pytest.raises(DeletedUser) as caught:
            await _follow(follows, follower, followee)
        assert caught.value.user_id == 7
    assert await _outbox_size(database) == 0
    assert await follows.counts(1) == FollowCounts(0, 0)
