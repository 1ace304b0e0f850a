"""CQL (ScyllaDB) implementation of the follow store.

One change to the graph, one winner: follow claims the edge with a lightweight transaction and
unfollow or the purge removes it with `DELETE … IF follow_id = ?`; only the winner writes the list rows
and the event (one logged batch) and moves the counters. A follow racing its user's deletion checks
the tombstone before and after writing. Tables, counters' drift and consistency: docs/storage/follow.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message

from services.follow.store import Blocked, BlockEvents, DeletedUser, FollowCounts, FollowEdge, Link, LinkKind
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import (
    READ_FAST,
    READ_STRONG,
    SERIAL,
    WRITE_DURABLE,
    CqlDatabase,
    CqlSchema,
    Query,
    applied,
)
from services.runtime.outbox_cql import write_with_events
from services.runtime.requests import INT64_MAX
from services.runtime.tombstones import Kind
from services.runtime.tombstones_cql import CqlTombstones, copy_legacy_marks
from services.runtime.visibility import Pair, Relationship
from shutter.events.v1 import events_pb2

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS follows (
            follower_id bigint,
            followee_id bigint,
            follow_id bigint,
            time_stamp_ms bigint,
            PRIMARY KEY ((follower_id), followee_id)
        )""",
        """CREATE TABLE IF NOT EXISTS followers_by_user (
            followee_id bigint,
            follow_id bigint,
            follower_id bigint,
            time_stamp_ms bigint,
            PRIMARY KEY ((followee_id), follow_id)
        ) WITH CLUSTERING ORDER BY (follow_id DESC)""",
        """CREATE TABLE IF NOT EXISTS followees_by_user (
            follower_id bigint,
            follow_id bigint,
            followee_id bigint,
            time_stamp_ms bigint,
            PRIMARY KEY ((follower_id), follow_id)
        ) WITH CLUSTERING ORDER BY (follow_id DESC)""",
        """CREATE TABLE IF NOT EXISTS follow_counts (
            user_id bigint PRIMARY KEY,
            follower_count counter,
            followee_count counter
        )""",
        "CREATE TABLE IF NOT EXISTS deleted_users (user_id bigint PRIMARY KEY)",
        copy_legacy_marks("deleted_users", "user_id", Kind.USER),
        """CREATE TABLE IF NOT EXISTS user_links (
            kind text,
            from_id bigint,
            to_id bigint,
            link_id bigint,
            time_stamp_ms bigint,
            PRIMARY KEY ((kind, from_id), to_id)
        )""",
        """CREATE TABLE IF NOT EXISTS user_links_by_from (
            kind text,
            from_id bigint,
            link_id bigint,
            to_id bigint,
            time_stamp_ms bigint,
            PRIMARY KEY ((kind, from_id), link_id)
        ) WITH CLUSTERING ORDER BY (link_id DESC)""",
        "CREATE TABLE IF NOT EXISTS account_privacy (user_id bigint PRIMARY KEY, private boolean)",
    ),
)

CLAIM_LINK = Query(
    "INSERT INTO user_links (kind, from_id, to_id, link_id, time_stamp_ms) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_LINK = Query("SELECT link_id FROM user_links WHERE kind = ? AND from_id = ? AND to_id = ?", READ_STRONG)
RELEASE_LINK = Query(
    "DELETE FROM user_links WHERE kind = ? AND from_id = ? AND to_id = ? IF link_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
INSERT_LINK_ROW = Query(
    "INSERT INTO user_links_by_from (kind, from_id, link_id, to_id, time_stamp_ms) VALUES (?, ?, ?, ?, ?)",
    WRITE_DURABLE,
)
DELETE_LINK_ROW = Query("DELETE FROM user_links_by_from WHERE kind = ? AND from_id = ? AND link_id = ?", WRITE_DURABLE)
LINKS_PAGE = Query(
    "SELECT to_id, link_id, time_stamp_ms FROM user_links_by_from"
    " WHERE kind = ? AND from_id = ? AND link_id < ? LIMIT ?",
    READ_STRONG,
)
LINKED = Query("SELECT to_id FROM user_links WHERE kind = ? AND from_id = ? AND to_id IN ?", READ_STRONG)
READ_PRIVACY = Query("SELECT private FROM account_privacy WHERE user_id = ?", READ_STRONG)
PRIVATE_IN = Query("SELECT user_id, private FROM account_privacy WHERE user_id IN ?", READ_STRONG)
WRITE_PRIVACY = Query("INSERT INTO account_privacy (user_id, private) VALUES (?, ?)", WRITE_DURABLE)
FOLLOWING_STRONG = Query("SELECT followee_id FROM follows WHERE follower_id = ? AND followee_id IN ?", READ_STRONG)

CLAIM_EDGE = Query(
    "INSERT INTO follows (follower_id, followee_id, follow_id, time_stamp_ms) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_EDGE = Query("SELECT follow_id, time_stamp_ms FROM follows WHERE follower_id = ? AND followee_id = ?", READ_STRONG)
RELEASE_EDGE = Query(
    "DELETE FROM follows WHERE follower_id = ? AND followee_id = ? IF follow_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
INSERT_FOLLOWER = Query(
    "INSERT INTO followers_by_user (followee_id, follow_id, follower_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
    WRITE_DURABLE,
)
INSERT_FOLLOWEE = Query(
    "INSERT INTO followees_by_user (follower_id, follow_id, followee_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
    WRITE_DURABLE,
)
DELETE_FOLLOWER = Query("DELETE FROM followers_by_user WHERE followee_id = ? AND follow_id = ?", WRITE_DURABLE)
DELETE_FOLLOWEE = Query("DELETE FROM followees_by_user WHERE follower_id = ? AND follow_id = ?", WRITE_DURABLE)
FOLLOWERS_PAGE = Query(
    "SELECT follower_id, follow_id, time_stamp_ms FROM followers_by_user"
    " WHERE followee_id = ? AND follow_id < ? LIMIT ?",
    READ_FAST,
)
FOLLOWEES_PAGE = Query(
    "SELECT followee_id, follow_id, time_stamp_ms FROM followees_by_user"
    " WHERE follower_id = ? AND follow_id < ? LIMIT ?",
    READ_FAST,
)
_CLUSTERING_IN_LIMIT = 100
FOLLOWING = Query("SELECT followee_id FROM follows WHERE follower_id = ? AND followee_id IN ?", READ_FAST)
COUNTS = Query("SELECT follower_count, followee_count FROM follow_counts WHERE user_id = ?", READ_FAST)
BUMP_FOLLOWERS = Query(
    "UPDATE follow_counts SET follower_count = follower_count + ? WHERE user_id = ?", WRITE_DURABLE, idempotent=False
)
BUMP_FOLLOWEES = Query(
    "UPDATE follow_counts SET followee_count = followee_count + ? WHERE user_id = ?", WRITE_DURABLE, idempotent=False
)
DELETE_COUNTS = Query("DELETE FROM follow_counts WHERE user_id = ?", WRITE_DURABLE)
# The purge's work queue: what is left of a deleted user's edges, read at quorum so nothing is missed.
INBOUND_LEFT = Query(
    "SELECT follower_id, followee_id, follow_id FROM followers_by_user WHERE followee_id = ? LIMIT ?", READ_STRONG
)
OUTBOUND_LEFT = Query(
    "SELECT follower_id, followee_id, follow_id FROM followees_by_user WHERE follower_id = ? LIMIT ?", READ_STRONG
)
HALF_EDGES_LEFT = Query(
    "SELECT follower_id, followee_id, follow_id FROM follows WHERE follower_id = ? LIMIT ?", READ_STRONG
)

# Edges purged at once: bounded so a huge account's purge never floods the cluster.
_PURGE_CONCURRENCY = 32


def _list_rows(follower_id: int, followee_id: int, follow_id: int, time_stamp_ms: int) -> list[tuple[Query, tuple]]:
    return [
        (INSERT_FOLLOWER, (followee_id, follow_id, follower_id, time_stamp_ms)),
        (INSERT_FOLLOWEE, (follower_id, follow_id, followee_id, time_stamp_ms)),
    ]


def _list_deletes(follower_id: int, followee_id: int, follow_id: int) -> list[tuple[Query, tuple]]:
    return [(DELETE_FOLLOWER, (followee_id, follow_id)), (DELETE_FOLLOWEE, (follower_id, follow_id))]


class CqlFollowStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db
        self._marks = CqlTombstones(db)

    async def follow(self, edge: FollowEdge, event: events_pb2.FollowCreated) -> tuple[FollowEdge, bool]:
        await self._refuse_deleted(edge.follower_id, edge.followee_id)
        await self._refuse_blocked(edge.follower_id, edge.followee_id)
        rows = await self._db.execute(
            CLAIM_EDGE, (edge.follower_id, edge.followee_id, edge.follow_id, edge.time_stamp_ms)
        )
        if not applied(rows) and rows[0].follow_id != edge.follow_id:  # equal: our own attempt, retried
            existing = rows[0]
            return FollowEdge(edge.follower_id, edge.followee_id, existing.follow_id, existing.time_stamp_ms), False
        await write_with_events(
            self._db, _list_rows(edge.follower_id, edge.followee_id, edge.follow_id, edge.time_stamp_ms), [event]
        )
        await self._count(edge.follower_id, edge.followee_id, +1)
        try:
            await self._refuse_deleted(edge.follower_id, edge.followee_id)
            await self._refuse_blocked(edge.follower_id, edge.followee_id)
        except (DeletedUser, Blocked):  # deleted or blocked while we wrote: the purge may have missed this edge
            await self._purge_edge(edge.follower_id, edge.followee_id, edge.follow_id)
            raise
        return edge, True

    async def unfollow(self, follower_id: int, followee_id: int, event: events_pb2.FollowDeleted) -> bool:
        rows = await self._db.execute(READ_EDGE, (follower_id, followee_id))
        if not rows:
            return False
        follow_id = rows[0].follow_id
        if not applied(await self._db.execute(RELEASE_EDGE, (follower_id, followee_id, follow_id))):
            return False  # another unfollow (or the purge) removed it first
        await write_with_events(self._db, _list_deletes(follower_id, followee_id, follow_id), [event])
        await self._count(follower_id, followee_id, -1)
        return True

    async def followers(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        cursor = before_follow_id if before_follow_id is not None else INT64_MAX
        rows = await self._db.execute(FOLLOWERS_PAGE, (user_id, cursor, limit))
        return [FollowEdge(row.follower_id, user_id, row.follow_id, row.time_stamp_ms) for row in rows]

    async def followees(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        cursor = before_follow_id if before_follow_id is not None else INT64_MAX
        rows = await self._db.execute(FOLLOWEES_PAGE, (user_id, cursor, limit))
        return [FollowEdge(user_id, row.followee_id, row.follow_id, row.time_stamp_ms) for row in rows]

    async def counts(self, user_id: int) -> FollowCounts:
        rows = await self._db.execute(COUNTS, (user_id,))
        if not rows:
            return FollowCounts(0, 0)
        return FollowCounts(rows[0].follower_count or 0, rows[0].followee_count or 0)

    async def following(self, follower_id: int, followee_ids: Sequence[int]) -> set[int]:
        if not followee_ids:
            return set()
        # ScyllaDB refuses clustering-key IN lists longer than max_clustering_key_restrictions_per_query
        # (100 by default), and CheckFollowing takes up to 1,000 ids: ask in chunks, concurrently.
        ids = list(dict.fromkeys(followee_ids))
        chunks = [ids[i : i + _CLUSTERING_IN_LIMIT] for i in range(0, len(ids), _CLUSTERING_IN_LIMIT)]
        pages = await asyncio.gather(*(self._db.execute(FOLLOWING, (follower_id, chunk)) for chunk in chunks))
        return {row.followee_id for rows in pages for row in rows}

    async def tombstone_user(self, user_id: int) -> None:
        await self._marks.mark(Kind.USER, user_id)

    async def remove_user_edges(self, user_id: int, limit: int) -> int:
        async def purge(row: Any) -> None:
            await self._purge_edge(row.follower_id, row.followee_id, row.follow_id)

        removed = 0
        for source in (INBOUND_LEFT, OUTBOUND_LEFT, HALF_EDGES_LEFT):
            if removed >= limit:
                break
            rows = await self._db.execute(source, (user_id, limit - removed))
            await bounded_gather(rows, purge, _PURGE_CONCURRENCY)
            removed += len(rows)
        if removed == 0:
            await self._db.execute(DELETE_COUNTS, (user_id,))  # tombstoned: nothing will count it again
        return removed

    async def _purge_edge(self, follower_id: int, followee_id: int, follow_id: int) -> None:
        """Remove one edge without an event; counts move only if this call removed the edge row."""
        if applied(await self._db.execute(RELEASE_EDGE, (follower_id, followee_id, follow_id))):
            await self._count(follower_id, followee_id, -1)
        await self._db.batch(_list_deletes(follower_id, followee_id, follow_id))

    async def _count(self, follower_id: int, followee_id: int, delta: int) -> None:
        await asyncio.gather(
            self._db.execute(BUMP_FOLLOWERS, (delta, followee_id)),
            self._db.execute(BUMP_FOLLOWEES, (delta, follower_id)),
        )

    async def _refuse_deleted(self, *user_ids: int) -> None:
        deleted = await self._marks.which_marked(Kind.USER, user_ids)
        for user_id in user_ids:
            if user_id in deleted:
                raise DeletedUser(user_id)

    async def _refuse_blocked(self, a: int, b: int) -> None:
        forward, backward = await asyncio.gather(
            self._db.execute(LINKED, (LinkKind.BLOCK.value, a, [b])),
            self._db.execute(LINKED, (LinkKind.BLOCK.value, b, [a])),
        )
        if forward or backward:
            raise Blocked(b)

    # -- links: blocks, mutes, follow requests ------------------------------------------------------
    # One winner per change, as for edges: the link row is claimed (IF NOT EXISTS) or released (IF link_id
    # = ?) with a lightweight transaction, and only the winner writes the list row and the event.

    async def add_link(self, link: Link, event: Message) -> bool:
        rows = await self._db.execute(
            CLAIM_LINK, (link.kind.value, link.from_id, link.to_id, link.link_id, link.time_stamp_ms)
        )
        if not applied(rows) and rows[0].link_id != link.link_id:  # equal: our own attempt, retried
            return False
        row = (INSERT_LINK_ROW, (link.kind.value, link.from_id, link.link_id, link.to_id, link.time_stamp_ms))
        await write_with_events(self._db, [row], [event])
        return True

    async def _release_link(self, kind: LinkKind, from_id: int, to_id: int) -> int | None:
        """The removed link's id, or None when there was none (or another remover won)."""
        rows = await self._db.execute(READ_LINK, (kind.value, from_id, to_id))
        if not rows:
            return None
        link_id = rows[0].link_id
        if not applied(await self._db.execute(RELEASE_LINK, (kind.value, from_id, to_id, link_id))):
            return None
        return link_id

    async def remove_link(self, kind: LinkKind, from_id: int, to_id: int, event: Message) -> bool:
        link_id = await self._release_link(kind, from_id, to_id)
        if link_id is None:
            return False
        await write_with_events(self._db, [(DELETE_LINK_ROW, (kind.value, from_id, link_id))], [event])
        return True

    async def links(self, kind: LinkKind, from_id: int, before_link_id: int | None, limit: int) -> list[Link]:
        cursor = before_link_id if before_link_id is not None else INT64_MAX
        rows = await self._db.execute(LINKS_PAGE, (kind.value, from_id, cursor, limit))
        return [Link(kind, from_id, row.to_id, row.link_id, row.time_stamp_ms) for row in rows]

    async def approve_request(
        self,
        edge: FollowEdge,
        resolved: events_pb2.FollowRequestResolved,
        created: events_pb2.FollowCreated,
    ) -> tuple[FollowEdge, bool] | None:
        if not await self.remove_link(LinkKind.REQUEST, edge.followee_id, edge.follower_id, resolved):
            return None
        try:
            return await self.follow(edge, created)
        except Blocked:
            return None  # a request left over from a race with a block ends here, unapproved

    async def block(self, link: Link, events: BlockEvents) -> bool:
        a, b = link.from_id, link.to_id
        # The block first: a follow racing it re-checks blocks after writing and removes itself.
        created = await self.add_link(link, events.created)
        for follower_id, followee_id in ((a, b), (b, a)):
            await self.unfollow(follower_id, followee_id, events.unfollows[(follower_id, followee_id)])
        for target_id, requester_id in ((a, b), (b, a)):
            await self.remove_link(
                LinkKind.REQUEST, target_id, requester_id, events.requests_ended[(target_id, requester_id)]
            )
        return created

    async def set_private(self, user_id: int, private: bool, event: events_pb2.AccountPrivacyChanged) -> bool:
        rows = await self._db.execute(READ_PRIVACY, (user_id,))
        if bool(rows and rows[0].private) == private:
            return False
        await write_with_events(self._db, [(WRITE_PRIVACY, (user_id, private))], [event])
        return True

    async def private_users(self, user_ids: Sequence[int]) -> set[int]:
        ids = list(dict.fromkeys(user_ids))
        found: set[int] = set()
        for start in range(0, len(ids), _CLUSTERING_IN_LIMIT):
            rows = await self._db.execute(PRIVATE_IN, (ids[start : start + _CLUSTERING_IN_LIMIT],))
            found.update(row.user_id for row in rows if row.private)
        return found

    async def relationships(self, pairs: Sequence[Pair]) -> dict[Pair, Relationship]:
        """Grouped by viewer and by author, so a batch costs a few IN queries per distinct user, all at once."""
        unique = list(dict.fromkeys(pairs))
        if not unique:
            return {}
        by_viewer: dict[int, list[int]] = {}
        by_author: dict[int, list[int]] = {}
        for viewer, author in unique:
            by_viewer.setdefault(viewer, []).append(author)
            by_author.setdefault(author, []).append(viewer)

        async def linked(query: Query, head: tuple, ids: list[int]) -> set[int]:
            chunks = [ids[i : i + _CLUSTERING_IN_LIMIT] for i in range(0, len(ids), _CLUSTERING_IN_LIMIT)]
            pages = await asyncio.gather(*(self._db.execute(query, (*head, chunk)) for chunk in chunks))
            return {row[0] for rows in pages for row in rows}

        async def per_viewer(viewer: int, authors: list[int]) -> list[set[int]]:
            return list(
                await asyncio.gather(
                    linked(FOLLOWING_STRONG, (viewer,), authors),
                    linked(LINKED, (LinkKind.BLOCK.value, viewer), authors),
                    linked(LINKED, (LinkKind.MUTE.value, viewer), authors),
                )
            )

        async def per_author(author: int, viewers: list[int]) -> list[set[int]]:
            return list(
                await asyncio.gather(
                    linked(LINKED, (LinkKind.REQUEST.value, author), viewers),
                    linked(LINKED, (LinkKind.BLOCK.value, author), viewers),
                )
            )

        viewer_facts = await asyncio.gather(*(per_viewer(v, authors) for v, authors in by_viewer.items()))
        author_facts = await asyncio.gather(*(per_author(a, viewers) for a, viewers in by_author.items()))
        private = await self.private_users(list(by_author))
        # Transposed: one dict per fact, keyed by the user it was asked for.
        following, blocking, muting = (
            dict(zip(by_viewer, facts, strict=True)) for facts in zip(*viewer_facts, strict=True)
        )
        requested, blocked_by = (dict(zip(by_author, facts, strict=True)) for facts in zip(*author_facts, strict=True))
        return {
            (viewer, author): Relationship(
                author_private=author in private,
                following=author in following[viewer],
                requested=viewer in requested[author],
                blocked_by_author=viewer in blocked_by[author],
                blocked_by_viewer=author in blocking[viewer],
                muted=author in muting[viewer],
            )
            for viewer, author in unique
        }
