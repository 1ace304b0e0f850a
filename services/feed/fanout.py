"""Fan-out on write: the JetStream consumer that keeps followers' feeds up to date.

PhotoPosted writes an entry into every follower's feed, one transaction per page of followers —
except for large accounts (more followers than the threshold), whose posts are only recorded and
merged into their followers' feeds at read time. FollowCreated backfills the followee's recent
posts; FollowDeleted, PhotoDeleted and UserDeleted purge. Every step is an idempotent upsert or
delete, so redelivery after a crash or a failed attempt neither duplicates nor loses an entry.

Events of one author, or of one follow edge (`ordering_key`), are handled one at a time, mostly in stream
order, others alongside (SHUTTER_FEED_FANOUT_CONCURRENCY); a retried event (nak with delay, an expired ack) can come
later than events behind it. A fan-out racing an unfollow stays safe because
it reads the follower list live, and the FollowDeleted purge removes whatever the author wrote into
that feed whenever it runs; a follow's backfill reads the edge afresh first for the same reason.

Blocks: BlockCreated purges each user's posts from the other's feed (its FollowDeleted events do too).
A fan-out racing a block or an unfollow re-reads, after writing a page, which of its followers still
follow the author (from the follow service, not a cache) and takes the post back out of the others'
feeds: a change committed before that re-read is seen by it, one committed after it purges after the
write. Either way no entry is left behind, whatever order replicas handle the events in. Live watchers
are told only of posts that may stand in their feed (services.runtime.visibility.in_feed: not muted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Hashable

from google.protobuf.message import Message
from prometheus_client import Histogram

from services.feed.store import FeedStore, Post
from services.runtime.ids import id_timestamp_ms
from services.runtime.live import LiveUpdates
from services.runtime.metrics import LAG_BUCKETS, event_lag_seconds
from services.runtime.requests import timestamp_from_unix_ms
from services.runtime.visibility import Visibility, in_feed
from shutter.events.v1 import events_pb2
from shutter.feed.v1 import feed_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc

log = logging.getLogger("shutter.feed.fanout")

FANOUT_LAG = Histogram(
    "shutter_feed_fanout_lag_seconds",
    "Time from a post being acknowledged to its entry being written in every follower's feed.",
    buckets=LAG_BUCKETS,
)
FANOUT_ENTRIES = Histogram(
    "shutter_feed_fanout_entries",
    "Feed entries written per fanned-out post (its author's followers).",
    buckets=(0, 1, 10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000),
)

FANOUT_EVENTS: list[type[Message]] = [
    events_pb2.PhotoPosted,
    events_pb2.PhotoDeleted,
    events_pb2.FollowCreated,
    events_pb2.FollowDeleted,
    events_pb2.UserDeleted,
    events_pb2.BlockCreated,
]


def ordering_key(event: Message) -> Hashable:
    """What must not overlap: one author's posts (and their deletion, and the author's own) one at a time, in
    order; one follow edge's creation and deletion likewise. Everything else overlaps (the consumer's
    concurrency): the store's tombstones and the re-reads below keep out-of-order handling safe, the key only
    keeps the common case in order."""
    if isinstance(event, (events_pb2.PhotoPosted, events_pb2.PhotoDeleted, events_pb2.UserDeleted)):
        return event.user_id
    if isinstance(event, (events_pb2.FollowCreated, events_pb2.FollowDeleted)):
        return (event.follower_id, event.followee_id)
    if isinstance(event, events_pb2.BlockCreated):
        return tuple(sorted((event.blocker_id, event.blocked_id)))
    raise TypeError(f"not a fan-out event: {type(event).__name__}")


def feed_item(post: Post) -> feed_pb2.FeedItem:
    return feed_pb2.FeedItem(
        photo_id=post.photo_id, author_id=post.author_id, posted_at=timestamp_from_unix_ms(post.posted_ms)
    )


def posted_ms(event: events_pb2.PhotoPosted) -> int:
    """When the post was acknowledged; the photo id's own time when the event lacks it."""
    if event.HasField("created_at"):
        return event.created_at.ToMilliseconds()
    return id_timestamp_ms(event.photo_id)


class Fanout:
    """The event handler behind the feed's durable consumer."""

    def __init__(
        self,
        store: FeedStore,
        follow: follow_pb2_grpc.FollowServiceStub,
        *,
        visibility: Visibility,
        live: LiveUpdates | None = None,
        large_account_followers: int,
        followers_page_size: int = 1000,
        backfill_posts: int = 50,
    ) -> None:
        self._store = store
        self._live = live
        self._follow = follow
        self._visibility = visibility
        self._large_account_followers = large_account_followers
        self._page_size = followers_page_size
        self._backfill_posts = backfill_posts

    async def handle(self, event: Message) -> None:
        if isinstance(event, events_pb2.PhotoPosted):
            await self.photo_posted(event)
        elif isinstance(event, events_pb2.PhotoDeleted):
            await self._store.remove_photo(event.photo_id, event.user_id)
        elif isinstance(event, events_pb2.FollowCreated):
            await self.follow_created(event)
        elif isinstance(event, events_pb2.FollowDeleted):
            await self._store.remove_author_from_feed(event.follower_id, event.followee_id)
        elif isinstance(event, events_pb2.UserDeleted):
            await self._store.remove_user(event.user_id)
        elif isinstance(event, events_pb2.BlockCreated):
            await self._store.remove_author_from_feed(event.blocker_id, event.blocked_id)
            await self._store.remove_author_from_feed(event.blocked_id, event.blocker_id)

    async def photo_posted(self, event: events_pb2.PhotoPosted) -> None:
        started = time.monotonic()
        post = Post(photo_id=event.photo_id, author_id=event.user_id, posted_ms=posted_ms(event))
        counts = await self._follow.GetFollowCounts(follow_pb2.GetFollowCountsRequest(user_id=post.author_id))
        large = counts.follower_count > self._large_account_followers
        if not await self._store.record_post(post, pulled=large):
            return  # the photo or its author is already deleted
        if large:
            log.info("large account: merged at read time", extra={"photo_id": post.photo_id})
            return
        entries = await self._to_followers(post)
        FANOUT_LAG.observe(event_lag_seconds(post.posted_ms))
        FANOUT_ENTRIES.observe(entries)
        log.info(
            "fanned out",
            extra={
                "photo_id": post.photo_id,
                "entries": entries,
                "ms": round((time.monotonic() - started) * 1000, 1),
            },
        )

    async def _to_followers(self, post: Post) -> int:
        """Page through the author's followers, fetching the next page while writing this one."""
        written = 0
        page = await self._followers(post.author_id, "")
        while True:
            upcoming: asyncio.Task[follow_pb2.ListFollowersResponse] | None = None
            if page.next_page_token:
                upcoming = asyncio.create_task(self._followers(post.author_id, page.next_page_token))
            try:
                follower_ids = [follow.follower_id for follow in page.follows]
                if follower_ids:
                    written += await self._store.add_to_feeds(post, follower_ids)
                    await self._tell_watchers(post, await self._still_following(post, follower_ids))
            except BaseException:
                if upcoming is not None:
                    upcoming.cancel()
                raise
            if upcoming is None:
                return written
            page = await upcoming

    async def _still_following(self, post: Post, follower_ids: list[int]) -> list[int]:
        """After a page is written: the followers who still follow the author (read fresh); the post is taken
        back out of the others' feeds (see the module docstring). Of those, the ones to tell live."""
        pairs = [(follower_id, post.author_id) for follower_id in follower_ids]
        found = await self._visibility.relationships(pairs, fresh=True)
        for follower_id in follower_ids:
            if not found[(follower_id, post.author_id)].following:
                await self._store.remove_author_from_feed(follower_id, post.author_id)
        return [f for f in follower_ids if in_feed(f, post.author_id, found[(f, post.author_id)])]

    async def _tell_watchers(self, post: Post, follower_ids: list[int]) -> None:
        """After the rows are written: each follower's live feed (services.runtime.live) gets the item."""
        if self._live is None:
            return
        update = feed_pb2.WatchFeedResponse(position=post.photo_id, item=feed_item(post))
        await self._live.publish_to_each(follower_ids, update)

    async def _followers(self, user_id: int, token: str) -> follow_pb2.ListFollowersResponse:
        request = follow_pb2.ListFollowersRequest(user_id=user_id, page_size=self._page_size, page_token=token)
        return await self._follow.ListFollowers(request)

    async def follow_created(self, event: events_pb2.FollowCreated) -> None:
        # A redelivered FollowCreated may arrive after the FollowDeleted that undid it: ask the
        # follow service, the source of truth, before backfilling (fresh, so coalesced with the checks of
        # other events in flight rather than one call each).
        pair = (event.follower_id, event.followee_id)
        if not (await self._visibility.relationships([pair], fresh=True))[pair].following:
            return
        posts = await self._store.recent_posts(event.followee_id, self._backfill_posts)
        if posts:
            await self._store.add_to_feed(event.follower_id, posts)
