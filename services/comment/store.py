"""The comment repository: what CommentService needs from storage, free of any backend's query language."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import NotFound
from services.runtime.stores import Storage
from shutter.events.v1 import events_pb2

STORAGE = Storage(
    sqlite="services.comment.sqlite:SqliteCommentStore",
    cql="services.comment.cql:CqlCommentStore",
    emits_events=True,
    tombstones=True,
)

# Most photos a batch call may ask about at once (one page of a profile or a feed).
MAX_BATCH = 100


@dataclass(frozen=True)
class Comment:
    comment_id: int
    photo_id: int
    user_id: int
    text: str
    # When the client says it was written, and when we stored it (microseconds since the epoch).
    time_stamp_us: int
    created_at_us: int
    # The top comment this one replies to (0: a top comment). Replies are one level deep, as on Instagram.
    parent_id: int = 0


@dataclass(frozen=True)
class CommentLikes:
    """A comment's like count and whether the viewer is among its likers."""

    comment_id: int
    like_count: int
    viewer_has_liked: bool


@dataclass(frozen=True)
class FirstPage:
    """A photo's first comments and how many it has in all."""

    comments: list[Comment]
    total: int


class PhotoGone(NotFound):
    """The photo was deleted (its PhotoDeleted was consumed); it takes no new comments."""

    def __init__(self, photo_id: int) -> None:
        super().__init__(f"photo {photo_id} not found")
        self.photo_id = photo_id


class CommentStore(Protocol):
    async def post(self, comment: Comment, event: events_pb2.CommentChanged) -> None:
        """Store the comment and enqueue `event` in the same write. Raises PhotoGone for a deleted photo."""
        ...

    async def get(self, photo_id: int, comment_id: int) -> Comment | None: ...

    async def delete(self, photo_id: int, comment_id: int, event: events_pb2.CommentChanged) -> bool:
        """Remove it and enqueue `event` in the same write; False (and no event) when it was not there."""
        ...

    async def page(self, photo_id: int, limit: int, after_comment_id: int | None, newest_first: bool) -> list[Comment]:
        """A photo's comments in id (= creation) order, strictly after the cursor."""
        ...

    async def counts(self, photo_ids: list[int]) -> list[int]:
        """Comment counts, one per id in the order given."""
        ...

    async def first_pages(self, photo_ids: list[int], limit: int, newest_first: bool) -> list[FirstPage]:
        """Each photo's first `limit` comments in id order and its count, one per id in the order given
        (at most MAX_BATCH): what views of several photos need, in one read."""
        ...

    async def like_comment(self, photo_id: int, comment_id: int, user_id: int, liked: bool) -> CommentLikes | None:
        """Like (or unlike) once, however often asked; None, changing nothing, when the comment is gone."""
        ...

    async def comment_likes(self, photo_id: int, comment_ids: list[int], viewer_id: int) -> list[CommentLikes]:
        """Counts and the viewer's state, one per comment id in the order given."""
        ...

    async def purge_photo(self, photo_id: int) -> int:
        """Drop a deleted photo's comments and refuse new ones; idempotent. Returns comments dropped."""
        ...

    async def purge_user(self, user_id: int) -> int:
        """Drop a deleted user's comments, fixing each photo's count; idempotent. Returns comments dropped."""
        ...
