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
from services.follow.store import (
    STORAGE,
    Blocked,
    BlockEvents,
    DeletedUser,
    FollowCounts,
    FollowEdge,
    FollowStore,
    Link,
    LinkKind,
)
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from services.runtime.visibility import Relationship
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
        """(kind, follower, followee) of every pending follow event, oldest first."""
        found = []
        for pending in await self.outbox.pending(1000):
            event = decode(pending.subject, pending.payload)
            if isinstance(event, events_pb2.FollowCreated | events_pb2.FollowDeleted):
                found.append((pending.subject.rsplit(".", 1)[-1], event.follower_id, event.followee_id))
        return found

    async def subjects(self) -> list[str]:
        """The subject of every pending event, oldest first."""
        return [pending.subject for pending in await self.outbox.pending(1000)]

    def link(self, kind: LinkKind, from_id: int, to_id: int) -> Link:
        return Link(kind, from_id, to_id, ids.next_id(), int(time.time() * 1000))

    async def block(self, blocker: int, blocked: int) -> bool:
        meta = lambda: new_meta(ids, "follow")  # noqa: E731
        events = BlockEvents(
            created=events_pb2.BlockCreated(meta=meta(), blocker_id=blocker, blocked_id=blocked),
            unfollows={
                (a, b): events_pb2.FollowDeleted(meta=meta(), follower_id=a, followee_id=b)
                for a, b in ((blocker, blocked), (blocked, blocker))
            },
            requests_ended={
                (t, r): events_pb2.FollowRequestResolved(meta=meta(), requester_id=r, target_id=t)
                for t, r in ((blocker, blocked), (blocked, blocker))
            },
        )
        return await self.store.block(self.link(LinkKind.BLOCK, blocker, blocked), events)

    async def request(self, requester: int, target: int) -> bool:
        event = events_pb2.FollowRequested(meta=new_meta(ids, "follow"), requester_id=requester, target_id=target)
        return await self.store.add_link(self.link(LinkKind.REQUEST, target, requester), event)

    async def approve(self, requester: int, target: int) -> tuple[FollowEdge, bool] | None:
        edge = FollowEdge(requester, target, ids.next_id(), int(time.time() * 1000))
        resolved = events_pb2.FollowRequestResolved(
            meta=new_meta(ids, "follow"), requester_id=requester, target_id=target
        )
        created = events_pb2.FollowCreated(meta=new_meta(ids, "follow"), follower_id=requester, followee_id=target)
        return await self.store.approve_request(edge, resolved, created)

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


# -- privacy and safety: requests, blocks, mutes, privacy, relationships ---------------------------------


async def test_a_request_is_pending_once_and_approval_turns_it_into_one_follow(follows: Follows) -> None:
    assert await follows.request(201, 200)
    assert not await follows.request(201, 200)  # asking twice: still one request, one event
    assert [link.to_id for link in await follows.store.links(LinkKind.REQUEST, 200, None, 10)] == [201]
    assert (await follows.store.relationships([(201, 200)]))[(201, 200)] == Relationship(requested=True)

    approved = await follows.approve(201, 200)
    assert approved is not None and approved[1]
    assert await follows.approve(201, 200) is None  # nothing pending any more: nothing written
    assert await follows.store.links(LinkKind.REQUEST, 200, None, 10) == []
    assert await follows.store.following(201, [200]) == {200}
    assert await follows.events() == [("created", 201, 200)]
    subjects = [subject.rsplit(".", 2)[-2] + "." + subject.rsplit(".", 1)[-1] for subject in await follows.subjects()]
    assert subjects == ["follow.requested", "follow_request.resolved", "follow.created"]


async def test_requests_and_blocks_list_newest_first_in_pages(follows: Follows) -> None:
    for requester in range(301, 308):
        await follows.request(requester, 300)
    seen: list[int] = []
    cursor = None
    while page := await follows.store.links(LinkKind.REQUEST, 300, cursor, 3):
        seen.extend(link.to_id for link in page)
        cursor = page[-1].link_id
    assert seen == list(range(307, 300, -1))
    assert await follows.store.links(LinkKind.BLOCK, 300, None, 10) == []  # kinds do not mix


async def test_a_block_removes_follows_and_requests_both_ways_and_refuses_new_follows(follows: Follows) -> None:
    await follows.follow(401, 400)
    await follows.follow(400, 401)
    await follows.request(402, 400)
    await follows.request(400, 402)

    assert await follows.block(400, 401)
    assert await follows.block(400, 402)
    assert not await follows.block(400, 401)  # twice: no second block event

    assert await follows.store.following(401, [400]) == set()
    assert await follows.store.following(400, [401]) == set()
    assert await follows.store.counts(400) == FollowCounts(0, 0)
    assert await follows.store.links(LinkKind.REQUEST, 400, None, 10) == []
    assert await follows.store.links(LinkKind.REQUEST, 402, None, 10) == []
    assert [link.to_id for link in await follows.store.links(LinkKind.BLOCK, 400, None, 10)] == [402, 401]
    subjects = await follows.subjects()
    assert sum(s.endswith("block.created") for s in subjects) == 2
    assert sum(s.endswith("follow.deleted") for s in subjects) == 2
    assert sum(s.endswith("follow_request.resolved") for s in subjects) == 2

    for follower, followee in ((401, 400), (400, 401)):
        with pytest.raises(Blocked):
            await follows.follow(follower, followee)
    facts = await follows.store.relationships([(401, 400), (400, 401)])
    assert facts[(401, 400)] == Relationship(blocked_by_author=True)
    assert facts[(400, 401)] == Relationship(blocked_by_viewer=True)

    unblocked = events_pb2.BlockDeleted(meta=new_meta(ids, "follow"), blocker_id=400, blocked_id=401)
    assert await follows.store.remove_link(LinkKind.BLOCK, 400, 401, unblocked)
    assert not await follows.store.remove_link(LinkKind.BLOCK, 400, 401, unblocked)
    assert (await follows.store.relationships([(401, 400)]))[(401, 400)] == Relationship()  # nothing restored
    assert (await follows.follow(401, 400))[1]


async def test_privacy_and_mutes_are_facts_of_their_own(follows: Follows) -> None:
    changed = events_pb2.AccountPrivacyChanged(meta=new_meta(ids, "follow"), user_id=500, private=True)
    assert await follows.store.set_private(500, True, changed)
    assert not await follows.store.set_private(500, True, changed)
    assert await follows.store.private_users([500, 501]) == {500}
    mute = events_pb2.MuteCreated(meta=new_meta(ids, "follow"), muter_id=501, muted_id=500)
    assert await follows.store.add_link(follows.link(LinkKind.MUTE, 501, 500), mute)
    await follows.follow(501, 500)

    facts = await follows.store.relationships([(501, 500), (500, 501), (502, 500)])
    assert facts[(501, 500)] == Relationship(author_private=True, following=True, muted=True)
    assert facts[(500, 501)] == Relationship()  # a mute has a direction
    assert facts[(502, 500)] == Relationship(author_private=True)

    public = events_pb2.AccountPrivacyChanged(meta=new_meta(ids, "follow"), user_id=500, private=False)
    assert await follows.store.set_private(500, False, public)
    assert await follows.store.private_users([500]) == set()
    assert sum(s.endswith("account_privacy.changed") for s in await follows.subjects()) == 2


async def test_relationships_answer_large_batches(follows: Follows) -> None:
    for author in range(1000, 1150):
        await follows.follow(999, author)
    pairs = [(999, author) for author in range(1000, 1200)]
    facts = await follows.store.relationships(pairs)
    assert [facts[pair].following for pair in pairs] == [True] * 150 + [False] * 50
