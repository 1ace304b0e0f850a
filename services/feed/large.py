"""Which large accounts a reader follows: the authors whose posts a feed read pulls in (never fanned out).

Two ways to find them, and a read takes the cheaper:
- few large accounts (at most `pair_checks`): the reader against each, through the visibility cache the
  page is filtered by anyway (≤ 1 s old, dropped at once on follow events): mostly dict lookups;
- many (at the design's scale there are far more large accounts than anyone follows): whom the reader
  follows, from the follow service (pages of ListFollowees), kept if the feed's store knows them as large.
  The answer is kept per reader for at most a second (services.runtime.fresh), and dropped at once when
  the reader follows, unfollows or is approved, so a follow shows at the next read, as on the other way.

Either way a read costs in proportion to the smaller side, never to every large account there is.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.feed.store import FeedStore
from services.runtime.broadcast import Broadcast
from services.runtime.fresh import MAX_AGE_LIMIT_SECONDS, FreshCache
from services.runtime.visibility import Visibility
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc

if TYPE_CHECKING:
    from services.runtime.server import Runtime

# The follow service's largest page of a list.
FOLLOWEES_PAGE = 1000
# Readers whose answer one feed process keeps (each for at most a second).
READERS_KEPT = 10_000


class LargeFollowees:
    """reader → the large accounts they follow."""

    def __init__(
        self,
        store: FeedStore,
        visibility: Visibility,
        follow: follow_pb2_grpc.FollowServiceStub,
        *,
        pair_checks: int,
        max_age: float = MAX_AGE_LIMIT_SECONDS,
        followees_page: int = FOLLOWEES_PAGE,
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._follow = follow
        self._pair_checks = pair_checks
        self._followees_page = followees_page
        self._listed: FreshCache[int, list[int]] = FreshCache(READERS_KEPT, max_age)

    @classmethod
    def attach(
        cls,
        runtime: Runtime,
        store: FeedStore,
        visibility: Visibility,
        follow: follow_pb2_grpc.FollowServiceStub,
        pair_checks: int,
    ) -> LargeFollowees:
        """The process's finder, its readers' follow events followed by components of the runtime. `follow` is
        made as the service (a reader's followees are read for them, whatever their account's privacy)."""
        finder = cls(store, visibility, follow, pair_checks=pair_checks)
        bus, forget = runtime.events(), finder.forget
        for broadcast in (
            Broadcast(bus, events_pb2.FollowCreated, lambda e: forget(e.follower_id)),
            Broadcast(bus, events_pb2.FollowDeleted, lambda e: forget(e.follower_id)),
            Broadcast(bus, events_pb2.FollowRequestResolved, lambda e: forget(e.requester_id)),
        ):
            runtime.add_component(broadcast)
        return finder

    def forget(self, reader: int) -> None:
        """`reader` followed, unfollowed or was approved: their next read lists whom they follow afresh."""
        self._listed.invalidate(reader)

    async def of(self, reader: int) -> list[int]:
        """The large accounts `reader` follows (approved follows only)."""
        few = await self._store.large_accounts(self._pair_checks + 1)
        if len(few) <= self._pair_checks:
            found = await self._visibility.relationships([(reader, author) for author in few])
            return [author for author in few if found[(reader, author)].following]
        known = self._listed.get(reader)
        if known is not None:
            return known
        sent_at = self._listed.now()
        followees = await self._followees(reader)
        large = await self._store.large_among(followees)
        followed = [author for author in followees if author in large]
        self._listed.put_fetched(((reader, followed),), sent_at)
        return followed

    async def _followees(self, reader: int) -> list[int]:
        found: list[int] = []
        token = ""
        while True:
            page = await self._follow.ListFollowees(
                follow_pb2.ListFolloweesRequest(user_id=reader, page_size=self._followees_page, page_token=token)
            )
            found.extend(follow.followee_id for follow in page.follows)
            token = page.next_page_token
            if not token:
                return found
