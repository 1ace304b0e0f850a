"""Failures around the fan-out: the feed process SIGKILLed mid-batch, the follow service down,
NATS restarted. Every follower still gets each post exactly once.

A mesh of its own, with small follower pages so one post is many transactions. The feed runs with the
runtime's default ack wait: how quickly posts arrive after a crash is part of what is tested.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest

from services.runtime.events import EVENTS_STREAM
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from tests.support.feeds import feed_items
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import SignedUp, sign_up_many
from tests.support.waiting import eventually

FOLLOWERS = 200
AUTHORS = 3
# From the restarted feed answering health to every post in every follower's feed. The ack wait of the
# posts the killed process held bounds it; it used to be 30 s.
RECOVERY_SECONDS = 12.0

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
async def crash_mesh(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Mesh]:
    running = Mesh(
        Path(tmp_path_factory.mktemp("feed-crash")),
        services=("user", "follow", "photo", "feed"),
        extra_env={"SHUTTER_FEED_FOLLOWERS_PAGE_SIZE": "10"},
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


async def feed_consumer_drained(mesh: Mesh, timeout: float = 120) -> None:
    """Until the feed's durable consumer has nothing pending or unacknowledged (the follows' backfills)."""
    connection = await nats.connect(mesh.settings.nats_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            info = await connection.jetstream().consumer_info(EVENTS_STREAM, "feed-fanout")
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
            assert time.monotonic() < deadline, "the feed consumer did not drain"
            await asyncio.sleep(0.1)
    finally:
        await connection.close()


async def test_killed_mid_fan_out_every_follower_gets_every_post_exactly_once_within_seconds(
    crash_mesh: Mesh,
) -> None:
    mesh = crash_mesh
    authors = await sign_up_many(mesh, AUTHORS, "author")
    followers: list[SignedUp] = []
    while len(followers) < FOLLOWERS:  # in small batches: password hashing is slow on purpose
        followers += await sign_up_many(mesh, min(20, FOLLOWERS - len(followers)), "crash")
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    for author in authors:
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
    await feed_consumer_drained(mesh)
    # The newest follower is on the fan-out's first page: the first to receive a post.
    first_served = followers[-1]

    # Posted together: while the first fans out, the feed process already holds the others.
    photos = [await upload(mesh, a.token, a.user_id, make_jpeg(32, 24)) for a in authors]

    async def started() -> bool:
        return any(i.photo_id == photos[0].photo_id for i in await feed_items(mesh, first_served.user_id))

    await eventually(started, timeout=30, interval=0.005, explain=lambda: mesh.log_tail("feed"))
    mesh.stop("feed", signal.SIGKILL)
    written = [rows_for(mesh, p.photo_id) for p in photos]
    print(f"fan-out rows written when SIGKILLed: {written} of {FOLLOWERS} each")
    assert written[0] >= 1 and sum(written) < AUTHORS * FOLLOWERS

    mesh.start_service("feed")
    await mesh.wait_serving("feed")
    restarted = time.monotonic()

    async def all_delivered() -> bool:
        return all(rows_for(mesh, p.photo_id) == FOLLOWERS for p in photos)

    await eventually(all_delivered, timeout=90, explain=lambda: mesh.log_tail("feed"))
    recovery = time.monotonic() - restarted
    print(f"every post in every feed {recovery:.1f} s after the restarted feed was SERVING")
    assert recovery < RECOVERY_SECONDS, recovery
    expected = sorted((p.photo_id for p in photos), reverse=True)
    for follower in followers:
        assert [i.photo_id for i in await feed_items(mesh, follower.user_id)] == expected, follower.user_id
    for photo in photos:
        assert rows_for(mesh, photo.photo_id) == FOLLOWERS


async def _rows_are(mesh: Mesh, photo_id: int, count: int) -> bool:
    return rows_for(mesh, photo_id) == count


async def _follower_and_author(mesh: Mesh) -> tuple[SignedUp, SignedUp]:
    author, follower = await sign_up_many(mesh, 2, "outage")
    await follower.follow(mesh, author)
    return author, follower


async def _has_once(mesh: Mesh, reader: SignedUp, photo_id: int) -> bool:
    return [i.photo_id for i in await feed_items(mesh, reader.user_id)].count(photo_id) == 1


async def test_post_made_while_follow_is_down_arrives_once_it_is_back(crash_mesh: Mesh) -> None:
    mesh = crash_mesh
    author, follower = await _follower_and_author(mesh)
    mesh.stop("follow")
    try:
        photo = await upload(mesh, author.token, author.user_id, make_jpeg(32, 24))
        await asyncio.sleep(1)  # the fan-out fails (follow unreachable) and is retried later
        assert not await _has_once(mesh, follower, photo.photo_id)
    finally:
        mesh.start_service("follow")
        await mesh.wait_serving("follow")
    await eventually(
        lambda: _has_once(mesh, follower, photo.photo_id), timeout=30, explain=lambda: mesh.log_tail("feed")
    )


async def test_post_made_while_nats_is_down_arrives_once_it_is_back(crash_mesh: Mesh) -> None:
    mesh = crash_mesh
    author, follower = await _follower_and_author(mesh)
    mesh.stop_nats()
    try:
        # The photo service's outbox holds the event until NATS is back.
        photo = await upload(mesh, author.token, author.user_id, make_jpeg(32, 24))
    finally:
        mesh.start_nats()
    await eventually(
        lambda: _has_once(mesh, follower, photo.photo_id), timeout=60, explain=lambda: mesh.log_tail("feed")
    )
