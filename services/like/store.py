"""The like repository: what LikeService needs from storage, free of any backend's query language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import NotFound
from services.runtime.stores import Storage
from shutter.events.v1 import events_pb2

STORAGE = Storage(
    sqlite="services.like.sqlite:SqliteLikeStore",
    cql="services.like.cql:CqlLikeStore",
    emits_events=True,
    tombstones=True,
)

# Most photos a batch call may ask about at once (one page of a profile or a feed).
MAX_BATCH = 100


@dataclass(frozen=True)
class Summary:
    photo_id: int
    like_count: int
    viewer_has_liked: bool


@dataclass(frozen=True)
class Like:
    user_id: int
    liked_at_ms: int


@dataclass(frozen=True)
class LikerCursor:
    """Keyset position in a photo's likers, newest first: strictly after (liked_at_ms, user_id)."""

    liked_at_ms: int
    user_id: int


class PhotoGone(NotFound):
    """The photo was deleted (its PhotoDeleted was consumed); it takes no new likes."""

    def __init__(self, photo_id: int) -> None:
        super().__init__(f"photo {photo_id} not found")
        self.photo_id = photo_id


class LikeStore(Protocol):
    async def like(self, photo_id: int, user_id: int, liked_at_ms: int, event: events_pb2.LikeChanged) -> bool:
        """Add the like and enqueue `event` in the same write; False (and no event) if it already existed.

        Raises PhotoGone when the photo was deleted.
        """
        ...

    async def unlike(self, photo_id: int, user_id: int, event: events_pb2.LikeChanged) -> bool:
        """Remove the like and enqueue `event` in the same write; False (and no event) if there was none."""
        ...

    async def summaries(self, pairs: list[tuple[int, int]]) -> list[Summary]:
        """For each (photo_id, viewer_id) pair, in the order given: the photo's count and whether that
        viewer (0: nobody) liked it. One batch may mix viewers (a view service answering many at once)."""
        ...

    async def likers(self, photo_id: int, limit: int, after: LikerCursor | None) -> list[Like]:
        """A photo's likes, newest first."""
        ...

    async def purge_photo(self, photo_id: int) -> int:
        """Drop a deleted photo's likes and refuse new ones; idempotent. Returns likes dropped."""
        ...

    async def purge_user(self, user_id: int) -> int:
        """Drop a deleted user's likes, fixing each photo's count; idempotent. Returns likes dropped."""
        ...
