"""The photo service's repository interface: backend-neutral, one entity change (+ its event) per call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from shutter.events.v1 import events_pb2


@dataclass(frozen=True)
class BlobInfo:
    """One stored rendition of a photo: what to send and how to check it."""

    content_type: str
    byte_size: int
    sha256: str


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


class PhotoStore(Protocol):
    async def create(self, photo: PhotoRecord, event: events_pb2.PhotoPosted) -> tuple[PhotoRecord, bool]:
        """Insert the photo and enqueue its event atomically.

        When the photo carries an idempotency key this user already used, nothing is written and
        the earlier photo is returned with False.
        """
        ...

    async def by_idempotency_key(self, user_id: int, key: str) -> PhotoRecord | None: ...

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
