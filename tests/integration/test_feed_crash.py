"""SIGKILL the feed process in the middle of a fan-out: after a restart every follower has the
post exactly once (the unacked event is redelivered and the per-page upserts are idempotent).

A mesh of its own: small follower pages so one post is many transactions, and a short ack wait so
the redelivery comes quickly after the restart.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from tests.support.feeds import feed_items, wait_until
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import sign_up, sign_up_many

FOLLOWERS = 200

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def crash_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(
        Path(tmp_path_factory.mktemp("feed-crash")),
        services=("user", "follow", "photo", "feed"),
        extra_env={"SHUTTER_FEED_FOLLOWERS_PAGE_SIZE": "10", "SHUTTER_FEED_ACK_WAIT_SECONDS": "3"},
    )
    try:
        await running.start()
        yield running
    finally:
        await running.close()


def rows_for(mesh: Mesh, photo_id: int) -> int:
    path = mesh.workdir / "data" / "feed" / "feed.db"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT count(*) FROM feed WHERE photo_id = ?", (photo_id,)).fetchone()[0]


async def test_killed_mid_fan_out_every_follower_gets_the_post_exactly_once(crash_mesh: Mesh) -> None:
    mesh = crash_mesh
    author = await sign_up(mesh, sign_in=False)
    followers = await sign_up_many(mesh, FOLLOWERS, "crash")
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    for start in range(0, FOLLOWERS, 20):
        await asyncio.gather(
            *(
                stub.Follow(
                    follow_pb2.FollowRequest(follower_id=f.user_id, followee_id=author.user_id),
                    metadata=f.metadata,
                    timeout=30,
                )
                for f in followers[start : start + 20]
            )
        )
    # The newest follower is on the fan-out's first page: the first to receive the post.
    first_served = followers[-1]

    photo = await upload(mesh, author.token, author.user_id, make_jpeg(32, 24))

    async def started() -> bool:
        return any(i.photo_id == photo.photo_id for i in await feed_items(mesh, first_served.user_id))

    assert await wait_until(started, timeout=30, interval=0.005), mesh.log_tail("feed")
    mesh.stop("feed", signal.SIGKILL)
    written_before_kill = rows_for(mesh, photo.photo_id)
    print(f"fan-out rows written when SIGKILLed: {written_before_kill} of {FOLLOWERS}")
    assert written_before_kill >= 1

    mesh.start_service("feed")
    await mesh.wait_serving("feed")
    assert await wait_until(lambda: _rows_are(mesh, photo.photo_id, FOLLOWERS), timeout=60), mesh.log_tail("feed")
    for follower in followers:
        ids = [i.photo_id for i in await feed_items(mesh, follower.user_id)]
        assert ids.count(photo.photo_id) == 1, follower.user_id
        assert ids == [photo.photo_id]
    assert rows_for(mesh, photo.photo_id) == FOLLOWERS


async def _rows_are(mesh: Mesh, photo_id: int, count: int) -> bool:
    return rows_for(mesh, photo_id) == count
