"""FollowService over real gRPC: idempotent follows, counts, lists, paging, rights, deletions."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.rich_status import field_violations
from tests.support.users import SignedUp, sign_up, sign_up_many
from tests.support.waiting import eventually


def follows(mesh: Mesh) -> follow_pb2_grpc.FollowServiceStub:
    return follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))


async def counts(mesh: Mesh, user: SignedUp) -> tuple[int, int]:
    reply = await follows(mesh).GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=user.user_id), metadata=user.metadata, timeout=5
    )
    return reply.follower_count, reply.followee_count


async def all_followers(mesh: Mesh, user: SignedUp, page_size: int) -> list[int]:
    ids: list[int] = []
    token = ""
    while True:
        reply = await follows(mesh).ListFollowers(
            follow_pb2.ListFollowersRequest(user_id=user.user_id, page_size=page_size, page_token=token),
            metadata=user.metadata,
            timeout=5,
        )
        ids.extend(f.follower_id for f in reply.follows)
        token = reply.next_page_token
        if not token:
            return ids


async def expect(call: object, code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call  # type: ignore[misc]
    assert caught.value.code() == code, caught.value.details()
    return caught.value


async def test_follow_and_unfollow_are_idempotent_and_counted_once(mesh: Mesh) -> None:
    alice, bob = await sign_up_many(mesh, 2)
    stamp = Timestamp(seconds=1_700_000_000)
    request = follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=bob.user_id, time_stamp=stamp)

    first = await follows(mesh).Follow(request, metadata=alice.metadata, timeout=10)
    assert first.created
    assert (first.follow.follower_id, first.follow.followee_id, first.follow.time_stamp) == (
        alice.user_id,
        bob.user_id,
        stamp,
    )
    again = await follows(mesh).Follow(
        follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=bob.user_id), metadata=alice.metadata
    )
    assert not again.created
    assert again.follow.time_stamp == stamp  # the original follow, untouched
    assert await counts(mesh, bob) == (1, 0)
    assert await counts(mesh, alice) == (0, 1)

    check = await follows(mesh).CheckFollowing(
        follow_pb2.CheckFollowingRequest(follower_id=alice.user_id, followee_ids=[bob.user_id, 12345, bob.user_id]),
        metadata=bob.metadata,
        timeout=5,
    )
    assert [(s.followee_id, s.following) for s in check.states] == [
        (bob.user_id, True),
        (12345, False),
        (bob.user_id, True),
    ]
    followees = await follows(mesh).ListFollowees(
        follow_pb2.ListFolloweesRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=5
    )
    assert [f.followee_id for f in followees.follows] == [bob.user_id]
    assert await all_followers(mesh, bob, 10) == [alice.user_id]

    unfollow = follow_pb2.UnfollowRequest(follower_id=alice.user_id, followee_id=bob.user_id)
    assert (await follows(mesh).Unfollow(unfollow, metadata=alice.metadata, timeout=5)).removed
    assert not (await follows(mesh).Unfollow(unfollow, metadata=alice.metadata, timeout=5)).removed
    assert await counts(mesh, bob) == (0, 0)
    assert await counts(mesh, alice) == (0, 0)
    assert await all_followers(mesh, bob, 10) == []


async def test_concurrent_duplicate_follows_count_once(mesh: Mesh) -> None:
    alice, bob = await sign_up_many(mesh, 2)
    request = follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=bob.user_id)
    replies = await asyncio.gather(
        *(follows(mesh).Follow(request, metadata=alice.metadata, timeout=10) for _ in range(8))
    )
    assert sum(r.created for r in replies) == 1
    assert await counts(mesh, bob) == (1, 0)


async def test_self_follow_unknown_followee_and_bad_ids_write_nothing(mesh: Mesh) -> None:
    alice = await sign_up(mesh, sign_in=False)
    error = await expect(
        follows(mesh).Follow(
            follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=alice.user_id), metadata=alice.metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(field_violations(error)) == {"followee_id"}
    await expect(
        follows(mesh).Follow(
            follow_pb2.FollowRequest(follower_id=alice.user_id, followee_id=987654321), metadata=alice.metadata
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    error = await expect(
        follows(mesh).Follow(follow_pb2.FollowRequest(follower_id=-1, followee_id=-4), metadata=alice.metadata),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(field_violations(error)) == {"follower_id", "followee_id"}
    assert await counts(mesh, alice) == (0, 0)


async def test_nobody_follows_or_unfollows_as_someone_else(mesh: Mesh) -> None:
    alice, bob, mallory = await sign_up_many(mesh, 3)
    await alice.follow(mesh, bob)
    await expect(
        follows(mesh).Follow(
            follow_pb2.FollowRequest(follower_id=bob.user_id, followee_id=mallory.user_id), metadata=mallory.metadata
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    await expect(
        follows(mesh).Unfollow(
            follow_pb2.UnfollowRequest(follower_id=alice.user_id, followee_id=bob.user_id), metadata=mallory.metadata
        ),
        grpc.StatusCode.PERMISSION_DENIED,
    )
    assert await counts(mesh, mallory) == (0, 0)
    assert await counts(mesh, bob) == (1, 0)
    check = await follows(mesh).CheckFollowing(
        follow_pb2.CheckFollowingRequest(follower_id=alice.user_id, followee_ids=[bob.user_id]),
        metadata=mallory.metadata,
    )
    assert check.states[0].following


async def test_missing_token_is_unauthenticated(mesh: Mesh) -> None:
    await expect(
        follows(mesh).Follow(follow_pb2.FollowRequest(follower_id=1, followee_id=2), timeout=5),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_paging_has_no_gaps_or_repeats_while_follows_arrive(mesh: Mesh) -> None:
    star = await sign_up(mesh, sign_in=False)
    early = await sign_up_many(mesh, 24, "early")
    late = await sign_up_many(mesh, 12, "late")
    for follower in early:  # one at a time, so the newest-first order is known
        await follower.follow(mesh, star)

    seen: list[int] = []
    token = ""
    waiting = list(late)
    arrived_while_paging = 0
    while True:
        reply = await follows(mesh).ListFollowers(
            follow_pb2.ListFollowersRequest(user_id=star.user_id, page_size=5, page_token=token),
            metadata=star.metadata,
            timeout=5,
        )
        seen.extend(f.follower_id for f in reply.follows)
        token = reply.next_page_token
        if not token:
            break
        # New followers arrive between every two pages: they land above the cursor.
        for follower in waiting[:2]:
            await follower.follow(mesh, star)
            arrived_while_paging += 1
        waiting = waiting[2:]
    for follower in waiting:
        await follower.follow(mesh, star)

    assert arrived_while_paging >= 8
    early_ids = [f.user_id for f in early]
    late_ids = [f.user_id for f in late]
    assert seen == early_ids[::-1], "the walk skipped, repeated or reordered followers"
    # Once the arrivals are done, a fresh walk lists everyone exactly once, newest first.
    assert await all_followers(mesh, star, 7) == [*late_ids[::-1], *early_ids[::-1]]
    assert await counts(mesh, star) == (36, 0)


async def test_page_tokens_are_checked(mesh: Mesh) -> None:
    star, other = await sign_up_many(mesh, 2)
    fans = await sign_up_many(mesh, 3)
    for fan in fans:
        await fan.follow(mesh, star)
    first = await follows(mesh).ListFollowers(
        follow_pb2.ListFollowersRequest(user_id=star.user_id, page_size=2), metadata=star.metadata
    )
    assert first.next_page_token
    for request in (
        follow_pb2.ListFollowersRequest(user_id=other.user_id, page_token=first.next_page_token),
        follow_pb2.ListFollowersRequest(user_id=star.user_id, page_token="not a token!"),
        follow_pb2.ListFollowersRequest(user_id=star.user_id, page_size=-1),
        follow_pb2.ListFollowersRequest(user_id=0),
    ):
        await expect(follows(mesh).ListFollowers(request, metadata=star.metadata), grpc.StatusCode.INVALID_ARGUMENT)
    await expect(
        follows(mesh).ListFollowees(
            follow_pb2.ListFolloweesRequest(user_id=star.user_id, page_token=first.next_page_token),
            metadata=star.metadata,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_deleting_a_user_removes_their_follows_both_ways(mesh: Mesh) -> None:
    doomed, fan, idol, bystander = await sign_up_many(mesh, 4)
    await fan.follow(mesh, doomed)
    await doomed.follow(mesh, idol)
    await fan.follow(mesh, idol)
    await bystander.follow(mesh, idol)
    assert await counts(mesh, idol) == (3, 0)
    assert await counts(mesh, fan) == (0, 2)

    await user_pb2_grpc.UserServiceStub(mesh.channel("user")).DeleteUser(
        user_pb2.DeleteUserRequest(user_id=doomed.user_id), metadata=doomed.metadata, timeout=5
    )

    async def purged() -> None:
        assert (await counts(mesh, idol), await counts(mesh, fan)) == ((2, 0), (0, 1)), "edges not purged"

    await eventually(purged, timeout=10)
    doomed_counts = await follows(mesh).GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=doomed.user_id), metadata=fan.metadata, timeout=5
    )
    assert (doomed_counts.follower_count, doomed_counts.followee_count) == (0, 0)
    assert set(await all_followers(mesh, idol, 10)) == {fan.user_id, bystander.user_id}
    followees = await follows(mesh).ListFollowees(
        follow_pb2.ListFolloweesRequest(user_id=doomed.user_id), metadata=fan.metadata
    )
    assert list(followees.follows) == []

    # The deleted user's still-valid token cannot follow anyone, and nobody can follow them.
    await expect(
        follows(mesh).Follow(
            follow_pb2.FollowRequest(follower_id=doomed.user_id, followee_id=idol.user_id), metadata=doomed.metadata
        ),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    await expect(
        follows(mesh).Follow(
            follow_pb2.FollowRequest(follower_id=fan.user_id, followee_id=doomed.user_id), metadata=fan.metadata
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert await counts(mesh, idol) == (2, 0)


async def test_check_following_validates_its_ids(mesh: Mesh) -> None:
    caller = await sign_up(mesh, sign_in=False)
    error = await expect(
        follows(mesh).CheckFollowing(
            follow_pb2.CheckFollowingRequest(follower_id=0, followee_ids=[1, 0]), metadata=caller.metadata
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(field_violations(error)) == {"follower_id", "followee_ids"}
