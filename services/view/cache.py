"""Photo metadata, and pages of users' photos, in the view process, trusted for at most `max_age` (≤ 1 s;
services.runtime.fresh): a deleted or edited photo is not served past its acknowledgement + 1 s (nor a new
one missing from its owner's pages for longer); PhotoDeleted, PhotoEdited and PhotoPosted invalidate at
once, typically milliseconds after.

What it saves: a photo viewed often is fetched about once per `max_age` per view process instead of
once per view; everything else still reads through, coalesced (services.runtime.batching).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from services.runtime.fresh import MAX_AGE_LIMIT_SECONDS, FreshCache
from shutter.photo.v1 import photo_pb2

__all__ = ["MAX_AGE_LIMIT_SECONDS", "ListingCache", "PhotoCache"]


class PhotoCache(FreshCache[int, photo_pb2.Photo]):
    """photo_id → Photo (services.runtime.fresh); `invalidate(photo_id)` when a photo is deleted or edited.

    Who posted a photo never changes, so that is kept past the photo's freshness (`author`, as many as
    photos): it lets a view ask whether its viewer may see the author while the photo is still being fetched.
    """

    def __init__(self, max_entries: int, max_age: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(max_entries, max_age, clock)
        self._authors: dict[int, int] = {}

    def put(self, photos: Iterable[photo_pb2.Photo], sent_at: float) -> None:
        """Remember photos a fetch sent at `sent_at` (from now()) found."""
        photos = list(photos)
        self.put_fetched(((photo.photo_id, photo) for photo in photos), sent_at)
        authors = self._authors
        for photo in photos:
            authors[photo.photo_id] = photo.user_id
        while len(authors) > self._max_entries:
            del authors[next(iter(authors))]

    def author(self, photo_id: int) -> int | None:
        """Who posted `photo_id`, if a fetch has said (it may since have been deleted: that is the fetch's to say)."""
        return self._authors.get(photo_id)


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
