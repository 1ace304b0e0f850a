"""The real feed service on SHUTTER_STORE=cql, fed by the real user and follow services on CQL.

A mesh of its own (nats-server + user + follow + feed) with its own keyspaces. The photo service is not
in it: PhotoPosted is published straight onto JetStream, as the photo service's outbox relay would.
The feed rows are checked in Cassandra itself, so a feed silently falling back to SQLite fails.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from cassandra.cluster import Session

from services.runtime.events import SUBJECTS, message_id
from services.runtime.ids import IdGenerator
from services.runtime.requests import now_timestamp
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from tests.support.cassandra import CassandraNode, cql_env
from tests.support.feeds import feed_photo_ids, wait_until
from tests.support.mesh import Mesh
from tests.support.users import sign_up_many

ids = IdGenerator(4091)


@pytest.fixture(scope="module")
def keyspace_prefix() -> str:
    return f"feedcql{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
async def cql_mesh(
    tmp_path_factory: pytest.TempPathFactory, cassandra: CassandraNode, keyspace_prefix: str
) -> AsyncIterator[Mesh]:
    workdir = Path(tmp_path_factory.mktemp("feedcql"))
    async with Mesh(
        workdir, services=("user", "follow", "feed"), extra_env=cql_env(cassandra, keyspace_prefix)
    ) as running:
        yield running


async def publish_photo_posted(mesh: Mesh, author_id: int) -> int:
    """What the photo service emits after an upload; returns the photo id."""
    photo_id = ids.next_id()
    event = events_pb2.PhotoPosted(
        meta=events_pb2.EventMeta(event_id=ids.next_id(), occurred_at=now_timestamp(), source="photo"),
        photo_id=photo_id,
        user_id=author_id,
        created_at=now_timestamp(),
    )
    connection = await nats.connect(mesh.settings.nats_url)
    try:
        await connection.jetstream().publish(
            SUBJECTS[events_pb2.PhotoPosted], event.SerializeToString(), headers={"Nats-Msg-Id": message_id(event)}
        )
    finally:
        await connection.close()
    return photo_id


async def test_post_reaches_a_follower_and_leaves_on_unfollow_on_cql(
    cql_mesh: Mesh, cql_session: Session, keyspace_prefix: str
) -> None:
    author, follower, stranger = await sign_up_many(cql_mesh, 3, "feedcql")
    await follower.follow(cql_mesh, author)

    photo_id = await publish_photo_posted(cql_mesh, author.user_id)
    assert await wait_until(lambda: has_photo(cql_mesh, follower.user_id, photo_id)), cql_mesh.log_tail("feed")
    assert await feed_photo_ids(cql_mesh, stranger.user_id) == []

    # The entry and its index row are in the feed service's own keyspace, and no SQLite database was made.
    row = cql_session.execute(
        f"SELECT author_id FROM {keyspace_prefix}_feed.feeds WHERE user_id = %s AND photo_id = %s",
        (follower.user_id, photo_id),
    ).one()
    assert row is not None and row.author_id == author.user_id
    reached = cql_session.execute(
        f"SELECT user_id FROM {keyspace_prefix}_feed.feed_by_photo WHERE photo_id = %s", (photo_id,)
    )
    assert [r.user_id for r in reached] == [follower.user_id]
    assert not list(cql_mesh.workdir.glob("data/**/*.db"))

    await follow_pb2_grpc.FollowServiceStub(cql_mesh.channel("follow")).Unfollow(
        follow_pb2.UnfollowRequest(follower_id=follower.user_id, followee_id=author.user_id),
        metadata=follower.metadata,
        timeout=10,
    )
    assert await wait_until(lambda: lacks_photo(cql_mesh, follower.user_id, photo_id)), cql_mesh.log_tail("feed")

    # Following again backfills the author's recent post from the CQL author_posts table.
    await follower.follow(cql_mesh, author)
    assert await wait_until(lambda: has_photo(cql_mesh, follower.user_id, photo_id)), cql_mesh.log_tail("feed")


async def has_photo(mesh: Mesh, user_id: int, photo_id: int) -> bool:
    return photo_id in await feed_photo_ids(mesh, user_id)


async def lacks_photo(mesh: Mesh, user_id: int, photo_id: int) -> bool:
    return photo_id not in await feed_photo_ids(mesh, user_id)
