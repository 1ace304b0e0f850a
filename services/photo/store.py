"""The photo service's repository interface: backend-neutral, one entity change (+ its event) per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shutter.events.v1 import events_pb2


class KeyInUse(Exception):
    """An earlier upload claimed this idempotency key moments ago and has not committed its photo yet
    (still in flight, or its commit may yet be applied). Retrying with the same key later answers."""


class KeyReused(Exception):
    """The idempotency key already made a photo from a different request (other metadata or other bytes)."""

    def __init__(self, photo_id: int) -> None:
        super().__init__(f"the idempotency key already made photo {photo_id} from a different request")
        self.photo_id = photo_id


class CommitOutcomeUnknown(Exception):
    """The commit timed out: it may or may not be applied (a CQL batch in the batchlog is replayed).
    The caller must not delete the photo's blobs; the orphan sweep decides once the outcome is settled."""


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
