"""SQLite implementation of the follow store (tables laid out as the CQL ones are)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from google.protobuf.message import Message

from services.follow.store import Blocked, BlockEvents, DeletedUser, FollowCounts, FollowEdge, Link, LinkKind
from services.runtime.outbox import enqueue
from services.runtime.requests import INT64_MAX
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones
from services.runtime.visibility import Pair, Relationship
from shutter.events.v1 import events_pb2

_STEP_1 = """
CREATE TABLE IF NOT EXISTS follows (
    follower_id INTEGER NOT NULL,
    followee_id INTEGER NOT NULL,
    follow_id INTEGER NOT NULL,
    time_stamp_ms INTEGER NOT NULL,
    PRIMARY KEY (follower_id, followee_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS followers_by_user (
    followee_id INTEGER NOT NULL,
    follow_id INTEGER NOT NULL,
    follower_id INTEGER NOT NULL,
    time_stamp_ms INTEGER NOT NULL,
    PRIMARY KEY (followee_id, follow_id DESC)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS followees_by_user (
    follower_id INTEGER NOT NULL,
    follow_id INTEGER NOT NULL,
    followee_id INTEGER NOT NULL,
    time_stamp_ms INTEGER NOT NULL,
    PRIMARY KEY (follower_id, follow_id DESC)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS follow_counts (
    user_id INTEGER PRIMARY KEY,
    follower_count INTEGER NOT NULL DEFAULT 0,
    followee_count INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS deleted_users (
    user_id INTEGER PRIMARY KEY
) WITHOUT ROWID;
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # The store's own tombstones move into the runtime's deleted_ids; they had no time: now it is.
        """
        INSERT OR IGNORE INTO deleted_ids (kind, id, marked_ms)
            SELECT 'user', user_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM deleted_users;
        DROP TABLE deleted_users;
        """,
        """
        CREATE TABLE IF NOT EXISTS user_links (
            kind TEXT NOT NULL,
            from_id INTEGER NOT NULL,
            to_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL,
            time_stamp_ms INTEGER NOT NULL,
            PRIMARY KEY (kind, from_id, to_id)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS user_links_by_from (
            kind TEXT NOT NULL,
            from_id INTEGER NOT NULL,
            link_id INTEGER NOT NULL,
            to_id INTEGER NOT NULL,
            time_stamp_ms INTEGER NOT NULL,
            PRIMARY KEY (kind, from_id, link_id DESC)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS account_privacy (
            user_id INTEGER PRIMARY KEY,
            private INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    )
)

_RELATIONSHIP = """
SELECT
    COALESCE((SELECT private FROM account_privacy WHERE user_id = :author), 0),
    EXISTS (SELECT 1 FROM follows WHERE follower_id = :viewer AND followee_id = :author),
    EXISTS (SELECT 1 FROM user_links WHERE kind = 'request' AND from_id = :author AND to_id = :viewer),
    EXISTS (SELECT 1 FROM user_links WHERE kind = 'block' AND from_id = :author AND to_id = :viewer),
    EXISTS (SELECT 1 FROM user_links WHERE kind = 'block' AND from_id = :viewer AND to_id = :author),
    EXISTS (SELECT 1 FROM user_links WHERE kind = 'mute' AND from_id = :viewer AND to_id = :author)
"""

_IN_CHUNK = 500


def _bump(conn: sqlite3.Connection, user_id: int, column: str, delta: int) -> None:
    """Add `delta` to one count; `column` is one of two literals chosen by this module."""
    assert column in ("follower_count", "followee_count")
    conn.execute("INSERT OR IGNORE INTO follow_counts (user_id) VALUES (?)", (user_id,))
    conn.execute(f"UPDATE follow_counts SET {column} = {column} + ? WHERE user_id = ?", (delta, user_id))


def _remove_edge(conn: sqlite3.Connection, follower_id: int, followee_id: int, follow_id: int) -> None:
    """Drop one edge from every table and both counts (inside the caller's transaction)."""
    conn.execute("DELETE FROM follows WHERE follower_id = ? AND followee_id = ?", (follower_id, followee_id))
    conn.execute("DELETE FROM followers_by_user WHERE followee_id = ? AND follow_id = ?", (followee_id, follow_id))
    conn.execute("DELETE FROM followees_by_user WHERE follower_id = ? AND follow_id = ?", (follower_id, follow_id))
    _bump(conn, followee_id, "follower_count", -1)
    _bump(conn, follower_id, "followee_count", -1)


def _is_blocked(conn: sqlite3.Connection, a: int, b: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM user_links WHERE kind = 'block'"
            " AND ((from_id = ? AND to_id = ?) OR (from_id = ? AND to_id = ?))",
            (a, b, b, a),
        ).fetchone()
        is not None
    )


def _add_link(conn: sqlite3.Connection, link: Link) -> bool:
    if (
        conn.execute(
            "SELECT 1 FROM user_links WHERE kind = ? AND from_id = ? AND to_id = ?",
            (link.kind.value, link.from_id, link.to_id),
        ).fetchone()
        is not None
    ):
        return False
    conn.execute(
        "INSERT INTO user_links (kind, from_id, to_id, link_id, time_stamp_ms) VALUES (?, ?, ?, ?, ?)",
        (link.kind.value, link.from_id, link.to_id, link.link_id, link.time_stamp_ms),
    )
    conn.execute(
        "INSERT INTO user_links_by_from (kind, from_id, link_id, to_id, time_stamp_ms) VALUES (?, ?, ?, ?, ?)",
        (link.kind.value, link.from_id, link.link_id, link.to_id, link.time_stamp_ms),
    )
    return True


def _remove_link(conn: sqlite3.Connection, kind: LinkKind, from_id: int, to_id: int) -> bool:
    row = conn.execute(
        "SELECT link_id FROM user_links WHERE kind = ? AND from_id = ? AND to_id = ?", (kind.value, from_id, to_id)
    ).fetchone()
    if row is None:
        return False
    conn.execute("DELETE FROM user_links WHERE kind = ? AND from_id = ? AND to_id = ?", (kind.value, from_id, to_id))
    conn.execute(
        "DELETE FROM user_links_by_from WHERE kind = ? AND from_id = ? AND link_id = ?", (kind.value, from_id, row[0])
    )
    return True


def _insert_edge(conn: sqlite3.Connection, edge: FollowEdge) -> None:
    conn.execute(
        "INSERT INTO follows (follower_id, followee_id, follow_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
        (edge.follower_id, edge.followee_id, edge.follow_id, edge.time_stamp_ms),
    )
    conn.execute(
        "INSERT INTO followers_by_user (followee_id, follow_id, follower_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
        (edge.followee_id, edge.follow_id, edge.follower_id, edge.time_stamp_ms),
    )
    conn.execute(
        "INSERT INTO followees_by_user (follower_id, follow_id, followee_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
        (edge.follower_id, edge.follow_id, edge.followee_id, edge.time_stamp_ms),
    )
    _bump(conn, edge.followee_id, "follower_count", 1)
    _bump(conn, edge.follower_id, "followee_count", 1)


class SqliteFollowStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._marks = SqliteTombstones()

    async def follow(self, edge: FollowEdge, event: events_pb2.FollowCreated) -> tuple[FollowEdge, bool]:
        def work(conn: sqlite3.Connection) -> tuple[FollowEdge, bool]:
            row = conn.execute(
                "SELECT follow_id, time_stamp_ms FROM follows WHERE follower_id = ? AND followee_id = ?",
                (edge.follower_id, edge.followee_id),
            ).fetchone()
            if row is not None:
                return FollowEdge(edge.follower_id, edge.followee_id, *row), False
            self._refuse(conn, edge)
            _insert_edge(conn, edge)
            enqueue(conn, event)
            return edge, True

        return await self._db.write(work)

    def _refuse(self, conn: sqlite3.Connection, edge: FollowEdge) -> None:
        for user_id in (edge.follower_id, edge.followee_id):
            if self._marks.is_marked(conn, Kind.USER, user_id):
                raise DeletedUser(user_id)
        if _is_blocked(conn, edge.follower_id, edge.followee_id):
            raise Blocked(edge.followee_id)

    async def unfollow(self, follower_id: int, followee_id: int, event: events_pb2.FollowDeleted) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "SELECT follow_id FROM follows WHERE follower_id = ? AND followee_id = ?", (follower_id, followee_id)
            ).fetchone()
            if row is None:
                return False
            _remove_edge(conn, follower_id, followee_id, row[0])
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def followers(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        def work(conn: sqlite3.Connection) -> list[FollowEdge]:
            rows = conn.execute(
                "SELECT follower_id, followee_id, follow_id, time_stamp_ms FROM followers_by_user"
                " WHERE followee_id = ? AND follow_id < ? ORDER BY follow_id DESC LIMIT ?",
                (user_id, before_follow_id if before_follow_id is not None else INT64_MAX, limit),
            ).fetchall()
            return [FollowEdge(*row) for row in rows]

        return await self._db.read(work)

    async def followees(self, user_id: int, before_follow_id: int | None, limit: int) -> list[FollowEdge]:
        def work(conn: sqlite3.Connection) -> list[FollowEdge]:
            rows = conn.execute(
                "SELECT follower_id, followee_id, follow_id, time_stamp_ms FROM followees_by_user"
                " WHERE follower_id = ? AND follow_id < ? ORDER BY follow_id DESC LIMIT ?",
                (user_id, before_follow_id if before_follow_id is not None else INT64_MAX, limit),
            ).fetchall()
            return [FollowEdge(*row) for row in rows]

        return await self._db.read(work)

    async def counts(self, user_id: int) -> FollowCounts:
        def work(conn: sqlite3.Connection) -> FollowCounts:
            row = conn.execute(
                "SELECT follower_count, followee_count FROM follow_counts WHERE user_id = ?", (user_id,)
            ).fetchone()
            return FollowCounts(*row) if row else FollowCounts(0, 0)

        return await self._db.read(work)

    async def following(self, follower_id: int, followee_ids: Sequence[int]) -> set[int]:
        def work(conn: sqlite3.Connection) -> set[int]:
            found: set[int] = set()
            for start in range(0, len(followee_ids), _IN_CHUNK):
                chunk = list(followee_ids[start : start + _IN_CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT followee_id FROM follows WHERE follower_id = ? AND followee_id IN ({marks})",
                        [follower_id, *chunk],
                    )
                )
            return found

        return await self._db.read(work)

    async def tombstone_user(self, user_id: int) -> None:
        await self._db.write(lambda conn: self._marks.mark(conn, Kind.USER, user_id))

    async def remove_user_edges(self, user_id: int, limit: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            inbound = conn.execute(
                "SELECT follower_id, follow_id FROM followers_by_user WHERE followee_id = ? LIMIT ?", (user_id, limit)
            ).fetchall()
            for follower_id, follow_id in inbound:
                _remove_edge(conn, follower_id, user_id, follow_id)
            outbound = conn.execute(
                "SELECT followee_id, follow_id FROM followees_by_user WHERE follower_id = ? LIMIT ?",
                (user_id, limit - len(inbound)),
            ).fetchall()
            for followee_id, follow_id in outbound:
                _remove_edge(conn, user_id, followee_id, follow_id)
            removed = len(inbound) + len(outbound)
            if removed == 0:
                conn.execute("DELETE FROM follow_counts WHERE user_id = ?", (user_id,))
            return removed

        return await self._db.write(work)

    # -- links: blocks, mutes, follow requests ------------------------------------------------------

    async def add_link(self, link: Link, event: Message) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if not _add_link(conn, link):
                return False
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def remove_link(self, kind: LinkKind, from_id: int, to_id: int, event: Message) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if not _remove_link(conn, kind, from_id, to_id):
                return False
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def links(self, kind: LinkKind, from_id: int, before_link_id: int | None, limit: int) -> list[Link]:
        def work(conn: sqlite3.Connection) -> list[Link]:
            rows = conn.execute(
                "SELECT to_id, link_id, time_stamp_ms FROM user_links_by_from"
                " WHERE kind = ? AND from_id = ? AND link_id < ? ORDER BY link_id DESC LIMIT ?",
                (kind.value, from_id, before_link_id if before_link_id is not None else INT64_MAX, limit),
            ).fetchall()
            return [Link(kind, from_id, to_id, link_id, stamp) for to_id, link_id, stamp in rows]

        return await self._db.read(work)

    async def approve_request(
        self,
        edge: FollowEdge,
        resolved: events_pb2.FollowRequestResolved,
        created: events_pb2.FollowCreated,
    ) -> tuple[FollowEdge, bool] | None:
        def work(conn: sqlite3.Connection) -> tuple[FollowEdge, bool] | None:
            if not _remove_link(conn, LinkKind.REQUEST, edge.followee_id, edge.follower_id):
                return None
            enqueue(conn, resolved)
            row = conn.execute(
                "SELECT follow_id, time_stamp_ms FROM follows WHERE follower_id = ? AND followee_id = ?",
                (edge.follower_id, edge.followee_id),
            ).fetchone()
            if row is not None:
                return FollowEdge(edge.follower_id, edge.followee_id, *row), False
            if _is_blocked(conn, edge.follower_id, edge.followee_id):
                return None  # a request left over from a race with a block ends here, unapproved
            self._refuse(conn, edge)
            _insert_edge(conn, edge)
            enqueue(conn, created)
            return edge, True

        return await self._db.write(work)

    async def block(self, link: Link, events: BlockEvents) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            a, b = link.from_id, link.to_id
            for follower_id, followee_id in ((a, b), (b, a)):
                row = conn.execute(
                    "SELECT follow_id FROM follows WHERE follower_id = ? AND followee_id = ?",
                    (follower_id, followee_id),
                ).fetchone()
                if row is not None:
                    _remove_edge(conn, follower_id, followee_id, row[0])
                    enqueue(conn, events.unfollows[(follower_id, followee_id)])
            for target_id, requester_id in ((a, b), (b, a)):
                if _remove_link(conn, LinkKind.REQUEST, target_id, requester_id):
                    enqueue(conn, events.requests_ended[(target_id, requester_id)])
            if not _add_link(conn, link):
                return False
            enqueue(conn, events.created)
            return True

        return await self._db.write(work)

    async def set_private(self, user_id: int, private: bool, event: events_pb2.AccountPrivacyChanged) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT private FROM account_privacy WHERE user_id = ?", (user_id,)).fetchone()
            if bool(row and row[0]) == private:
                return False
            conn.execute(
                "INSERT INTO account_privacy (user_id, private) VALUES (?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET private = excluded.private",
                (user_id, int(private)),
            )
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def private_users(self, user_ids: Sequence[int]) -> set[int]:
        def work(conn: sqlite3.Connection) -> set[int]:
            found: set[int] = set()
            ids = list(dict.fromkeys(user_ids))
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(
                    row[0]
                    for row in conn.execute(
                        f"SELECT user_id FROM account_privacy WHERE private = 1 AND user_id IN ({marks})", chunk
                    )
                )
            return found

        return await self._db.read(work)

    async def relationships(self, pairs: Sequence[Pair]) -> dict[Pair, Relationship]:
        def work(conn: sqlite3.Connection) -> dict[Pair, Relationship]:
            found: dict[Pair, Relationship] = {}
            for viewer, author in dict.fromkeys(pairs):
                row = conn.execute(_RELATIONSHIP, {"viewer": viewer, "author": author}).fetchone()
                found[(viewer, author)] = Relationship(*(bool(value) for value in row))
            return found

        return await self._db.read(work)
