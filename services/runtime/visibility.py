"""Who may see whose content: THE visibility policy, decided here and nowhere else.

    may_see(viewer, author, relationship): the viewer is the author; or neither has blocked the other
    and the author is public or the viewer is an approved follower.
    in_feed(...): may_see, and the viewer has not muted the author (mutes hide from the muter's feed only).

Every read path that returns content, ids or counts asks `Visibility` (one per process), never its own
copy of the rule. What to answer when the policy says no (`deny_content`, `deny_account`):
- a piece of content (a photo, its likes, its comments) answers NOT_FOUND, exactly as a missing one:
  PERMISSION_DENIED would tell a stranger that a private account's photo id exists, and a blocked user
  that the block exists;
- an account's listings (its photos, followers) answer PERMISSION_DENIED for a private account (its
  existence and name are public anyway, as on Instagram), but NOT_FOUND between blocked users (a blocked
  user learns nothing, not even that the account is still there).

How the facts reach each service. The social graph (follows, requests, blocks, mutes, privacy) lives in
the follow service; `Visibility` asks it through BatchGetRelationships, coalesced across concurrent
requests (services.runtime.batching), and keeps each (viewer, author) answer for at most `max_age`
(≤ 1 s) in a per-process cache, refreshed ahead while in use (services.runtime.fresh). Events are the
fast path: every replica follows FollowCreated / FollowDeleted / FollowRequested / FollowRequestResolved /
BlockCreated / BlockDeleted / MuteCreated / MuteDeleted / AccountPrivacyChanged
(services.runtime.broadcast) and forgets every pair touching either user at once, refusing answers
fetched before the change (the view cache's rule). So a block takes effect in milliseconds normally and
within `max_age` (1 s) whatever NATS does: an entry is never trusted longer than that after the fetch
that read it was sent.

Cost per read: a cache hit is two dict lookups; a miss is a share of one batched call to the follow
service. A read whose viewer is the author needs no lookup. When the follow service cannot answer, the
read fails UNAVAILABLE: unknown visibility is never treated as visible.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from services.runtime import callctx
from services.runtime.batching import NO_PACING, BatchLoader, Pacing, settle
from services.runtime.broadcast import Broadcast
from services.runtime.config import BatchingSettings
from services.runtime.errors import DeadlineExceeded, NotFound, PermissionDenied, Unavailable
from services.runtime.events import EventBus
from services.runtime.fresh import MAX_AGE_LIMIT_SECONDS, FreshCache
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc

DEFAULT_TIMEOUT_SECONDS = 2.0
MAX_BATCH = 500

if TYPE_CHECKING:
    from services.runtime.server import Runtime

Pair = tuple[int, int]  # (viewer_id, author_id)


@dataclass(frozen=True)
class Relationship:
    """What the policy decides by, for one (viewer, author) pair."""

    author_private: bool = False
    following: bool = False  # the viewer is an approved follower of the author
    requested: bool = False  # the viewer's follow request is pending
    blocked_by_author: bool = False
    blocked_by_viewer: bool = False
    muted: bool = False  # the viewer muted the author

    @property
    def blocked(self) -> bool:
        return self.blocked_by_author or self.blocked_by_viewer

    @classmethod
    def from_proto(cls, message: follow_pb2.Relationship) -> Relationship:
        return cls(
            author_private=message.author_private,
            following=message.following,
            requested=message.requested,
            blocked_by_author=message.blocked_by_author,
            blocked_by_viewer=message.blocked_by_viewer,
            muted=message.muted,
        )

    def to_proto(self, viewer_id: int, author_id: int) -> follow_pb2.Relationship:
        return follow_pb2.Relationship(
            viewer_id=viewer_id,
            author_id=author_id,
            author_private=self.author_private,
            following=self.following,
            requested=self.requested,
            blocked_by_author=self.blocked_by_author,
            blocked_by_viewer=self.blocked_by_viewer,
            muted=self.muted,
        )


SELF = Relationship(following=True)
NOBODY = Relationship()


class Verdict(enum.Enum):
    VISIBLE = "visible"
    PRIVATE = "private"  # a private account the viewer does not (yet) follow
    BLOCKED = "blocked"  # one of the two blocked the other


def verdict(viewer_id: int, author_id: int, relationship: Relationship) -> Verdict:
    """The rule. Everything else in this module only fetches its facts and words its answers."""
    if viewer_id == author_id:
        return Verdict.VISIBLE
    if relationship.blocked:
        return Verdict.BLOCKED
    if relationship.author_private and not relationship.following:
        return Verdict.PRIVATE
    return Verdict.VISIBLE


def may_see(viewer_id: int, author_id: int, relationship: Relationship) -> bool:
    return verdict(viewer_id, author_id, relationship) is Verdict.VISIBLE


def in_feed(viewer_id: int, author_id: int, relationship: Relationship) -> bool:
    """May the author's post stand in the viewer's home feed: visible and not muted."""
    return may_see(viewer_id, author_id, relationship) and (viewer_id == author_id or not relationship.muted)


def deny_content(what: str) -> NotFound:
    """The answer for content the viewer may not see: the same NOT_FOUND as for content that does not exist."""
    return NotFound(f"{what} not found")


def deny_account(found: Verdict, user_id: int) -> NotFound | PermissionDenied:
    """The answer for an account's listings the viewer may not see (see the module docstring)."""
    if found is Verdict.BLOCKED:
        return NotFound(f"user {user_id} not found")
    return PermissionDenied(f"user {user_id}'s account is private: only approved followers see its content")


def reading_user() -> int | None:
    """Whose visibility the current call is judged by: the calling user, or None when a service calls on its
    own behalf (a view's batch, a fan-out, an indexer) and applies the policy itself for its own viewers."""
    principal = callctx.principal()
    return None if principal is None else principal.user_id


# Events after which what was known about a pair of users may be wrong: (event type, the users it touches).
_CHANGES: tuple[tuple[type, Callable[..., tuple[int, ...]]], ...] = (
    (events_pb2.FollowCreated, lambda e: (e.follower_id, e.followee_id)),
    (events_pb2.FollowDeleted, lambda e: (e.follower_id, e.followee_id)),
    (events_pb2.FollowRequested, lambda e: (e.requester_id, e.target_id)),
    (events_pb2.FollowRequestResolved, lambda e: (e.requester_id, e.target_id)),
    (events_pb2.BlockCreated, lambda e: (e.blocker_id, e.blocked_id)),
    (events_pb2.BlockDeleted, lambda e: (e.blocker_id, e.blocked_id)),
    (events_pb2.MuteCreated, lambda e: (e.muter_id, e.muted_id)),
    (events_pb2.MuteDeleted, lambda e: (e.muter_id, e.muted_id)),
    (events_pb2.AccountPrivacyChanged, lambda e: (e.user_id,)),
)


class RelationshipCache(FreshCache[Pair, Relationship]):
    """(viewer, author) → Relationship (services.runtime.fresh): `forget(user)` makes every pair touching
    the user stale at once and refuses answers fetched before it."""

    def tokens(self, key: Pair) -> Pair:
        return key

    def put(self, found: Mapping[Pair, Relationship], sent_at: float) -> None:
        self.put_fetched(found.items(), sent_at)

    def forget(self, user_id: int) -> None:
        self.invalidate(user_id)


class Visibility:
    """The policy with its facts, for one process (a runtime component: it follows the graph's events)."""

    def __init__(
        self,
        bus: EventBus | None,
        follow: follow_pb2_grpc.FollowServiceStub,
        *,
        max_age: float = MAX_AGE_LIMIT_SECONDS,
        max_entries: int = 100_000,
        pacing: Pacing = NO_PACING,
    ) -> None:
        self._follow = follow
        self.cache = RelationshipCache(max_entries, max_age)
        self._loader: BatchLoader[Pair, Relationship] = BatchLoader(
            self._fetch, MAX_BATCH, max_in_flight=2, pacing=pacing
        )
        self.cache.refresh_with(self._refresh)
        self._changes = [] if bus is None else [_forgetting(bus, kind, users, self.cache) for kind, users in _CHANGES]

    @classmethod
    def attach(cls, runtime: Runtime, follow: follow_pb2_grpc.FollowServiceStub) -> Visibility:
        """The process's policy, following the graph's events as one of its components. `follow` is the
        caller's own stub (made as the service: one answer serves many viewers)."""
        visibility = cls(runtime.events(), follow, pacing=runtime.section(BatchingSettings).pacing)
        runtime.add_component(visibility)
        return visibility

    async def start(self) -> None:
        for broadcast in self._changes:
            await broadcast.start()

    async def stop(self) -> None:
        for broadcast in self._changes:
            await broadcast.stop()

    async def attached(self) -> None:
        """Wait until every change is being followed (tests)."""
        for broadcast in self._changes:
            await broadcast.attached()

    async def _fetch(self, pairs: list[Pair], timeout: float, request_id: str | None) -> dict[Pair, Relationship]:
        sent_at = self.cache.now()
        metadata = (("x-request-id", request_id),) if request_id else ()
        reply = await self._follow.BatchGetRelationships(
            follow_pb2.BatchGetRelationshipsRequest(
                pairs=[follow_pb2.RelationshipPair(viewer_id=v, author_id=a) for v, a in pairs]
            ),
            timeout=timeout,
            metadata=metadata,
        )
        found = {(r.viewer_id, r.author_id): Relationship.from_proto(r) for r in reply.relationships}
        self.cache.put(found, sent_at)
        return found

    def _refresh(self, pair: Pair) -> None:
        """A pair in steady use is fetched again before it expires (services.runtime.fresh): a view of a hot
        author's photo never waits for the policy's facts."""
        self._loader.load_in_background(pair, DEFAULT_TIMEOUT_SECONDS, lambda: self.cache.refreshed(pair))

    async def relationships(self, pairs: Iterable[Pair], *, fresh: bool = False) -> dict[Pair, Relationship]:
        """Every pair's relationship; `fresh` reads the follow service whatever the cache holds (fan-out's
        re-check). UNAVAILABLE / DEADLINE_EXCEEDED when it cannot be known."""
        answers: dict[Pair, Relationship] = {}
        wanted: list[Pair] = []
        for pair in pairs:
            if pair[0] == pair[1]:
                answers[pair] = SELF
                continue
            if pair[0] <= 0 or pair[1] <= 0:  # no such user (an unset id): no facts, and never asked for
                answers[pair] = NOBODY
                continue
            cached = None if fresh else self.cache.get(pair)
            if cached is None:
                wanted.append(pair)
            else:
                answers[pair] = cached
        if wanted:
            answers.update(await self._load(wanted))
        return answers

    async def _load(self, pairs: list[Pair]) -> dict[Pair, Relationship]:
        """Ask the follow service (coalesced with other requests' asks) for pairs the cache did not answer."""
        remaining = callctx.time_remaining()
        timeout = DEFAULT_TIMEOUT_SECONDS if remaining is None else max(remaining, 0.001)
        unique = list(dict.fromkeys(pairs))
        asked = self._loader.submit_group(unique, timeout)
        try:
            found = await asked
        except TimeoutError as exc:
            raise DeadlineExceeded("the visibility of this content could not be checked in time") from exc
        finally:
            settle((asked,))
        if any(relationship is None for relationship in found):
            raise Unavailable("the follow service left a relationship unanswered")
        return dict(zip(unique, found, strict=True))

    async def check(self, viewer_id: int, author_id: int) -> Verdict:
        """The hot path (a view): a cache hit is a dict lookup, with no list or task made."""
        if viewer_id == author_id:
            return Verdict.VISIBLE
        pair = (viewer_id, author_id)
        found = self.cache.get(pair)
        if found is None:
            found = (await self._load([pair]))[pair]
        return verdict(viewer_id, author_id, found)

    async def require_content(self, viewer_id: int | None, author_id: int, what: str) -> None:
        """NOT_FOUND (as if missing) unless the viewer may see the author's content; None: a service reads."""
        if viewer_id is not None and await self.check(viewer_id, author_id) is not Verdict.VISIBLE:
            raise deny_content(what)

    async def require_account(self, viewer_id: int | None, author_id: int) -> None:
        """PERMISSION_DENIED (private) or NOT_FOUND (blocked) unless the viewer may see the account's listings."""
        if viewer_id is None:
            return
        found = await self.check(viewer_id, author_id)
        if found is not Verdict.VISIBLE:
            raise deny_account(found, author_id)

    async def visible_authors(self, viewer_id: int | None, author_ids: Iterable[int]) -> set[int]:
        """Which of these authors' content the viewer may see (all of them when a service reads)."""
        authors = set(author_ids)
        if viewer_id is None:
            return authors
        found = await self.relationships([(viewer_id, author) for author in authors])
        return {author for author in authors if may_see(viewer_id, author, found[(viewer_id, author)])}

    async def viewers_allowed(self, author_id: int, viewer_ids: Iterable[int]) -> set[int]:
        """Which of these users may see the author's content (whom a mention in it may notify)."""
        viewers = set(viewer_ids)
        found = await self.relationships([(viewer, author_id) for viewer in viewers])
        return {viewer for viewer in viewers if may_see(viewer, author_id, found[(viewer, author_id)])}

    async def unblocked(self, viewer_id: int | None, user_ids: Iterable[int]) -> set[int]:
        """Which of these users neither blocks the viewer nor is blocked by them (likers, commenters: a
        private account's likes and comments on public photos stay visible, as on Instagram)."""
        users = set(user_ids)
        if viewer_id is None or not users:
            return users
        found = await self.relationships([(viewer_id, user) for user in users])
        return {user for user in users if not found[(viewer_id, user)].blocked}

    async def feed_authors(self, viewer_id: int, author_ids: Iterable[int]) -> set[int]:
        """Which of these authors' posts may stand in the viewer's home feed (visible, not muted)."""
        authors = set(author_ids)
        found = await self.relationships([(viewer_id, author) for author in authors])
        return {author for author in authors if in_feed(viewer_id, author, found[(viewer_id, author)])}


def _forgetting(
    bus: EventBus, kind: type, users: Callable[..., tuple[int, ...]], cache: RelationshipCache
) -> Broadcast:
    def forget(event: object) -> None:
        for user_id in users(event):
            cache.forget(user_id)

    return Broadcast(bus, kind, forget)
