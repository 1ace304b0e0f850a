"""The follow store: the graph's edges, both directions, and per-user counts — free of SQL.

Designed query-first for a wide-column backend:
- follows(follower_id, followee_id) → the edge: is-following checks and idempotent writes;
- followers_by_user(followee_id, follow_id DESC) → who follows a user, newest first (feed fan-out
  pages through it with a keyset cursor, so a 10,000-follower account costs 10,000 / page reads);
- followees_by_user(follower_id, follow_id DESC) → whom a user follows, newest first;
- follow_counts(user_id) → follower and followee counts;
- deleted users are tombstoned (services.runtime.tombstones), and every new edge checks the marks;
- user_links(kind, from_id, to_id) and user_links_by_from(kind, from_id, link_id DESC): blocks (blocker →
  blocked), mutes (muter → muted) and pending follow requests (requested account → requester), each a
  point lookup for the visibility policy and a newest-first list for its owner;
- account_privacy(user_id) → whether the account is private.
`follow_id` is a time-ordered id assigned when the edge is created: it orders the lists and is the
cursor, so follows added while someone pages land above the cursor and never shift later pages.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from google.protobuf.message import Message

from services.runtime.errors import NotFound
from services.runtime.stores import Storage
from services.runtime.visibility import Pair, Relationship
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


class Blocked(NotFound):
    """A follow between users one of whom blocked the other: NOT_FOUND, as for a missing account, so the
    block is not revealed."""

    def __init__(self, user_id: int) -> None:
        super().__init__(f"user {user_id} not found")
        self.user_id = user_id


class LinkKind(enum.StrEnum):
    BLOCK = "block"  # from the blocker to the blocked
    MUTE = "mute"  # from the muter to the muted
    REQUEST = "request"  # from the private account (its owner lists them) to the requester


@dataclass(frozen=True)
class Link:
    kind: LinkKind
    from_id: int
    to_id: int
    link_id: int
    time_stamp_ms: int


@dataclass(frozen=True)
class BlockEvents:
    """What a block emits: its own event, and one for each follow or request between the two it removes."""

    created: events_pb2.BlockCreated
    # (follower, followee) → its FollowDeleted; (target, requester) → its FollowRequestResolved.
    unfollows: Mapping[tuple[int, int], events_pb2.FollowDeleted]
    requests_ended: Mapping[tuple[int, int], events_pb2.FollowRequestResolved]


class FollowStore(Protocol):
    async def follow(self, edge: FollowEdge, event: events_pb2.FollowCreated) -> tuple[FollowEdge, bool]:
        """Create the edge and enqueue `event`, or return the existing edge and False (no event).

        Raises DeletedUser when either end is tombstoned, so a follow racing the user's deletion
        cannot leave an edge behind after the purge; Blocked when either blocked the other (checked so
        that a follow racing a block cannot survive it either).
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

    # -- links: blocks, mutes, follow requests ------------------------------------------------------

    async def add_link(self, link: Link, event: Message) -> bool:
        """Create the link and enqueue `event`; False (no event) when it existed."""

    async def remove_link(self, kind: LinkKind, from_id: int, to_id: int, event: Message) -> bool:
        """Remove the link and enqueue `event`; False (no event) when there was none."""

    async def links(self, kind: LinkKind, from_id: int, before_link_id: int | None, limit: int) -> list[Link]:
        """Links out of `from_id`, newest first, strictly older than the cursor."""

    async def approve_request(
        self,
        edge: FollowEdge,
        resolved: events_pb2.FollowRequestResolved,
        created: events_pb2.FollowCreated,
    ) -> tuple[FollowEdge, bool] | None:
        """The pending request of edge.follower_id to edge.followee_id becomes the follow (both events);
        None when no such request is pending (nothing written), or when a block between the two (a race)
        ends it unapproved."""

    async def block(self, link: Link, events: BlockEvents) -> bool:
        """Block: the link, and the follows and requests between the two removed, each with its event.
        False when the block existed (follows and requests are removed all the same, without events for
        what was already gone)."""

    async def set_private(self, user_id: int, private: bool, event: events_pb2.AccountPrivacyChanged) -> bool:
        """Set the account's privacy and enqueue `event`; False (no event) when it was already so."""

    async def private_users(self, user_ids: Sequence[int]) -> set[int]:
        """Which of these accounts are private."""

    async def relationships(self, pairs: Sequence[Pair]) -> dict[Pair, Relationship]:
        """The policy's facts for each (viewer, author) pair."""
