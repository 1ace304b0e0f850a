"""The real user and follow services on SHUTTER_STORE=cql, over real gRPC, against the session's Cassandra.

A mesh of its own (nats-server + user + follow) with its own keyspaces; the data is checked in
Cassandra itself, so a service silently falling back to SQLite fails the test.
"""

from __future__ import annotations

from cassandra.cluster import Session

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc
from tests.support.cql_mesh import cql_mesh_fixture
from tests.support.mesh import Mesh
from tests.support.users import sign_up
from tests.support.waiting import eventually

cql_mesh = cql_mesh_fixture(services=("user", "follow"))


async def test_sign_up_sign_in_follow_and_list_on_cql(cql_mesh: Mesh, cql_session: Session) -> None:
    alice = await sign_up(cql_mesh, display_name="Alice")  # CreateUser + Authenticate: a token the service issued
    bob = await sign_up(cql_mesh, display_name="Bob")
    users = user_pb2_grpc.UserServiceStub(cql_mesh.channel("user"))
    follows = follow_pb2_grpc.FollowServiceStub(cql_mesh.channel("follow"))

    by_name = await users.GetUserByUsername(
        user_pb2.GetUserByUsernameRequest(username=bob.username.upper()), metadata=alice.metadata, timeout=10
    )
    assert by_name.user == bob.user
    followed = await alice.follow(cql_mesh, bob)
    assert followed.created and followed.follow.followee_id == bob.user_id
    assert not (await alice.follow(cql_mesh, bob)).created

    listed = await follows.ListFollowers(
        follow_pb2.ListFollowersRequest(user_id=bob.user_id, page_size=10), metadata=alice.metadata, timeout=10
    )
    assert [f.follower_id for f in listed.follows] == [alice.user_id]
    counts = await follows.GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=bob.user_id), metadata=bob.metadata, timeout=10
    )
    assert (counts.follower_count, counts.followee_count) == (1, 0)

    # The rows are in Cassandra, in each service's own keyspace, and no SQLite database was made.
    user_row = cql_session.execute(
        f"SELECT username FROM {cql_mesh.keyspace('user')}.users WHERE user_id = %s", (alice.user_id,)
    ).one()
    assert user_row.username == alice.username
    edge = cql_session.execute(
        f"SELECT follow_id FROM {cql_mesh.keyspace('follow')}.follows WHERE follower_id = %s AND followee_id = %s",
        (alice.user_id, bob.user_id),
    ).one()
    assert edge is not None
    assert not list(cql_mesh.workdir.glob("data/**/*.db"))

    # Deleting bob: UserDeleted leaves the user service's CQL outbox, crosses JetStream, and the follow
    # service purges the edge from its CQL tables.
    await users.DeleteUser(user_pb2.DeleteUserRequest(user_id=bob.user_id), metadata=bob.metadata, timeout=10)

    async def edge_purged() -> None:
        reply = await follows.ListFollowees(
            follow_pb2.ListFolloweesRequest(user_id=alice.user_id, page_size=10), metadata=alice.metadata, timeout=10
        )
        assert not reply.follows

    await eventually(edge_purged, explain=lambda: cql_mesh.log_tail("follow"))
    counts = await follows.GetFollowCounts(
        follow_pb2.GetFollowCountsRequest(user_id=alice.user_id), metadata=alice.metadata, timeout=10
    )
    assert (counts.follower_count, counts.followee_count) == (0, 0)
