"""ViewService: a photo with its likes and comments, gathered concurrently from Photo, Like and Comment.

Availability over consistency: the photo is essential (its failure is the view's failure), likes and
comments are not — each gets a shorter budget carved from the caller's deadline, and a part that does
not answer in time is listed in `unavailable_parts` instead of failing the view.

Cost per view. The view path is bound by gRPC calls, so the reads that concurrent views make within
one event-loop turn, or while a batch of their kind is out, go out as one batch call per kind
(services.runtime.batching): BatchGetPhotos, BatchGetViewerLikeSummaries ((photo, viewer) pairs: one
call answers many viewers), BatchListComments (first pages) and BatchGetCommentCounts. A lone view
is still sent at once, one call to each; under load a view costs a fraction of each, and a busy loader
paces its batches (at most one per kind every 10 ms, `Pacing`) so that fraction keeps falling as load
rises. Batches answer many callers, so they are made as the view service itself; each caller was
authenticated here, and may only view as themselves (`acting_as`).

Photo metadata never changes but for deletion (and edits), so it is cached for at most a second
(services.view.cache), refreshed ahead while in use (a hot photo's views never wait for it), dropped at
once on PhotoDeleted; so are pages of a user's photos, shared by every viewer the policy lets see them
and dropped when their owner posts, edits or deletes (the owner's own pages are always listed afresh).
Likes and comments are never cached: a like or comment must show in the liker's next view
(read-your-writes) and in anyone's within a second, and counts and has-liked are point reads by photo_id
in Like and Comment, which scale out by it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TypeVar

import grpc

from services.runtime import callctx
from services.runtime.batching import NO_PACING, BatchLoader, Pacing, settle
from services.runtime.broadcast import Broadcast
from services.runtime.channels import CALLER, SERVICE
from services.runtime.config import BatchingSettings
from services.runtime.errors import DeadlineExceeded, InvalidArgument, NotFound, ServiceError, Violations
from services.runtime.requests import page_size
from services.runtime.server import Runtime
from services.runtime.visibility import Visibility
from services.view.cache import ListingCache, PhotoCache
from services.view.settings import ViewSettings
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2_grpc
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
# Most keys per batch call, and most photos per ViewUserPhotos page: the batch RPCs' cap.
MAX_BATCH = 100
MAX_USER_PAGE = MAX_BATCH
# Batch calls out at once per kind; what is asked for meanwhile waits and goes out as one batch. Without
# this views rarely share a batch (grpc.aio starts each RPC in its own loop turn).
MAX_IN_FLIGHT = 1

Metadata = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Budget:
    """Per-call timeouts carved from the caller's remaining time."""

    photo: float
    part: float


def _request_id(request_id: str | None) -> Metadata:
    """A batch carries its first caller's request id, so a lone view stays traceable end to end."""
    return (("x-request-id", request_id),) if request_id else ()


class ViewService(view_pb2_grpc.ViewServiceServicer):
    def __init__(
        self,
        photos: photo_pb2_grpc.PhotoServiceStub,
        likes: like_pb2_grpc.LikeServiceStub,
        comments: comment_pb2_grpc.CommentServiceStub,
        *,
        user_photos: photo_pb2_grpc.PhotoServiceStub,
        cache: PhotoCache,
        listings: ListingCache,
        visibility: Visibility,
        default_deadline: float,
        part_budget: float,
        comments_page_size: int,
        pacing: Pacing = NO_PACING,
    ) -> None:
        self._photos = photos
        self._user_photos = user_photos
        self._likes = likes
        self._comments = comments
        self._cache = cache
        self._listings = listings
        self._visibility = visibility
        self._default_deadline = default_deadline
        self._part_budget = part_budget
        self._comments_page_size = comments_page_size
        self._photo_loader: BatchLoader[int, photo_pb2.Photo] = BatchLoader(
            self._fetch_photos, MAX_BATCH, MAX_IN_FLIGHT, pacing
        )
        self._like_loader: BatchLoader[tuple[int, int], like_pb2.LikeSummary] = BatchLoader(
            self._fetch_like_summaries, MAX_BATCH, MAX_IN_FLIGHT, pacing
        )
        self._comment_loader: BatchLoader[int, comment_pb2.PhotoComments] = BatchLoader(
            self._fetch_first_comments, MAX_BATCH, MAX_IN_FLIGHT, pacing
        )
        self._count_loader: BatchLoader[int, int] = BatchLoader(
            self._fetch_comment_counts, MAX_BATCH, MAX_IN_FLIGHT, pacing
        )
        cache.refresh_with(self._refresh_photo)

    def _refresh_photo(self, photo_id: int) -> None:
        """A photo in steady use is fetched again before it expires (services.runtime.fresh), riding along in the
        next photo batch, so its views never wait for it."""
        self._photo_loader.load_in_background(photo_id, self._part_budget, lambda: self._cache.refreshed(photo_id))

    def _budget(self) -> Budget:
        remaining = callctx.time_remaining()
        total = self._default_deadline if remaining is None else remaining
        return Budget(
            photo=max(total - RESPONSE_MARGIN_SECONDS, 0.001),
            part=max(min(self._part_budget, total * PART_SHARE), 0.001),
        )

    # -- batch calls (run as the view service, see services.runtime.batching) ---------------------

    async def _fetch_photos(self, photo_ids: list[int], timeout: float, request_id: str | None) -> dict:
        sent_at = self._cache.now()
        reply = await self._photos.BatchGetPhotos(
            photo_pb2.BatchGetPhotosRequest(photo_ids=photo_ids), timeout=timeout, metadata=_request_id(request_id)
        )
        self._cache.put(reply.photos, sent_at)
        found = {photo.photo_id: photo for photo in reply.photos}
        for gone in set(photo_ids).difference(found):  # deleted (or never there): a refresh drops its entry
            self._cache.invalidate(gone)
        return found

    async def _fetch_like_summaries(self, pairs: list[tuple[int, int]], timeout: float, request_id: str | None) -> dict:
        requests = [like_pb2.GetLikeSummaryRequest(photo_id=photo_id, viewer_id=viewer) for photo_id, viewer in pairs]
        reply = await self._likes.BatchGetViewerLikeSummaries(
            like_pb2.BatchGetViewerLikeSummariesRequest(requests=requests),
            timeout=timeout,
            metadata=_request_id(request_id),
        )
        return dict(zip(pairs, reply.summaries, strict=True))

    async def _fetch_first_comments(self, photo_ids: list[int], timeout: float, request_id: str | None) -> dict:
        reply = await self._comments.BatchListComments(
            comment_pb2.BatchListCommentsRequest(
                photo_ids=photo_ids,
                page_size=self._comments_page_size,
                order=comment_pb2.COMMENT_ORDER_OLDEST_FIRST,
            ),
            timeout=timeout,
            metadata=_request_id(request_id),
        )
        return dict(zip(photo_ids, reply.photos, strict=True))

    async def _fetch_comment_counts(self, photo_ids: list[int], timeout: float, request_id: str | None) -> dict:
        reply = await self._comments.BatchGetCommentCounts(
            comment_pb2.BatchGetCommentCountsRequest(photo_ids=photo_ids),
            timeout=timeout,
            metadata=_request_id(request_id),
        )
        return {count.photo_id: count.comment_count for count in reply.counts}

    # -- what a view does with each answer -------------------------------------------------------

    async def _essential(self, pending: asyncio.Future[T | None], what: str) -> T:
        """An answer the view cannot do without: the stub raises a peer's NOT_FOUND or UNAVAILABLE as the
        ServiceError it stands for, and the view answers with it."""
        try:
            found = await pending
        except TimeoutError as exc:
            raise DeadlineExceeded(f"{what} did not answer in time") from exc
        if found is None:
            raise NotFound(f"{what} not found")
        return found

    async def _optional(self, pending: asyncio.Future[T | None], part: str) -> T | None:
        """An answer the view can do without (likes, comments; a page's likes, its counts): any failure (down,
        slow, broken) leaves it None and names the part unavailable."""
        try:
            return await pending
        except _PART_FAILURES as failure:
            _part_unavailable(part, failure)
            return None

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
        # All three asked for before any is awaited: they go out together, with other views' asks.
        cached = self._cache.get(photo_id)
        photo = None if cached is not None else self._photo_loader.submit(photo_id, budget.photo)
        likes = self._like_loader.submit((photo_id, viewer_id), budget.part)
        comments = self._comment_loader.submit(photo_id, budget.part)
        try:
            found = cached if photo is None else await self._essential(photo, f"photo {photo_id}")
            # The photo was read as this service: the policy is applied here, for this viewer (a cache hit
            # costs two dict lookups; likes and comments are in flight meanwhile).
            await self._visibility.require_content(viewer_id, found.user_id, f"photo {photo_id}")
            summary = await self._optional(likes, "likes")
            first_page = await self._optional(comments, "comments")
        finally:
            settle((photo, likes, comments))
        response = view_pb2.ViewPhotoResponse()  # built in place: a message given to a constructor is copied
        view = response.view
        view.photo.CopyFrom(found)
        _add_likes(view, summary)
        if first_page is None:
            view.unavailable_parts.append(view_pb2.VIEW_PART_COMMENTS)
        else:
            view.comment_count = first_page.total_size
            # Comments by users blocked either way with the viewer are left out (mostly cache hits).
            shown = await self._visibility.unblocked(viewer_id, {c.user_id for c in first_page.comments})
            view.comments.extend(c for c in first_page.comments if c.user_id in shown)
            view.comments_next_page_token = first_page.next_page_token
        return response

    async def ViewUserPhotos(
        self, request: view_pb2.ViewUserPhotosRequest, context: grpc.aio.ServicerContext
    ) -> view_pb2.ViewUserPhotosResponse:
        """One page: ListUserPhotos, then the page's likes and comment counts, batched with other views'."""
        violations = Violations()
        violations.check(request.user_id > 0, "user_id", "must be a positive id")
        violations.check(request.viewer_id >= 0, "viewer_id", callctx.UNSET_MEANS_CALLER)
        try:
            limit = page_size(request.page_size, maximum=MAX_USER_PAGE)
        except InvalidArgument as exc:
            violations.extend(exc.violations)
        violations.raise_if_any()
        viewer_id = callctx.acting_as(request.viewer_id, "viewer_id")
        owner = request.user_id
        key = (owner, request.page_token, limit)
        # The owner always lists afresh (their new post shows at once); anyone else may be answered from a page
        # listed for another viewer, once the policy says they may see the account (a cache hit, mostly).
        listed = None if viewer_id == owner else self._listings.get(key)
        if listed is None:
            sent_at, listing_sent_at = self._cache.now(), self._listings.now()
            listed = await self._user_photos.ListUserPhotos(
                photo_pb2.ListUserPhotosRequest(user_id=owner, page_size=limit, page_token=request.page_token),
                timeout=self._budget().photo,
            )
            self._cache.put(listed.photos, sent_at)
            self._listings.put(key, listed, listing_sent_at)
        else:
            await self._visibility.require_account(viewer_id, owner)
        photo_ids = [photo.photo_id for photo in listed.photos]
        part = self._budget().part
        # One ask per page, not per photo (a loader paces itself by how often it is asked), answered as one list.
        likes = self._like_loader.submit_group([(photo_id, viewer_id) for photo_id in photo_ids], part)
        counts = self._count_loader.submit_group(photo_ids, part)
        try:
            summaries = await self._optional(likes, "likes") or [None] * len(photo_ids)
            comment_counts = await self._optional(counts, "comments") or [None] * len(photo_ids)
        finally:
            settle((likes, counts))
        response = view_pb2.ViewUserPhotosResponse(next_page_token=listed.next_page_token)
        for photo, summary, count in zip(listed.photos, summaries, comment_counts, strict=True):
            view = response.views.add(photo=photo)
            _add_likes(view, summary)
            if count is None:
                view.unavailable_parts.append(view_pb2.VIEW_PART_COMMENTS)
            else:
                view.comment_count = count
        return response


# What leaves a part of a view out instead of failing it: a peer's error, or its budget running out.
_PART_FAILURES = (ServiceError, grpc.aio.AioRpcError, TimeoutError)


def _part_unavailable(part: str, failure: BaseException) -> None:
    if isinstance(failure, ServiceError):
        code = failure.code.name
    elif isinstance(failure, grpc.aio.AioRpcError):
        code = failure.code().name
    else:
        code = "DEADLINE_EXCEEDED"
    log.warning("view part unavailable", extra={"part": part, "code": code, "request_id": callctx.request_id()})


def _add_likes(view: view_pb2.PhotoView, summary: like_pb2.LikeSummary | None) -> None:
    if summary is None:
        view.unavailable_parts.append(view_pb2.VIEW_PART_LIKES)
    else:
        view.like_count = summary.like_count
        view.viewer_has_liked = summary.viewer_has_liked


def build(runtime: Runtime) -> None:
    settings = runtime.section(ViewSettings)
    cache = PhotoCache(max_entries=settings.photo_cache_entries, max_age=settings.photo_cache_seconds)
    listings = ListingCache(max_entries=settings.listing_cache_entries, max_age=settings.listing_cache_seconds)

    def photo_changed(event: events_pb2.PhotoDeleted | events_pb2.PhotoEdited) -> None:
        cache.invalidate(event.photo_id)
        listings.invalidate(event.user_id)

    # Every view replica drops a deleted or edited photo, and its owner's pages, at once (the caches' expiry is
    # the guarantee, this the fast path): the next view fetches its new words (feeds show photos through views).
    runtime.add_component(Broadcast(runtime.events(), events_pb2.PhotoDeleted, photo_changed))
    runtime.add_component(Broadcast(runtime.events(), events_pb2.PhotoEdited, photo_changed))
    # A new photo, or an account gone, changes its owner's pages.
    runtime.add_component(Broadcast(runtime.events(), events_pb2.PhotoPosted, lambda e: listings.invalidate(e.user_id)))
    runtime.add_component(Broadcast(runtime.events(), events_pb2.UserDeleted, lambda e: listings.invalidate(e.user_id)))
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    # Batches answer many viewers at once, so they are made as the view service (each viewer was checked
    # here: `acting_as`); a page of a user's photos is listed as the caller, who may see only what they may.
    service = ViewService(
        runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE),
        runtime.channels.stub("like", like_pb2_grpc.LikeServiceStub, as_=SERVICE),
        runtime.channels.stub("comment", comment_pb2_grpc.CommentServiceStub, as_=SERVICE),
        user_photos=runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER),
        cache=cache,
        listings=listings,
        visibility=visibility,
        default_deadline=settings.deadline_seconds,
        part_budget=settings.part_budget_seconds,
        comments_page_size=settings.comments_page_size,
        pacing=runtime.section(BatchingSettings).pacing,
    )
    runtime.add_servicer(
        view_pb2_grpc.add_ViewServiceServicer_to_server, service, view_pb2.DESCRIPTOR.services_by_name["ViewService"]
    )
