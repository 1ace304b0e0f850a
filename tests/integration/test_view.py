"""ViewService over real gRPC against the real mesh: what a view gathers, batching, authz, deadlines."""

from __future__ import annotations

import uuid

import grpc
import pytest

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.rich_status import field_violations
from tests.support.social import new_photo, rpc_lines
from tests.support.users import Identity, sign_up, sign_up_many

# gRPC encodes a deadline as a grpc-timeout header rounded up to a coarse value (a 3 s timeout was
# seen arriving as 3,009 ms), so a received budget may exceed the sent one by a few milliseconds.
TIMEOUT_HEADER_SLACK_MS = 25


def views(mesh: Mesh) -> view_pb2_grpc.ViewServiceStub:
    return view_pb2_grpc.ViewServiceStub(mesh.channel("view"))


async def view_photo(
    mesh: Mesh, photo_id: int, viewer: Identity, user_id: int | None = None, **call: object
) -> view_pb2.PhotoView:
    """ViewPhoto as `viewer`, for themselves unless another `user_id` is given."""
    reply = await views(mesh).ViewPhoto(
        view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=viewer.user_id if user_id is None else user_id),
        metadata=call.pop("metadata", viewer.metadata),
        timeout=call.pop("timeout", 10),
    )
    return reply.view


async def like(mesh: Mesh, photo_id: int, fan: Identity) -> None:
    await like_pb2_grpc.LikeServiceStub(mesh.channel("like")).LikePhoto(
        like_pb2.LikePhotoRequest(photo_id=photo_id, user_id=fan.user_id), metadata=fan.metadata, timeout=10
    )


async def comment(mesh: Mesh, photo_id: int, author: Identity, text: str) -> None:
    await comment_pb2_grpc.CommentServiceStub(mesh.channel("comment")).PostComment(
        comment_pb2.PostCommentRequest(photo_id=photo_id, user_id=author.user_id, text=text),
        metadata=author.metadata,
        timeout=10,
    )


async def test_view_gathers_photo_likes_and_first_comment_page(mesh: Mesh) -> None:
    owner, viewer, other = await sign_up_many(mesh, 3)
    photo = await new_photo(mesh, owner, title="harbour")
    await like(mesh, photo.photo_id, viewer)
    await like(mesh, photo.photo_id, other)
    for index in range(25):
        await comment(mesh, photo.photo_id, other, f"c{index:02}")

    view = await view_photo(mesh, photo.photo_id, viewer)
    assert view.photo == photo
    assert (view.like_count, view.viewer_has_liked) == (2, True)
    assert view.comment_count == 25
    assert [c.text for c in view.comments] == [f"c{i:02}" for i in range(20)]
    assert view.comments_next_page_token
    assert list(view.unavailable_parts) == []
    assert (await view_photo(mesh, photo.photo_id, owner)).viewer_has_liked is False


async def test_a_like_or_comment_shows_in_the_very_next_view(mesh: Mesh) -> None:
    owner, viewer = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    before = await view_photo(mesh, photo.photo_id, viewer)
    assert (before.like_count, before.viewer_has_liked, before.comment_count) == (0, False, 0)
    await like(mesh, photo.photo_id, viewer)
    await comment(mesh, photo.photo_id, viewer, "mine")
    after = await view_photo(mesh, photo.photo_id, viewer)
    assert (after.like_count, after.viewer_has_liked, after.comment_count) == (1, True, 1)
    assert [c.text for c in after.comments] == ["mine"]


async def test_unknown_photo_is_not_found(mesh: Mesh) -> None:
    viewer = await sign_up(mesh, sign_in=False)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await view_photo(mesh, 777777777777, viewer)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


async def test_bad_input_and_viewing_as_someone_else(mesh: Mesh) -> None:
    viewer, victim = await sign_up_many(mesh, 2)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await view_photo(mesh, 0, viewer, user_id=-1)  # 0 would be the caller
    assert list(field_violations(caught.value)) == ["photo_id", "user_id"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await view_photo(mesh, 5, viewer, user_id=victim.user_id)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    token = viewer.metadata
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await views(mesh).ViewUserPhotos(
            view_pb2.ViewUserPhotosRequest(user_id=5, viewer_id=victim.user_id), metadata=token, timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await views(mesh).ViewUserPhotos(
            view_pb2.ViewUserPhotosRequest(user_id=0, viewer_id=viewer.user_id, page_size=-1),
            metadata=token,
            timeout=10,
        )
    assert list(field_violations(caught.value)) == ["user_id", "page_size"]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await view_photo(mesh, 5, viewer, metadata=())
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_user_photos_page_uses_a_constant_number_of_batched_calls(mesh: Mesh) -> None:
    owner, viewer = await sign_up_many(mesh, 2)
    photos = [await new_photo(mesh, owner, title=f"p{i}") for i in range(7)]
    for photo in photos[::2]:
        await like(mesh, photo.photo_id, viewer)
    for index, photo in enumerate(photos):
        for n in range(index):
            await comment(mesh, photo.photo_id, owner, f"n{n}")

    seen: list[view_pb2.PhotoView] = []
    page_token = ""
    request_ids = []
    while True:
        request_id = uuid.uuid4().hex
        request_ids.append(request_id)
        reply = await views(mesh).ViewUserPhotos(
            view_pb2.ViewUserPhotosRequest(
                user_id=owner.user_id, viewer_id=viewer.user_id, page_size=4, page_token=page_token
            ),
            metadata=(*viewer.metadata, ("x-request-id", request_id)),
            timeout=10,
        )
        seen.extend(reply.views)
        page_token = reply.next_page_token
        if not page_token:
            break

    newest_first = list(reversed(photos))
    assert [v.photo.photo_id for v in seen] == [p.photo_id for p in newest_first]
    for view in seen:
        index = photos.index(next(p for p in photos if p.photo_id == view.photo.photo_id))
        assert view.like_count == (1 if index % 2 == 0 else 0)
        assert view.viewer_has_liked == (index % 2 == 0)
        assert view.comment_count == index
        assert list(view.comments) == []
        assert list(view.unavailable_parts) == []
    # One listing and one batch call per dependency per page, whatever the page holds.
    assert len(request_ids) == 2
    for request_id in request_ids:
        assert [e["method"].rsplit("/", 1)[1] for e in rpc_lines(mesh, "photo", request_id)] == ["ListUserPhotos"]
        assert [e["method"].rsplit("/", 1)[1] for e in rpc_lines(mesh, "like", request_id)] == [
            "BatchGetViewerLikeSummaries"
        ]
        assert [e["method"].rsplit("/", 1)[1] for e in rpc_lines(mesh, "comment", request_id)] == [
            "BatchGetCommentCounts"
        ]


async def test_deadline_is_carved_from_the_callers_and_visible_downstream(mesh: Mesh) -> None:
    owner, viewer = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    request_id = uuid.uuid4().hex
    await view_photo(mesh, photo.photo_id, viewer, timeout=3, metadata=(*viewer.metadata, ("x-request-id", request_id)))
    (view_line,) = rpc_lines(mesh, "view", request_id)
    (photo_line,) = rpc_lines(mesh, "photo", request_id)
    (like_line,) = rpc_lines(mesh, "like", request_id)
    comment_lines = rpc_lines(mesh, "comment", request_id)
    # Three downstream calls per view (batch calls, shared with any concurrent views): the comment
    # total comes with the first page.
    assert [e["method"].rsplit("/", 1)[1] for e in comment_lines] == ["BatchListComments"]
    assert all(e["status"] == "OK" for e in [view_line, photo_line, like_line, *comment_lines])
    # The view saw the caller's 3 s; Photo got what was left of it; Like and Comment a shorter budget.
    assert 0 < view_line["deadline_ms"] <= 3000 + TIMEOUT_HEADER_SLACK_MS
    assert 0 < photo_line["deadline_ms"] < view_line["deadline_ms"]
    for downstream in (like_line, *comment_lines):
        assert 0 < downstream["deadline_ms"] <= 500 + TIMEOUT_HEADER_SLACK_MS < photo_line["deadline_ms"]


async def test_a_short_caller_deadline_shrinks_every_downstream_budget(mesh: Mesh) -> None:
    owner, viewer = await sign_up_many(mesh, 2)
    photo = await new_photo(mesh, owner)
    request_id = uuid.uuid4().hex
    await view_photo(
        mesh,
        photo.photo_id,
        viewer,
        timeout=0.6,
        metadata=(*viewer.metadata, ("x-request-id", request_id)),
    )
    (view_line,) = rpc_lines(mesh, "view", request_id)
    (like_line,) = rpc_lines(mesh, "like", request_id)
    assert view_line["deadline_ms"] <= 600 + TIMEOUT_HEADER_SLACK_MS
    # Half of what the view had left, not the fixed 500 ms part budget.
    assert like_line["deadline_ms"] <= 300 + TIMEOUT_HEADER_SLACK_MS
