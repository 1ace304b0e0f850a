"""Photo metadata in the view process, trusted for at most `max_age` (≤ 1 s; services.runtime.fresh): a
deleted or edited photo is not served past its acknowledgement + 1 s; PhotoDeleted (and PhotoEdited)
invalidate it at once, typically milliseconds after.

What it saves: a photo viewed often is fetched about once per `max_age` per view process instead of
once per view; everything else still reads through, coalesced (services.runtime.batching).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.fresh import MAX_AGE_LIMIT_SECONDS, FreshCache
from shutter.photo.v1 import photo_pb2

__all__ = ["MAX_AGE_LIMIT_SECONDS", "PhotoCache"]


class PhotoCache(FreshCache[int, photo_pb2.Photo]):
    """photo_id → Photo (services.runtime.fresh); `invalidate(photo_id)` when a photo is deleted or edited."""

    def put(self, photos: Iterable[photo_pb2.Photo], sent_at: float) -> None:
        """Remember photos a fetch sent at `sent_at` (from now()) found."""
        self.put_fetched(((photo.photo_id, photo) for photo in photos), sent_at)
