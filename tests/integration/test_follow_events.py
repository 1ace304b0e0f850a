"""Follow and user events reach JetStream, once each, and only when something changed.

The test reads the real stream with nats-py through its own ephemeral consumer, created before
acting, so it sees exactly what the services published (after the stream's de-duplication).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import grpc
import nats
import pytest
from google.protobuf.message import Message
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from services.runtime.events import EVENTS_STREAM, decode, message_id
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.users import sign_up_many

SETTLE_SECONDS = 2.0


class StreamTap:
    """Every event published from the moment the tap opens, decoded, with its Nats-Msg-Id."""

    def __init__(self, subscription: nats.js.JetStreamContext.PullSubscription) -> None:
        self._subscription = subscription
        self.events: list[tuple[str, Message]] = []

    async def collect(self, done: Callable[[list[Message]], bool], timeout: float = 20) -> list[Message]:
        """Read until `done` holds, then a little longer so a duplicate would show up too."""
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while time.monotonic() < (settle_until or deadline):
            try:
                batch = await self._subscription.fetch(100, timeout=0.5)
            except (NatsTimeoutError, TimeoutError):  # nats-py raises either when a fetch times out
                batch = []
            for message in batch:
                self.events.append((message.headers.get("Nats-Msg-Id", ""), decode(message.subject, message.data)))
            if settle_until is None and done([event for _, event in self.events]):
                settle_until = time.monotonic() + SETTLE_SECONDS
        return [event for _, event in self.events]


@pytest.fixture
async def tap(mesh: Mesh) -> AsyncIterator[StreamTap]:
    client = await nats.connect(mesh.settings.nats_url)
    try:
        subscription = await client.jetstream().pull_subscribe(
            "shutter.events.>",
            stream=EVENTS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.NONE),
        )
        yield StreamTap(subscription)
    finally:
        await client.close()


def involving(events: list[Message], *user_ids: int) -> list[Message]:
    ids = set(user_ids)
    return [
        e
        for e in events
        if (isinstance(e, events_pb2.FollowCreated | events_pb2.FollowDeleted) and {e.follower_id, e.followee_id} & ids)
        or (isinstance(e, events_pb2.UserDeleted) and e.user_id in ids)
    ]


async def test_follow_unfollow_and_user_deletion_events_arrive_exactly_once(mesh: Mesh, tap: StreamTap) -> None:
    alice, bob, carol = await sign_up_many(mesh, 3, "ev")
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    follow = follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=bob.user_id)
    unfollow = follow_pb2.UnfollowRequest(follower_id=alice.user_id, followee_id=bob.user_id)
    assert (await stub.Follow(follow, metadata=alice.metadata, timeout=10)).created
    assert not (await stub.Follow(follow, metadata=alice.metadata, timeout=10)).created
    assert (await stub.Unfollow(unfollow, metadata=alice.metadata, timeout=10)).removed
    assert not (await stub.Unfollow(unfollow, metadata=alice.metadata, timeout=10)).removed
    await carol.follow(mesh, alice)
    await user_pb2_grpc.UserServiceStub(mesh.channel("user")).DeleteUser(
        user_pb2.DeleteUserRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5
    )

    def all_arrived(events: list[Message]) -> bool:
        kinds = Counter(type(e).__name__ for e in involving(events, alice.user_id))
        return kinds["FollowCreated"] >= 2 and kinds["FollowDeleted"] >= 1 and kinds["UserDeleted"] >= 1

    mine = involving(await tap.collect(all_arrived), alice.user_id)
    assert Counter(type(e).__name__ for e in mine) == {"FollowCreated": 2, "FollowDeleted": 1, "UserDeleted": 1}
    created = [(e.follower_id, e.followee_id) for e in mine if isinstance(e, events_pb2.FollowCreated)]
    assert created == [(alice.user_id, bob.user_id), (carol.user_id, alice.user_id)]
    deleted = next(e for e in mine if isinstance(e, events_pb2.FollowDeleted))
    assert (deleted.follower_id, deleted.followee_id, deleted.meta.source) == (alice.user_id, bob.user_id, "follow")
    gone = next(e for e in mine if isinstance(e, events_pb2.UserDeleted))
    assert gone.meta.source == "user"
    # Each message's Nats-Msg-Id is its event id, so a re-published copy would be dropped by the stream.
    for msg_id, event in tap.events:
        if event in mine:
            assert msg_id == message_id(event)


async def test_no_event_when_a_follow_is_refused(mesh: Mesh, tap: StreamTap) -> None:
    alice, mallory = await sign_up_many(mesh, 2, "ev")
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    refused = [
        stub.Follow(
            follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=alice.user_id), metadata=alice.metadata
        ),
        stub.Follow(
            follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=mallory.user_id), metadata=mallory.metadata
        ),
        stub.Follow(follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=424242), metadata=alice.metadata),
    ]
    for call, code in zip(
        refused,
        (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.NOT_FOUND),
        strict=True,
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == code
    # A marker that does get published, so "nothing else arrived" is checked against a live stream.
    await mallory.follow(mesh, alice)

    def marker(events: list[Message]) -> bool:
        return any(isinstance(e, events_pb2.FollowCreated) and e.follower_id == mallory.user_id for e in events)

    mine = involving(await tap.collect(marker), alice.user_id)
    assert [(type(e).__name__, e.follower_id) for e in mine] == [("FollowCreated", mallory.user_id)]
