"""The feed repository: per-user home feeds, authors' recent posts, large accounts and tombstones.

Backend-neutral (SQLite and CQL; tests/conformance/test_feed_store.py holds both to it). Each feed
keeps its newest `feed_capacity` entries: SQLite trims exactly on every write, CQL lazily (a feed may
briefly hold a short tail more; see cql.py). Every write is idempotent so that a redelivered event
neither duplicates nor loses a feed entry: feed rows are keyed (user_id, photo_id), and deletions
leave tombstones so that a late copy of an older event cannot bring a deleted entry back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.runtime.stores import Storage

STORAGE = Storage(
    sqlite="services.feed.sqlite:SqliteFeedStore",
    cql="services.feed.cql:CqlFeedStore",
    tombstones=True,
)


@dataclass(frozen=True)
class Post:
    """A photo as the feed knows it: enough to place it in a feed and order it."""

    photo_id: int
    author_id: int
    posted_ms: int


class FeedStore(Protocol):
    async def record_post(self, post: Post, *, pulled: bool) -> bool:
        """Remember an author's recent post (newest N per author).

        `pulled` marks a post that was not fanned out (its author is a large account): readers get it
        merged in at read time, and its author is remembered as a large account. False when the photo
        or its author has been deleted (a late or redelivered event): nothing is written then.
        """
        ...

    async def add_to_feeds(self, post: Post, user_ids: Sequence[int]) -> int:
        """Put `post` into each user's feed (deleted users and photos skipped) and trim them.

        Returns how many feeds it was written to. A redelivered entry is written again (an upsert of the
        same row) and counts again: CQL cannot tell a new row from a rewritten one without reading first.
        """
        ...

    async def add_to_feed(self, user_id: int, posts: Sequence[Post]) -> int:
        """Backfill one user's feed with several posts (deleted photos skipped); trims; returns posts written."""
        ...

    async def recent_posts(self, author_id: int, limit: int) -> list[Post]:
        """An author's newest posts that were fanned out (pulled ones are merged at read time)."""
        ...

    async def feed(self, user_id: int, before: int | None, limit: int) -> list[Post]:
        """The user's feed, newest first, photo ids strictly below `before` when given."""
        ...

    async def large_accounts(self, limit: int) -> list[int]:
        """At most `limit` authors whose posts were not fanned out, lowest ids first (there can be many)."""
        ...

    async def large_among(self, author_ids: Sequence[int]) -> set[int]:
        """Which of these authors' posts are not fanned out."""
        ...

    async def pulled_posts(self, author_ids: Sequence[int], before: int | None, limit: int) -> list[Post]:
        """Not-fanned-out posts of these authors, newest first, photo ids below `before`."""
        ...

    async def remove_author_from_feed(self, user_id: int, author_id: int) -> int:
        """Unfollow: drop the author's entries from one user's feed."""
        ...

    async def remove_photo(self, photo_id: int, author_id: int) -> int:
        """Photo deleted: drop it from every feed and from the author's posts; leave a tombstone."""
        ...

    async def remove_user(self, user_id: int) -> None:
        """User deleted: their feed, their posts and their entries in every feed; leave a tombstone."""
        ...
