"""The photo service's repository interface: backend-neutral, one entity change (+ its event) per call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from services.runtime.errors import FailedPrecondition, Unavailable
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


# A photo as a row, the same on both backends: these columns, in this order.
PHOTO_COLUMNS = (
    "photo_id, user_id, title, location, time_stamp_ms, tags, created_at_ms, width, height, "
    "original_type, original_size, original_sha256, display_type, display_size, display_sha256, "
    "thumbnail_type, thumbnail_size, thumbnail_sha256, idempotency_key"
)
# Their bind markers, in SQL and CQL alike.
PHOTO_MARKS = ", ".join("?" for _ in PHOTO_COLUMNS.split(", "))


def photo_values(photo: PhotoRecord, encode_tags: Callable[[tuple[str, ...]], Any]) -> tuple[Any, ...]:
    """The row for `photo`, in PHOTO_COLUMNS order; `encode_tags` stores the tags as the backend keeps them."""
    return (
        photo.photo_id, photo.user_id, photo.title, photo.location, photo.time_stamp_ms, encode_tags(photo.tags),
        photo.created_at_ms, photo.width, photo.height,
        photo.original.content_type, photo.original.byte_size, photo.original.sha256,
        photo.display.content_type, photo.display.byte_size, photo.display.sha256,
        photo.thumbnail.content_type, photo.thumbnail.byte_size, photo.thumbnail.sha256,
        photo.idempotency_key,
    )  # fmt: skip


def photo_record(row: Sequence[Any], decode_tags: Callable[[Any], Any] = lambda tags: tags) -> PhotoRecord:
    """The photo in a row read in PHOTO_COLUMNS order. CQL reads an empty list or text back as null."""
    (photo_id, user_id, title, location, time_stamp_ms, tags, created_at_ms, width, height,
     o_type, o_size, o_sha, d_type, d_size, d_sha, t_type, t_size, t_sha, key) = row  # fmt: skip
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
    )


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

    async def delete(self, photo_id: int, event: events_pb2.PhotoDeleted) -> PhotoRecord | None:
        """Remove the photo and enqueue its event atomically; None (and no event) when already gone."""
        ...

    async def existing(self, photo_ids: list[int]) -> set[int]:
        """Which of these photos have a committed row (the orphan sweep keeps their blobs)."""
        ...
