"""The pull path: a large account's posts reach followers at read time, not through fan-out.

A mesh of its own with the large-account threshold at 2 followers, so three followers make one. Every
test runs twice (services.feed.large): with few large accounts, where a read checks the reader against
each, and with the pair checks set to 0, where a read lists whom the reader follows (the design's scale,
with far more large accounts than anyone follows).
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from tests.support.feeds import feed_has, feed_items, feed_lacks, feed_page, feed_photo_ids
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually

JPEG = make_jpeg(32, 24)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", params=["100", "0"], ids=["pair-checks", "followees-listed"])
async def small_threshold_mesh(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> AsyncIterator[Mesh]:
    running = Mesh(
        Path(tmp_path_factory.mktemp("feed-large")),
        services=("user", "follow", "photo", "feed"),
        extra_env={
            "SHUTTER_FEED_LARGE_ACCOUNT_FOLLOWERS": "2",
            "SHUTTER_FEED_LARGE_ACCOUNT_PAIR_CHECKS": request.param,
        },
    )
    try:
        await running.start()
        yield running
    finally:
        await running.close()


def feed_db_rows(mesh: Mesh, photo_id: int) -> int:
    """Fan-out rows for a photo, read straight from the feed's database (read-only, WAL-safe)."""
    path = mesh.workdir / "data" / "feed" / "feed.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM feed WHERE photo_id = ?", (photo_id,)).fetchone()[0]


async def test_large_accounts_posts_are_merged_at_read_time(small_threshold_mesh: Mesh) -> None:
    mesh = small_threshold_mesh
    star, fan1, fan2, fan3, small, stranger = await sign_up_many(mesh, 6, "large")
    for fan in (fan1, fan2, fan3):
        await fan.follow(mesh, star)
    await fan1.follow(mesh, small)
    fanned_out = await upload(mesh, small.token, small.user_id, JPEG, title="small account")
    pulled = await upload(mesh, star.token, star.user_id, JPEG, title="large account")

    for fan in (fan1, fan2, fan3):
        await eventually(lambda f=fan: feed_has(mesh, f, pulled.photo_id), explain=lambda: mesh.log_tail("feed"))
    await eventually(lambda: feed_has(mesh, fan1, fanned_out.photo_id))
    # Both kinds merge in id (time) order, with the right author.
    items = await feed_items(mesh, fan1.user_id)
    assert [(i.photo_id, i.author_id) for i in items] == sorted(
        [(pulled.photo_id, star.user_id), (fanned_out.photo_id, small.user_id)], reverse=True
    )
    # The large account's post was never written into anyone's feed; the small one's was.
    assert feed_db_rows(mesh, pulled.photo_id) == 0
    assert feed_db_rows(mesh, fanned_out.photo_id) == 1
    assert await feed_photo_ids(mesh, stranger.user_id) == []

    # Unfollowing stops the merge within the caches' bound (whom a reader follows is read from the visibility
    # cache, or listed and kept per reader: FollowDeleted drops either at once, and no answer is trusted past
    # 1 s; 2 s leaves room for a busy machine); deleting the post removes it for everyone.
    await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).Unfollow(
        follow_pb2.UnfollowRequest(follower_id=fan3.user_id, followee_id=star.user_id),
        metadata=fan3.metadata,
        timeout=10,
    )
    await eventually(lambda: _count_is(mesh, fan3, 0), timeout=2)
    await photo_pb2_grpc.PhotoServiceStub(mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=pulled.photo_id), metadata=star.metadata, timeout=10
    )
    for fan in (fan1, fan2):
        await eventually(lambda f=fan: feed_lacks(mesh, f, pulled.photo_id))


async def test_paging_merges_pulled_posts_without_gaps_or_repeats(small_threshold_mesh: Mesh) -> None:
    mesh = small_threshold_mesh
    star, other, fan, extra1, extra2 = await sign_up_many(mesh, 5, "largepage")
    for follower in (fan, extra1, extra2):
        await follower.follow(mesh, star)
    await fan.follow(mesh, other)
    posts = []
    for i in range(4):
        posts.append(await upload(mesh, star.token, star.user_id, JPEG, title=f"star{i}"))
        posts.append(await upload(mesh, other.token, other.user_id, JPEG, title=f"other{i}"))
    await eventually(lambda: feed_has(mesh, fan, posts[-1].photo_id, posts[-2].photo_id))
    await eventually(lambda: _count_is(mesh, fan, len(posts)))

    seen: list[int] = []
    token = ""
    while True:
        reply = await feed_page(mesh, fan.user_id, page_size=3, page_token=token)
        seen.extend(i.photo_id for i in reply.items)
        token = reply.next_page_token
        if not token:
            break
    assert seen == sorted((p.photo_id for p in posts), reverse=True)


async def _count_is(mesh: Mesh, reader: SignedUp, count: int) -> bool:
    return len(await feed_photo_ids(mesh, reader.user_id)) == count


async def test_a_muted_large_accounts_pulled_posts_leave_the_muters_feed_only(small_threshold_mesh: Mesh) -> None:
    """The pull path passes the same visibility policy as fanned-out entries (services.runtime.visibility)."""
    mesh = small_threshold_mesh
    star, muter, fan = await sign_up_many(mesh, 3, "lmute")
    for follower in (muter, fan, *await sign_up_many(mesh, 1, "lmute")):
        await follower.follow(mesh, star)
    pulled = await upload(mesh, star.token, star.user_id, JPEG, title="large account, muted")
    await eventually(lambda: feed_has(mesh, muter, pulled.photo_id), explain=lambda: mesh.log_tail("feed"))

    await follow_pb2_grpc.FollowServiceStub(mesh.channel("follow")).MuteUser(
        follow_pb2.MuteUserRequest(muted_id=star.user_id), metadata=muter.metadata, timeout=10
    )
    await eventually(lambda: feed_lacks(mesh, muter, pulled.photo_id), timeout=5)
    assert await feed_has(mesh, fan, pulled.photo_id)


async def test_a_private_large_accounts_posts_are_pulled_once_the_request_is_approved(
    small_threshold_mesh: Mesh,
) -> None:
    """A pending request follows nobody; approval pulls the posts in at the next read (FollowRequestResolved
    drops what was kept about the reader), with no fan-out or backfill involved."""
    mesh = small_threshold_mesh
    follow = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    star, asker, *fans = await sign_up_many(mesh, 5, "lpriv")
    for fan in fans:
        await fan.follow(mesh, star)
    await follow.SetAccountPrivacy(
        follow_pb2.SetAccountPrivacyRequest(private=True), metadata=star.metadata, timeout=10
    )
    await asker.follow(mesh, star)
    pulled = await upload(mesh, star.token, star.user_id, JPEG, title="large and private")
    await eventually(lambda: feed_has(mesh, fans[0], pulled.photo_id), explain=lambda: mesh.log_tail("feed"))
    assert await feed_photo_ids(mesh, asker.user_id) == []

    await follow.ApproveFollowRequest(
        follow_pb2.ApproveFollowRequestRequest(requester_id=asker.user_id), metadata=star.metadata, timeout=10
    )
    await eventually(lambda: feed_has(mesh, asker, pulled.photo_id), timeout=2)
    assert feed_db_rows(mesh, pulled.photo_id) == 0
