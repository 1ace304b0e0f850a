"""Fan-out decisions against an in-memory follow graph: paging, large accounts, backfill, purges."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from services.feed.fanout import FANOUT_EVENTS, Fanout, ordering_key, posted_ms
from services.feed.sqlite import SqliteFeedStore
from services.runtime.ids import IdGenerator, id_timestamp_ms
from services.runtime.requests import CursorField, PageTokens
from services.runtime.visibility import Visibility
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2
from tests.support.feeds import sqlite_feed_store

PAGES = PageTokens("fan-out-test-secret")


class FollowGraph:
    """Answers the follow RPCs the fan-out uses, as the follow service's contract says."""

    def __init__(self) -> None:
        self.followers: dict[int, list[int]] = {}
        self.pages_served = 0
        self.muted: set[tuple[int, int]] = set()
        # Runs once a page is served (and before the fan-out writes it): a block or unfollow racing it.
        self.after_page: Callable[[], None] | None = None

    def follow(self, follower_id: int, followee_id: int) -> None:
        self.followers.setdefault(followee_id, []).append(follower_id)

    def unfollow(self, follower_id: int, followee_id: int) -> None:
        self.followers[followee_id].remove(follower_id)

    async def GetFollowCounts(self, request: follow_pb2.GetFollowCountsRequest) -> follow_pb2.GetFollowCountsResponse:
        return follow_pb2.GetFollowCountsResponse(follower_count=len(self.followers.get(request.user_id, [])))

    async def ListFollowers(self, request: follow_pb2.ListFollowersRequest) -> follow_pb2.ListFollowersResponse:
        self.pages_served += 1
        everyone = self.followers.get(request.user_id, [])
        start = (PAGES.decode(request, {"at": CursorField.COUNT}) or {"at": 0})["at"]
        page = everyone[start : start + request.page_size]
        more = start + request.page_size < len(everyone)
        if self.after_page is not None:
            self.after_page()
        return follow_pb2.ListFollowersResponse(
            follows=[follow_pb2.Follow(follower_id=f, followee_id=request.user_id) for f in page],
            next_page_token=PAGES.encode(request, {"at": start + request.page_size}) if more else "",
        )

    async def BatchGetRelationships(
        self, request: follow_pb2.BatchGetRelationshipsRequest, **options: object
    ) -> follow_pb2.BatchGetRelationshipsResponse:
        return follow_pb2.BatchGetRelationshipsResponse(
            relationships=[
                follow_pb2.Relationship(
                    viewer_id=p.viewer_id,
                    author_id=p.author_id,
                    following=p.viewer_id in self.followers.get(p.author_id, []),
                    muted=(p.viewer_id, p.author_id) in self.muted,
                )
                for p in request.pairs
            ]
        )

    async def CheckFollowing(self, request: follow_pb2.CheckFollowingRequest) -> follow_pb2.CheckFollowingResponse:
        return follow_pb2.CheckFollowingResponse(
            states=[
                follow_pb2.FollowState(followee_id=f, following=request.follower_id in self.followers.get(f, []))
                for f in request.followee_ids
            ]
        )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteFeedStore]:
    async with sqlite_feed_store(tmp_path) as opened:
        yield opened


@pytest.fixture
def graph() -> FollowGraph:
    return FollowGraph()


@pytest.fixture
def fanout(store: SqliteFeedStore, graph: FollowGraph) -> Fanout:
    return Fanout(
        store,
        graph,  # type: ignore[arg-type]
        visibility=Visibility(None, graph),  # type: ignore[arg-type]
        large_account_followers=50,
        followers_page_size=7,
        backfill_posts=3,
    )


ids = IdGenerator(3)


def posted(author_id: int) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(photo_id=ids.next_id(), user_id=author_id)


async def feed_ids(store: SqliteFeedStore, user_id: int) -> list[int]:
    return [p.photo_id for p in await store.feed(user_id, None, 1000)]


async def test_post_reaches_every_follower_across_pages_once(
    fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph
) -> None:
    for follower in range(1, 31):
        graph.follow(follower, 500)
    event = posted(500)
    await fanout.handle(event)
    await fanout.handle(event)  # redelivered
    assert graph.pages_served == 2 * 5  # 30 followers in pages of 7
    for follower in range(1, 31):
        assert await feed_ids(store, follower) == [event.photo_id]
    assert await feed_ids(store, 500) == []


async def test_large_account_is_recorded_not_fanned_out(
    fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph
) -> None:
    for follower in range(1, 52):
        graph.follow(follower, 600)
    event = posted(600)
    await fanout.handle(event)
    assert graph.pages_served == 0
    assert await feed_ids(store, 1) == []
    assert await store.large_accounts(10) == [600]
    assert [p.photo_id for p in await store.pulled_posts([600], None, 10)] == [event.photo_id]


async def test_follow_backfills_recent_posts_and_unfollow_purges(
    fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph
) -> None:
    events = [posted(700) for _ in range(5)]
    for event in events:
        await fanout.handle(event)
    graph.follow(9, 700)
    await fanout.handle(events_pb2.FollowCreated(follower_id=9, followee_id=700))
    assert await feed_ids(store, 9) == [e.photo_id for e in reversed(events)][:3]
    graph.unfollow(9, 700)
    await fanout.handle(events_pb2.FollowDeleted(follower_id=9, followee_id=700))
    assert await feed_ids(store, 9) == []
    # A late copy of the FollowCreated (the follow is gone) backfills nothing.
    await fanout.handle(events_pb2.FollowCreated(follower_id=9, followee_id=700))
    assert await feed_ids(store, 9) == []


async def test_photo_deleted_before_a_redelivered_post_stays_deleted(
    fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph
) -> None:
    graph.follow(1, 800)
    event = posted(800)
    await fanout.handle(event)
    await fanout.handle(events_pb2.PhotoDeleted(photo_id=event.photo_id, user_id=800))
    await fanout.handle(event)
    assert await feed_ids(store, 1) == []


async def test_user_deleted_purges_their_entries_and_feed(
    fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph
) -> None:
    graph.follow(1, 900)
    graph.follow(900, 901)
    theirs, followed = posted(900), posted(901)
    await fanout.handle(theirs)
    await fanout.handle(followed)
    await fanout.handle(events_pb2.UserDeleted(user_id=900))
    assert await feed_ids(store, 1) == []
    assert await feed_ids(store, 900) == []
    await fanout.handle(followed)  # redelivered after the delete
    assert await feed_ids(store, 900) == []


def test_posted_time_comes_from_the_event_or_the_id() -> None:
    event = posted(1)
    assert posted_ms(event) == id_timestamp_ms(event.photo_id)
    event.created_at.FromMilliseconds(1_750_000_000_123)
    assert posted_ms(event) == 1_750_000_000_123


async def test_a_block_racing_the_fan_out_leaves_no_entry_behind(store: SqliteFeedStore, graph: FollowGraph) -> None:
    """The page is read while 3 still follows; the block (which removes the follow) lands before the page is
    written, and its purge has already run: the fan-out's re-check after writing takes the entry back out."""
    fanout = Fanout(
        store,
        graph,  # type: ignore[arg-type]
        visibility=Visibility(None, graph),  # type: ignore[arg-type]
        large_account_followers=50,
        followers_page_size=7,
    )
    for follower in (1, 2, 3):
        graph.follow(follower, 800)
    graph.after_page = lambda: graph.unfollow(3, 800)
    event = posted(800)
    await fanout.handle(event)
    assert await feed_ids(store, 1) == [event.photo_id]
    assert await feed_ids(store, 2) == [event.photo_id]
    assert await feed_ids(store, 3) == []


async def test_block_created_purges_both_feeds(fanout: Fanout, store: SqliteFeedStore, graph: FollowGraph) -> None:
    graph.follow(1, 900)
    graph.follow(900, 1)
    theirs, mine = posted(900), posted(1)
    await fanout.handle(theirs)
    await fanout.handle(mine)
    assert await feed_ids(store, 1) == [theirs.photo_id]
    assert await feed_ids(store, 900) == [mine.photo_id]
    await fanout.handle(events_pb2.BlockCreated(blocker_id=1, blocked_id=900))
    assert await feed_ids(store, 1) == []
    assert await feed_ids(store, 900) == []


def test_fanout_events_overlap_unless_they_touch_one_author_or_one_follow_edge() -> None:
    author, reader = 7, 9
    posts = [
        events_pb2.PhotoPosted(photo_id=1, user_id=author),
        events_pb2.PhotoDeleted(photo_id=1, user_id=author),
        events_pb2.UserDeleted(user_id=author),
    ]
    edge = [
        events_pb2.FollowCreated(follower_id=reader, followee_id=author),
        events_pb2.FollowDeleted(follower_id=reader, followee_id=author),
    ]
    blocks = [
        events_pb2.BlockCreated(blocker_id=reader, blocked_id=author),
        events_pb2.BlockCreated(blocker_id=author, blocked_id=reader),
    ]
    assert {type(event) for event in posts + edge + blocks} == set(FANOUT_EVENTS)
    assert {ordering_key(event) for event in posts} == {author}
    assert {ordering_key(event) for event in edge} == {(reader, author)}
    assert {ordering_key(event) for event in blocks} == {(author, reader)}
    other_edge = events_pb2.FollowCreated(follower_id=reader + 1, followee_id=author)
    assert ordering_key(other_edge) != ordering_key(edge[0])  # one author's new followers backfill together
    with pytest.raises(TypeError):
        ordering_key(events_pb2.LikeChanged(photo_id=1, user_id=author))
