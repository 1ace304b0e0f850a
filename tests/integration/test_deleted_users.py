"""A deleted user's still-valid token is refused everywhere, within moments of DeleteUser (the runtime's
DeletedUsers list, fed by UserDeleted over JetStream), and the list survives a NATS restart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from services.runtime.errors import Unauthenticated
from services.runtime.events import EventBus, message_id, subject_for
from services.runtime.revocation import TRUSTED_GAP_SECONDS, DeletedUsers
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh, free_port
from tests.support.users import refused_as_deleted, sign_up
from tests.support.waiting import eventually


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
        await bus.ready()
        now = time.time()
        await _publish(bus, _deletion(1001, 1, now - 30))  # within a token's lifetime
        await _publish(bus, _deletion(1002, 2, now - 2 * 3600))  # every token it concerns has expired

        await deleted.start()
        await asyncio.wait_for(deleted.wait_caught_up(), 20)
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


def _refusal(deleted: DeletedUsers, user_id: int, issued_at: float) -> str | None:
    try:
        deleted.check(user_id, issued_at)
    except Unauthenticated as exc:
        return exc.message
    return None


async def test_without_nats_the_snapshot_decides_and_no_snapshot_means_sign_in_again(tmp_path: Path) -> None:
    """No NATS anywhere (nothing listens on its port): what a process may believe comes from its snapshot."""
    snapshot = tmp_path / "deleted-users.json"
    nowhere = f"nats://127.0.0.1:{free_port()}"
    old_token = time.time() - 600

    async def started(path: Path) -> tuple[EventBus, DeletedUsers]:
        bus = EventBus(nowhere, "test-no-nats")
        deleted = DeletedUsers(bus, token_ttl_seconds=3600, snapshot_path=path)
        await bus.start()
        await deleted.start()
        return bus, deleted

    # First start ever: no snapshot, so tokens older than the process are refused; a fresh one is fine.
    bus, first = await started(snapshot)
    assert not first.caught_up
    assert "sign in again" in (_refusal(first, 7, old_token) or "")
    assert _refusal(first, 7, time.time() + 1) is None
    await first.stop()
    await bus.stop()

    # Restarted at once (a crash, a rolling restart): as informed as its predecessor, which had not caught
    # up either, so the same limit holds. A deletion it had learnt is refused whatever the token's age.
    data = json.loads(snapshot.read_text())
    data["deleted"] = {"1001": time.time() - 30}
    snapshot.write_text(json.dumps(data))
    bus, second = await started(snapshot)
    assert _refusal(second, 1001, time.time() + 1) == "account deleted"
    assert "sign in again" in (_refusal(second, 7, old_token) or "")
    await second.stop()
    await bus.stop()

    # A predecessor that had caught up hands on its knowledge whole: old tokens are fine.
    data = json.loads(snapshot.read_text())
    data["tokens_not_before"] = None
    snapshot.write_text(json.dumps(data))
    bus, third = await started(snapshot)
    assert _refusal(third, 7, old_token) is None
    assert _refusal(third, 1001, old_token) == "account deleted"
    await third.stop()
    await bus.stop()

    # A snapshot nobody has kept up for a while: deletions since are unknown, so old tokens are refused
    # again (its own deletions still count).
    data = json.loads(snapshot.read_text())
    data["watched_until"] = time.time() - 10 * TRUSTED_GAP_SECONDS
    data["tokens_not_before"] = None
    snapshot.write_text(json.dumps(data))
    bus, fourth = await started(snapshot)
    assert "sign in again" in (_refusal(fourth, 7, old_token) or "")
    assert _refusal(fourth, 1001, time.time() + 1) == "account deleted"
    await fourth.stop()
    await bus.stop()
