"""CommentService handlers: validate, authorise, check the photo, call the store, emit events."""

from __future__ import annotations

import asyncio
import time

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from services.comment.store import MAX_BATCH, STORAGE, Comment, CommentLikes, CommentStore
from services.photo.client import existing_photo, visible_photo_ids
from services.runtime.callctx import UNSET_MEANS_CALLER, acting_as, acting_user_id
from services.runtime.channels import CALLER, SERVICE
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied, Violations
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.purges import purge_on_deletion
from services.runtime.requests import CursorField, PageTokens, page_size, require_id, timestamp_or_now
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Visibility, reading_user
from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2_grpc
from shutter.photo.v1 import photo_pb2_grpc

MAX_TEXT_CHARS = 2200

# Page tokens of the batch continue ListComments, so they are issued for that listing.
_LISTING = comment_pb2.ListCommentsRequest()

_ORDERS = {
    comment_pb2.COMMENT_ORDER_UNSPECIFIED: comment_pb2.COMMENT_ORDER_OLDEST_FIRST,
    comment_pb2.COMMENT_ORDER_OLDEST_FIRST: comment_pb2.COMMENT_ORDER_OLDEST_FIRST,
    comment_pb2.COMMENT_ORDER_NEWEST_FIRST: comment_pb2.COMMENT_ORDER_NEWEST_FIRST,
}


def _timestamp(micros: int) -> Timestamp:
    stamp = Timestamp()
    stamp.FromMicroseconds(micros)
    return stamp


def comment_message(comment: Comment) -> comment_pb2.Comment:
    return comment_pb2.Comment(
        comment_id=comment.comment_id,
        photo_id=comment.photo_id,
        user_id=comment.user_id,
        text=comment.text,
        time_stamp=_timestamp(comment.time_stamp_us),
        created_at=_timestamp(comment.created_at_us),
        parent_id=comment.parent_id,
    )


def _likes_message(likes: CommentLikes) -> comment_pb2.CommentLikes:
    return comment_pb2.CommentLikes(
        comment_id=likes.comment_id, like_count=likes.like_count, viewer_has_liked=likes.viewer_has_liked
    )


def clean_text(text: str) -> str:
    """The text trimmed: 1–2,200 characters, multi-line, under the runtime's text rule (INVALID_ARGUMENT on text)."""
    trimmed = text.strip()
    violations = Violations()
    violations.check(bool(trimmed), "text", "must not be empty")
    violations.check_text("text", trimmed, MAX_TEXT_CHARS, multiline=True)
    violations.raise_if_any()
    return trimmed


class CommentService(comment_pb2_grpc.CommentServiceServicer):
    def __init__(
        self,
        store: CommentStore,
        photos: photo_pb2_grpc.PhotoServiceStub,
        ids: IdGenerator,
        source: str,
        pages: PageTokens,
        visibility: Visibility,
    ) -> None:
        self._store = store
        self._visibility = visibility
        self._pages = pages
        self._photos = photos
        self._ids = ids
        self._source = source

    def _event(
        self, comment: Comment, change: events_pb2.CommentChange, owner_id: int = 0
    ) -> events_pb2.CommentChanged:
        return events_pb2.CommentChanged(
            meta=new_meta(self._ids, self._source),
            photo_id=comment.photo_id,
            comment_id=comment.comment_id,
            user_id=comment.user_id,
            change=change,
            photo_owner_id=owner_id,
        )

    async def PostComment(
        self, request: comment_pb2.PostCommentRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.PostCommentResponse:
        violations = Violations()
        violations.check(request.photo_id > 0, "photo_id", "must be a positive id")
        violations.check(request.user_id >= 0, "user_id", UNSET_MEANS_CALLER)
        text = ""
        try:
            text = clean_text(request.text)
        except InvalidArgument as exc:
            violations.extend(exc.violations)
        try:
            time_stamp = timestamp_or_now(request.time_stamp, "time_stamp")
        except InvalidArgument as exc:
            violations.extend(exc.violations)
        violations.raise_if_any()
        user_id = acting_as(request.user_id, "user_id")
        photo = await existing_photo(self._photos, request.photo_id)
        parent_id = await self._thread_of(request.photo_id, request.reply_to)
        comment = Comment(
            parent_id=parent_id,
            comment_id=self._ids.next_id(),
            photo_id=request.photo_id,
            user_id=user_id,
            text=text,
            time_stamp_us=time_stamp.ToMicroseconds(),
            created_at_us=time.time_ns() // 1000,
        )
        created = self._event(comment, events_pb2.COMMENT_CHANGE_CREATED, owner_id=photo.user_id)
        await self._store.post(comment, created)  # PhotoGone: NotFound
        return comment_pb2.PostCommentResponse(comment=comment_message(comment))

    async def _thread_of(self, photo_id: int, reply_to: int) -> int:
        """The top comment a reply joins (a reply to a reply joins its top comment); 0 for no reply. A comment
        not on this photo is INVALID_ARGUMENT naming reply_to: the request names something it cannot mean."""
        if reply_to == 0:
            return 0
        target = await self._store.get(photo_id, reply_to) if reply_to > 0 else None
        if target is None:
            raise InvalidArgument("reply_to", "is not a comment of this photo")
        return target.parent_id or target.comment_id

    async def LikeComment(
        self, request: comment_pb2.LikeCommentRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.LikeCommentResponse:
        return comment_pb2.LikeCommentResponse(likes=await self._like(request, liked=True))

    async def UnlikeComment(
        self, request: comment_pb2.UnlikeCommentRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.UnlikeCommentResponse:
        return comment_pb2.UnlikeCommentResponse(likes=await self._like(request, liked=False))

    async def _like(
        self, request: comment_pb2.LikeCommentRequest | comment_pb2.UnlikeCommentRequest, *, liked: bool
    ) -> comment_pb2.CommentLikes:
        photo_id = require_id(request.photo_id, "photo_id")
        comment_id = require_id(request.comment_id, "comment_id")
        await existing_photo(self._photos, photo_id)  # as for a comment: the photo must be there for the caller
        likes = await self._store.like_comment(photo_id, comment_id, acting_user_id(), liked)
        if likes is None:
            raise NotFound(f"comment {comment_id} of photo {photo_id} not found")
        return _likes_message(likes)

    async def BatchGetCommentLikes(
        self, request: comment_pb2.BatchGetCommentLikesRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.BatchGetCommentLikesResponse:
        photo_id = require_id(request.photo_id, "photo_id")
        if len(request.comment_ids) > MAX_BATCH:
            raise InvalidArgument("comment_ids", f"at most {MAX_BATCH} ids per call")
        for index, comment_id in enumerate(request.comment_ids):
            require_id(comment_id, f"comment_ids[{index}]")
        if reading_user() is not None and photo_id not in await self._shown_photos([photo_id]):
            return comment_pb2.BatchGetCommentLikesResponse()  # as for a photo that does not exist
        found = await self._store.comment_likes(photo_id, list(request.comment_ids), acting_user_id())
        return comment_pb2.BatchGetCommentLikesResponse(likes=[_likes_message(likes) for likes in found])

    async def ListComments(
        self, request: comment_pb2.ListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.ListCommentsResponse:
        photo_id = require_id(request.photo_id, "photo_id")
        limit = page_size(request.page_size)
        if request.order not in _ORDERS:
            raise InvalidArgument("order", "is not a known CommentOrder")
        order = _ORDERS[request.order]
        position = self._pages.decode(request, {"p": CursorField.ID, "o": CursorField.COUNT, "c": CursorField.ID})
        if position is not None and (position["p"] != photo_id or position["o"] != order):
            raise InvalidArgument("page_token", "belongs to another photo or order")
        after = position["c"] if position else None
        newest_first = order == comment_pb2.COMMENT_ORDER_NEWEST_FIRST
        comments, (total,) = await asyncio.gather(
            self._store.page(photo_id, limit + 1, after, newest_first), self._store.counts([photo_id])
        )
        page, next_token = self._page(photo_id, order, comments, limit)
        reader = reading_user()
        if reader is not None:
            if photo_id not in await self._shown_photos([photo_id]):  # as for a photo that does not exist
                return comment_pb2.ListCommentsResponse()
            shown = await self._visibility.unblocked(reader, {c.user_id for c in page})  # blocked both ways: hidden
            page = [c for c in page if c.user_id in shown]
        return comment_pb2.ListCommentsResponse(comments=page, next_page_token=next_token, total_size=total)

    def _page(
        self, photo_id: int, order: int, comments: list[Comment], limit: int
    ) -> tuple[list[comment_pb2.Comment], str]:
        """A page from up to `limit` + 1 comments, and the ListComments token for what follows it."""
        page, more = comments[:limit], len(comments) > limit
        position = {"p": photo_id, "o": order, "c": page[-1].comment_id} if more else None
        return [comment_message(c) for c in page], self._pages.encode(_LISTING, position) if position else ""

    async def BatchListComments(
        self, request: comment_pb2.BatchListCommentsRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.BatchListCommentsResponse:
        photo_ids = list(request.photo_ids)
        violations = Violations()
        if len(photo_ids) > MAX_BATCH:
            violations.check(False, "photo_ids", f"at most {MAX_BATCH} per call")
        else:
            violations.check(all(photo_id > 0 for photo_id in photo_ids), "photo_ids", "must all be positive ids")
        violations.check(request.order in _ORDERS, "order", "is not a known CommentOrder")
        limit = 0
        try:
            limit = page_size(request.page_size)
        except InvalidArgument as exc:
            violations.extend(exc.violations)
        violations.raise_if_any()
        order = _ORDERS[request.order]
        firsts = await self._store.first_pages(photo_ids, limit + 1, order == comment_pb2.COMMENT_ORDER_NEWEST_FIRST)
        shown = await self._shown_photos(photo_ids)
        photos = []
        for photo_id, first in zip(photo_ids, firsts, strict=True):
            if photo_id not in shown:  # a photo the user may not see answers as one with no comments
                photos.append(comment_pb2.PhotoComments(photo_id=photo_id))
                continue
            page, next_token = self._page(photo_id, order, first.comments, limit)
            photos.append(
                comment_pb2.PhotoComments(
                    photo_id=photo_id, comments=page, next_page_token=next_token, total_size=first.total
                )
            )
        return comment_pb2.BatchListCommentsResponse(photos=photos)

    async def DeleteComment(
        self, request: comment_pb2.DeleteCommentRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.DeleteCommentResponse:
        """Allowed to the comment's author and to the photo's owner; everyone else PERMISSION_DENIED."""
        violations = Violations()
        violations.check(request.photo_id > 0, "photo_id", "must be a positive id")
        violations.check(request.comment_id > 0, "comment_id", "must be a positive id")
        violations.raise_if_any()
        acting = acting_user_id()
        comment = await self._store.get(request.photo_id, request.comment_id)
        if comment is None:
            raise NotFound(f"comment {request.comment_id} not found on photo {request.photo_id}")
        if comment.user_id != acting:
            photo = await existing_photo(self._photos, request.photo_id)
            if photo.user_id != acting:
                raise PermissionDenied("only the comment's author or the photo's owner may delete it")
        if not await self._store.delete(
            request.photo_id, request.comment_id, self._event(comment, events_pb2.COMMENT_CHANGE_DELETED)
        ):
            raise NotFound(f"comment {request.comment_id} not found on photo {request.photo_id}")
        return comment_pb2.DeleteCommentResponse()

    async def BatchGetCommentCounts(
        self, request: comment_pb2.BatchGetCommentCountsRequest, context: grpc.aio.ServicerContext
    ) -> comment_pb2.BatchGetCommentCountsResponse:
        photo_ids = list(request.photo_ids)
        if len(photo_ids) > MAX_BATCH:
            raise InvalidArgument("photo_ids", f"at most {MAX_BATCH} per call")
        if any(photo_id <= 0 for photo_id in photo_ids):
            raise InvalidArgument("photo_ids", "must all be positive ids")
        counts = await self._store.counts(photo_ids)
        shown = await self._shown_photos(photo_ids)
        return comment_pb2.BatchGetCommentCountsResponse(
            counts=[
                comment_pb2.CommentCount(photo_id=p, comment_count=n if p in shown else 0)
                for p, n in zip(photo_ids, counts, strict=True)
            ]
        )

    async def _shown_photos(self, photo_ids: list[int]) -> set[int]:
        """All of them when a service reads (the view judges for its viewers); a user gets the ones they may see."""
        if reading_user() is None:
            return set(photo_ids)
        return await visible_photo_ids(self._photos, list(dict.fromkeys(photo_ids)))


def build(runtime: Runtime) -> None:
    store: CommentStore = open_store(runtime, STORAGE)
    # As the caller: the photo must exist for them (and, once photos have visibility, be visible to them).
    photos = runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)
    purge_on_deletion(runtime, "comment-purge", store, "comments")
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    pages = PageTokens(runtime.settings.signing_secret())
    runtime.add_servicer(
        comment_pb2_grpc.add_CommentServiceServicer_to_server,
        CommentService(store, photos, runtime.ids, runtime.name, pages, visibility),
        comment_pb2.DESCRIPTOR.services_by_name["CommentService"],
    )
