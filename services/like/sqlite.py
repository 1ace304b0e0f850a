"""SQLite implementation of LikeStore, with tables laid out the way a Cassandra schema would be.

- likes_by_photo (photo_id, user_id) → liked_at: has-liked is a point read; the likers index
  clusters each photo's likes newest first for keyset paging.
- likes_by_user (user_id, photo_id): only to find a deleted user's likes.
- like_counts (photo_id) → like_count: a counter kept beside the rows, so counts never scan.
A purged photo is tombstoned (services.runtime.tombstones), so a like racing its deletion cannot outlive it.
"""

from __future__ import annotations

import sqlite3

from services.like.store import MAX_BATCH, Like, LikerCursor, PhotoGone, Summary
from services.runtime.outbox import enqueue
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones
from shutter.events.v1 import events_pb2

_STEP_1 = """
CREATE TABLE IF NOT EXISTS likes_by_photo (
    photo_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    liked_at INTEGER NOT NULL,
    PRIMARY KEY (photo_id, user_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS likers_newest_first ON likes_by_photo (photo_id, liked_at DESC, user_id DESC);
CREATE TABLE IF NOT EXISTS likes_by_user (
    user_id INTEGER NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, photo_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS like_counts (
    photo_id INTEGER PRIMARY KEY,
    like_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS deleted_photos (
    photo_id INTEGER PRIMARY KEY
);
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # The store's own tombstones move into the runtime's deleted_ids; they had no time: now it is.
        """
        INSERT OR IGNORE INTO deleted_ids (kind, id, marked_ms)
            SELECT 'photo', photo_id, CAST(strftime('%s', 'now') AS INTEGER) * 1000 FROM deleted_photos;
        DROP TABLE deleted_photos;
        """,
    )
)

# Rows removed per write transaction when purging, so one huge purge never holds the writer long.
PURGE_CHUNK = 500


class SqliteLikeStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._marks = SqliteTombstones()

    async def like(self, photo_id: int, user_id: int, liked_at_ms: int, event: events_pb2.LikeChanged) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if self._marks.is_marked(conn, Kind.PHOTO, photo_id):
                raise PhotoGone(photo_id)
            inserted = conn.execute(
                "INSERT OR IGNORE INTO likes_by_photo (photo_id, user_id, liked_at) VALUES (?, ?, ?)",
                (photo_id, user_id, liked_at_ms),
            ).rowcount
            if not inserted:
                return False
            conn.execute("INSERT OR IGNORE INTO likes_by_user (user_id, photo_id) VALUES (?, ?)", (user_id, photo_id))
            _add_to_count(conn, photo_id, 1)
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def unlike(self, photo_id: int, user_id: int, event: events_pb2.LikeChanged) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if not _remove_like(conn, photo_id, user_id):
                return False
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def summaries(self, pairs: list[tuple[int, int]]) -> list[Summary]:
        if len(pairs) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        photos = sorted({photo_id for photo_id, _ in pairs})
        asked = sorted({(photo_id, viewer_id) for photo_id, viewer_id in pairs if viewer_id})

        def work(conn: sqlite3.Connection) -> list[Summary]:
            if not photos:
                return []
            marks = ",".join("?" * len(photos))
            counts = dict(
                conn.execute(f"SELECT photo_id, like_count FROM like_counts WHERE photo_id IN ({marks})", photos)
            )
            liked: set[tuple[int, int]] = set()
            if asked:
                # A join on a VALUES list is a primary-key lookup per pair; `(a, b) IN (VALUES …)` would scan.
                values = ",".join("(?, ?)" for _ in asked)
                liked = set(
                    conn.execute(
                        f"WITH asked(p, u) AS (VALUES {values}) "
                        "SELECT photo_id, user_id FROM asked JOIN likes_by_photo ON photo_id = p AND user_id = u",
                        [value for pair in asked for value in pair],
                    )
                )
            return [Summary(p, counts.get(p, 0), (p, v) in liked) for p, v in pairs]

        return await self._db.lookup(work)

    async def likers(self, photo_id: int, limit: int, after: LikerCursor | None) -> list[Like]:
        def work(conn: sqlite3.Connection) -> list[Like]:
            if after is None:
                rows = conn.execute(
                    "SELECT user_id, liked_at FROM likes_by_photo WHERE photo_id = ?"
                    " ORDER BY liked_at DESC, user_id DESC LIMIT ?",
                    (photo_id, limit),
                )
            else:
                rows = conn.execute(
                    "SELECT user_id, liked_at FROM likes_by_photo WHERE photo_id = ? AND (liked_at, user_id) < (?, ?)"
                    " ORDER BY liked_at DESC, user_id DESC LIMIT ?",
                    (photo_id, after.liked_at_ms, after.user_id, limit),
                )
            return [Like(user_id, liked_at) for user_id, liked_at in rows]

        return await self._db.read(work)

    async def purge_photo(self, photo_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            self._marks.mark(conn, Kind.PHOTO, photo_id)
            users = [
                row[0] for row in conn.execute("SELECT user_id FROM likes_by_photo WHERE photo_id = ?", (photo_id,))
            ]
            conn.executemany(
                "DELETE FROM likes_by_user WHERE user_id = ? AND photo_id = ?", [(u, photo_id) for u in users]
            )
            conn.execute("DELETE FROM likes_by_photo WHERE photo_id = ?", (photo_id,))
            conn.execute("DELETE FROM like_counts WHERE photo_id = ?", (photo_id,))
            return len(users)

        return await self._db.write(work)

    async def purge_user(self, user_id: int) -> int:
        def chunk(conn: sqlite3.Connection) -> int:
            photos = [
                row[0]
                for row in conn.execute(
                    "SELECT photo_id FROM likes_by_user WHERE user_id = ? LIMIT ?", (user_id, PURGE_CHUNK)
                )
            ]
            for photo_id in photos:
                _remove_like(conn, photo_id, user_id)
            return len(photos)

        dropped = 0
        while removed := await self._db.write(chunk):
            dropped += removed
        return dropped


def _remove_like(conn: sqlite3.Connection, photo_id: int, user_id: int) -> bool:
    """Delete one like from both tables and its count; False when there was none."""
    conn.execute("DELETE FROM likes_by_user WHERE user_id = ? AND photo_id = ?", (user_id, photo_id))
    removed = conn.execute(
        "DELETE FROM likes_by_photo WHERE photo_id = ? AND user_id = ?", (photo_id, user_id)
    ).rowcount
    if removed:
        _add_to_count(conn, photo_id, -1)
    return bool(removed)


def _add_to_count(conn: sqlite3.Connection, photo_id: int, delta: int) -> None:
    conn.execute("INSERT OR IGNORE INTO like_counts (photo_id, like_count) VALUES (?, 0)", (photo_id,))
    conn.execute("UPDATE like_counts SET like_count = max(like_count + ?, 0) WHERE photo_id = ?", (delta, photo_id))
