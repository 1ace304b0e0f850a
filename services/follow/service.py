"""FollowService handlers: follow, unfollow, lists, counts and is-following checks.

Writes act only for the authenticated follower and only between users the user service knows;
they are idempotent and emit FollowCreated / FollowDeleted (via the outbox) only when the graph
actually changed. A private account's follow is a request (services.follow.privacy, with blocks, mutes
and the relationship facts). Reads follow the visibility policy (services.runtime.visibility): a private
account's lists are for its owner and approved followers, and blocked users do not see each other's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from services.follow.events import USER_DELETED_DURABLE, UserDeletedHandler
from services.follow.privacy import PrivacyHandlers
from services.follow.store import STORAGE, Blocked, FollowEdge, FollowStore
from services.runtime import callctx
from services.runtime.channels import SERVICE
from services.runtime.errors import InvalidArgument, NotFound, Violations
from services.runtime.events import new_meta
from services.runtime.requests import (
    CursorField,
    PageTokens,
    page_size,
    timestamp_from_unix_ms,
    timestamp_or_now,
)
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Verdict, deny_account, reading_user, verdict
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc

# Feed fan-out pages through followers; large pages keep a 10,000-follower account at 10 calls.
MAX_LIST_PAGE = 1000
MAX_CHECK_IDS = 1000
PURGE_BATCH = 500

Lister = Callable[[int, int | None, int], Awaitable[list[FollowEdge]]]


def to_proto(edge: FollowEdge) -> follow_pb2.Follow:
    return follow_pb2.Follow(
        follower_id=edge.follower_id,
        followee_id=edge.followee_id,
        time_stamp=timestamp_from_unix_ms(edge.time_stamp_ms),
    )


def _edge(follower_id: int, followee_id: int) -> tuple[int, int]:
    """The follower (the caller when unset) and a positive followee, every bad id named at once;
    self-follow is refused after authorisation."""
    problems = Violations()
    problems.check(follower_id >= 0, "follower_id", callctx.UNSET_MEANS_CALLER)
    problems.check(followee_id > 0, "followee_id", "must be a positive id")
    problems.raise_if_any()
    return callctx.acting_as(follower_id, "follower_id"), followee_id


class FollowService(PrivacyHandlers, follow_pb2_grpc.FollowServiceServicer):
    def __init__(self, runtime: Runtime, store: FollowStore) -> None:
        self._runtime = runtime
        self._store = store
        self._pages = PageTokens(runtime.settings.signing_secret())
        # As the service: whether an account exists is this service's question, whoever asks (the user service
        # leaves users who blocked the caller out of the caller's own answers; blocks are judged here, from
        # this service's store, so one can block back someone who blocked them).
        self._users = runtime.channels.stub("user", user_pb2_grpc.UserServiceStub, as_=SERVICE)

    async def _require_users(self, follower_id: int, followee_id: int) -> None:
        """NOT_FOUND unless both accounts exist (a deleted user's leftover token cannot follow)."""
        reply = await self._users.BatchGetUsers(user_pb2.BatchGetUsersRequest(user_ids=[follower_id, followee_id]))
        found = {user.user_id for user in reply.users}
        if follower_id not in found:
            raise NotFound(f"follower {follower_id} does not exist")
        if followee_id not in found:
            raise NotFound(f"followee {followee_id} does not exist")

    async def _require_visible(self, user_id: int, *, private_too: bool) -> None:
        """The policy on this service's own lists, with the facts read from its own store (no call)."""
        viewer = reading_user()
        if viewer is None or viewer == user_id:
            return
        found = verdict(viewer, user_id, (await self._store.relationships([(viewer, user_id)]))[(viewer, user_id)])
        if found is Verdict.BLOCKED or (found is Verdict.PRIVATE and private_too):
            raise deny_account(found, user_id)

    async def Follow(
        self, request: follow_pb2.FollowRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.FollowResponse:
        follower_id, followee_id = _edge(request.follower_id, request.followee_id)
        if follower_id == followee_id:
            raise InvalidArgument("followee_id", "cannot follow yourself")
        stamp = timestamp_or_now(request.time_stamp, "time_stamp")
        await self._require_users(follower_id, followee_id)
        facts = (await self._store.relationships([(follower_id, followee_id)]))[(follower_id, followee_id)]
        if facts.blocked:
            raise Blocked(followee_id)
        if facts.author_private and not facts.following:
            return await self._request_follow(follower_id, followee_id)
        edge = FollowEdge(follower_id, followee_id, self._runtime.ids.next_id(), stamp.ToMilliseconds())
        event = events_pb2.FollowCreated(
            meta=new_meta(self._runtime.ids, self._runtime.name),
            follower_id=edge.follower_id,
            followee_id=edge.followee_id,
            time_stamp=stamp,
        )
        stored, created = await self._store.follow(edge, event)  # DeletedUser, Blocked: NOT_FOUND
        return follow_pb2.FollowResponse(follow=to_proto(stored), created=created)

    async def Unfollow(
        self, request: follow_pb2.UnfollowRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.UnfollowResponse:
        follower_id, followee_id = _edge(request.follower_id, request.followee_id)
        stamp = timestamp_or_now(request.time_stamp, "time_stamp")
        event = events_pb2.FollowDeleted(
            meta=new_meta(self._runtime.ids, self._runtime.name),
            follower_id=follower_id,
            followee_id=followee_id,
            time_stamp=stamp,
        )
        removed = await self._store.unfollow(follower_id, followee_id, event)
        return follow_pb2.UnfollowResponse(removed=removed)

    async def _page(
        self, request: follow_pb2.ListFollowersRequest | follow_pb2.ListFolloweesRequest, lister: Lister
    ) -> tuple[list[follow_pb2.Follow], str]:
        """One keyset page, newest first; the token is bound to its list (followers or followees) and user."""
        user_id = request.user_id
        if user_id <= 0:
            raise InvalidArgument("user_id", "must be a positive id")
        limit = page_size(request.page_size, maximum=MAX_LIST_PAGE)
        await self._require_visible(user_id, private_too=True)
        position = self._pages.decode(request, {"user": CursorField.ID, "before": CursorField.ID})
        before = None
        if position is not None:
            before = position["before"]
            if position["user"] != user_id:
                raise InvalidArgument("page_token", "belongs to another user's list")
        edges = await lister(user_id, before, limit + 1)
        next_token = ""
        if len(edges) > limit:
            edges = edges[:limit]
            next_token = self._pages.encode(request, {"user": user_id, "before": edges[-1].follow_id})
        return [to_proto(edge) for edge in edges], next_token

    async def ListFollowers(
        self, request: follow_pb2.ListFollowersRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ListFollowersResponse:
        follows, token = await self._page(request, self._store.followers)
        return follow_pb2.ListFollowersResponse(follows=follows, next_page_token=token)

    async def ListFollowees(
        self, request: follow_pb2.ListFolloweesRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ListFolloweesResponse:
        follows, token = await self._page(request, self._store.followees)
        return follow_pb2.ListFolloweesResponse(follows=follows, next_page_token=token)

    async def GetFollowCounts(
        self, request: follow_pb2.GetFollowCountsRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.GetFollowCountsResponse:
        if request.user_id <= 0:
            raise InvalidArgument("user_id", "must be a positive id")
        await self._require_visible(request.user_id, private_too=False)  # a private profile shows its counts
        counts = await self._store.counts(request.user_id)
        return follow_pb2.GetFollowCountsResponse(
            follower_count=counts.follower_count, followee_count=counts.followee_count
        )

    async def CheckFollowing(
        self, request: follow_pb2.CheckFollowingRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.CheckFollowingResponse:
        problems = Violations()
        problems.check(request.follower_id > 0, "follower_id", "must be a positive id")
        problems.check(len(request.followee_ids) <= MAX_CHECK_IDS, "followee_ids", f"at most {MAX_CHECK_IDS} ids")
        problems.check(all(i > 0 for i in request.followee_ids), "followee_ids", "must all be positive ids")
        problems.raise_if_any()
        # Whom a private account follows is for its approved followers, as its lists are.
        await self._require_visible(request.follower_id, private_too=True)
        following = await self._store.following(request.follower_id, list(dict.fromkeys(request.followee_ids)))
        return follow_pb2.CheckFollowingResponse(
            states=[follow_pb2.FollowState(followee_id=i, following=i in following) for i in request.followee_ids]
        )


def build(runtime: Runtime) -> None:
    store: FollowStore = open_store(runtime, STORAGE)
    runtime.consume(USER_DELETED_DURABLE, [events_pb2.UserDeleted], UserDeletedHandler(store, PURGE_BATCH))
    runtime.add_servicer(
        follow_pb2_grpc.add_FollowServiceServicer_to_server,
        FollowService(runtime, store),
        follow_pb2.DESCRIPTOR.services_by_name["FollowService"],
    )
