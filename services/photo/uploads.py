"""Taking a photo in and letting it go, in the order that loses nothing.

Upload: metadata first → stream the bytes to a staging file (hash and size as they come) → decode
and render variants in a worker process → move the three blobs durably into the blob store → one
transaction writes the row and its PhotoPosted outbox event → acknowledge. Once the blobs start
moving, the rest runs to the end even if the client goes away (shielded), so a committed photo
never loses its blobs; a failure before the commit deletes the blobs it wrote, and a crash leaves
only unreferenced blobs, which the orphan sweep removes. A commit whose outcome is unknown (a CQL
batch that timed out may still be applied from the batchlog) keeps its blobs: the sweep deletes
them only once it is certain no row refers to them. Both that case and an idempotency key whose
earlier attempt has not committed yet answer UNAVAILABLE: retrying with the same key is safe.

Idempotency keys work as Stripe's and the IETF Idempotency-Key draft's do: the key is claimed with a
fingerprint of the request (every metadata field and the SHA-256 of the bytes). The same key with the
same request answers the original photo (created=false); with a different request, FAILED_PRECONDITION
naming metadata.idempotency_key, and nothing is written.

Delete: the blob store is told first (so the sweep can find the blobs if the process dies), then
one transaction removes the row and enqueues PhotoDeleted, then the blobs go (a crash in between
leaves orphans for the sweep, never a row without bytes).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from prometheus_client import Counter

from services.photo.blobs import BlobStore, blob_key
from services.photo.captions import Captions
from services.photo.imaging import ImageTooLarge, Rendered, RenderedVariant, UnsupportedImage
from services.photo.staging import StagedUpload, Staging
from services.photo.store import (
    BlobInfo,
    CommitOutcomeUnknown,
    ImageRecord,
    KeyReused,
    PhotoRecord,
    PhotoStore,
    same_request,
    single_image_photo,
)
from services.photo.validation import validate_metadata
from services.photo.workers import ImagePool
from services.runtime import callctx, limits
from services.runtime.config import DEFAULT_MAX_UPLOAD_BYTES
from services.runtime.errors import InvalidArgument, ResourceExhausted, storage_faults
from services.runtime.events import new_meta
from services.runtime.ids import IdGenerator
from services.runtime.limits import Limiter
from services.runtime.metrics import outcome_of
from services.runtime.requests import timestamp_from_unix_ms, timestamp_or_now
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2

log = logging.getLogger("shutter.photo.uploads")

UPLOADS = Counter(
    "shutter_photo_uploads",
    "Uploads by outcome: created, replayed (an idempotent retry), or the status that refused them.",
    ["outcome"],
)
UPLOAD_BYTES = Counter("shutter_photo_upload_bytes", "Bytes of the originals uploaded, by outcome.", ["outcome"])
VARIANTS = ("original", "display", "thumbnail")


class Uploader:
    def __init__(
        self,
        store: PhotoStore,
        blobs: BlobStore,
        staging: Staging,
        images: ImagePool,
        ids: IdGenerator,
        source: str,
        *,
        max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
        limiter: Limiter | None = None,
        captions: Captions | None = None,
    ) -> None:
        self._captions = captions or Captions(None)
        self._limiter = limiter
        self._store = store
        self._blobs = blobs
        self._staging = staging
        self._images = images
        self._ids = ids
        self._source = source
        self._max_bytes = max_bytes

    async def upload(self, requests: AsyncIterator[photo_pb2.UploadPhotoRequest]) -> tuple[PhotoRecord, bool]:
        """The stored photo and whether this call created it (False: an idempotent retry).

        A fault of our own storage anywhere on the way (staging, variants, blobs, the database) is the
        server's: RESOURCE_EXHAUSTED when out of space, UNAVAILABLE otherwise, never the image's fault.
        """
        try:
            with storage_faults("storing an upload"):
                photo, created = await self._upload(requests)
        except BaseException as exc:
            UPLOADS.labels(outcome_of(exc)).inc()
            raise
        outcome = "created" if created else "replayed"
        UPLOADS.labels(outcome).inc()
        UPLOAD_BYTES.labels(outcome).inc(photo.original.byte_size)
        return photo, created

    async def _upload(self, requests: AsyncIterator[photo_pb2.UploadPhotoRequest]) -> tuple[PhotoRecord, bool]:
        metadata = await _first_metadata(requests)
        validate_metadata(metadata)
        metadata.user_id = callctx.acting_as(metadata.user_id, "metadata.user_id")  # unset: the caller
        if metadata.idempotency_key:
            earlier = await self._store.by_idempotency_key(metadata.user_id, metadata.idempotency_key)
            if earlier is not None:
                fingerprint = request_fingerprint(metadata, await self.drain(requests))
                if not same_request(earlier.fingerprint, fingerprint):
                    raise KeyReused(earlier.photo.photo_id)
                return earlier.photo, False
        tags, mentioned = await self._captions.parse(metadata)
        async with self.receive_image(requests, metadata.user_id) as (staged, sha256, rendered):
            original = BlobInfo(rendered.content_type, staged.size, sha256)
            photo = self._describe(metadata, rendered, original, tags, mentioned)
            fingerprint = request_fingerprint(metadata, sha256)
            # From here on the photo is as good as stored: finish even if the client cancels.
            return await asyncio.shield(self._commit(photo, fingerprint, staged, rendered))

    @contextlib.asynccontextmanager
    async def receive_image(
        self, requests: AsyncIterator[Any], user_id: int
    ) -> AsyncIterator[tuple[StagedUpload, str, Rendered]]:
        """The rest of an upload stream (chunks only) staged, charged to the user's byte quota and rendered:
        the staged original, its hex SHA-256 and the variants. The staging files go when the block ends."""
        staged = self._staging.new(self._max_bytes)
        try:
            await staged.open()
            async for request in requests:
                if request.WhichOneof("payload") != "chunk":
                    raise InvalidArgument("metadata", "only the first message may carry metadata")
                await staged.append(request.chunk)
            sha256 = await staged.finish()
            if staged.size == 0:
                raise InvalidArgument("chunk", "the upload carried no image bytes")
            # The size is known only now: charged against the daily byte quota before anything is stored.
            await limits.charge(self._limiter, "upload_bytes", {limits.ACCOUNT: str(user_id)}, staged.size)
            yield staged, sha256, await self._render(staged)
        finally:
            await asyncio.shield(staged.discard())

    async def drain(self, requests: AsyncIterator[Any]) -> str:
        """Read a retry's bytes to the end (within the limit), returning their hex SHA-256.

        The hash tells a true retry from another request under the same key. Reading to the end also
        matters on its own: answering a client stream before the client has finished sending makes
        grpc.aio clients report INTERNAL instead of the answer (grpc/grpc#36066).
        """
        size = 0
        hasher = hashlib.sha256()
        async for request in requests:
            if request.WhichOneof("payload") != "chunk":
                raise InvalidArgument("metadata", "only the first message may carry metadata")
            size += len(request.chunk)
            if size > self._max_bytes:
                raise ResourceExhausted(f"photo is larger than the {self._max_bytes}-byte upload limit")
            hasher.update(request.chunk)
        return hasher.hexdigest()

    async def _render(self, staged: StagedUpload) -> Rendered:
        try:
            return await staged.guard(self._images.render(str(staged.original), str(staged.directory)))
        except UnsupportedImage as exc:
            raise InvalidArgument("chunk", f"{exc}; accepted: JPEG, PNG, WebP, GIF") from exc
        except ImageTooLarge as exc:
            raise InvalidArgument("chunk", str(exc)) from exc

    def _describe(
        self,
        metadata: photo_pb2.PhotoMetadata,
        rendered: Rendered,
        original: BlobInfo,
        tags: tuple[str, ...],
        mentioned: tuple[int, ...],
    ) -> PhotoRecord:
        """The row to commit, with a fresh time-ordered id; its one image has that id too."""
        photo_id = self._ids.next_id()
        image = image_record(photo_id, rendered, original, metadata.alt_text)
        return single_image_photo(
            photo_id,
            image,
            user_id=metadata.user_id,
            title=metadata.title,
            location=metadata.location,
            time_stamp_ms=timestamp_or_now(metadata.time_stamp, "metadata.time_stamp").ToMilliseconds(),
            tags=tags,
            created_at_ms=int(time.time() * 1000),
            idempotency_key=metadata.idempotency_key,
            images=(image,),
            caption=metadata.caption,
            mentioned_user_ids=mentioned,
        )

    async def _commit(
        self, photo: PhotoRecord, fingerprint: str, staged: StagedUpload, rendered: Rendered
    ) -> tuple[PhotoRecord, bool]:
        keys = [blob_key(photo.photo_id, variant) for variant in VARIANTS]
        try:
            await put_variants(self._blobs, photo.photo_id, staged, rendered)
            stored, created = await self._store.create(photo, posted_event(photo, self._ids, self._source), fingerprint)
        except CommitOutcomeUnknown:
            raise  # the photo may yet be committed: its blobs must stay (the sweep removes them if it is not)
        except BaseException:  # KeyInUse, KeyReused (a concurrent upload with another request won), anything
            await delete_quietly(self._blobs, keys)
            raise
        if not created:
            # A concurrent retry with the same key won the race: ours is a duplicate.
            await delete_quietly(self._blobs, keys)
        return stored, created


class Deleter:
    """Deletes a photo: row + PhotoDeleted in one transaction, then its blobs (announced to the blob
    store first, so a crash between the two leaves the blobs to the sweep)."""

    def __init__(self, store: PhotoStore, blobs: BlobStore, ids: IdGenerator, source: str) -> None:
        self._store = store
        self._blobs = blobs
        self._ids = ids
        self._source = source

    async def delete(self, photo: PhotoRecord) -> bool:
        """False when it was already gone (deletes are retried and raced)."""
        event = events_pb2.PhotoDeleted(
            meta=new_meta(self._ids, self._source), photo_id=photo.photo_id, user_id=photo.user_id
        )
        # Shielded as a whole: a caller that goes away mid-delete does not strand the blobs.
        with storage_faults("deleting a photo"):
            return await asyncio.shield(self._delete(photo, event))

    async def _delete(self, photo: PhotoRecord, event: events_pb2.PhotoDeleted) -> bool:
        keys = [blob_key(image.media_id, v) for image in photo.image_list() for v in VARIANTS]
        await self._blobs.expect_deletion(keys)
        deleted = await self._store.delete(photo.photo_id, event)
        await delete_quietly(self._blobs, keys)
        return deleted is not None


def request_fingerprint(metadata: photo_pb2.PhotoMetadata, content_sha256: str) -> str:
    """What makes two uploads the same request for an idempotency key: every metadata field as sent
    (an unset time_stamp stays unset, not "now") and the SHA-256 of the bytes."""
    fields = [
        "photo-upload-v1",
        metadata.user_id,
        metadata.title,
        metadata.location,
        [metadata.time_stamp.seconds, metadata.time_stamp.nanos],
        list(metadata.tags),
        content_sha256,
    ]
    if metadata.alt_text or metadata.caption:  # only when set: a request from before keeps its fingerprint
        fields.extend([metadata.alt_text, metadata.caption])
    return hashlib.sha256(json.dumps(fields, separators=(",", ":")).encode()).hexdigest()


def posted_event(photo: PhotoRecord, ids: IdGenerator, source: str) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(
        meta=new_meta(ids, source),
        photo_id=photo.photo_id,
        user_id=photo.user_id,
        title=photo.title,
        location=photo.location,
        tags=list(photo.tags),
        time_stamp=timestamp_from_unix_ms(photo.time_stamp_ms),
        created_at=timestamp_from_unix_ms(photo.created_at_ms),
        mentioned_user_ids=list(photo.mentioned_user_ids),
        caption=photo.caption,
    )


async def _first_metadata(requests: AsyncIterator[photo_pb2.UploadPhotoRequest]) -> photo_pb2.PhotoMetadata:
    async for request in requests:
        if request.WhichOneof("payload") != "metadata":
            break
        return request.metadata
    raise InvalidArgument("metadata", "the first message must carry the photo's metadata")


def _blob_info(variant: RenderedVariant) -> BlobInfo:
    return BlobInfo(variant.content_type, variant.byte_size, variant.sha256)


def image_record(media_id: int, rendered: Rendered, original: BlobInfo, alt_text: str) -> ImageRecord:
    return ImageRecord(
        media_id=media_id,
        width=rendered.width,
        height=rendered.height,
        original=original,
        display=_blob_info(rendered.display),
        thumbnail=_blob_info(rendered.thumbnail),
        alt_text=alt_text,
        blurhash=rendered.blurhash,
        dominant_color=rendered.dominant_color,
    )


async def put_variants(blobs: BlobStore, media_id: int, staged: StagedUpload, rendered: Rendered) -> list[str]:
    """Move the original and its variants durably into the blob store as `<media_id>.<variant>`."""
    sources = {
        "original": staged.original,
        "display": Path(rendered.display.path),
        "thumbnail": Path(rendered.thumbnail.path),
    }
    keys = [blob_key(media_id, variant) for variant in VARIANTS]
    await asyncio.gather(*(blobs.put(key, sources[v]) for key, v in zip(keys, VARIANTS, strict=True)))
    return keys


async def delete_quietly(blobs: BlobStore, keys: list[str]) -> None:
    """Best effort: a blob left behind is an orphan the sweep removes."""
    for key in keys:
        try:
            await blobs.delete(key)
        except Exception:
            log.exception("could not delete blob; the orphan sweep will", extra={"key": key})
