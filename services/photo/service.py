"""PhotoService handlers: validate, authorise, call the uploader or the store, map to protos.

Reads made by a user pass the visibility policy (services.runtime.visibility): a photo the caller may not
see is NOT_FOUND, as a missing one (GetPhoto, DownloadPhoto; left out of BatchGetPhotos), and an account
whose content they may not see cannot be listed. Reads made by a service (a view's batch, the indexer)
are not filtered here: that service judges for its own viewers.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import grpc

from services.photo.blobs import (
    BlobStore,
    FilesystemBlobStore,
    SignsDownloads,
    blob_key,
    check_stored,
    verified_chunks,
)
from services.photo.captions import Captions
from services.photo.edits import Editor
from services.photo.events import UserDeletedHandler
from services.photo.media import MediaExpiry, MediaUploader, PostCreator
from services.photo.settings import PhotoSettings, S3Settings
from services.photo.staging import Staging
from services.photo.store import STORAGE, ImageRecord, PhotoRecord, PhotoStore
from services.photo.sweeper import OrphanSweeper
from services.photo.uploads import Deleter, Uploader
from services.photo.validation import validate_photo_ids
from services.photo.workers import ImagePool
from services.runtime import callctx
from services.runtime.channels import SERVICE
from services.runtime.errors import InvalidArgument, NotFound, PermissionDenied, storage_faults
from services.runtime.requests import CursorField, PageTokens, page_size, require_id, timestamp_from_unix_ms
from services.runtime.server import Runtime
from services.runtime.stores import open_database
from services.runtime.visibility import Visibility, reading_user
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2_grpc

DOWNLOAD_CHUNK_BYTES = 64 * 1024
# A blob file this old, in a directory replicas share, belongs to no upload still on its way to committing.
SHARED_FILES_SETTLE_SECONDS = 600.0
_VARIANT_NAMES = {
    photo_pb2.PHOTO_VARIANT_ORIGINAL: "original",
    photo_pb2.PHOTO_VARIANT_DISPLAY: "display",
    photo_pb2.PHOTO_VARIANT_THUMBNAIL: "thumbnail",
}


def image_proto(image: ImageRecord) -> photo_pb2.Image:
    return photo_pb2.Image(
        media_id=image.media_id,
        width=image.width,
        height=image.height,
        byte_size=image.original.byte_size,
        sha256=image.original.sha256,
        content_type=image.original.content_type,
        alt_text=image.alt_text,
        blurhash=image.blurhash,
        dominant_color=image.dominant_color,
    )


def to_proto(photo: PhotoRecord) -> photo_pb2.Photo:
    return photo_pb2.Photo(
        photo_id=photo.photo_id,
        user_id=photo.user_id,
        title=photo.title,
        location=photo.location,
        time_stamp=timestamp_from_unix_ms(photo.time_stamp_ms),
        tags=list(photo.tags),
        created_at=timestamp_from_unix_ms(photo.created_at_ms),
        width=photo.width,
        height=photo.height,
        byte_size=photo.original.byte_size,
        sha256=photo.original.sha256,
        content_type=photo.original.content_type,
        images=[image_proto(image) for image in photo.image_list()],
        caption=photo.caption,
        mentioned_user_ids=list(photo.mentioned_user_ids),
        edited_at=timestamp_from_unix_ms(photo.edited_at_ms) if photo.edited_at_ms else None,
    )


class PhotoService(photo_pb2_grpc.PhotoServiceServicer):
    def __init__(
        self,
        store: PhotoStore,
        blobs: BlobStore,
        uploader: Uploader,
        deleter: Deleter,
        pages: PageTokens,
        visibility: Visibility,
        media: MediaUploader,
        posts: PostCreator,
        media_expiry_seconds: float,
        editor: Editor,
    ) -> None:
        self._editor = editor
        self._media = media
        self._posts = posts
        self._media_expiry_seconds = media_expiry_seconds
        self._store = store
        self._visibility = visibility
        self._pages = pages
        self._blobs = blobs
        self._uploader = uploader
        self._deleter = deleter

    async def UploadPhoto(
        self, request_iterator: AsyncIterator[photo_pb2.UploadPhotoRequest], context: grpc.aio.ServicerContext
    ) -> photo_pb2.UploadPhotoResponse:
        photo, created = await self._uploader.upload(request_iterator)
        return photo_pb2.UploadPhotoResponse(photo=to_proto(photo), created=created)

    async def UploadMedia(
        self, request_iterator: AsyncIterator[photo_pb2.UploadMediaRequest], context: grpc.aio.ServicerContext
    ) -> photo_pb2.UploadMediaResponse:
        media, created = await self._media.upload(request_iterator)
        reply = photo_pb2.UploadMediaResponse(media=image_proto(media.image), created=created)
        reply.expires_at.FromMilliseconds(media.created_at_ms + int(self._media_expiry_seconds * 1000))
        return reply

    async def CreatePost(
        self, request: photo_pb2.CreatePostRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.CreatePostResponse:
        photo, created = await self._posts.create(request)
        return photo_pb2.CreatePostResponse(photo=to_proto(photo), created=created)

    async def GetPhoto(
        self, request: photo_pb2.GetPhotoRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.GetPhotoResponse:
        return photo_pb2.GetPhotoResponse(photo=to_proto(await self._find_visible(request.photo_id)))

    async def BatchGetPhotos(
        self, request: photo_pb2.BatchGetPhotosRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.BatchGetPhotosResponse:
        photo_ids = validate_photo_ids(list(request.photo_ids))
        found = await self._store.get_many(photo_ids) if photo_ids else {}
        shown = await self._visibility.visible_authors(reading_user(), {photo.user_id for photo in found.values()})
        return photo_pb2.BatchGetPhotosResponse(
            photos=[to_proto(found[i]) for i in photo_ids if i in found and found[i].user_id in shown]
        )

    async def DownloadPhoto(
        self, request: photo_pb2.DownloadPhotoRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[photo_pb2.DownloadPhotoResponse]:
        # DISPLAY by default: what anyone may see (the original, EXIF and all, is its owner's alone).
        variant = request.variant or photo_pb2.PHOTO_VARIANT_DISPLAY
        if variant not in _VARIANT_NAMES:
            raise InvalidArgument("variant", "is not a known photo variant")
        photo = await self._find_visible(request.photo_id)
        if variant == photo_pb2.PHOTO_VARIANT_ORIGINAL and callctx.acting_user_id() != photo.user_id:
            # The original keeps its EXIF (GPS and all); only its owner gets it back.
            raise PermissionDenied("only the owner may download the original; ask for DISPLAY or THUMBNAIL")
        image = _image_of(photo, request.media_id)
        info = {
            photo_pb2.PHOTO_VARIANT_ORIGINAL: image.original,
            photo_pb2.PHOTO_VARIANT_DISPLAY: image.display,
            photo_pb2.PHOTO_VARIANT_THUMBNAIL: image.thumbnail,
        }[variant]
        key = blob_key(image.media_id, _VARIANT_NAMES[variant])
        with storage_faults("reading a photo's bytes"):  # EIO on our disk is UNAVAILABLE, not INTERNAL
            await check_stored(self._blobs, key, info)
            content = photo_pb2.ContentInfo(
                content_type=info.content_type, byte_size=info.byte_size, sha256=info.sha256, variant=variant
            )
            if request.accept_url and isinstance(self._blobs, SignsDownloads):
                # Signed only after the checks above: the URL is as owner-only as the stream would be.
                content.url, seconds = await self._blobs.presigned_url(key, info.content_type)
                content.url_expires_at.FromSeconds(int(time.time()) + seconds)
                yield photo_pb2.DownloadPhotoResponse(info=content)
                return
            yield photo_pb2.DownloadPhotoResponse(info=content)
            # Checked again while sending: bytes corrupt or changed since the check end the stream in DATA_LOSS.
            async for chunk in verified_chunks(self._blobs, key, info, DOWNLOAD_CHUNK_BYTES):
                yield photo_pb2.DownloadPhotoResponse(chunk=chunk)

    async def ListUserPhotos(
        self, request: photo_pb2.ListUserPhotosRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.ListUserPhotosResponse:
        user_id = require_id(request.user_id, "user_id")
        limit = page_size(request.page_size)
        await self._visibility.require_account(reading_user(), user_id)
        position = self._pages.decode(request, {"u": CursorField.ID, "before": CursorField.ID})
        before: int | None = None
        if position is not None:
            if position["u"] != user_id:
                raise InvalidArgument("page_token", "does not belong to this listing")
            before = position["before"]
        photos = await self._store.list_by_user(user_id, before, limit + 1)
        page = photos[:limit]
        more = len(photos) > limit
        next_token = self._pages.encode(request, {"u": user_id, "before": page[-1].photo_id}) if more else ""
        total = await self._store.count_by_user(user_id) if position is None else 0
        return photo_pb2.ListUserPhotosResponse(
            photos=[to_proto(p) for p in page], next_page_token=next_token, total_size=total
        )

    async def UpdatePhoto(
        self, request: photo_pb2.UpdatePhotoRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.UpdatePhotoResponse:
        return photo_pb2.UpdatePhotoResponse(photo=to_proto(await self._editor.edit(request)))

    async def DeletePhoto(
        self, request: photo_pb2.DeletePhotoRequest, context: grpc.aio.ServicerContext
    ) -> photo_pb2.DeletePhotoResponse:
        photo = await self._find(request.photo_id)
        if callctx.acting_user_id() != photo.user_id:
            raise PermissionDenied("only the photo's owner may delete it")
        await self._deleter.delete(photo)
        return photo_pb2.DeletePhotoResponse()

    async def _find_visible(self, photo_id: int) -> PhotoRecord:
        """The photo, if the caller may see it; NOT_FOUND (as for a missing one) if not."""
        photo = await self._find(photo_id)
        await self._visibility.require_content(reading_user(), photo.user_id, f"photo {photo_id}")
        return photo

    async def _find(self, photo_id: int) -> PhotoRecord:
        photo = await self._store.get(require_id(photo_id, "photo_id"))
        if photo is None:
            raise NotFound(f"photo {photo_id} not found")
        return photo


def _image_of(photo: PhotoRecord, media_id: int) -> ImageRecord:
    """The post's image with this media id; its first when 0."""
    images = photo.image_list()
    if media_id < 0:
        raise InvalidArgument("media_id", "must be an image's id (Image.media_id), or unset for the first")
    if media_id == 0:
        return images[0]
    for image in images:
        if image.media_id == media_id:
            return image
    raise NotFound(f"photo {photo.photo_id} has no image {media_id}")


def open_stores(runtime: Runtime) -> tuple[PhotoStore, BlobStore, float | None]:
    """The photo store (SHUTTER_STORE), the blob store (SHUTTER_BLOB_STORE) and the orphan sweep's
    period. Bytes: `files` (embedded default), `s3` (the default on CQL: an object store), or `cql`
    (chunks in the cluster, for small clusters). Stores shared by every replica (s3, cql) are swept
    periodically; the filesystem is private to the process and swept at start-up only."""
    blob_store = runtime.settings.blob_store  # checked at start (services.runtime.config)
    database = open_database(runtime, STORAGE)
    store = STORAGE.store_class(runtime.store_backend)(database)
    if blob_store == "files":
        # Replicas on one machine (SHUTTER_SHARD_ID set) share the directory: a sibling's upload may be in flight.
        shared = runtime.settings.shard_id is not None
        settle = SHARED_FILES_SETTLE_SECONDS if shared else 0.0
        return store, FilesystemBlobStore(runtime.data_path("blobs"), settle_seconds=settle), None
    sweep_seconds = runtime.section(PhotoSettings).sweep_seconds
    if blob_store == "s3":
        from services.photo.s3_blobs import S3BlobStore, S3Config  # the S3 client only when S3 is chosen

        return store, S3BlobStore(S3Config.from_settings(runtime.section(S3Settings))), sweep_seconds
    from services.photo.cql_blobs import CqlBlobStore  # the CQL driver only when CQL is chosen

    return store, CqlBlobStore(database), sweep_seconds


def build(runtime: Runtime) -> None:
    store, blobs, sweep_seconds = open_stores(runtime)
    settings = runtime.section(PhotoSettings)
    staging = Staging(runtime.replica_path("tmp"))
    images = ImagePool(settings.image_workers, settings.max_pixels, settings.image_worker_nice)
    expiry = MediaExpiry(store, blobs, settings.media_expiry_seconds, settings.media_sweep_seconds)
    for component in (blobs, staging, images, OrphanSweeper(store, blobs, sweep_seconds), expiry):
        runtime.add_component(component)
    deleter = Deleter(store, blobs, runtime.ids, runtime.name)
    # Mentions are resolved as the service: every mentioned account exists for the post, even one that blocked
    # the author (the user service leaves those out of the author's own answers); who is notified is the
    # notification service's decision (services.notification.notifier), so the post tells the author nothing.
    captions = Captions(runtime.channels.stub("user", user_pb2_grpc.UserServiceStub, as_=SERVICE))
    uploader = Uploader(
        store,
        blobs,
        staging,
        images,
        runtime.ids,
        runtime.name,
        max_bytes=runtime.settings.max_upload_bytes,
        limiter=runtime.limiter(),
        captions=captions,
    )
    runtime.consume("photo-user-deleted", [events_pb2.UserDeleted], UserDeletedHandler(store, deleter))
    visibility = Visibility.attach(
        runtime, runtime.channels.stub("follow", follow_pb2_grpc.FollowServiceStub, as_=SERVICE)
    )
    runtime.add_servicer(
        photo_pb2_grpc.add_PhotoServiceServicer_to_server,
        PhotoService(
            store,
            blobs,
            uploader,
            deleter,
            PageTokens(runtime.settings.signing_secret()),
            visibility,
            MediaUploader(store, blobs, uploader, runtime.ids),
            PostCreator(store, runtime.ids, runtime.name, captions),
            settings.media_expiry_seconds,
            Editor(store, runtime.ids, runtime.name, captions),
        ),
        photo_pb2.DESCRIPTOR.services_by_name["PhotoService"],
    )
