"""The photo service's repository interface: backend-neutral, one entity change (+ its event) per call."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.runtime.errors import FailedPrecondition, InvalidArgument, Unavailable
from services.runtime.stores import Storage
from shutter.events.v1 import events_pb2

STORAGE = Storage(
    sqlite="services.photo.sqlite:SqlitePhotoStore", cql="services.photo.cql:CqlPhotoStore", emits_events=True
)


class KeyInUse(Unavailable):
    """An earlier upload claimed this idempotency key moments ago and has not committed its photo yet
    (still in flight, or its commit may yet be applied). Retrying with the same key later answers."""

    def __init__(self, why: str) -> None:
        super().__init__("an earlier upload with this idempotency_key is still being stored; retry")
        self.why = why


class KeyReused(FailedPrecondition):
    """The idempotency key already made a photo from a different request (other metadata or other bytes)."""

    def __init__(self, photo_id: int) -> None:
        super().__init__(
            f"idempotency_key was already used for photo {photo_id} with a different request; use a new key",
            (
                "IDEMPOTENCY_KEY_REUSED",
                "metadata.idempotency_key",
                "the key was first used with other metadata or other bytes",
            ),
        )
        self.photo_id = photo_id


class CommitOutcomeUnknown(Unavailable):
    """The commit timed out: it may or may not be applied (a CQL batch in the batchlog is replayed).
    The caller must not delete the photo's blobs; the orphan sweep decides once the outcome is settled."""

    def __init__(self, why: str) -> None:
        super().__init__("storing the photo timed out; retry with the same idempotency_key")
        self.why = why


@dataclass(frozen=True)
class BlobInfo:
    """One stored rendition of a photo: what to send and how to check it."""

    content_type: str
    byte_size: int
    sha256: str


def same_request(stored_fingerprint: str, fingerprint: str) -> bool:
    """Whether a retry is the request that claimed the key. A claim stored before fingerprints were
    recorded has none: it is taken to be the same request, as it always was."""
    return not stored_fingerprint or stored_fingerprint == fingerprint


class MediaNotFound(InvalidArgument):
    """A post names a medium that does not exist (never uploaded, expired) or is another user's: the same
    answer for both, so ids of other people's uploads cannot be probed."""

    def __init__(self, index: int) -> None:
        super().__init__(f"images[{index}].media_id", "is not a medium you uploaded (unknown or expired)")
        self.index = index


class MediaTaken(FailedPrecondition):
    """A post names a medium another post already holds. The request is well formed; the state refuses it
    (upload the image again to use it twice)."""

    def __init__(self, index: int, media_id: int) -> None:
        super().__init__(
            f"medium {media_id} is already in a post; upload it again to post it twice",
            ("MEDIA_IN_A_POST", f"images[{index}].media_id", "a medium belongs to one post"),
        )
        self.index = index


@dataclass(frozen=True)
class ImageRecord:
    """One image of a post: its blobs are `<media_id>.<variant>`."""

    media_id: int
    width: int
    height: int
    original: BlobInfo
    display: BlobInfo
    thumbnail: BlobInfo
    alt_text: str = ""
    # Placeholders computed at upload ("" on images from before them).
    blurhash: str = ""
    dominant_color: str = ""


def _blob_fields(blob: BlobInfo) -> list[Any]:
    return [blob.content_type, blob.byte_size, blob.sha256]


def encode_images(images: Sequence[ImageRecord]) -> str:
    """The images as one JSON text column, the same on both backends ("" for none: a legacy row)."""
    if not images:
        return ""
    return json.dumps(
        [
            {
                "id": i.media_id, "w": i.width, "h": i.height, "o": _blob_fields(i.original),
                "d": _blob_fields(i.display), "t": _blob_fields(i.thumbnail), "alt": i.alt_text,
                "bh": i.blurhash, "dc": i.dominant_color,
            }
            for i in images
        ],
        separators=(",", ":"),
    )  # fmt: skip


def decode_images(text: str | None) -> tuple[ImageRecord, ...]:
    if not text:
        return ()
    return tuple(
        ImageRecord(
            media_id=i["id"], width=i["w"], height=i["h"], original=BlobInfo(*i["o"]), display=BlobInfo(*i["d"]),
            thumbnail=BlobInfo(*i["t"]), alt_text=i.get("alt", ""), blurhash=i.get("bh", ""),
            dominant_color=i.get("dc", ""),
        )
        for i in json.loads(text)
    )  # fmt: skip


@dataclass(frozen=True)
class PhotoRecord:
    photo_id: int
    user_id: int
    title: str
    location: str
    time_stamp_ms: int
    tags: tuple[str, ...]
    created_at_ms: int
    width: int
    height: int
    original: BlobInfo
    display: BlobInfo
    thumbnail: BlobInfo
    idempotency_key: str = field(default="")
    # Every image in order; () on a row stored before albums, whose one image is the fields above.
    images: tuple[ImageRecord, ...] = ()
    caption: str = ""
    mentioned_user_ids: tuple[int, ...] = ()
    edited_at_ms: int = 0

    def image_list(self) -> tuple[ImageRecord, ...]:
        """The post's images in order; a pre-album row's single image has the photo's id and no alt text."""
        if self.images:
            return self.images
        return (ImageRecord(self.photo_id, self.width, self.height, self.original, self.display, self.thumbnail),)

    def media_ids(self) -> list[int]:
        """Images uploaded as media (UploadMedia): their rows go with the post."""
        return [image.media_id for image in self.images if image.media_id != self.photo_id]


def single_image_photo(photo_id: int, image: ImageRecord, **fields: Any) -> PhotoRecord:
    """A photo whose legacy single-image fields are `image`'s (the first), with every image in `images`."""
    return PhotoRecord(
        photo_id=photo_id, width=image.width, height=image.height, original=image.original, display=image.display,
        thumbnail=image.thumbnail, **fields,
    )  # fmt: skip


# A photo as a row, the same on both backends: these columns, in this order.
PHOTO_COLUMNS = (
    "photo_id, user_id, title, location, time_stamp_ms, tags, created_at_ms, width, height, "
    "original_type, original_size, original_sha256, display_type, display_size, display_sha256, "
    "thumbnail_type, thumbnail_size, thumbnail_sha256, idempotency_key, images, caption, mentioned_user_ids, "
    "edited_at_ms"
)
# Their bind markers, in SQL and CQL alike.
PHOTO_MARKS = ", ".join("?" for _ in PHOTO_COLUMNS.split(", "))


def photo_values(photo: PhotoRecord, encode_tags: Callable[[tuple[Any, ...]], Any]) -> tuple[Any, ...]:
    """The row for `photo`, in PHOTO_COLUMNS order; `encode_tags` stores a list column (tags, mentioned ids)
    as the backend keeps it."""
    return (
        photo.photo_id, photo.user_id, photo.title, photo.location, photo.time_stamp_ms, encode_tags(photo.tags),
        photo.created_at_ms, photo.width, photo.height,
        photo.original.content_type, photo.original.byte_size, photo.original.sha256,
        photo.display.content_type, photo.display.byte_size, photo.display.sha256,
        photo.thumbnail.content_type, photo.thumbnail.byte_size, photo.thumbnail.sha256,
        photo.idempotency_key, encode_images(photo.images), photo.caption, encode_tags(photo.mentioned_user_ids),
        photo.edited_at_ms,
    )  # fmt: skip


def photo_record(row: Sequence[Any], decode_tags: Callable[[Any], Any] = lambda tags: tags) -> PhotoRecord:
    """The photo in a row read in PHOTO_COLUMNS order. CQL reads an empty list or text back as null."""
    (photo_id, user_id, title, location, time_stamp_ms, tags, created_at_ms, width, height,
     o_type, o_size, o_sha, d_type, d_size, d_sha, t_type, t_size, t_sha, key, images, caption,
     mentioned, edited_at_ms) = row  # fmt: skip
    return PhotoRecord(
        photo_id=photo_id,
        user_id=user_id,
        title=title,
        location=location,
        time_stamp_ms=time_stamp_ms,
        tags=tuple(decode_tags(tags) or ()),
        created_at_ms=created_at_ms,
        width=width,
        height=height,
        original=BlobInfo(o_type, o_size, o_sha),
        display=BlobInfo(d_type, d_size, d_sha),
        thumbnail=BlobInfo(t_type, t_size, t_sha),
        idempotency_key=key or "",
        images=decode_images(images),
        caption=caption or "",
        mentioned_user_ids=tuple(decode_tags(mentioned) or ()),
        edited_at_ms=edited_at_ms or 0,
    )


@dataclass(frozen=True)
class MediaRecord:
    """An uploaded image waiting for a post (post_id 0), or the record of one a post holds."""

    image: ImageRecord
    user_id: int
    created_at_ms: int
    idempotency_key: str = ""
    post_id: int = 0

    @property
    def media_id(self) -> int:
        return self.image.media_id


# A medium as a row, the same on both backends (its image as encode_images of one).
MEDIA_COLUMNS = "media_id, user_id, created_at_ms, idempotency_key, post_id, image"
MEDIA_MARKS = ", ".join("?" for _ in MEDIA_COLUMNS.split(", "))


def media_values(media: MediaRecord) -> tuple[Any, ...]:
    return (
        media.media_id, media.user_id, media.created_at_ms, media.idempotency_key, media.post_id,
        encode_images([media.image]),
    )  # fmt: skip


def media_record(row: Sequence[Any]) -> MediaRecord:
    _, user_id, created_at_ms, key, post_id, image = row
    return MediaRecord(decode_images(image)[0], user_id, created_at_ms, key or "", post_id or 0)


@dataclass(frozen=True)
class KeyedMedia:
    """What a media idempotency key stands for: the medium its first upload made, and that request's fingerprint."""

    media: MediaRecord
    fingerprint: str


@dataclass(frozen=True)
class KeyedUpload:
    """What an idempotency key stands for: the photo its first upload made, and that request's fingerprint."""

    photo: PhotoRecord
    fingerprint: str


class PhotoStore(Protocol):
    async def create(
        self, photo: PhotoRecord, event: events_pb2.PhotoPosted, fingerprint: str = ""
    ) -> tuple[PhotoRecord, bool]:
        """Insert the photo and enqueue its event atomically; with an idempotency key, claim the key for the
        request `fingerprint` stands for (metadata and bytes, see uploads.request_fingerprint).

        The media among its images (photo.media_ids()) are taken by the post in the same commit: each must
        be the owner's and in no post (MediaNotFound, MediaTaken; nothing is written then).

        When this user already used the key, nothing is written: for the same request the earlier photo
        is returned with False; for a different one, KeyReused. KeyInUse: an earlier attempt with the
        key has not committed yet; CommitOutcomeUnknown: this attempt's commit may or may not have been
        applied.
        """
        ...

    async def by_idempotency_key(self, user_id: int, key: str) -> KeyedUpload | None:
        """The committed photo an earlier upload with this key made, with its request's fingerprint."""
        ...

    async def get(self, photo_id: int) -> PhotoRecord | None: ...

    async def get_many(self, photo_ids: list[int]) -> dict[int, PhotoRecord]: ...

    async def list_by_user(self, user_id: int, before_photo_id: int | None, limit: int) -> list[PhotoRecord]:
        """The user's photos with ids below `before_photo_id` (all when None), newest first."""
        ...

    async def update(self, photo: PhotoRecord, event: events_pb2.PhotoEdited) -> PhotoRecord | None:
        """Replace the photo's words (title, caption, location, tags, mentions, images' alt text, edited_at)
        with `photo`'s and enqueue its event atomically; None (and no event) when the photo is gone."""
        ...

    async def count_by_user(self, user_id: int) -> int:
        """How many photos the user has."""
        ...

    async def delete(self, photo_id: int, event: events_pb2.PhotoDeleted) -> PhotoRecord | None:
        """Remove the photo and enqueue its event atomically; None (and no event) when already gone."""
        ...

    async def existing(self, photo_ids: list[int]) -> set[int]:
        """Which of these ids have a committed photo or medium row (the orphan sweep keeps their blobs)."""
        ...

    async def create_media(self, media: MediaRecord, fingerprint: str = "") -> tuple[MediaRecord, bool]:
        """Store an uploaded medium (not in a post yet); with an idempotency key, claim it as `create` does
        (KeyReused for another request; the earlier medium and False for a retry)."""
        ...

    async def media_by_idempotency_key(self, user_id: int, key: str) -> KeyedMedia | None: ...

    async def get_media(self, media_ids: list[int]) -> dict[int, MediaRecord]: ...

    async def expired_media(self, created_before_ms: int, limit: int) -> list[MediaRecord]:
        """Media uploaded before then that no committed post holds, oldest first (the expiry sweep's work)."""
        ...

    async def delete_media(self, media: MediaRecord) -> bool:
        """Remove a medium no post holds (with its key); False, removing nothing, if a post took it meanwhile."""
        ...
