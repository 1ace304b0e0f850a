"""Albums: media uploaded one by one, then a post made from them, and the expiry of media no post took.

UploadMedia goes the way a one-call upload does (stage, render, blobs durably in, then the row), but
its row is a medium (`<media_id>.<variant>` blobs) that no one else sees. CreatePost then makes the
post from media ids in one commit (the store takes every medium with the post, or refuses and writes
nothing), so a post is never visible with an image missing: every image's bytes were durable before
the post existed. Media no post took within `media_expiry_seconds` are deleted by MediaExpiry, the way
a delete goes (announced to the blob store, row, then blobs), so a crash leaves only orphans for the
orphan sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator

from prometheus_client import Counter

from services.photo.blobs import BlobStore, blob_key
from services.photo.captions import Captions
from services.photo.store import (
    BlobInfo,
    CommitOutcomeUnknown,
    ImageRecord,
    KeyReused,
    MediaNotFound,
    MediaRecord,
    PhotoRecord,
    PhotoStore,
    same_request,
    single_image_photo,
)
from services.photo.uploads import VARIANTS, Uploader, delete_quietly, image_record, posted_event, put_variants
from services.photo.validation import validate_media_metadata, validate_post
from services.runtime import callctx
from services.runtime.errors import InvalidArgument, storage_faults
from services.runtime.ids import IdGenerator
from services.runtime.requests import timestamp_or_now
from shutter.photo.v1 import photo_pb2

log = logging.getLogger("shutter.photo.media")

MEDIA_EXPIRED = Counter("shutter_photo_media_expired", "Uploaded media deleted because no post took them in time.")
# Expired media judged per store call.
_EXPIRY_BATCH = 100


class MediaUploader:
    """UploadMedia: one image, stored and kept for a post to take."""

    def __init__(self, store: PhotoStore, blobs: BlobStore, uploader: Uploader, ids: IdGenerator) -> None:
        self._store = store
        self._blobs = blobs
        self._uploader = uploader
        self._ids = ids

    async def upload(self, requests: AsyncIterator[photo_pb2.UploadMediaRequest]) -> tuple[MediaRecord, bool]:
        with storage_faults("storing an upload"):
            return await self._upload(requests)

    async def _upload(self, requests: AsyncIterator[photo_pb2.UploadMediaRequest]) -> tuple[MediaRecord, bool]:
        metadata = await _first_metadata(requests)
        validate_media_metadata(metadata)
        user_id = callctx.acting_user_id()
        if metadata.idempotency_key:
            earlier = await self._store.media_by_idempotency_key(user_id, metadata.idempotency_key)
            if earlier is not None:
                fingerprint = media_fingerprint(metadata, await self._uploader.drain(requests))
                if not same_request(earlier.fingerprint, fingerprint):
                    raise KeyReused(earlier.media.media_id)
                return earlier.media, False
        async with self._uploader.receive_image(requests, user_id) as (staged, sha256, rendered):
            media_id = self._ids.next_id()
            original = BlobInfo(rendered.content_type, staged.size, sha256)
            media = MediaRecord(
                image=image_record(media_id, rendered, original, metadata.alt_text),
                user_id=user_id,
                created_at_ms=int(time.time() * 1000),
                idempotency_key=metadata.idempotency_key,
            )
            # As for a photo: once the blobs start moving, finish even if the client goes away.
            return await asyncio.shield(self._commit(media, media_fingerprint(metadata, sha256), staged, rendered))

    async def _commit(self, media: MediaRecord, fingerprint: str, staged, rendered) -> tuple[MediaRecord, bool]:  # type: ignore[no-untyped-def]
        keys = [blob_key(media.media_id, variant) for variant in VARIANTS]
        try:
            await put_variants(self._blobs, media.media_id, staged, rendered)
            stored, created = await self._store.create_media(media, fingerprint)
        except CommitOutcomeUnknown:
            raise  # the row may yet land: the blobs stay (the expiry or orphan sweep removes them)
        except BaseException:
            await delete_quietly(self._blobs, keys)
            raise
        if not created:
            await delete_quietly(self._blobs, keys)
        return stored, created


class PostCreator:
    """CreatePost: a post from the caller's uploaded media, taken all together or not at all."""

    def __init__(self, store: PhotoStore, ids: IdGenerator, source: str, captions: Captions) -> None:
        self._captions = captions
        self._store = store
        self._ids = ids
        self._source = source

    async def create(self, request: photo_pb2.CreatePostRequest) -> tuple[PhotoRecord, bool]:
        validate_post(request)
        metadata = request.metadata
        metadata.user_id = callctx.acting_as(metadata.user_id, "metadata.user_id")
        fingerprint = post_fingerprint(request)
        if metadata.idempotency_key:
            earlier = await self._store.by_idempotency_key(metadata.user_id, metadata.idempotency_key)
            if earlier is not None:
                if not same_request(earlier.fingerprint, fingerprint):
                    raise KeyReused(earlier.photo.photo_id)
                return earlier.photo, False
        tags, mentioned = await self._captions.parse(metadata)
        media = await self._store.get_media([image.media_id for image in request.images])
        images: list[ImageRecord] = []
        for index, wanted in enumerate(request.images):
            found = media.get(wanted.media_id)
            if found is None or found.user_id != metadata.user_id:
                raise MediaNotFound(index)  # the store checks again as it commits (MediaTaken too)
            alt_text = wanted.alt_text or found.image.alt_text
            images.append(dataclasses.replace(found.image, alt_text=alt_text))
        photo = single_image_photo(
            self._ids.next_id(),
            images[0],
            user_id=metadata.user_id,
            title=metadata.title,
            location=metadata.location,
            time_stamp_ms=timestamp_or_now(metadata.time_stamp, "metadata.time_stamp").ToMilliseconds(),
            tags=tags,
            created_at_ms=int(time.time() * 1000),
            idempotency_key=metadata.idempotency_key,
            images=tuple(images),
            caption=metadata.caption,
            mentioned_user_ids=mentioned,
        )
        with storage_faults("storing a post"):
            return await asyncio.shield(
                self._store.create(photo, posted_event(photo, self._ids, self._source), fingerprint)
            )


class MediaExpiry:
    """Deletes media no post took within `max_age_seconds`, every `interval_seconds`."""

    def __init__(self, store: PhotoStore, blobs: BlobStore, max_age_seconds: float, interval_seconds: float) -> None:
        self._store = store
        self._blobs = blobs
        self._max_age_ms = int(max_age_seconds * 1000)
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._every_interval())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _every_interval(self) -> None:
        while True:
            try:
                await self.sweep()
            except Exception:  # the next round retries: expired media stay listed until deleted
                log.exception("media expiry sweep failed")
            await asyncio.sleep(self._interval)

    async def sweep(self) -> int:
        """Delete every expired medium; returns how many."""
        deleted = 0
        while True:
            expired = await self._store.expired_media(int(time.time() * 1000) - self._max_age_ms, _EXPIRY_BATCH)
            for media in expired:
                keys = [blob_key(media.media_id, variant) for variant in VARIANTS]
                await self._blobs.expect_deletion(keys)
                if await self._store.delete_media(media):  # False: a post took it meanwhile
                    await delete_quietly(self._blobs, keys)
                    deleted += 1
            if len(expired) < _EXPIRY_BATCH:
                break
        if deleted:
            MEDIA_EXPIRED.inc(deleted)
            log.info("expired media deleted", extra={"count": deleted})
        return deleted


def media_fingerprint(metadata: photo_pb2.MediaMetadata, content_sha256: str) -> str:
    """What makes two media uploads the same request for an idempotency key."""
    fields = ["media-upload-v1", metadata.alt_text, content_sha256]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def post_fingerprint(request: photo_pb2.CreatePostRequest) -> str:
    """What makes two CreatePost calls the same request: every metadata field and every image as sent."""
    metadata = request.metadata
    fields = [
        "post-create-v1",
        metadata.user_id,
        metadata.title,
        metadata.location,
        [metadata.time_stamp.seconds, metadata.time_stamp.nanos],
        list(metadata.tags),
        [[image.media_id, image.alt_text] for image in request.images],
        metadata.caption,
    ]
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


async def _first_metadata(requests: AsyncIterator[photo_pb2.UploadMediaRequest]) -> photo_pb2.MediaMetadata:
    async for request in requests:
        if request.WhichOneof("payload") != "metadata":
            break
        return request.metadata
    raise InvalidArgument("metadata", "the first message must carry the medium's metadata")
