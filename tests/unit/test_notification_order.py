"""Which notification events the consumer keeps in order (one recipient's), and which it overlaps."""

from __future__ import annotations

from services.notification.notifier import NOTIFY_EVENTS, ordering_key
from shutter.events.v1 import events_pb2

OWNER, FAN, OTHER = 11, 12, 13


def test_one_recipients_events_share_a_lane_and_other_recipients_do_not() -> None:
    liked = events_pb2.LikeChanged(photo_id=1, user_id=FAN, photo_owner_id=OWNER, liked=True)
    unliked = events_pb2.LikeChanged(photo_id=1, user_id=FAN, photo_owner_id=OWNER, liked=False)
    commented = events_pb2.CommentChanged(photo_id=1, comment_id=5, user_id=FAN, photo_owner_id=OWNER)
    followed = events_pb2.FollowCreated(follower_id=FAN, followee_id=OWNER)
    unfollowed = events_pb2.FollowDeleted(follower_id=FAN, followee_id=OWNER)
    requested = events_pb2.FollowRequested(requester_id=FAN, target_id=OWNER)
    resolved = events_pb2.FollowRequestResolved(requester_id=FAN, target_id=OWNER)
    owners = (liked, unliked, commented, followed, unfollowed, requested, resolved)
    assert {ordering_key(event) for event in owners} == {OWNER}
    elsewhere = events_pb2.LikeChanged(photo_id=2, user_id=FAN, photo_owner_id=OTHER, liked=True)
    assert ordering_key(elsewhere) != ordering_key(liked)


def test_a_posts_mentions_and_edits_go_together_and_every_event_kind_has_a_lane() -> None:
    posted = events_pb2.PhotoPosted(photo_id=7, user_id=OWNER, mentioned_user_ids=[FAN, OTHER])
    assert ordering_key(posted) == ("photo", 7)
    edited = events_pb2.PhotoEdited(photo_id=7, user_id=OWNER, mentioned_user_ids=[OTHER])
    assert ordering_key(edited) == ordering_key(posted)  # an edit after its post: new mentions only
    assert ordering_key(events_pb2.PhotoPosted(photo_id=8, user_id=OWNER)) != ordering_key(posted)
    for kind in NOTIFY_EVENTS:
        assert ordering_key(kind()) is not None, kind.__name__
