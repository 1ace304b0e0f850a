"""Follow store conformance: the same assertions on SQLite and on CQL, through the FollowStore Protocol.

Edges and their events (exactly one per real change, also under concurrent duplicates), counts through
every path, keyset pages that neither skip nor repeat while follows arrive, is-following checks, and
the bounded purge of a deleted user.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from services.follow.cql import CqlFollowStore
from services.follow.events import UserDeletedHandler
from services.follow.sqlite import SqliteFollowStore
from services.follow.store import STORAGE, DeletedUser, FollowCounts, FollowEdge, FollowStore
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases

ids = IdGenerator(92)


@dataclass
class Follows:
    store: FollowStore
    outbox: OutboxStore

    async def follow(self, follower: int, followee: int) -> tuple[FollowEdge, bool]:
        edge = FollowEdge(follower, followee, ids.next_id(), int(time.time() * 1000))
        event = events_pb2.FollowCreated(meta=new_meta(ids, "follow"), follower_id=follower, followee_id=followee)
        return await self.store.follow(edge, event)

    async def unfollow(self, follower: int, followee: int) -> bool:
        event = events_pb2.FollowDeleted(meta=new_meta(ids, "follow"), follower_id=follower, followee_id=followee)
        return await self.store.unfollow(follower, followee, event)

    async def events(self) -> list[tuple[str, int, int]]:
        """(kind, follower, followee) of every pending event, oldest first."""
        found = []
        for pending in await self.outbox.pending(1000):
            event = decode(pending.subject, pending.payload)
            found.append((pending.subject.rsplit(".", 1)[-1], event.follower_id, event.followee_id))  # type: ignore[attr-defined]
        return found

    async def all_followers(self, user_id: int, page: int) -> list[int]:
        seen: list[int] = []
        cursor = None
        while edges := await self.store.followers(user_id, cursor, page):
            seen.extend(e.follower_id for e in edges)
            cursor = edges[-1].follow_id
        return seen


@pytest.fixture
async def follows(backend: str, databases: Databases) -> Follows:
    if backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        return Follows(SqliteFollowStore(database), SqliteOutbox(database))
    database = await databases.cql(STORAGE, service="follow")
    outbox = CqlOutbox(database)
    await outbox.start()
    return Follows(CqlFollowStore(database), outbox)


async def test_follow_twice_gives_one_edge_and_one_event(follows: Follows) -> None:
    first, created = await follows.follow(1, 2)
    again, created_again = await follows.follow(1, 2)

    assert created and not created_again
    assert again == first  # the original follow_id and time, not the retry's
    assert await follows.events() == [("created", 1, 2)]
    assert await follows.store.counts(1) == FollowCounts(0, 1)
    assert await follows.store.counts(2) == FollowCounts(1, 0)
    assert await follows.store.following(1, [2]) == {2}
    assert await follows.store.following(2, [1]) == set()  # edges have a direction


async def test_unfollow_twice_removes_once_and_emits_one_event(follows: Follows) -> None:
    await follows.follow(1, 2)

    assert await follows.unfollow(1, 2)
    assert not await follows.unfollow(1, 2)
    assert not await follows.unfollow(3, 4)  # never followed

    assert await follows.events() == [("created", 1, 2), ("deleted", 1, 2)]
    assert await follows.store.counts(1) == FollowCounts(0, 0)
    assert await follows.store.counts(2) == FollowCounts(0, 0)
    assert await follows.store.following(1, [2]) == set()
    assert await follows.store.followers(2, None, 10) == []
    assert await follows.store.followees(1, None, 10) == []


async def test_concurrent_duplicates_change_the_graph_once(follows: Follows) -> None:
    results = await asyncio.gather(*(follows.follow(5, 6) for _ in range(6)))
    assert [created for _, created in results].count(True) == 1
    assert len({edge.follow_id for edge, _ in results}) == 1

    removed = await asyncio.gather(*(follows.unfollow(5, 6) for _ in range(6)))
    assert removed.count(True) == 1

    assert await follows.events() == [("created", 5, 6), ("deleted", 5, 6)]
    assert await follows.store.counts(5) == FollowCounts(0, 0)
    assert await follows.store.counts(6) == FollowCounts(0, 0)


async def test_counts_follow_every_change(follows: Follows) -> None:
    for follower in (11, 12, 13):
        await follows.follow(follower, 10)
    await follows.follow(10, 11)
    await follows.unfollow(12, 10)

    assert await follows.store.counts(10) == FollowCounts(2, 1)
    assert await follows.store.counts(11) == FollowCounts(1, 1)
    assert await follows.store.counts(12) == FollowCounts(0, 0)
    assert await follows.store.counts(999) == FollowCounts(0, 0)


async def test_lists_page_newest_first_without_gaps_or_repeats_while_follows_arrive(follows: Follows) -> None:
    for follower in range(100, 110):
        await follows.follow(follower, 1)
        await follows.follow(1, follower)

    seen: list[FollowEdge] = []
    cursor = None
    newcomer = 200
    while edges := await follows.store.followers(1, cursor, 3):
        seen.extend(edges)
        cursor = edges[-1].follow_id
        await follows.follow(newcomer, 1)  # newer than the cursor: lands above it, shifts nothing
        newcomer += 1

    assert [e.follower_id for e in seen] == list(range(109, 99, -1))
    assert all(e.followee_id == 1 for e in seen)
    assert [e.follow_id for e in seen] == sorted((e.follow_id for e in seen), reverse=True)
    assert await follows.all_followers(1, 4) == [*range(newcomer - 1, 199, -1), *range(109, 99, -1)]

    first = await follows.store.followees(1, None, 4)
    rest = await follows.store.followees(1, first[-1].follow_id, 100)
    assert [e.followee_id for e in first + rest] == list(range(109, 99, -1))
    assert all(e.follower_id == 1 for e in first + rest)


async def test_following_answers_for_each_asked_id(follows: Follows) -> None:
    for followee in (2, 4, 6):
        await follows.follow(1, followee)

    assert await follows.store.following(1, [1, 2, 3, 4, 5, 6, 7]) == {2, 4, 6}
    assert await follows.store.following(1, []) == set()
    assert await follows.store.following(9, [2, 4]) == set()


async def test_following_answers_for_as_many_ids_as_check_following_accepts(follows: Follows) -> None:
    """CheckFollowing takes up to 1,000 ids; ScyllaDB caps clustering-key IN lists at 100."""
    followed = {10, 150, 999}
    for followee in followed:
        await follows.follow(1, followee)
    assert await follows.store.following(1, list(range(2, 1002))) == followed


async def test_purging_a_user_is_bounded_per_call_and_keeps_counts(follows: Follows) -> None:
    doomed = 100
    for other in range(1, 8):
        await follows.follow(other, doomed)  # seven followers
    for other in range(1, 4):
        await follows.follow(doomed, other)  # follows three of them
    await follows.follow(1, 2)  # an unrelated edge that must survive
    events_before = await follows.events()

    removed = []
    while count := await follows.store.remove_user_edges(doomed, 3):
        removed.append(count)

    assert removed == [3, 3, 3, 1]
    assert await follows.store.remove_user_edges(doomed, 3) == 0  # a redelivered event finds nothing
    assert await follows.events() == events_before  # the purge emits nothing: consumers react to UserDeleted
    assert await follows.store.counts(doomed) == FollowCounts(0, 0)
    assert await follows.store.counts(1) == FollowCounts(0, 1)
    assert await follows.store.counts(2) == FollowCounts(1, 0)
    assert await follows.store.counts(5) == FollowCounts(0, 0)
    assert [e.followee_id for e in await follows.store.followees(1, None, 10)] == [2]
    assert await follows.store.followers(doomed, None, 10) == []
    assert await follows.store.followees(doomed, None, 10) == []
    assert await follows.store.following(3, [doomed]) == set()
    assert await follows.store.following(doomed, [1, 2, 3]) == set()


async def test_a_tombstoned_user_gets_no_new_edges(follows: Follows) -> None:
    await follows.store.tombstone_user(7)
    await follows.store.tombstone_user(7)  # idempotent

    for follower, followee in ((7, 1), (1, 7)):
        with pytest.raises(DeletedUser) as caught:
            await follows.follow(follower, followee)
        assert caught.value.user_id == 7

    assert await follows.events() == []
    assert await follows.store.counts(1) == FollowCounts(0, 0)
    assert await follows.store.following(1, [7]) == set()


async def test_no_edge_survives_a_deletion_racing_new_follows(follows: Follows) -> None:
    """Whatever the interleaving, once the UserDeleted handler is done no edge touches the user."""
    doomed = 500
    for other in range(501, 505):
        await follows.follow(other, doomed)
    handler = UserDeletedHandler(follows.store, batch=2)
    racing = [follows.follow(other, doomed) for other in range(505, 515)]

    outcomes = await asyncio.gather(
        handler(events_pb2.UserDeleted(meta=new_meta(ids, "user"), user_id=doomed)), *racing, return_exceptions=True
    )
    assert all(o is None or isinstance(o, (tuple, DeletedUser)) for o in outcomes), outcomes

    assert await follows.store.followers(doomed, None, 100) == []
    for other in range(501, 515):
        assert await follows.store.following(other, [doomed]) == set()
        assert await follows.store.followees(other, None, 10) == []
        assert await follows.store.counts(other) == FollowCounts(0, 0)
