"""SQLite implementation of the follow store (tables laid out as the CQL ones are)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from services.follow.store import DeletedUser, FollowCounts, FollowEdge
from services.runtime.outbox import enqueue
from services.runtime.requests import INT64_MAX
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones
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
    )
)

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
            for user_id in (edge.follower_id, edge.followee_id):
                if self._marks.is_marked(conn, Kind.USER, user_id):
                    raise DeletedUser(user_id)
            conn.execute(
                "INSERT INTO follows (follower_id, followee_id, follow_id, time_stamp_ms) VALUES (?, ?, ?, ?)",
                (edge.follower_id, edge.followee_id, edge.follow_id, edge.time_stamp_ms),
            )
            conn.execute(
                "INSERT INTO followers_by_user (followee_id, follow_id, follower_id, time_stamp_ms)"
                " VALUES (?, ?, ?, ?)",
                (edge.followee_id, edge.follow_id, edge.follower_id, edge.time_stamp_ms),
            )
            conn.execute(
                "INSERT INTO followees_by_user (follower_id, follow_id, followee_id, time_stamp_ms)"
                " VALUES (?, ?, ?, ?)",
                (edge.follower_id, edge.follow_id, edge.followee_id, edge.time_stamp_ms),
            )
            _bump(conn, edge.followee_id, "follower_count", 1)
            _bump(conn, edge.follower_id, "followee_count", 1)
            enqueue(conn, event)
            return edge, True

        return await self._db.write(work)

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
