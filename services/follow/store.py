"""The follow store: the graph's edges, both directions, and per-user counts — free of SQL.

Designed query-first for a wide-column backend:
- follows(follower_id, followee_id) → the edge: is-following checks and idempotent writes;
- followers_by_user(followee_id, follow_id DESC) → who follows a user, newest first (feed fan-out
  pages through it with a keyset cursor, so a 10,000-follower account costs 10,000 / page reads);
- followees_by_user(follower_id, follow_id DESC) → whom a user follows, newest first;
- follow_counts(user_id) → follower and followee counts;
- deleted users are tombstoned (services.runtime.tombstones), and every new edge checks the marks.
`follow_id` is a time-ordered id assigned when the edge is created: it orders the lists and is the
cursor, so follows added while someone pages land above the cursor and never shift later pages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from services.runtime.errors import NotFound
from services.runtime.stores import Storage
from shutter.events.v1 import events_pb2

STORAGE = Storage(
    sqlite="services.follow.sqlite:SqliteFollowStore",
    cql="services.follow.cql:CqlFollowStore",
    emits_events=True,
    tombstones=True,
)


@dataclass(frozen=True)
class FollowEdge:
    follower_id: int
    followee_id: int
    follow_id: int
    time_stamp_ms: int


@dataclass(frozen=True)
class FollowCounts:
    follower_count: int
    followee_count: int


class DeletedUser(NotFound):
    """An edge would touch a user whose UserDeleted this service has already processed."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} does not exist")
        self.user_id = user_id


class FollowStore(Protocol):
    async def follow(self, edge: FollowEdge, event: events_pb2.FollowCreated) -> tuple[FollowEdge, bool]:
        """Create the edge and enqueue `event`, or return the existing edge and False (no event).

        Raises DeletedUser when either end is tombstoned, so a follow racing the user's deletion
        cannot leave an edge behind after the purge.
        """

    async def unfollow(self, follower_id: int, followee_id: int, event: events_pb2.FollowDeleted) -> bool:
        """Remove the edge and enqueue `event`; False (and no event) when there was no edge."""

    async def followers(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        """Edges into `user_id`, newest first, strictly older than the cursor."""

    async def followees(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        """Edges out of `user_id`, newest first, strictly older than the cursor."""

    async def counts(self, user_id: int) -> FollowCounts: ...

    async def following(self, follower_id: int, followee_ids: Sequence[int]) -> set[int]:
        """Which of `followee_ids` the follower follows."""

    async def tombstone_user(self, user_id: int) -> None:
        """Remember that `user_id` is deleted: no new edge may touch it (idempotent)."""

    async def remove_user_edges(self, user_id: int, limit: int) -> int:
        """Remove up to `limit` edges to or from `user_id` (counts kept right); how many went.

        Called until it returns 0, so a huge account is purged in bounded transactions.
        """
