"""A deleted user's still-valid token is refused everywhere, within moments of DeleteUser (the runtime's
DeletedUsers list, fed by UserDeleted over JetStream), and the list survives a NATS restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.events import EventBus, message_id, subject_for
from services.runtime.revocation import DeletedUsers
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.users import sign_up
from tests.support.waiting import eventually


async def refused_as_deleted(call: Callable[[], Awaitable[object]], timeout: float = 10) -> grpc.aio.AioRpcError:
    """Retry `call` until it answers UNAUTHENTICATED "account deleted" (the event takes a moment)."""

    async def refused() -> grpc.aio.AioRpcError:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.UNAUTHENTICATED and "deleted" in (exc.details() or ""), exc.code()
            return exc
        raise AssertionError("still not refused as deleted: OK")

    return await eventually(refused, timeout, interval=0.1)


async def test_a_deleted_users_token_is_refused_for_writes_and_reads_on_every_service(mesh: Mesh) -> None:
    doomed = await sign_up(mesh)
    other = await sign_up(mesh)
    follows = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    likes = like_pb2_grpc.LikeServiceStub(mesh.channel("like"))
    users = user_pb2_grpc.UserServiceStub(mesh.channel("user"))

    await users.DeleteUser(user_pb2.DeleteUserRequest(user_id=doomed.user_id), metadata=doomed.metadata, timeout=10)

    # Writes on other services, then a read on yet another: the token itself is refused, before any handler.
    await refused_as_deleted(
        lambda: follows.Follow(
            follow_pb2.FollowRequest(follower_id=doomed.user_id, followee_id=other.user_id),
            metadata=doomed.metadata,
            timeout=5,
        )
    )
    await refused_as_deleted(
        lambda: likes.LikePhoto(
            like_pb2.LikePhotoRequest(photo_id=12345, user_id=doomed.user_id), metadata=doomed.metadata, timeout=5
        )
    )
    await refused_as_deleted(
        lambda: follows.GetFollowCounts(
            follow_pb2.GetFollowCountsRequest(user_id=other.user_id), metadata=doomed.metadata, timeout=5
        )
    )
    await refused_as_deleted(
        lambda: users.GetUser(user_pb2.GetUserRequest(user_id=other.user_id), metadata=doomed.metadata, timeout=5)
    )
    counts = await follows.GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=other.user_id), metadata=other.metadata, timeout=5
    )
    assert (counts.follower_count, counts.followee_count) == (0, 0)

    # Everyone else's token keeps working.
    reply = await users.GetUser(user_pb2.GetUserRequest(user_id=other.user_id), metadata=other.metadata, timeout=5)
    assert reply.user.user_id == other.user_id
    await follows.Follow(
        follow_pb2.FollowRequest(follower_id=other.user_id, followee_id=(await sign_up(mesh, sign_in=False)).user_id),
        metadata=other.metadata,
        timeout=5,
    )


def _deletion(user_id: int, event_id: int, occurred_seconds: float) -> events_pb2.UserDeleted:
    occurred = Timestamp()
    occurred.FromNanoseconds(int(occurred_seconds * 1e9))
    meta = events_pb2.EventMeta(event_id=event_id, occurred_at=occurred, source="test")
    return events_pb2.UserDeleted(meta=meta, user_id=user_id)


async def _publish(bus: EventBus, event: events_pb2.UserDeleted, timeout: float = 20) -> None:
    async def published() -> None:
        try:
            await bus.publish(subject_for(event), event.SerializeToString(), message_id(event))
        except Exception as exc:  # NATS may still be coming back
            raise AssertionError(f"not published yet: {exc!r}") from exc

    await eventually(published, timeout, interval=0.2)


@pytest.mark.slow
async def test_deleted_users_loads_the_token_window_and_keeps_following_across_a_nats_restart(tmp_path: Path) -> None:
    nats_only = Mesh(tmp_path, services=())
    nats_only.start_nats()
    bus = EventBus(nats_only.settings.nats_url, "test-deleted-users")
    deleted = DeletedUsers(bus, token_ttl_seconds=3600, margin_seconds=60)
    try:
        await bus.start()
        now = time.time()
        await _publish(bus, _deletion(1001, 1, now - 30))  # within a token's lifetime
        await _publish(bus, _deletion(1002, 2, now - 2 * 3600))  # every token it concerns has expired

        await deleted.start()  # returns once the window is loaded
        assert deleted.is_deleted(1001)
        assert not deleted.is_deleted(1002)

        nats_only.stop_nats()
        await asyncio.sleep(1)
        nats_only.start_nats()
        await _publish(bus, _deletion(1003, 3, time.time()))

        def the_consumer_came_back_after_nats() -> bool:
            return deleted.is_deleted(1003)

        await eventually(the_consumer_came_back_after_nats)
        assert not deleted.is_deleted(1004)
    finally:
        await deleted.stop()
        await bus.stop()
        await nats_only.close()
