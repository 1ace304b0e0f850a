"""Replies (one level, like Instagram) and likes on comments, over real gRPC on the shared mesh."""

from __future__ import annotations

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.rich_status import field_violations
from tests.support.social import new_photo
from tests.support.users import SignedUp, sign_up_many


def stub(mesh: Mesh) -> comment_pb2_grpc.CommentServiceStub:
    return comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))


async def comment(mesh: Mesh, who: SignedUp, photo_id: int, text: str, reply_to: int = 0) -> comment_pb2.Comment:
    request = comment_pb2.PostCommentRequest(photo_id=photo_id, text=text, reply_to=reply_to)
    return (await stub(mesh).PostComment(request, metadata=who.metadata, timeout=10)).comment


async def test_a_reply_to_a_reply_joins_the_top_comments_thread(mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    top = await comment(mesh, ada, photo.photo_id, "lovely light")
    reply = await comment(mesh, bob, photo.photo_id, "agreed", reply_to=top.comment_id)
    deeper = await comment(mesh, ada, photo.photo_id, "thanks!", reply_to=reply.comment_id)

    assert (top.parent_id, reply.parent_id, deeper.parent_id) == (0, top.comment_id, top.comment_id)
    listed = await stub(mesh).ListComments(
        comment_pb2.ListCommentsRequest(photo_id=photo.photo_id), metadata=owner.metadata
    )
    assert [(c.comment_id, c.parent_id) for c in listed.comments] == [
        (top.comment_id, 0),
        (reply.comment_id, top.comment_id),
        (deeper.comment_id, top.comment_id),
    ]
    other_photo = await new_photo(mesh, owner)
    for reply_to in (top.comment_id + 12345, -1):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await comment(mesh, bob, photo.photo_id, "lost", reply_to=reply_to)
        assert list(field_violations(caught.value)) == ["reply_to"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:  # a comment of another photo is no thread here
        await comment(mesh, bob, other_photo.photo_id, "elsewhere", reply_to=top.comment_id)
    assert list(field_violations(caught.value)) == ["reply_to"]


async def test_comment_likes_count_each_person_once(mesh: Mesh) -> None:
    owner, ada, bob = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner)
    first = await comment(mesh, ada, photo.photo_id, "first")
    like = comment_pb2.LikeCommentRequest(photo_id=photo.photo_id, comment_id=first.comment_id)

    await stub(mesh).LikeComment(like, metadata=bob.metadata)
    again = await stub(mesh).LikeComment(like, metadata=bob.metadata)  # a retry counts once
    by_owner = await stub(mesh).LikeComment(like, metadata=owner.metadata)

    assert (again.likes.like_count, again.likes.viewer_has_liked) == (1, True)
    assert by_owner.likes.like_count == 2
    unliked = await stub(mesh).UnlikeComment(
        comment_pb2.UnlikeCommentRequest(photo_id=photo.photo_id, comment_id=first.comment_id), metadata=bob.metadata
    )
    assert (unliked.likes.like_count, unliked.likes.viewer_has_liked) == (1, False)
    batch = await stub(mesh).BatchGetCommentLikes(
        comment_pb2.BatchGetCommentLikesRequest(photo_id=photo.photo_id, comment_ids=[first.comment_id]),
        metadata=owner.metadata,
    )
    assert [(c.comment_id, c.like_count, c.viewer_has_liked) for c in batch.likes] == [(first.comment_id, 1, True)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub(mesh).LikeComment(
            comment_pb2.LikeCommentRequest(photo_id=photo.photo_id, comment_id=first.comment_id + 1),
            metadata=bob.metadata,
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
