"""ViewService handlers against in-process fakes: concurrency, coalescing, deadline carving, degradation, cache."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import pytest

from services.runtime import callctx
from services.runtime.batching import BACKGROUND_DELAY_SECONDS
from services.runtime.channels import PeerStub, caller_token
from services.runtime.errors import DeadlineExceeded, NotFound, Unavailable
from services.runtime.fresh import REFRESH_AFTER_SHARE
from services.runtime.visibility import Visibility
from services.view.cache import ListingCache, PhotoCache
from services.view.service import ViewService
from shutter.comment.v1 import comment_pb2
from shutter.follow.v1 import follow_pb2
from shutter.like.v1 import like_pb2
from shutter.photo.v1 import photo_pb2
from shutter.view.v1 import view_pb2

VIEWER = 7


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details=code.name.lower())


class Call:
    def __init__(self, method: str, request: Any, timeout: float, metadata: Any) -> None:
        self.method, self.request, self.timeout, self.metadata = method, request, timeout, metadata
        # Who the call is made as: batches answer many users, so they carry none of them.
        self.principal = callctx.principal()


class Fake:
    """A stub whose methods answer from `answers` (a value, an exception, or a callable), recording each call."""

    def __init__(self, barrier: asyncio.Barrier | None = None, delay: float = 0.0, **answers: Any) -> None:
        self.calls: list[Call] = []
        self._answers = answers
        self._barrier = barrier
        self._delay = delay

    def __getattr__(self, method: str) -> Any:
        answer = self._answers[method]

        async def call(request: Any, timeout: float, metadata: Any = None) -> Any:
            self.calls.append(Call(method, request, timeout, metadata))
            if self._barrier is not None:
                await self._barrier.wait()
            await asyncio.sleep(self._delay)
            if isinstance(answer, BaseException):
                raise answer
            return answer(request) if callable(answer) else answer

        return call

    def methods(self) -> list[str]:
        return [call.method for call in self.calls]


def photo_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "BatchGetPhotos": lambda r: photo_pb2.BatchGetPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=1) for i in r.photo_ids if i < 1000]  # 1000+: unknown
        ),
        "ListUserPhotos": lambda r: photo_pb2.ListUserPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=r.user_id) for i in range(100, 100 + r.page_size)],
            next_page_token="next",
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


def like_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "BatchGetViewerLikeSummaries": lambda r: like_pb2.BatchGetViewerLikeSummariesResponse(
            summaries=[
                like_pb2.LikeSummary(
                    photo_id=q.photo_id, like_count=q.photo_id % 5, viewer_has_liked=q.viewer_id == VIEWER
                )
                for q in r.requests
            ]
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


def comment_fake(barrier: asyncio.Barrier | None = None, **overrides: Any) -> Fake:
    answers: dict[str, Any] = {
        "BatchGetCommentCounts": lambda r: comment_pb2.BatchGetCommentCountsResponse(
            counts=[comment_pb2.CommentCount(photo_id=p, comment_count=p % 3) for p in r.photo_ids]
        ),
        "BatchListComments": lambda r: comment_pb2.BatchListCommentsResponse(
            photos=[
                comment_pb2.PhotoComments(
                    photo_id=p,
                    comments=[comment_pb2.Comment(comment_id=1, photo_id=p, text="hi")],
                    next_page_token="more",
                    total_size=21,
                )
                for p in r.photo_ids
            ]
        ),
    }
    return Fake(barrier, **{**answers, **overrides})


SERVICE_TOKEN = "view-service-token"
# Authors whose photos VIEWER may not see (the follow fake says they blocked VIEWER).
BLOCKING_AUTHOR = 66


def follow_fake() -> Fake:
    return Fake(
        BatchGetRelationships=lambda r: follow_pb2.BatchGetRelationshipsResponse(
            relationships=[
                follow_pb2.Relationship(
                    viewer_id=p.viewer_id, author_id=p.author_id, blocked_by_author=p.author_id == BLOCKING_AUTHOR
                )
                for p in r.pairs
            ]
        )
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def service(
    photos: Fake,
    likes: Fake,
    comments: Fake,
    cache: PhotoCache | None = None,
    follow: Fake | None = None,
    listings: ListingCache | None = None,
) -> ViewService:
    """The view over the fakes, each behind the runtime's peer stub, as build() makes them: batches as the
    view service, the user page's listing as the caller."""

    def as_service() -> str:
        return SERVICE_TOKEN

    return ViewService(
        PeerStub("photo", photos, as_service),  # type: ignore[arg-type]
        PeerStub("like", likes, as_service),  # type: ignore[arg-type]
        PeerStub("comment", comments, as_service),  # type: ignore[arg-type]
        user_photos=PeerStub("photo", photos, caller_token),  # type: ignore[arg-type]
        cache=cache if cache is not None else PhotoCache(max_entries=100, max_age=0),
        listings=listings if listings is not None else ListingCache(max_entries=100, max_age=0),
        visibility=Visibility(None, PeerStub("follow", follow or follow_fake(), as_service)),  # type: ignore[arg-type]
        default_deadline=2.0,
        part_budget=0.5,
        comments_page_size=20,
    )


def as_user(user_id: int, time_remaining: float = 3.0, request_id: str = "req") -> None:
    callctx.bind(callctx.Principal(token=f"t{user_id}", user_id=user_id), request_id, time_remaining=time_remaining)


@pytest.fixture(autouse=True)
def as_viewer() -> None:
    as_user(VIEWER)


async def view(svc: ViewService, photo_id: int = 42, viewer: int = VIEWER) -> view_pb2.PhotoView:
    reply = await svc.ViewPhoto(view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=viewer), None)  # type: ignore[arg-type]
    return reply.view


async def test_the_three_downstream_calls_are_in_flight_together() -> None:
    """Each fake waits until all three calls have started: a sequential view would never finish."""
    barrier = asyncio.Barrier(3)
    svc = service(photo_fake(barrier), like_fake(barrier), comment_fake(barrier))
    result = await asyncio.wait_for(view(svc), timeout=5)
    assert (result.photo.photo_id, result.like_count, result.viewer_has_liked) == (42, 2, True)
    assert (result.comment_count, [c.text for c in result.comments]) == (21, ["hi"])
    assert result.comments_next_page_token == "more"


async def test_concurrent_views_share_one_batch_call_per_dependency() -> None:
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    svc = service(photos, likes, comments)

    async def one(photo_id: int, viewer: int) -> view_pb2.PhotoView:
        as_user(viewer, request_id=f"req-{viewer}")
        return await view(svc, photo_id, viewer)

    views = await asyncio.gather(one(42, VIEWER), one(43, 8), one(42, 9))

    assert [(v.photo.photo_id, v.like_count, v.viewer_has_liked) for v in views] == [
        (42, 2, True),
        (43, 3, False),
        (42, 2, False),  # has-liked is per (photo, viewer) pair, not per photo
    ]
    assert (photos.methods(), likes.methods(), comments.methods()) == (
        ["BatchGetPhotos"],
        ["BatchGetViewerLikeSummaries"],
        ["BatchListComments"],
    )
    assert list(photos.calls[0].request.photo_ids) == [42, 43]  # each photo once
    assert [(q.photo_id, q.viewer_id) for q in likes.calls[0].request.requests] == [(42, VIEWER), (43, 8), (42, 9)]
    for call in photos.calls + likes.calls + comments.calls:
        assert call.principal is None  # made as the view service: no one user's token answers for three
        assert call.metadata == (("x-request-id", f"req-{VIEWER}"), ("authorization", f"Bearer {SERVICE_TOKEN}"))


async def test_timeouts_are_carved_from_the_callers_remaining_time() -> None:
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    await view(service(photos, likes, comments))
    assert 2.8 < photos.calls[0].timeout < 3.0
    assert [call.timeout for call in likes.calls + comments.calls] == [pytest.approx(0.5, abs=0.01)] * 2

    as_user(VIEWER, time_remaining=0.4)
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    await view(service(photos, likes, comments))
    assert photos.calls[0].timeout < 0.4
    assert all(call.timeout <= 0.2 for call in likes.calls + comments.calls)


@pytest.mark.parametrize("code", [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED])
async def test_failing_likes_or_comments_are_marked_not_raised(code: grpc.StatusCode) -> None:
    no_likes = await view(service(photo_fake(), like_fake(BatchGetViewerLikeSummaries=rpc_error(code)), comment_fake()))
    assert list(no_likes.unavailable_parts) == [view_pb2.VIEW_PART_LIKES]
    assert no_likes.comments
    no_comments = await view(service(photo_fake(), like_fake(), comment_fake(BatchListComments=rpc_error(code))))
    assert list(no_comments.unavailable_parts) == [view_pb2.VIEW_PART_COMMENTS]
    assert (no_comments.comment_count, list(no_comments.comments), no_comments.like_count) == (0, [], 2)


async def test_a_part_slower_than_its_budget_is_marked_and_does_not_hold_the_view() -> None:
    as_user(VIEWER, time_remaining=0.4)  # parts get 0.2 s
    slow_likes = Fake(delay=2.0, **like_fake()._answers)
    result = await asyncio.wait_for(view(service(photo_fake(), slow_likes, comment_fake())), timeout=1.0)
    assert list(result.unavailable_parts) == [view_pb2.VIEW_PART_LIKES]


async def test_photo_failures_fail_the_view() -> None:
    with pytest.raises(NotFound):
        await view(service(photo_fake(), like_fake(), comment_fake()), photo_id=1001)  # not in the batch's answer
    with pytest.raises(Unavailable):
        await view(
            service(photo_fake(BatchGetPhotos=rpc_error(grpc.StatusCode.UNAVAILABLE)), like_fake(), comment_fake())
        )
    as_user(VIEWER, time_remaining=0.3)
    slow_photos = Fake(delay=2.0, **photo_fake()._answers)
    with pytest.raises(DeadlineExceeded):
        await view(service(slow_photos, like_fake(), comment_fake()))


async def test_cached_photos_skip_the_photo_call_until_they_expire_or_are_deleted() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=100, max_age=1.0, clock=clock)
    photos = photo_fake()
    svc = service(photos, like_fake(), comment_fake(), cache)

    await view(svc)
    await view(svc)
    assert len(photos.calls) == 1
    clock.now += 1.0  # max_age after the fetch was sent: expired
    await view(svc)
    assert len(photos.calls) == 2
    cache.invalidate(42)  # PhotoDeleted
    await view(svc)
    assert len(photos.calls) == 3


async def test_a_photo_in_steady_use_is_refreshed_before_it_expires_and_dropped_once_gone() -> None:
    clock = Clock()
    cache = PhotoCache(max_entries=100, max_age=1.0, clock=clock)
    deleted: set[int] = set()
    photos = photo_fake(
        BatchGetPhotos=lambda r: photo_pb2.BatchGetPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=1) for i in r.photo_ids if i not in deleted]
        )
    )
    svc = service(photos, like_fake(), comment_fake(), cache)

    await view(svc)
    clock.now += REFRESH_AFTER_SHARE
    await view(svc)  # answered from the cache; its refresh waits for a batch to ride along in, or the delay
    assert len(photos.calls) == 1
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS * 1.5)
    assert len(photos.calls) == 2
    clock.now += 0.6  # past the first fetch's max_age, within the refresh's
    assert (await view(svc)).photo.photo_id == 42
    assert len(photos.calls) == 2  # no view waited for the photo
    deleted.add(42)  # gone, and this process never saw the event
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS * 1.5)  # the refresh that view started finds it gone
    assert len(photos.calls) == 3
    with pytest.raises(NotFound):
        await view(svc)


async def test_user_page_makes_one_call_per_dependency_and_keeps_order() -> None:
    photos, likes, comments = photo_fake(), like_fake(), comment_fake()
    reply = await service(photos, likes, comments).ViewUserPhotos(
        view_pb2.ViewUserPhotosRequest(user_id=5, viewer_id=VIEWER, page_size=30),
        None,  # type: ignore[arg-type]
    )
    assert photos.methods() + likes.methods() + comments.methods() == [
        "ListUserPhotos",
        "BatchGetViewerLikeSummaries",
        "BatchGetCommentCounts",
    ]
    assert [(v.photo.photo_id, v.like_count, v.viewer_has_liked, v.comment_count) for v in reply.views] == [
        (p, p % 5, True, p % 3) for p in range(100, 130)
    ]
    assert reply.next_page_token == "next"
    assert photos.calls[0].metadata == (("authorization", f"Bearer t{VIEWER}"),)  # the listing is the caller's call


async def test_user_page_marks_each_photos_missing_parts() -> None:
    reply = await service(
        photo_fake(), like_fake(), comment_fake(BatchGetCommentCounts=rpc_error(grpc.StatusCode.UNAVAILABLE))
    ).ViewUserPhotos(
        view_pb2.ViewUserPhotosRequest(user_id=5, viewer_id=VIEWER, page_size=3),
        None,  # type: ignore[arg-type]
    )
    assert [list(v.unavailable_parts) for v in reply.views] == [[view_pb2.VIEW_PART_COMMENTS]] * 3
    assert [v.like_count for v in reply.views] == [0, 1, 2]


async def test_a_photo_the_viewer_may_not_see_is_not_found_like_a_missing_one() -> None:
    """The photo is read as the view service (for many viewers), so the view applies the policy itself."""
    photos = photo_fake(
        BatchGetPhotos=lambda r: photo_pb2.BatchGetPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=BLOCKING_AUTHOR) for i in r.photo_ids]
        )
    )
    follow = follow_fake()
    svc = service(photos, like_fake(), comment_fake(), follow=follow)
    with pytest.raises(NotFound, match="photo 42 not found"):
        await view(svc)
    assert follow.methods() == ["BatchGetRelationships"]
    assert follow.calls[0].principal is None  # asked as the service, for this viewer's pair
    assert [(p.viewer_id, p.author_id) for p in follow.calls[0].request.pairs] == [(VIEWER, BLOCKING_AUTHOR)]


async def test_the_viewers_own_photo_needs_no_relationship_lookup() -> None:
    photos = photo_fake(
        BatchGetPhotos=lambda r: photo_pb2.BatchGetPhotosResponse(
            photos=[photo_pb2.Photo(photo_id=i, user_id=VIEWER) for i in r.photo_ids]
        )
    )
    follow = follow_fake()
    result = await view(service(photos, like_fake(), comment_fake(), follow=follow))
    assert result.photo.user_id == VIEWER
    assert follow.calls == []


async def test_relationships_are_cached_so_repeated_views_make_no_further_lookups() -> None:
    follow = follow_fake()
    svc = service(photo_fake(), like_fake(), comment_fake(), follow=follow)
    await view(svc)  # the author's pair, then the commenters'
    asked = len(follow.calls)
    assert 1 <= asked <= 2
    for _ in range(5):
        await view(svc)
    assert len(follow.calls) == asked


async def page_of(svc: ViewService, owner: int, viewer: int) -> view_pb2.ViewUserPhotosResponse:
    as_user(viewer)
    request = view_pb2.ViewUserPhotosRequest(user_id=owner, viewer_id=viewer, page_size=3)
    return await svc.ViewUserPhotos(request, None)  # type: ignore[arg-type]


async def test_a_page_listed_for_one_viewer_answers_the_next_until_its_owner_posts() -> None:
    clock = Clock()
    listings = ListingCache(max_entries=100, max_age=1.0, clock=clock)
    photos = photo_fake()
    svc = service(photos, like_fake(), comment_fake(), listings=listings)
    first = await page_of(svc, owner=5, viewer=VIEWER)
    second = await page_of(svc, owner=5, viewer=8)
    assert [v.photo.photo_id for v in second.views] == [v.photo.photo_id for v in first.views] == [100, 101, 102]
    assert [v.viewer_has_liked for v in second.views] == [False] * 3  # likes are still the viewer's own
    assert photos.methods() == ["ListUserPhotos"]
    assert photos.calls[0].metadata == (("authorization", f"Bearer t{VIEWER}"),)  # listed as the first caller

    await page_of(svc, owner=5, viewer=5)  # the owner lists afresh, to see a post of theirs at once
    assert len(photos.calls) == 2
    listings.invalidate(5)  # PhotoPosted (or edited, deleted) by the owner
    await page_of(svc, owner=5, viewer=8)
    assert len(photos.calls) == 3
    clock.now += 1.0  # max_age after the listing was sent: expired
    await page_of(svc, owner=5, viewer=8)
    assert len(photos.calls) == 4


async def test_a_cached_page_is_refused_to_a_viewer_the_owner_blocked() -> None:
    listings = ListingCache(max_entries=100, max_age=1.0, clock=Clock())
    photos, follow = photo_fake(), follow_fake()
    svc = service(photos, like_fake(), comment_fake(), follow=follow, listings=listings)
    await page_of(svc, owner=BLOCKING_AUTHOR, viewer=5)  # listed for someone the owner did not block
    with pytest.raises(NotFound, match=f"user {BLOCKING_AUTHOR} not found"):
        await page_of(svc, owner=BLOCKING_AUTHOR, viewer=VIEWER)
    assert photos.methods() == ["ListUserPhotos"]
    assert [(p.viewer_id, p.author_id) for call in follow.calls for p in call.request.pairs] == [
        (VIEWER, BLOCKING_AUTHOR)
    ]
