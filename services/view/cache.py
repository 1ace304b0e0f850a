"""Photo metadata, and pages of users' photos, in the view process, trusted for at most `max_age` (≤ 1 s;
services.runtime.fresh): a deleted or edited photo is not served past its acknowledgement + 1 s (nor a new
one missing from its owner's pages for longer); PhotoDeleted, PhotoEdited and PhotoPosted invalidate at
once, typically milliseconds after.

What it saves: a photo viewed often is fetched about once per `max_age` per view process instead of
once per view; everything else still reads through, coalesced (services.runtime.batching).
"""

from __future__ import annotations

from collections.abc import Iterable

from services.runtime.fresh import MAX_AGE_LIMIT_SECONDS, FreshCache
from shutter.photo.v1 import photo_pb2

__all__ = ["MAX_AGE_LIMIT_SECONDS", "ListingCache", "PhotoCache"]


class PhotoCache(FreshCache[int, photo_pb2.Photo]):
    """photo_id → Photo (services.runtime.fresh); `invalidate(photo_id)` when a photo is deleted or edited."""

    def put(self, photos: Iterable[photo_pb2.Photo], sent_at: float) -> None:
        """Remember photos a fetch sent at `sent_at` (from now()) found."""
        self.put_fetched(((photo.photo_id, photo) for photo in photos), sent_at)


ListingKey = tuple[int, str, int]  # (owner, page_token, page_size)


class ListingCache(FreshCache[ListingKey, photo_pb2.ListUserPhotosResponse]):
    """A page of a user's photos, as ListUserPhotos answered it, for every viewer allowed to see it (the view
    applies the account's policy itself to a cached page). `invalidate(owner)` when the owner posts, edits or
    deletes a photo, or the account is deleted: every page of theirs is refetched.

    What it saves: a profile viewed by many is listed about once per `max_age` per view process, not once per
    viewer. The owner's own views always list afresh, so they see their new post at once."""

    def tokens(self, key: ListingKey) -> tuple[int]:
        return (key[0],)

    def put(self, key: ListingKey, listed: photo_pb2.ListUserPhotosResponse, sent_at: float) -> None:
        """Remember a page a listing sent at `sent_at` (from now()) answered."""
        self.put_fetched(((key, listed),), sent_at)
