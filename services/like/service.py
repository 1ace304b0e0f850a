"""LikeService handlers: validate, authorise, check the photo exists, call the store, emit events."""

from __future__ import annotations

import time

import grpc

from services.like.store import MAX_BATCH, STORAGE, LikerCursor, LikeStore, Summary
from services.photo.client import existing_photo, visible_photo_ids
from services.runtime import callctx
from services.runtime.callctx import UNSET_MEANS_CALLER, acting_as, viewer
from services.runtime.channels import CALLER, SERVICE
from services.runtime.errors import InvalidArgument, Violations
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.purges import purge_on_deletion
from services.runtime.requests import CursorField, PageTokens, page_size, require_id, timestamp_from_unix_ms
from services.runtime.server import Runtime
from services.runtime.stores import open_store
from services.runtime.visibility import Visibility, reading_user
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2_grpc


def _summary_message(summary: Summary) -> like_pb2.LikeSummary:
    return like_pb2.LikeSummary(
        photo_id=summary.photo_id, like_count=summary.like_count, viewer_has_liked=summary.viewer_has_liked
    )


def _pair_viewer(viewer_id: int, field: str) -> int:
    """Whose has-liked one pair of a batch asks. A service may name anyone: it answers for users it
    has authenticated itself (a view for its viewers), and who liked what is public anyway
    (ListLikers). A user may name only themselves, or leave it unset for themselves."""
    current = callctx.principal()
    if current is not None and current.user_id is None:
        return viewer_id
    return viewer(viewer_id, field)


def _photo_and_liker(photo_id: int, user_id: int) -> tuple[int, int]:
    """A positive photo id and the liker: the caller (user_id may be left unset for them, not set to another)."""
    violations = Violations()
    violations.check(photo_id > 0, "photo_id", "must be a positive id")
    violations.check(user_id >= 0, "user_id", UNSET_MEANS_CALLER)
    violations.raise_if_any()
    return photo_id, acting_as(user_id, "user_id")


class LikeService(like_pb2_grpc.LikeServiceServicer):
    def __init__(
        self,
        store: LikeStore,
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

    def _event(self, photo_id: int, user_id: int, liked: bool, owner_id: int = 0) -> events_pb2.LikeChanged:
        return events_pb2.LikeChanged(
            meta=new_meta(self._ids, self._source),
            photo_id=photo_id,
            user_id=user_id,
            liked=liked,
            photo_owner_id=owner_id,
        )

    async def _may_see(self, photo_id: int) -> bool:
        """Whether the calling user may see the photo (the photo service applies the visibility policy when
        asked as them); a service reading for its own viewers judges itself."""
        return reading_user() is None or photo_id in await visible_photo_ids(self._photos, [photo_id])

    async def _summary(self, photo_id: int, viewer_id: int) -> like_pb2.LikeSummary:
        return _summary_message((await self._store.summaries([(photo_id, viewer_id)]))[0])

    async def LikePhoto(
        self, request: like_pb2.LikePhotoRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.LikePhotoResponse:
        photo_id, user_id = _photo_and_liker(request.photo_id, request.user_id)
        photo = await existing_photo(self._photos, photo_id)
        event = self._event(photo_id, user_id, liked=True, owner_id=photo.user_id)
        created = await self._store.like(photo_id, user_id, int(time.time() * 1000), event)  # PhotoGone: NotFound
        summary = await self._summary(photo_id, user_id)
        return like_pb2.LikePhotoResponse(summary=summary, created=created)

    async def UnlikePhoto(
        self, request: like_pb2.UnlikePhotoRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.UnlikePhotoResponse:
        """No photo check: removing a like that is not there is a successful no-op, even for a deleted photo."""
        photo_id, user_id = _photo_and_liker(request.photo_id, request.user_id)
        removed = await self._store.unlike(photo_id, user_id, self._event(photo_id, user_id, liked=False))
        summary = await self._summary(photo_id, user_id)
        return like_pb2.UnlikePhotoResponse(summary=summary, removed=removed)

    async def GetLikeSummary(
        self, request: like_pb2.GetLikeSummaryRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.GetLikeSummaryResponse:
        photo_id = require_id(request.photo_id, "photo_id")
        viewer_id = viewer(request.viewer_id, "viewer_id")
        if not await self._may_see(photo_id):  # answered as for a photo that does not exist: nobody liked it
            return like_pb2.GetLikeSummaryResponse(summary=like_pb2.LikeSummary(photo_id=photo_id))
        return like_pb2.GetLikeSummaryResponse(summary=await self._summary(photo_id, viewer_id))

    async def BatchGetLikeSummaries(
        self, request: like_pb2.BatchGetLikeSummariesRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.BatchGetLikeSummariesResponse:
        photo_ids = list(request.photo_ids)
        if len(photo_ids) > MAX_BATCH:
            raise InvalidArgument("photo_ids", f"at most {MAX_BATCH} per call")
        if any(photo_id <= 0 for photo_id in photo_ids):
            raise InvalidArgument("photo_ids", "must all be positive ids")
        viewer_id = viewer(request.viewer_id, "viewer_id")
        summaries = await self._store.summaries([(photo_id, viewer_id) for photo_id in photo_ids])
        answers = [_summary_message(s) for s in summaries]
        if reading_user() is not None:
            # Photos the user may not see answer as photos nobody liked (as unknown ones always have).
            shown = await visible_photo_ids(self._photos, list(dict.fromkeys(photo_ids)))
            answers = [a if a.photo_id in shown else like_pb2.LikeSummary(photo_id=a.photo_id) for a in answers]
        return like_pb2.BatchGetLikeSummariesResponse(summaries=answers)

    async def BatchGetViewerLikeSummaries(
        self, request: like_pb2.BatchGetViewerLikeSummariesRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.BatchGetViewerLikeSummariesResponse:
        if len(request.requests) > MAX_BATCH:
            raise InvalidArgument("requests", f"at most {MAX_BATCH} per call")
        violations = Violations()
        for index, pair in enumerate(request.requests):
            violations.check(pair.photo_id > 0, f"requests[{index}].photo_id", "must be a positive id")
            violations.check(pair.viewer_id >= 0, f"requests[{index}].viewer_id", UNSET_MEANS_CALLER)
        violations.raise_if_any()
        pairs = [
            (pair.photo_id, _pair_viewer(pair.viewer_id, f"requests[{index}].viewer_id"))
            for index, pair in enumerate(request.requests)
        ]
        summaries = await self._store.summaries(pairs)
        return like_pb2.BatchGetViewerLikeSummariesResponse(summaries=[_summary_message(s) for s in summaries])

    async def ListLikers(
        self, request: like_pb2.ListLikersRequest, context: grpc.aio.ServicerContext
    ) -> like_pb2.ListLikersResponse:
        photo_id = require_id(request.photo_id, "photo_id")
        limit = page_size(request.page_size)
        position = self._pages.decode(request, {"p": CursorField.ID, "t": CursorField.COUNT, "u": CursorField.ID})
        if position is not None and position["p"] != photo_id:
            raise InvalidArgument("page_token", "belongs to another photo")
        reader = reading_user()
        if not await self._may_see(photo_id):  # answered as for a photo that does not exist: no likers
            return like_pb2.ListLikersResponse()
        after = LikerCursor(position["t"], position["u"]) if position else None
        likes = await self._store.likers(photo_id, limit + 1, after)
        page, more = likes[:limit], len(likes) > limit
        next_token = (
            self._pages.encode(request, {"p": photo_id, "t": page[-1].liked_at_ms, "u": page[-1].user_id})
            if more
            else ""
        )
        shown = await self._visibility.unblocked(reader, {like.user_id for like in page})  # blocked both ways: hidden
        return like_pb2.ListLikersResponse(
            likers=[
                like_pb2.Liker(user_id=like.user_id, liked_at=timestamp_from_unix_ms(like.liked_at_ms))
                for like in page
                if like.user_id in shown
            ],
            next_page_token=next_token,
        )


def build(runtime: Runtime) -> None:
    store: LikeStore = open_store(runtime, STORAGE)
    # As the caller: the photo must exist for them (and, once photos have visibility, be visible to them).
    photos = runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=CALLER)
    purge_on_deletion(runtime, "like-purge", store, "likes")
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    pages = PageTokens(runtime.settings.signing_secret())
    runtime.add_servicer(
        like_pb2_grpc.add_LikeServiceServicer_to_server,
        LikeService(store, photos, runtime.ids, runtime.name, pages, visibility),
        like_pb2.DESCRIPTOR.services_by_name["LikeService"],
    )
