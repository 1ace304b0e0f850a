"""Notifications and the privacy rules on the real mesh over gRPC: a caption's mention notifies no one
blocked either way with its author (the post still stands), and a private author's only their approved
followers; an edit notifies only the users it newly
mentions, and a redelivered post or edit nobody again; a follow request notifies the private account, and
its end (approved, rejected, withdrawn) takes that notification back, an approval bringing the follow's."""

from __future__ import annotations

import uuid

import nats
from google.protobuf.field_mask_pb2 import FieldMask
from google.protobuf.message import Message

from services.runtime.events import subject_for
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.notification.v1 import notification_pb2 as pb
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.notifications import groups_of, watching
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.privacy import approve, block, follows, set_private
from tests.support.social import stream_events
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually

LIKE, MENTION, FOLLOW, FOLLOW_REQUESTED = (
    pb.NOTIFICATION_TYPE_LIKE,
    pb.NOTIFICATION_TYPE_MENTION,
    pb.NOTIFICATION_TYPE_FOLLOW,
    pb.NOTIFICATION_TYPE_FOLLOW_REQUESTED,
)


def likes(mesh: Mesh) -> like_pb2_grpc.LikeServiceStub:
    return like_pb2_grpc.LikeServiceStub(mesh.channel("like"))


def photos(mesh: Mesh) -> photo_pb2_grpc.PhotoServiceStub:
    return photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo"))


async def post(mesh: Mesh, author: SignedUp, caption: str) -> photo_pb2.Photo:
    meta = metadata(author.user_id, title="mentions")
    meta.caption = caption
    return (
        await photos(mesh).UploadPhoto(requests(meta, make_jpeg(24, 24)), metadata=author.metadata, timeout=30)
    ).photo


async def edit_caption(mesh: Mesh, author: SignedUp, photo_id: int, caption: str) -> photo_pb2.Photo:
    request = photo_pb2.UpdatePhotoRequest(photo_id=photo_id, caption=caption, update_mask=FieldMask(paths=["caption"]))
    return (await photos(mesh).UpdatePhoto(request, metadata=author.metadata, timeout=10)).photo


async def unblock(mesh: Mesh, blocker: SignedUp, blocked: SignedUp) -> None:
    await follows(mesh).UnblockUser(
        follow_pb2.UnblockUserRequest(blocked_id=blocked.user_id), metadata=blocker.metadata, timeout=10
    )


async def redeliver(mesh: Mesh, event: Message) -> None:
    """The same event again, as JetStream redelivers it (a new message id, so the stream keeps the copy)."""
    connection = await nats.connect(mesh.env["SHUTTER_NATS_URL"])
    try:
        await connection.jetstream().publish(
            subject_for(event), event.SerializeToString(), headers={"Nats-Msg-Id": uuid.uuid4().hex}
        )
    finally:
        await connection.close()


async def shown(mesh: Mesh, user: SignedUp) -> list[tuple[int, int, tuple[int, ...]]]:
    """The user's notification groups as (type, photo, actors), newest first."""
    return [(g.type, g.photo_id, tuple(g.latest_actor_ids)) for g in await groups_of(mesh, user)]


async def test_a_mention_notifies_no_one_blocked_either_way_with_the_author(mesh: Mesh) -> None:
    author, blocker, blocked, friend = await sign_up_many(mesh, 4, "mblk")
    await block(mesh, blocker, author)  # they blocked the author
    await block(mesh, author, blocked)  # the author blocked them
    caption = f"with @{blocker.username}, @{blocked.username} and @{friend.username}"
    async with watching(mesh, blocker) as blocker_watch, watching(mesh, blocked) as blocked_watch:
        first = await post(mesh, author, caption)
        # The post stands as written: nothing tells the author who blocked whom.
        assert list(first.mentioned_user_ids) == [blocker.user_id, blocked.user_id, friend.user_id]
        edited = await edit_caption(mesh, author, first.photo_id, caption + " (edited)")
        assert list(edited.mentioned_user_ids) == list(first.mentioned_user_ids)

        async def friend_mentioned() -> None:
            assert await shown(mesh, friend) == [(MENTION, first.photo_id, (author.user_id,))]

        # Mentions are handled in the caption's order, the edit after the post: the friend's is the last.
        await eventually(friend_mentioned, timeout=30)
        await unblock(mesh, blocker, author)
        await unblock(mesh, author, blocked)
        for user in (blocker, blocked):
            await likes(mesh).LikePhoto(
                like_pb2.LikePhotoRequest(photo_id=first.photo_id), metadata=user.metadata, timeout=10
            )

        async def both_likes_shown() -> None:  # the notification service knows the blocks are gone
            assert await shown(mesh, author) == [(LIKE, first.photo_id, (blocked.user_id, blocker.user_id))]

        await eventually(both_likes_shown, timeout=30)
        # After the unblocks, a new post's mention arrives; the one made during the block never does.
        second = await post(mesh, author, f"again @{blocker.username} @{blocked.username}")
        for user in (blocker, blocked):

            async def only_the_new_mention(user: SignedUp = user) -> None:
                assert await shown(mesh, user) == [(MENTION, second.photo_id, (author.user_id,))]

            await eventually(only_the_new_mention, timeout=30)
        for watch in (blocker_watch, blocked_watch):  # nor was it pushed live
            # The push can trail the stored notification on a loaded machine: wait for the new one first.
            await watch.next(lambda update: update.notification.photo_id == second.photo_id, timeout=30)
            pushed = {update.notification.photo_id for update in watch.received if update.position}
            assert pushed == {second.photo_id}


async def test_a_private_authors_mention_notifies_only_approved_followers(mesh: Mesh) -> None:
    """A notification would name a post the stranger and the pending requester cannot open."""
    author, stranger, asker, follower = await sign_up_many(mesh, 4, "mpriv")
    to_author = follow_pb2.FollowRequest(followee_id=author.user_id)
    await follows(mesh).Follow(to_author, metadata=follower.metadata, timeout=10)  # public then: approved
    await set_private(mesh, author)
    await follows(mesh).Follow(to_author, metadata=asker.metadata, timeout=10)  # a request, pending
    # Mentions are handled in the caption's order: once the follower's shows, the others were decided.
    first = await post(mesh, author, f"@{stranger.username} @{asker.username} @{follower.username}")
    assert list(first.mentioned_user_ids) == [stranger.user_id, asker.user_id, follower.user_id]

    async def follower_mentioned() -> None:
        assert await shown(mesh, follower) == [(MENTION, first.photo_id, (author.user_id,))]

    await eventually(follower_mentioned, timeout=30)
    assert await shown(mesh, stranger) == []
    assert await shown(mesh, asker) == []
    # Once approved, the asker may see the author's posts, and a new post's mention reaches them.
    await approve(mesh, author, asker)
    second = await post(mesh, author, f"@{asker.username} @{follower.username}")

    async def asker_mentioned() -> None:
        assert await shown(mesh, asker) == [(MENTION, second.photo_id, (author.user_id,))]

    await eventually(asker_mentioned, timeout=30)
    assert await shown(mesh, stranger) == []


async def test_an_edit_notifies_only_the_users_it_newly_mentions_and_redelivery_no_one(mesh: Mesh) -> None:
    author, ada, carol, dave = await sign_up_many(mesh, 4, "medit")
    photo = await post(mesh, author, f"with @{ada.username}")

    async def mentioned_once(user: SignedUp) -> None:
        assert await shown(mesh, user) == [(MENTION, photo.photo_id, (author.user_id,))]

    await eventually(lambda: mentioned_once(ada), timeout=30)
    await edit_caption(mesh, author, photo.photo_id, f"with @{ada.username} and @{carol.username}")
    await eventually(lambda: mentioned_once(carol), timeout=30)
    await edit_caption(mesh, author, photo.photo_id, f"@{carol.username} and @{ada.username}, again")
    posted = await stream_events(mesh, events_pb2.PhotoPosted, lambda e: e.photo_id == photo.photo_id)
    edits = await stream_events(mesh, events_pb2.PhotoEdited, lambda e: e.photo_id == photo.photo_id, timeout=10)
    assert len(posted) == 1
    for event in [*posted, *edits]:
        await redeliver(mesh, event)
    # The notifier takes events in order: once a later edit's new mention is in, everything before was handled.
    await edit_caption(mesh, author, photo.photo_id, f"@{carol.username} @{ada.username} @{dave.username}")
    await eventually(lambda: mentioned_once(dave), timeout=30)
    await mentioned_once(ada)
    await mentioned_once(carol)


async def test_a_follow_request_notifies_the_account_and_its_end_takes_it_back(mesh: Mesh) -> None:
    owner, fan, stranger, fickle, late = await sign_up_many(mesh, 5, "freq")
    await set_private(mesh, owner)
    async with watching(mesh, owner) as watch:
        assert (await fan.follow(mesh, owner)).pending
        update = await watch.next(lambda u: u.notification.type == FOLLOW_REQUESTED, timeout=10)
        assert (update.notification.actor_id, update.notification.photo_id) == (fan.user_id, 0)
        assert update.unread_count == 1
        await stranger.follow(mesh, owner)
        await fickle.follow(mesh, owner)

        async def three_requests() -> None:
            assert await shown(mesh, owner) == [
                (FOLLOW_REQUESTED, 0, (user.user_id,))
                for user in (fickle, stranger, fan)  # each on its own line
            ]

        await eventually(three_requests, timeout=30)

        # Approved: the request's notification goes, and the follow's comes, as for any follow.
        await approve(mesh, owner, fan)
        withdrawn = await watch.next(lambda u: u.withdrawn_id, timeout=10)
        assert withdrawn.withdrawn_id == update.position
        await watch.next(lambda u: u.notification.type == FOLLOW and u.notification.actor_id == fan.user_id)
        await follows(mesh).RejectFollowRequest(
            follow_pb2.RejectFollowRequestRequest(requester_id=stranger.user_id), metadata=owner.metadata, timeout=10
        )
        await follows(mesh).WithdrawFollowRequest(
            follow_pb2.WithdrawFollowRequestRequest(target_id=owner.user_id), metadata=fickle.metadata, timeout=10
        )

        async def only_the_follow() -> None:
            assert await shown(mesh, owner) == [(FOLLOW, 0, (fan.user_id,))]

        await eventually(only_the_follow, timeout=30)

    # A redelivered request after its end brings nothing back; a new request still notifies.
    requested = await stream_events(mesh, events_pb2.FollowRequested, lambda e: e.target_id == owner.user_id)
    for event in requested:
        await redeliver(mesh, event)
    await late.follow(mesh, owner)

    async def the_late_request_and_the_follow() -> None:
        assert await shown(mesh, owner) == [(FOLLOW_REQUESTED, 0, (late.user_id,)), (FOLLOW, 0, (fan.user_id,))]

    await eventually(the_late_request_and_the_follow, timeout=30)
