"""The real like and comment services on SHUTTER_STORE=cql, seen through the view service, over real gRPC.

A mesh of its own (nats-server + photo + like + comment + view), every one of them on CQL in keyspaces of its
own in the session's Cassandra. Rows are checked in Cassandra itself, so a service silently falling back to
SQLite fails the test. The mesh has no user service, so the users here have tokens but no accounts.
"""

from __future__ import annotations

import pytest
from cassandra.cluster import Session

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.cql_mesh import cql_mesh_fixture
from tests.support.mesh import Mesh
from tests.support.social import new_photo, publish_event, user_deleted
from tests.support.users import Identity, user_without_account
from tests.support.waiting import eventually

cql_mesh = cql_mesh_fixture(services=("photo", "like", "comment", "view", "follow"))


async def view(mesh: Mesh, photo_id: int, viewer: Identity) -> view_pb2.PhotoView:
    reply = await view_pb2_grpc.ViewServiceStub(mesh.channel("view")).ViewPhoto(
        view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=viewer.user_id), metadata=viewer.metadata, timeout=10
    )
    if reply.view.unavailable_parts:  # pytest.fail, not assert: fails at once, inside `eventually` too
        pytest.fail(f"a degraded view: {list(reply.view.unavailable_parts)}")
    return reply.view


async def test_like_comment_view_and_delete_on_cql(cql_mesh: Mesh, cql_session: Session) -> None:
    owner, fan, leaving = (user_without_account(cql_mesh) for _ in range(3))
    photo = await new_photo(cql_mesh, owner)
    photo_id = photo.photo_id
    likes = like_pb2_grpc.LikeServiceStub(cql_mesh.channel("like"))
    comments = comment_pb2_grpc.CommentServiceStub(cql_mesh.channel("comment"))
    as_fan, as_owner = fan.metadata, owner.metadata

    fan_likes = like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=fan.user_id)
    liked = await likes.LikePhoto(fan_likes, metadata=as_fan, timeout=10)
    assert liked.created and liked.summary.like_count == 1
    again = await likes.LikePhoto(fan_likes, metadata=as_fan, timeout=10)
    assert not again.created and again.summary.like_count == 1
    await likes.LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=leaving.user_id),
        metadata=leaving.metadata,
        timeout=10,
    )
    seen = await view(cql_mesh, photo_id, fan)
    assert (seen.like_count, seen.viewer_has_liked, seen.comment_count) == (2, True, 0)

    posted = await comments.PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo_id, user_id=fan.user_id, text="  lovely light\n"),
        metadata=as_fan,
        timeout=10,
    )
    await comments.PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo_id, user_id=leaving.user_id, text="bye"),
        metadata=leaving.metadata,
        timeout=10,
    )
    seen = await view(cql_mesh, photo_id, owner)
    assert (seen.like_count, seen.viewer_has_liked, seen.comment_count) == (2, False, 2)
    assert [c.text for c in seen.comments] == ["lovely light", "bye"]

    # The rows live in each service's own keyspace in Cassandra; neither service made a SQLite file.
    claim = cql_session.execute(
        f"SELECT like_id FROM {cql_mesh.keyspace('like')}.likes_by_photo WHERE photo_id = %s AND user_id = %s",
        (photo_id, fan.user_id),
    ).one()
    assert claim is not None
    stored = cql_session.execute(
        f"SELECT text FROM {cql_mesh.keyspace('comment')}.comments_by_photo WHERE photo_id = %s AND comment_id = %s",
        (photo_id, posted.comment.comment_id),
    ).one()
    assert stored.text == "lovely light"
    for service in ("like", "comment"):
        assert not list((cql_mesh.workdir / "data" / service).glob("**/*.db"))

    # The photo's owner deletes the fan's comment; the next view shows it gone.
    await comments.DeleteComment(
        comment_pb2.DeleteCommentRequest(photo_id=photo_id, comment_id=posted.comment.comment_id),
        metadata=as_owner,
        timeout=10,
    )
    seen = await view(cql_mesh, photo_id, owner)
    assert (seen.comment_count, [c.text for c in seen.comments]) == (1, ["bye"])

    # A deleted user's like and comment go (UserDeleted over JetStream into the CQL purges).
    await publish_event(cql_mesh, user_deleted(leaving.user_id))

    async def leaving_purged() -> view_pb2.PhotoView:
        seen = await view(cql_mesh, photo_id, fan)
        assert (seen.like_count, seen.comment_count) == (1, 0)
        return seen

    seen = await eventually(leaving_purged)
    assert (seen.like_count, seen.viewer_has_liked, seen.comment_count, list(seen.comments)) == (1, True, 0, [])

    # Deleting the photo: PhotoDeleted leaves the photo service's outbox and both CQL stores purge it.
    await photo_pb2_grpc.PhotoServiceStub(cql_mesh.channel("photo")).DeletePhoto(
        photo_pb2.DeletePhotoRequest(photo_id=photo_id), metadata=as_owner, timeout=10
    )

    def marked(service: str) -> bool:  # the runtime's tombstone (services.runtime.tombstones_cql)
        table = f"{cql_mesh.keyspace(service)}.deleted_ids"
        query = f"SELECT id FROM {table} WHERE kind = 'photo' AND id = %s"
        return cql_session.execute(query, (photo_id,)).one() is not None

    async def remaining() -> tuple[int, bool, int, bool, bool]:
        summary = await likes.GetLikeSummary(
            like_pb2.GetLikeSummaryRequest(photo_id=photo_id, viewer_id=fan.user_id), metadata=as_fan, timeout=10
        )
        counts = await comments.BatchGetCommentCounts(
            comment_pb2.BatchGetCommentCountsRequest(photo_ids=[photo_id]), metadata=as_fan, timeout=10
        )
        like_count, has_liked = summary.summary.like_count, summary.summary.viewer_has_liked
        return like_count, has_liked, counts.counts[0].comment_count, marked("like"), marked("comment")

    async def all_gone() -> None:
        assert await remaining() == (0, False, 0, True, True)

    await eventually(all_gone, explain=lambda: cql_mesh.log_tail("like"))
    left = cql_session.execute(
        f"SELECT photo_id FROM {cql_mesh.keyspace('like')}.likes_by_user WHERE user_id = %s", (fan.user_id,)
    )
    assert left.all() == []
