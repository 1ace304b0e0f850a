"""ViewService handlers against in-process fakes: concurrency, deadline carving, degradation, batching."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from services.runtime import callctx
from services.runtime.channels import PeerStub, caller_token
from services.runtime.errors import NotFound, Unavailable
from services.view.service import ViewService
from shutter.comment.v1 import comment_pb2
from shutter.like.v1 import like_pb2
from shutter.photo.v1 import photo_pb2
from shutter.view.v1 import view_pb2

VIEWER = 7


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name.lower())


class Fake:
    """A stub whose methods answer from `answers` (a value, an exception, or a callable), recording each call."""

    def __init__(self, barrier: asyncio.Barrier | None = None, **answers: Any) -> None:
        self.calls: list[tuple[str, Any, float]] = []
        self._answers = answers
        self._barrier = barrier

    def __getattr__(self, method: str) -> Any:
        answer = self._answers[method]

        async def call(request: Any, timeout: float, metadata: Any = None) -> Any:
            self.calls.append((method, request, timeout))
            if self._barrier is not None:
                await self._barrier.wait()
            if isinstance(answer, BaseException):
                raise answer
            return answer(request) if callable(answer) else answer

        return call


def photo_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "GetPhoto": lambda r: photo_pb2.GetPhotoResponse(photo=photo_pb2.Photo(photo_id=r.photo_id, user_id=1)),
        "ListUserPhotos": lambda r: photo_pb2.ListUserPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=r.user_id) for i in range(100, 100 + r.page_size)],
            next_page_token="next",
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


def like_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "GetLikeSummary": lambda r: like_pb2.GetLikeSummaryResponse(
            summary=like_pb2.LikeSummary(photo_id=r.photo_id, like_count=3, viewer_has_liked=True)
        ),
        "BatchGetLikeSummaries": lambda r: like_pb2.BatchGetLikeSummariesResponse(
            summaries=[like_pb2.LikeSummary(photo_id=p, like_count=p % 5) for p in r.photo_ids]
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


def comment_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "BatchGetCommentCounts": lambda r: comment_pb2.BatchGetCommentCountsResponse(
            counts=[comment_pb2.CommentCount(photo_id=p, comment_count=p % 3) for p in r.photo_ids]
        ),
        "ListComments": lambda r: comment_pb2.ListCommentsResponse(
            comments=[comment_pb2.Comment(comment_id=1, photo_id=r.photo_id, text="hi")],
            next_page_token="more",
            total_size=21,
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


def service(photos: Fake, likes: Fake, comments: Fake) -> ViewService:
    """The view over the fakes, each behind the runtime's peer stub (as the caller), as build() makes them."""
    return ViewService(
        PeerStub("photo", photos, caller_token),  # type: ignore[arg-type]
        PeerStub("like", likes, caller_token),  # type: ignore[arg-type]
        PeerStub("comment", comments, caller_token),  # type: ignore[arg-type]
        default_deadline=2.0,
        part_budget=0.5,
        comments_page_size=20,
    )


@pytest.fixture(autouse=True)
def as_viewer() -> None:
    callctx.bind(callctx.Principal(token="t", user_id=VIEWER), "req", time_remaining=3.0)


async def view(svc: ViewService, photo_id: int = 42) -> view_pb2.PhotoView:
    reply = await svc.ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=VIEWER), None)  # type: ignore[arg-type]
    return reply.view


async def test_the_three_downstream_calls_are_in_flight_together() -> None:
    """Each fake waits until all three calls have started: a sequential view would never finish."""
    barrier = asyncio.Barrier(3)
    svc = service(photo_fake(barrier), like_fake(barrier), comment_fake(barrier))
    result = await asyncio.wait_for(view(svc), timeout=5)
    assert (result.photo.photo_id, result.like_count, result.viewer_has_liked) == (42, 3, True)
    assert (result.comment_count, [c.text for c in result.comments]) == (21, ["hi"])
    assert result.comments_next_page_token == "more"


async def test_timeouts_are_carved_from_the_callers_remaining_time() -> None:
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    await view(service(photos, likes, comments))
    ((_, _, photo_timeout),) = photos.calls
    assert 2.8 < photo_timeout < 3.0
    assert [timeout for _, _, timeout in likes.calls + comments.calls] == [0.5, 0.5]

    callctx.bind(callctx.Principal(token="t", user_id=VIEWER), "req", time_remaining=0.4)
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    await view(service(photos, likes, comments))
    assert photos.calls[0][2] < 0.4
    assert all(timeout <= 0.2 for _, _, timeout in likes.calls + comments.calls)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_failing_likes_or_comments_are_marked_not_raised(code: grpc.StatusCode) -> None:
    no_likes = await view(service(photo_fake(), like_fake(GetLikeSummary=rpc_error(code)), comment_fake()))
    assert list(no_likes.unavailable_parts) == [view_pb2.VIEW_PART_LIKES]
    assert no_likes.comments
    no_comments = await view(service(photo_fake(), like_fake(), comment_fake(ListComments=rpc_error(code))))
    assert list(no_comments.unavailable_parts) == [view_pb2.VIEW_PART_COMMENTS]
    assert (no_comments.comment_count, list(no_comments.comments), no_comments.like_count) == (0, [], 3)


@pytest.mark.parametrize(
    ("code", "raised"), [(grpc.StatusCode.NOT_FOUND, NotFound), (grpc.StatusCode.UNAVAILABLE, Unavailable)]
)
async def test_photo_failures_fail_the_view(code: grpc.StatusCode, raised: type[Exception]) -> None:
    with pytest.raises(raised):
        await view(service(photo_fake(GetPhoto=rpc_error(code)), like_fake(), comment_fake()))


async def test_user_page_makes_one_call_per_dependency_and_keeps_order() -> None:
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    reply = await service(photos, likes, comments).ViewUserPhotos(
        view_pb2.ViewUserPhotosRequest(user_id=5, viewer_id=VIEWER, page_size=30),
        None,  # type: ignore[arg-type]
    )
    assert [method for method, _, _ in photos.calls + likes.calls + comments.calls] == [
        "ListUserPhotos",
        "BatchGetLikeSummaries",
        "BatchGetCommentCounts",
    ]
    assert [(v.photo.photo_id, v.like_count, v.comment_count) for v in reply.views] == [
        (p, p % 5, p % 3) for p in range(100, 130)
    ]
    assert reply.next_page_token == "next"
