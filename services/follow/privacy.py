"""FollowService handlers for privacy and safety: follow requests, account privacy, blocks, mutes and the
relationship facts every service's visibility policy (services.runtime.visibility) reads.

Each write acts only for the authenticated user, is idempotent where the contract says so, and emits its
event (via the outbox) only when something changed. Bad input (yourself, a missing request, an unknown
user) is refused before anything is written.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import grpc

from services.follow.store import BlockEvents, FollowEdge, Link, LinkKind
from services.runtime import callctx
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied, Violations
from services.runtime.events import new_meta
from services.runtime.requests import CursorField, now_timestamp, page_size, timestamp_from_unix_ms
from services.runtime.visibility import reading_user
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2
from shutter.user.v1 import user_pb2

if TYPE_CHECKING:
    from services.follow.service import FollowService

MAX_RELATIONSHIPS = 1000
MAX_LINK_PAGE = 1000
# Requests approved per page when an account turns public.
APPROVE_BATCH = 200

PagedLinks = (
    follow_pb2.ListFollowRequestsRequest | follow_pb2.ListBlockedUsersRequest | follow_pb2.ListMutedUsersRequest
)


def _pair(acting: int, acting_field: str, other: int, other_field: str, self_message: str) -> tuple[int, int]:
    """The acting user (the caller when unset) and a positive other user who is not the caller."""
    problems = Violations()
    problems.check(acting >= 0, acting_field, callctx.UNSET_MEANS_CALLER)
    problems.check(other > 0, other_field, "must be a positive id")
    problems.raise_if_any()
    user_id = callctx.acting_as(acting, acting_field)
    if other == user_id:
        raise InvalidArgument(other_field, self_message)
    return user_id, other


class PrivacyHandlers:
    """Mixed into FollowService (services.follow.service), whose store, runtime and user stub it uses."""

    def _meta(self: FollowService) -> events_pb2.EventMeta:
        return new_meta(self._runtime.ids, self._runtime.name)

    async def _require_user(self: FollowService, user_id: int) -> None:
        reply = await self._users.BatchGetUsers(user_pb2.BatchGetUsersRequest(user_ids=[user_id]))
        if not reply.users:
            raise NotFound(f"user {user_id} not found")

    async def _link_page(self: FollowService, request: PagedLinks, kind: LinkKind) -> tuple[list[Link], str]:
        if request.user_id < 0:
            raise InvalidArgument("user_id", callctx.UNSET_MEANS_CALLER)
        owner = callctx.acting_as(request.user_id, "user_id")
        limit = page_size(request.page_size, maximum=MAX_LINK_PAGE)
        position = self._pages.decode(request, {"user": CursorField.ID, "before": CursorField.ID})
        before = None
        if position is not None:
            if position["user"] != owner:
                raise InvalidArgument("page_token", "belongs to another user's list")
            before = position["before"]
        links = await self._store.links(kind, owner, before, limit + 1)
        token = ""
        if len(links) > limit:
            links = links[:limit]
            token = self._pages.encode(request, {"user": owner, "before": links[-1].link_id})
        return links, token

    # -- follow requests -----------------------------------------------------------------------------

    async def _request_follow(self: FollowService, follower_id: int, followee_id: int) -> follow_pb2.FollowResponse:
        """Follow of a private account: a pending request (FollowRequested), once."""
        stamp = now_timestamp()
        link = Link(LinkKind.REQUEST, followee_id, follower_id, self._runtime.ids.next_id(), stamp.ToMilliseconds())
        event = events_pb2.FollowRequested(
            meta=self._meta(), requester_id=follower_id, target_id=followee_id, time_stamp=stamp
        )
        await self._store.add_link(link, event)
        return follow_pb2.FollowResponse(pending=True)

    async def ListFollowRequests(
        self: FollowService, request: follow_pb2.ListFollowRequestsRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ListFollowRequestsResponse:
        links, token = await self._link_page(request, LinkKind.REQUEST)
        return follow_pb2.ListFollowRequestsResponse(
            requests=[
                follow_pb2.FollowRequestEntry(
                    requester_id=link.to_id,
                    target_id=link.from_id,
                    time_stamp=timestamp_from_unix_ms(link.time_stamp_ms),
                )
                for link in links
            ],
            next_page_token=token,
        )

    async def _approve(self: FollowService, owner: int, requester: int) -> follow_pb2.Follow | None:
        stamp = now_timestamp()
        edge = FollowEdge(requester, owner, self._runtime.ids.next_id(), stamp.ToMilliseconds())
        resolved = events_pb2.FollowRequestResolved(
            meta=self._meta(),
            requester_id=requester,
            target_id=owner,
            outcome=events_pb2.FOLLOW_REQUEST_OUTCOME_APPROVED,
        )
        created = events_pb2.FollowCreated(
            meta=self._meta(), follower_id=requester, followee_id=owner, time_stamp=stamp
        )
        approved = await self._store.approve_request(edge, resolved, created)
        if approved is None:
            return None
        from services.follow.service import to_proto

        return to_proto(approved[0])

    async def ApproveFollowRequest(
        self: FollowService, request: follow_pb2.ApproveFollowRequestRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ApproveFollowRequestResponse:
        owner, requester = _pair(
            request.user_id, "user_id", request.requester_id, "requester_id", "cannot approve a request of your own"
        )
        follow = await self._approve(owner, requester)
        if follow is None:
            raise NotFound(f"no pending follow request from user {requester}")
        return follow_pb2.ApproveFollowRequestResponse(follow=follow)

    async def RejectFollowRequest(
        self: FollowService, request: follow_pb2.RejectFollowRequestRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.RejectFollowRequestResponse:
        owner, requester = _pair(
            request.user_id, "user_id", request.requester_id, "requester_id", "cannot reject a request of your own"
        )
        event = events_pb2.FollowRequestResolved(
            meta=self._meta(),
            requester_id=requester,
            target_id=owner,
            outcome=events_pb2.FOLLOW_REQUEST_OUTCOME_REJECTED,
        )
        if not await self._store.remove_link(LinkKind.REQUEST, owner, requester, event):
            raise NotFound(f"no pending follow request from user {requester}")
        return follow_pb2.RejectFollowRequestResponse()

    async def WithdrawFollowRequest(
        self: FollowService, request: follow_pb2.WithdrawFollowRequestRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.WithdrawFollowRequestResponse:
        requester, target = _pair(
            request.requester_id, "requester_id", request.target_id, "target_id", "cannot request to follow yourself"
        )
        event = events_pb2.FollowRequestResolved(
            meta=self._meta(),
            requester_id=requester,
            target_id=target,
            outcome=events_pb2.FOLLOW_REQUEST_OUTCOME_WITHDRAWN,
        )
        removed = await self._store.remove_link(LinkKind.REQUEST, target, requester, event)
        return follow_pb2.WithdrawFollowRequestResponse(removed=removed)

    async def SetAccountPrivacy(
        self: FollowService, request: follow_pb2.SetAccountPrivacyRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.SetAccountPrivacyResponse:
        if request.user_id < 0:
            raise InvalidArgument("user_id", callctx.UNSET_MEANS_CALLER)
        user_id = callctx.acting_as(request.user_id, "user_id")
        event = events_pb2.AccountPrivacyChanged(meta=self._meta(), user_id=user_id, private=request.private)
        await self._store.set_private(user_id, request.private, event)
        approved = 0
        if not request.private:
            # Public now: every pending request is approved (a retry finishes what a crash left).
            while pending := await self._store.links(LinkKind.REQUEST, user_id, None, APPROVE_BATCH):
                for link in pending:
                    approved += await self._approve(user_id, link.to_id) is not None
        return follow_pb2.SetAccountPrivacyResponse(private=request.private, approved_requests=approved)

    # -- blocks and mutes ----------------------------------------------------------------------------

    async def BlockUser(
        self: FollowService, request: follow_pb2.BlockUserRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.BlockUserResponse:
        blocker, blocked = _pair(request.user_id, "user_id", request.blocked_id, "blocked_id", "cannot block yourself")
        await self._require_user(blocked)
        stamp = now_timestamp()
        link = Link(LinkKind.BLOCK, blocker, blocked, self._runtime.ids.next_id(), stamp.ToMilliseconds())
        ended = events_pb2.FOLLOW_REQUEST_OUTCOME_BLOCKED
        events = BlockEvents(
            created=events_pb2.BlockCreated(meta=self._meta(), blocker_id=blocker, blocked_id=blocked),
            unfollows={
                (a, b): events_pb2.FollowDeleted(meta=self._meta(), follower_id=a, followee_id=b, time_stamp=stamp)
                for a, b in ((blocker, blocked), (blocked, blocker))
            },
            requests_ended={
                (t, r): events_pb2.FollowRequestResolved(meta=self._meta(), requester_id=r, target_id=t, outcome=ended)
                for t, r in ((blocker, blocked), (blocked, blocker))
            },
        )
        return follow_pb2.BlockUserResponse(created=await self._store.block(link, events))

    async def UnblockUser(
        self: FollowService, request: follow_pb2.UnblockUserRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.UnblockUserResponse:
        blocker, blocked = _pair(request.user_id, "user_id", request.blocked_id, "blocked_id", "cannot block yourself")
        event = events_pb2.BlockDeleted(meta=self._meta(), blocker_id=blocker, blocked_id=blocked)
        return follow_pb2.UnblockUserResponse(
            removed=await self._store.remove_link(LinkKind.BLOCK, blocker, blocked, event)
        )

    async def ListBlockedUsers(
        self: FollowService, request: follow_pb2.ListBlockedUsersRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ListBlockedUsersResponse:
        links, token = await self._link_page(request, LinkKind.BLOCK)
        return follow_pb2.ListBlockedUsersResponse(users=[_user_link(link) for link in links], next_page_token=token)

    async def MuteUser(
        self: FollowService, request: follow_pb2.MuteUserRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.MuteUserResponse:
        muter, muted = _pair(request.user_id, "user_id", request.muted_id, "muted_id", "cannot mute yourself")
        await self._require_user(muted)
        stamp = now_timestamp()
        link = Link(LinkKind.MUTE, muter, muted, self._runtime.ids.next_id(), stamp.ToMilliseconds())
        event = events_pb2.MuteCreated(meta=self._meta(), muter_id=muter, muted_id=muted)
        return follow_pb2.MuteUserResponse(created=await self._store.add_link(link, event))

    async def UnmuteUser(
        self: FollowService, request: follow_pb2.UnmuteUserRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.UnmuteUserResponse:
        muter, muted = _pair(request.user_id, "user_id", request.muted_id, "muted_id", "cannot mute yourself")
        event = events_pb2.MuteDeleted(meta=self._meta(), muter_id=muter, muted_id=muted)
        return follow_pb2.UnmuteUserResponse(removed=await self._store.remove_link(LinkKind.MUTE, muter, muted, event))

    async def ListMutedUsers(
        self: FollowService, request: follow_pb2.ListMutedUsersRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.ListMutedUsersResponse:
        links, token = await self._link_page(request, LinkKind.MUTE)
        return follow_pb2.ListMutedUsersResponse(users=[_user_link(link) for link in links], next_page_token=token)

    # -- relationships -------------------------------------------------------------------------------

    async def GetRelationships(
        self: FollowService, request: follow_pb2.GetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.GetRelationshipsResponse:
        problems = Violations()
        problems.check(request.viewer_id >= 0, "viewer_id", callctx.UNSET_MEANS_CALLER)
        problems.check(len(request.user_ids) <= MAX_RELATIONSHIPS, "user_ids", f"at most {MAX_RELATIONSHIPS} ids")
        problems.check(all(i > 0 for i in request.user_ids), "user_ids", "must all be positive ids")
        problems.raise_if_any()
        viewer = callctx.acting_as(request.viewer_id, "viewer_id")
        others = list(dict.fromkeys(request.user_ids))
        found = await self._store.relationships([(viewer, u) for u in others] + [(u, viewer) for u in others])
        views = []
        for user_id in request.user_ids:
            mine, theirs = found[(viewer, user_id)], found[(user_id, viewer)]
            views.append(
                follow_pb2.RelationshipView(
                    user_id=user_id,
                    private=mine.author_private,
                    following=mine.following,
                    requested=mine.requested,
                    blocking=mine.blocked_by_viewer,
                    muting=mine.muted,
                    followed_by=theirs.following,
                )
            )
        return follow_pb2.GetRelationshipsResponse(relationships=views)

    async def BatchGetRelationships(
        self: FollowService, request: follow_pb2.BatchGetRelationshipsRequest, context: grpc.aio.ServicerContext
    ) -> follow_pb2.BatchGetRelationshipsResponse:
        if reading_user() is not None:
            raise PermissionDenied("only services read relationships in bulk (it tells who blocked whom)")
        problems = Violations()
        problems.check(len(request.pairs) <= MAX_RELATIONSHIPS, "pairs", f"at most {MAX_RELATIONSHIPS} pairs")
        for index, pair in enumerate(request.pairs):
            problems.check(pair.viewer_id > 0, f"pairs[{index}].viewer_id", "must be a positive id")
            problems.check(pair.author_id > 0, f"pairs[{index}].author_id", "must be a positive id")
        problems.raise_if_any()
        pairs = [(pair.viewer_id, pair.author_id) for pair in request.pairs]
        found = await self._store.relationships(pairs)
        return follow_pb2.BatchGetRelationshipsResponse(relationships=[found[pair].to_proto(*pair) for pair in pairs])


def _user_link(link: Link) -> follow_pb2.UserLink:
    return follow_pb2.UserLink(user_id=link.to_id, time_stamp=timestamp_from_unix_ms(link.time_stamp_ms))
