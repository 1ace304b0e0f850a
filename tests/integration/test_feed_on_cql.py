"""The real feed service on SHUTTER_STORE=cql, fed by the real user and follow services on CQL.

A mesh of its own (nats-server + user + follow + feed) with its own keyspaces. The photo service is not
in it: PhotoPosted is published straight onto JetStream, as the photo service's outbox relay would.
The feed rows are checked in Cassandra itself, so a feed silently falling back to SQLite fails.
"""

from __future__ import annotations

from cassandra.cluster import Session

from services.runtime.ids import IdGenerator
from services.runtime.requests import now_timestamp
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from tests.support.cql_mesh import cql_mesh_fixture
from tests.support.feeds import feed_has, feed_lacks, feed_photo_ids
from tests.support.mesh import Mesh
from tests.support.social import publish_event
from tests.support.users import sign_up_many
from tests.support.waiting import eventually

ids = IdGenerator(4091)
cql_mesh = cql_mesh_fixture(services=("user", "follow", "feed"))


async def publish_photo_posted(mesh: Mesh, author_id: int) -> int:
    """What the photo service emits after an upload; returns the photo id."""
    photo_id = ids.next_id()
    event = events_pb2.PhotoPosted(
        meta=events_pb2.EventMeta(event_id=ids.next_id(), occurred_at=now_timestamp(), source="photo"),
        photo_id=photo_id,
        user_id=author_id,
        created_at=now_timestamp(),
    )
    await publish_event(mesh, event)
    return photo_id


async def test_post_reaches_a_follower_and_leaves_on_unfollow_on_cql(cql_mesh: Mesh, cql_session: Session) -> None:
    author, follower, stranger = await sign_up_many(cql_mesh, 3, "feedcql")
    await follower.follow(cql_mesh, author)

    photo_id = await publish_photo_posted(cql_mesh, author.user_id)
    await eventually(lambda: feed_has(cql_mesh, follower, photo_id), explain=lambda: cql_mesh.log_tail("feed"))
    assert await feed_photo_ids(cql_mesh, stranger.user_id) == []

    # The entry and its index row are in the feed service's own keyspace, and no SQLite database was made.
    row = cql_session.execute(
        f"SELECT author_id FROM {cql_mesh.keyspace('feed')}.feeds WHERE user_id = %s AND photo_id = %s",
        (follower.user_id, photo_id),
    ).one()
    assert row is not None and row.author_id == author.user_id
    reached = cql_session.execute(
        f"SELECT user_id FROM {cql_mesh.keyspace('feed')}.feed_by_photo WHERE photo_id = %s", (photo_id,)
    )
    assert [r.user_id for r in reached] == [follower.user_id]
    assert not list(cql_mesh.workdir.glob("data/**/*.db"))

    await follow_pb2_grpc.FollowServiceStub(cql_mesh.channel("follow")).Unfollow(
        follow_pb2.UnfollowRequest(follower_id=follower.user_id, followee_id=author.user_id),
        metadata=follower.metadata,
        timeout=10,
    )
    await eventually(lambda: feed_lacks(cql_mesh, follower, photo_id), explain=lambda: cql_mesh.log_tail("feed"))

    # Following again backfills the author's recent post from the CQL author_posts table.
    await follower.follow(cql_mesh, author)
    await eventually(lambda: feed_has(cql_mesh, follower, photo_id), explain=lambda: cql_mesh.log_tail("feed"))
