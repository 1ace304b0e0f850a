"""FeedService: a user's home feed, newest first, with large accounts' posts merged in at read time.

Every page passes the visibility policy (services.runtime.visibility.in_feed): a muted or blocked
author's posts are left out even before the purges have run, and come back on unmute.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import grpc
from prometheus_client import Counter

from services.feed.fanout import FANOUT_EVENTS, Fanout, feed_item, ordering_key
from services.feed.large import LargeFollowees
from services.feed.settings import FeedSettings
from services.feed.store import STORAGE, FeedStore, Post
from services.runtime.callctx import acting_as
from services.runtime.channels import SERVICE
from services.runtime.live import LiveUpdates, watch_stream
from services.runtime.requests import CursorField, PageTokens, page_size
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Visibility
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2_grpc

DURABLE = "feed-fanout"
# Items a resumed WatchFeed sends from the store; with more missed, it says "resync" (re-read the feed).
CATCH_UP_ITEMS = 100
LARGE_ACCOUNT_PULLS = Counter(
    "shutter_feed_large_account_pulls",
    "Feed reads that merged in posts of followed large accounts at read time (pulled, never fanned out).",
)


class FeedService(feed_pb2_grpc.FeedServiceServicer):
    def __init__(
        self,
        store: FeedStore,
        pages: PageTokens,
        live: LiveUpdates,
        visibility: Visibility,
        large_followees: LargeFollowees,
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._large_followees = large_followees
        self._pages = pages
        self._live = live

    async def GetFeed(
        self, request: feed_pb2.GetFeedRequest, context: grpc.aio.ServicerContext
    ) -> feed_pb2.GetFeedResponse:
        user_id = acting_as(request.user_id, "user_id")  # only the owner reads a feed; unset means the caller
        size = page_size(request.page_size)
        # A keyset cursor on photo id: stable while new posts arrive.
        position = self._pages.decode(request, {"before": CursorField.ID})
        before = None if position is None else position["before"]

        # One extra row tells whether another page exists.
        pushed = await self._store.feed(user_id, before, size + 1)
        pulled = await self._pulled(user_id, before, size + 1)
        merged = _merge_newest_first(pushed, pulled)
        page, more = merged[:size], len(merged) > size
        shown = await self._visibility.feed_authors(user_id, {post.author_id for post in page})
        return feed_pb2.GetFeedResponse(
            items=[feed_item(post) for post in page if post.author_id in shown],
            next_page_token=self._pages.encode(request, {"before": page[-1].photo_id}) if more else "",
        )

    async def WatchFeed(
        self, request: feed_pb2.WatchFeedRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[feed_pb2.WatchFeedResponse]:
        user_id = acting_as(request.user_id, "user_id")

        async def newest() -> int:
            posts = await self._store.feed(user_id, None, 1)
            return posts[0].photo_id if posts else 0

        async for update in watch_stream(
            self._live,
            user_id,
            request.after_position,
            context,
            newest=newest,
            catch_up=lambda position, resync: self._catch_up(user_id, position, resync),
            parse=feed_pb2.WatchFeedResponse.FromString,
        ):
            yield update

    async def _catch_up(self, user_id: int, after: int, resync: bool) -> list[feed_pb2.WatchFeedResponse]:
        """The fanned-out items after `after`, oldest first; a resync marker when that is more than one
        catch-up sends (or after a resync, so the client re-reads the feed)."""
        newest = await self._store.feed(user_id, None, CATCH_UP_ITEMS + 1)
        missed = [post for post in newest if post.photo_id > after]
        updates = [
            feed_pb2.WatchFeedResponse(position=post.photo_id, item=feed_item(post))
            for post in reversed(missed[:CATCH_UP_ITEMS])
        ]
        if resync or len(missed) > CATCH_UP_ITEMS:
            updates.append(feed_pb2.WatchFeedResponse(resync=True))
        return updates

    async def _pulled(self, user_id: int, before: int | None, limit: int) -> list[Post]:
        """Posts of the large accounts the reader follows (never fanned out to anyone; services.feed.large)."""
        followed = await self._large_followees.of(user_id)
        if not followed:
            return []
        LARGE_ACCOUNT_PULLS.inc()
        return await self._store.pulled_posts(followed, before, limit)


def _merge_newest_first(*sources: Sequence[Post]) -> list[Post]:
    by_id = {post.photo_id: post for source in sources for post in source}
    return sorted(by_id.values(), key=lambda post: post.photo_id, reverse=True)


def build(runtime: Runtime) -> None:
    settings = runtime.section(FeedSettings)
    options = {"feed_capacity": settings.capacity}
    if runtime.store_backend == "cql":  # CQL trims lazily: one write in this many trims its feed
        options["trim_every"] = settings.trim_every
    store: FeedStore = open_store(runtime, STORAGE, **options)
    live = runtime.live("feed")
    # As the service: the policy's answers serve every reader; fan-out runs for events, with no caller, and
    # reads the author's followers itself; a reader's followees are listed for them whatever their privacy.
    follow = runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    visibility = Visibility.attach(runtime, follow)
    large_followees = LargeFollowees.attach(runtime, store, visibility, follow, settings.large_account_pair_checks)
    fanout = Fanout(
        store,
        follow,
        large_account_followers=settings.large_account_followers,
        followers_page_size=settings.followers_page_size,
        backfill_posts=settings.follow_backfill,
        live=live,
        visibility=visibility,
    )
    runtime.consume(
        DURABLE,
        FANOUT_EVENTS,
        fanout.handle,
        # Redeliveries back off up to 10 s apart: 20 deliveries ride out a follow outage of about
        # two and a half minutes before a post is dead-lettered (the runtime default, 5, is ~6 s).
        max_deliver=settings.max_deliver,
        concurrency=settings.fanout_concurrency,
        ordering_key=ordering_key,
    )
    runtime.add_servicer(
        feed_pb2_grpc.add_FeedServiceServicer_to_server,
        FeedService(
            store,
            PageTokens(runtime.settings.signing_secret()),
            live,
            visibility,
            large_followees,
        ),
        feed_pb2.DESCRIPTOR.services_by_name["FeedService"],
    )
