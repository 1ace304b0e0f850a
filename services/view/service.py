"""ViewService: a photo with its likes and comments, gathered concurrently from Photo, Like and Comment.

Availability over consistency: the photo is essential (its failure is the view's failure), likes and
comments are not — each gets a shorter budget carved from the caller's deadline, and a part that does
not answer in time is listed in `unavailable_parts` instead of failing the view.

No cache, on purpose. A like or comment must show in the viewer's next view within 1 s. Counts and
has-liked are single-partition point reads in the Like and Comment stores (they scale out by photo_id),
so reading them fresh costs one cheap RPC each and is always read-your-writes. A cache invalidated by
LikeChanged/CommentChanged would be stale for as long as NATS or the outbox relay lags — unbounded
during a NATS outage — unless its TTL were kept under a second, and a sub-second TTL keyed per
viewer (has-liked is per viewer) would hit rarely. The place for a cache, if hot photos need one, is
a per-photo count cache inside Like/Comment themselves.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import grpc

from services.runtime import callctx
from services.runtime.channels import CALLER
from services.runtime.errors import InvalidArgument, ServiceError, Violations
from services.runtime.requests import page_size
from services.runtime.server import Runtime
from services.view.settings import ViewSettings
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc

log = logging.getLogger("shutter.view")

T = TypeVar("T")

# Left for building and sending the answer after the photo call.
RESPONSE_MARGIN_SECONDS = 0.05
# Likes and comments get at most this share of what the caller has left, so a slow one still leaves
# time for the photo.
PART_SHARE = 0.5
# Most photos per ViewUserPhotos page: the batch RPCs' cap.
MAX_USER_PAGE = 100


@dataclass(frozen=True)
class Budget:
    """Per-call timeouts carved from the caller's remaining time."""

    photo: float
    part: float


class ViewService(view_pb2_grpc.ViewServiceServicer):
    def __init__(
        self,
        photos: photo_pb2_grpc.PhotoServiceStub,
        likes: like_pb2_grpc.LikeServiceStub,
        comments: comment_pb2_grpc.CommentServiceStub,
        *,
        default_deadline: float,
        part_budget: float,
        comments_page_size: int,
    ) -> None:
        self._photos = photos
        self._likes = likes
        self._comments = comments
        self._default_deadline = default_deadline
        self._part_budget = part_budget
        self._comments_page_size = comments_page_size

    def _budget(self) -> Budget:
        remaining = callctx.time_remaining()
        total = self._default_deadline if remaining is None else remaining
        return Budget(
            photo=max(total - RESPONSE_MARGIN_SECONDS, 0.001),
            part=max(min(self._part_budget, total * PART_SHARE), 0.001),
        )

    # -- downstream calls -------------------------------------------------------------------------

    # A call the view cannot do without (the photo) is awaited as it is: the stub raises the peer's
    # NOT_FOUND or UNAVAILABLE as the ServiceError it stands for, and the view answers with it.

    async def _optional(self, call: Awaitable[T], part: str) -> T | None:
        """A call the view can do without: any failure (down, slow, broken) makes the part unavailable."""
        try:
            return await call
        except (ServiceError, grpc.aio.AioRpcError) as exc:
            code = exc.code if isinstance(exc, ServiceError) else exc.code()
            log.warning(
                "view part unavailable", extra={"part": part, "code": code.name, "request_id": callctx.request_id()}
            )
            return None

    async def _comments_part(self, photo_id: int, timeout: float) -> comment_pb2.ListCommentsResponse | None:
        """The first page and the total in one call (the view path is bound by gRPC calls per view)."""
        first_page = self._comments.ListComments(
            comment_pb2.ListCommentsRequest(
                photo_id=photo_id, page_size=self._comments_page_size, order=comment_pb2.COMMENT_ORDER_OLDEST_FIRST
            ),
            timeout=timeout,
        )
        return await self._optional(first_page, "comments")

    # -- RPCs -------------------------------------------------------------------------------------

    async def ViewPhoto(
        self, request: view_pb2.ViewPhotoRequest, context: grpc.aio.ServicerContext
    ) -> view_pb2.ViewPhotoResponse:
        violations = Violations()
        violations.check(request.photo_id > 0, "photo_id", "must be a positive id")
        violations.check(request.user_id >= 0, "user_id", callctx.UNSET_MEANS_CALLER)
        violations.raise_if_any()
        viewer_id = callctx.acting_as(request.user_id, "user_id")
        budget = self._budget()
        photo_id = request.photo_id
        try:
            async with asyncio.TaskGroup() as group:
                photo = group.create_task(
                    self._photos.GetPhoto(photo_pb2.GetPhotoRequest(photo_id=photo_id), timeout=budget.photo)
                )
                likes = group.create_task(
                    self._optional(
                        self._likes.GetLikeSummary(
                            like_pb2.GetLikeSummaryRequest(photo_id=photo_id, viewer_id=viewer_id),
                            timeout=budget.part,
                        ),
                        "likes",
                    )
                )
                comments = group.create_task(self._comments_part(photo_id, budget.part))
        except ExceptionGroup as failed:
            # Only the photo call raises; the group has already cancelled the other two.
            raise failed.exceptions[0] from None
        view = view_pb2.PhotoView(photo=photo.result().photo)
        _add_likes(view, likes.result().summary if likes.result() else None)
        first_page = comments.result()
        if first_page is None:
            view.unavailable_parts.append(view_pb2.VIEW_PART_COMMENTS)
        else:
            view.comment_count = first_page.total_size
            view.comments.extend(first_page.comments)
            view.comments_next_page_token = first_page.next_page_token
        return view_pb2.ViewPhotoResponse(view=view)

    async def ViewUserPhotos(
        self, request: view_pb2.ViewUserPhotosRequest, context: grpc.aio.ServicerContext
    ) -> view_pb2.ViewUserPhotosResponse:
        """One page: ListUserPhotos, then both batch calls at once — three calls whatever the page size."""
        violations = Violations()
        violations.check(request.user_id > 0, "user_id", "must be a positive id")
        violations.check(request.viewer_id >= 0, "viewer_id", callctx.UNSET_MEANS_CALLER)
        try:
            limit = page_size(request.page_size, maximum=MAX_USER_PAGE)
        except InvalidArgument as exc:
            violations.extend(exc.violations)
        violations.raise_if_any()
        viewer_id = callctx.acting_as(request.viewer_id, "viewer_id")
        listed = await self._photos.ListUserPhotos(
            photo_pb2.ListUserPhotosRequest(user_id=request.user_id, page_size=limit, page_token=request.page_token),
            timeout=self._budget().photo,
        )
        photo_ids = [photo.photo_id for photo in listed.photos]
        if not photo_ids:
            return view_pb2.ViewUserPhotosResponse(next_page_token=listed.next_page_token)
        part = self._budget().part
        summaries, counts = await asyncio.gather(
            self._optional(
                self._likes.BatchGetLikeSummaries(
                    like_pb2.BatchGetLikeSummariesRequest(photo_ids=photo_ids, viewer_id=viewer_id),
                    timeout=part,
                ),
                "likes",
            ),
            self._optional(
                self._comments.BatchGetCommentCounts(
                    comment_pb2.BatchGetCommentCountsRequest(photo_ids=photo_ids), timeout=part
                ),
                "comments",
            ),
        )
        views = []
        for index, photo in enumerate(listed.photos):
            view = view_pb2.PhotoView(photo=photo)
            _add_likes(view, summaries.summaries[index] if summaries else None)
            if counts is None:
                view.unavailable_parts.append(view_pb2.VIEW_PART_COMMENTS)
            else:
                view.comment_count = counts.counts[index].comment_count
            views.append(view)
        return view_pb2.ViewUserPhotosResponse(views=views, next_page_token=listed.next_page_token)


def _add_likes(view: view_pb2.PhotoView, summary: like_pb2.LikeSummary | None) -> None:
    if summary is None:
        view.unavailable_parts.append(view_pb2.VIEW_PART_LIKES)
    else:
        view.like_count = summary.like_count
        view.viewer_has_liked = summary.viewer_has_liked


def build(runtime: Runtime) -> None:
    settings = runtime.section(ViewSettings)
    # As the caller: a view shows what its viewer may see, and has-liked is the viewer's.
    service = ViewService(
        runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER),
        runtime.channels.stub("like", like_pb2_grpc.LikeServiceStub, as_=CALLER),
        runtime.channels.stub("comment", comment_pb2_grpc.CommentServiceStub, as_=CALLER),
        default_deadline=settings.deadline_seconds,
        part_budget=settings.part_budget_seconds,
        comments_page_size=settings.comments_page_size,
    )
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server, service, view_pb2.DESCRIPTOR.services_by_name["ViewService"]
    )
