"""Private accounts, follow requests, blocks and mutes over real gRPC: the flows, their events, the refusals,
and how fast a block holds everywhere. What each read RPC answers is the matrix's job
(test_visibility_matrix.py)."""

from __future__ import annotations

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.notification.v1 import notification_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.feeds import feed_has, feed_lacks
from tests.support.mesh import Mesh
from tests.support.notifications import groups_of, notifications
from tests.support.photos import make_jpeg, upload
from tests.support.privacy import approve, block, follows, mute, set_private
from tests.support.rich_status import field_violations
from tests.support.social import stream_events
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def pending(mesh: Mesh, owner: SignedUp) -> list[int]:
    reply = await follows(mesh).ListFollowRequests(
        follow_pb2.ListFollowRequestsRequest(page_size=100), metadata=owner.metadata, timeout=10
    )
    return [entry.requester_id for entry in reply.requests]


async def following(mesh: Mesh, follower: SignedUp, followee: SignedUp) -> bool:
    reply = await follows(mesh).CheckFollowing(
        follow_pb2.CheckFollowingRequest(follower_id=follower.user_id, followee_ids=[followee.user_id]),
        metadata=follower.metadata,
        timeout=10,
    )
    return reply.states[0].following


async def photo_of(mesh: Mesh, owner: SignedUp) -> photo_pb2.Photo:
    return await upload(mesh, owner.token, owner.user_id, make_jpeg(24, 16), title="privacy")


async def test_a_follow_of_a_private_account_waits_for_approval_then_backfills_the_feed(mesh: Mesh) -> None:
    owner, fan = await sign_up_many(mesh, 2, "priv")
    assert (await set_private(mesh, owner)).private
    earlier = await photo_of(mesh, owner)

    reply = await fan.follow(mesh, owner)
    assert reply.pending and not reply.created and not reply.HasField("follow")
    again = await fan.follow(mesh, owner)  # asking twice is one request
    assert again.pending
    assert await pending(mesh, owner) == [fan.user_id]
    assert not await following(mesh, fan, owner)
    requested = await stream_events(mesh, events_pb2.FollowRequested, lambda e: e.requester_id == fan.user_id)
    assert [(e.requester_id, e.target_id) for e in requested] == [(fan.user_id, owner.user_id)]
    relation = await follows(mesh).GetRelationships(
        follow_pb2.GetRelationshipsRequest(user_ids=[owner.user_id]), metadata=fan.metadata, timeout=10
    )
    assert relation.relationships[0].requested and relation.relationships[0].private

    approved = await approve(mesh, owner, fan)
    assert approved.follow.follower_id == fan.user_id
    assert await pending(mesh, owner) == []
    assert await following(mesh, fan, owner)
    await eventually(lambda: feed_has(mesh, fan, earlier.photo_id), timeout=30)  # FollowCreated backfilled it


async def test_rejected_and_withdrawn_requests_leave_nothing(mesh: Mesh) -> None:
    owner, rejected, withdrawn = await sign_up_many(mesh, 3, "rej")
    await set_private(mesh, owner)
    await rejected.follow(mesh, owner)
    await withdrawn.follow(mesh, owner)

    await follows(mesh).RejectFollowRequest(
        follow_pb2.RejectFollowRequestRequest(requester_id=rejected.user_id), metadata=owner.metadata, timeout=10
    )
    removed = await follows(mesh).WithdrawFollowRequest(
        follow_pb2.WithdrawFollowRequestRequest(target_id=owner.user_id), metadata=withdrawn.metadata, timeout=10
    )
    assert removed.removed
    again = await follows(mesh).WithdrawFollowRequest(
        follow_pb2.WithdrawFollowRequestRequest(target_id=owner.user_id), metadata=withdrawn.metadata, timeout=10
    )
    assert not again.removed
    assert await pending(mesh, owner) == []
    assert not await following(mesh, rejected, owner)
    await expect(
        follows(mesh).RejectFollowRequest(
            follow_pb2.RejectFollowRequestRequest(requester_id=rejected.user_id), metadata=owner.metadata, timeout=10
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_switching_to_public_approves_every_pending_request(mesh: Mesh) -> None:
    owner, first, second = await sign_up_many(mesh, 3, "pub")
    await set_private(mesh, owner)
    await first.follow(mesh, owner)
    await second.follow(mesh, owner)

    reply = await set_private(mesh, owner, private=False)
    assert (reply.private, reply.approved_requests) == (False, 2)
    assert await pending(mesh, owner) == []
    assert await following(mesh, first, owner) and await following(mesh, second, owner)
    later = await sign_up_many(mesh, 1, "pub")
    assert (await later[0].follow(mesh, owner)).created  # public again: a follow is a follow


async def test_requests_list_in_pages_for_their_owner_only(mesh: Mesh) -> None:
    owner, *fans = await sign_up_many(mesh, 6, "page")
    await set_private(mesh, owner)
    for fan in fans:
        await fan.follow(mesh, owner)
    seen: list[int] = []
    token = ""
    while True:
        reply = await follows(mesh).ListFollowRequests(
            follow_pb2.ListFollowRequestsRequest(page_size=2, page_token=token), metadata=owner.metadata, timeout=10
        )
        seen.extend(entry.requester_id for entry in reply.requests)
        token = reply.next_page_token
        if not token:
            break
    assert seen == [fan.user_id for fan in reversed(fans)]  # newest first, each once
    await expect(
        follows(mesh).ListFollowRequests(
            follow_pb2.ListFollowRequestsRequest(user_id=owner.user_id), metadata=fans[0].metadata, timeout=10
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )


async def test_a_block_removes_follows_both_ways_and_refuses_follows_likes_and_comments(mesh: Mesh) -> None:
    alice, bob = await sign_up_many(mesh, 2, "blk")
    await alice.follow(mesh, bob)
    await bob.follow(mesh, alice)
    photo = await photo_of(mesh, alice)
    await eventually(lambda: feed_has(mesh, bob, photo.photo_id), timeout=30)

    assert (await block(mesh, alice, bob)).created
    assert not (await block(mesh, alice, bob)).created  # idempotent
    assert not await following(mesh, alice, bob) and not await following(mesh, bob, alice)
    created = await stream_events(mesh, events_pb2.BlockCreated, lambda e: e.blocker_id == alice.user_id)
    assert [(e.blocker_id, e.blocked_id) for e in created] == [(alice.user_id, bob.user_id)]

    # Refused as NOT_FOUND, the answer for an account or photo that is not there: the block is not revealed.
    await expect(bob.follow(mesh, alice), grpc.StatusCode.NOT_FOUND)
    await expect(alice.follow(mesh, bob), grpc.StatusCode.NOT_FOUND)
    likes = like_pb2_grpc.LikeServiceStub(mesh.channel("like"))
    await expect(
        likes.LikePhoto(like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=bob.metadata, timeout=10),
        grpc.StatusCode.NOT_FOUND,
    )
    comments = comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))
    await expect(
        comments.PostComment(
            comment_pb2.PostCommentRequest(photo_id=photo.photo_id, text="hi"), metadata=bob.metadata, timeout=10
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await eventually(lambda: feed_lacks(mesh, bob, photo.photo_id), timeout=10)

    listed = await follows(mesh).ListBlockedUsers(
        follow_pb2.ListBlockedUsersRequest(), metadata=alice.metadata, timeout=10
    )
    assert [user.user_id for user in listed.users] == [bob.user_id]
    await follows(mesh).UnblockUser(
        follow_pb2.UnblockUserRequest(blocked_id=bob.user_id), metadata=alice.metadata, timeout=10
    )
    assert not await following(mesh, bob, alice)  # unblocking restores nothing by itself
    # …and the purge really removed the entry: with the block gone nothing hides it any more.
    await eventually(lambda: feed_lacks(mesh, bob, photo.photo_id), timeout=10)
    assert (await bob.follow(mesh, alice)).created


async def test_a_block_holds_everywhere_within_a_second(mesh: Mesh) -> None:
    author, viewer = await sign_up_many(mesh, 2, "fast")
    photo = await photo_of(mesh, author)
    views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    photos = photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))
    request = view_pb2.ViewPhotoRequest(photo_id=photo.photo_id)
    await views.ViewPhoto(request, metadata=viewer.metadata, timeout=10)  # the view and photo caches are warm
    await photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo.photo_id), metadata=viewer.metadata, timeout=10)

    await block(mesh, author, viewer)

    async def code(call: object) -> grpc.StatusCode:
        try:
            await call  # type: ignore[misc]
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    async def refused() -> None:
        assert await code(views.ViewPhoto(request, metadata=viewer.metadata, timeout=5)) == grpc.StatusCode.NOT_FOUND
        get = photo_pb2.GetPhotoRequest(photo_id=photo.photo_id)
        assert await code(photos.GetPhoto(get, metadata=viewer.metadata, timeout=5)) == grpc.StatusCode.NOT_FOUND

    await eventually(refused, timeout=1.0, interval=0.05)


async def test_unfollowing_a_private_account_removes_its_photos_from_the_feed(mesh: Mesh) -> None:
    owner, fan = await sign_up_many(mesh, 2, "unf")
    await set_private(mesh, owner)
    await fan.follow(mesh, owner)
    await approve(mesh, owner, fan)
    photo = await photo_of(mesh, owner)
    await eventually(lambda: feed_has(mesh, fan, photo.photo_id), timeout=30)

    await follows(mesh).Unfollow(
        follow_pb2.UnfollowRequest(followee_id=owner.user_id), metadata=fan.metadata, timeout=10
    )
    await eventually(lambda: feed_lacks(mesh, fan, photo.photo_id), timeout=10)


async def test_a_mute_hides_posts_from_the_muters_feed_only_and_unmute_brings_them_back(mesh: Mesh) -> None:
    author, muter = await sign_up_many(mesh, 2, "mute")
    await muter.follow(mesh, author)
    photo = await photo_of(mesh, author)
    await eventually(lambda: feed_has(mesh, muter, photo.photo_id), timeout=30)

    assert (await mute(mesh, muter, author)).created
    await eventually(lambda: feed_lacks(mesh, muter, photo.photo_id), timeout=5)
    assert await following(mesh, muter, author)  # nothing else changed
    views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
    await views.ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=photo.photo_id), metadata=muter.metadata, timeout=10)
    listed = await follows(mesh).ListMutedUsers(follow_pb2.ListMutedUsersRequest(), metadata=muter.metadata, timeout=10)
    assert [user.user_id for user in listed.users] == [author.user_id]

    await follows(mesh).UnmuteUser(
        follow_pb2.UnmuteUserRequest(muted_id=author.user_id), metadata=muter.metadata, timeout=10
    )
    await eventually(lambda: feed_has(mesh, muter, photo.photo_id), timeout=5)


async def test_bad_inputs_are_refused_and_write_nothing(mesh: Mesh) -> None:
    alice, bob = await sign_up_many(mesh, 2, "bad")
    stub = follows(mesh)
    me = alice.metadata

    caught = await expect(
        stub.BlockUser(follow_pb2.BlockUserRequest(blocked_id=alice.user_id), metadata=me, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert field_violations(caught) == {"blocked_id": "cannot block yourself"}
    caught = await expect(
        stub.MuteUser(follow_pb2.MuteUserRequest(muted_id=-3), metadata=me, timeout=10),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(field_violations(caught)) == {"muted_id"}
    await expect(
        stub.BlockUser(follow_pb2.BlockUserRequest(blocked_id=alice.user_id + 10**12), metadata=me, timeout=10),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect(
        stub.ApproveFollowRequest(
            follow_pb2.ApproveFollowRequestRequest(requester_id=bob.user_id), metadata=me, timeout=10
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect(  # acting for someone else
        stub.BlockUser(
            follow_pb2.BlockUserRequest(user_id=bob.user_id, blocked_id=alice.user_id), metadata=me, timeout=10
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect(
        stub.SetAccountPrivacy(
            follow_pb2.SetAccountPrivacyRequest(user_id=bob.user_id, private=True), metadata=me, timeout=10
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect(  # the bulk facts tell who blocked whom: services only
        stub.BatchGetRelationships(
            follow_pb2.BatchGetRelationshipsRequest(
                pairs=[follow_pb2.RelationshipPair(viewer_id=bob.user_id, author_id=alice.user_id)]
            ),
            metadata=me,
            timeout=10,
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )

    for lister, request in (
        (stub.ListBlockedUsers, follow_pb2.ListBlockedUsersRequest()),
        (stub.ListMutedUsers, follow_pb2.ListMutedUsersRequest()),
        (stub.ListFollowRequests, follow_pb2.ListFollowRequestsRequest()),
    ):
        for user in (alice, bob):
            reply = await lister(request, metadata=user.metadata, timeout=10)
            assert not list(reply.ListFields()), reply  # nothing was written
    relation = await stub.GetRelationships(
        follow_pb2.GetRelationshipsRequest(user_ids=[bob.user_id]), metadata=me, timeout=10
    )
    assert relation.relationships[0] == follow_pb2.RelationshipView(user_id=bob.user_id)
    assert not (
        await stub.SetAccountPrivacy(follow_pb2.SetAccountPrivacyRequest(), metadata=bob.metadata, timeout=10)
    ).private


async def test_a_block_hides_what_the_blocked_user_did_from_notifications(mesh: Mesh) -> None:
    author, fan = await sign_up_many(mesh, 2, "note")
    photo = await photo_of(mesh, author)
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo.photo_id), metadata=fan.metadata, timeout=10
    )

    async def actors() -> set[int]:
        return {actor for group in await groups_of(mesh, author) for actor in group.latest_actor_ids}

    async def fan_shown() -> bool:
        return fan.user_id in await actors()

    async def unread() -> int:
        request = notification_pb2.GetUnreadCountRequest(user_id=author.user_id)
        return (await notifications(mesh).GetUnreadCount(request, metadata=author.metadata, timeout=10)).unread_count

    await eventually(fan_shown, timeout=30)
    assert await unread() == 1
    await block(mesh, author, fan)

    async def fan_hidden() -> bool:
        return not await fan_shown()

    await eventually(fan_hidden, timeout=2)
    assert await unread() == 0  # the badge counts what the list shows
