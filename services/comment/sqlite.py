"""SQLite implementation of CommentStore, with tables laid out the way a Cassandra schema would be.

- comments_by_photo (photo_id, comment_id): ids are time-ordered, so the clustering order is
  creation order and a page in either direction is one range read.
- comments_by_user (user_id, photo_id, comment_id): only to find a deleted user's comments.
- comment_counts (photo_id) → comment_count: a counter kept beside the rows, so counts never scan.
A purged photo is tombstoned (services.runtime.tombstones), so a comment racing its deletion cannot outlive it.
"""

from __future__ import annotations

import sqlite3

from services.comment.store import MAX_BATCH, Comment, CommentLikes, FirstPage, PhotoGone
from services.runtime.outbox import enqueue
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones
from shutter.events.v1 import events_pb2

_STEP_1 = """
CREATE TABLE IF NOT EXISTS comments_by_photo (
    photo_id INTEGER NOT NULL,
    comment_id INTEGER NOT NULL,
    user_id INTEGER NOT NULL,
    text TEXT NOT NULL,
    time_stamp_us INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (photo_id, comment_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS comments_by_user (
    user_id INTEGER NOT NULL,
    photo_id INTEGER NOT NULL,
    comment_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, photo_id, comment_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS comment_counts (
    photo_id INTEGER PRIMARY KEY,
    comment_count INTEGER NOT NULL
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
        # Replies (one level) and likes on comments.
        """
        ALTER TABLE comments_by_photo ADD COLUMN parent_id INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE IF NOT EXISTS comment_likes (
            photo_id INTEGER NOT NULL,
            comment_id INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            PRIMARY KEY (photo_id, comment_id, user_id)
        ) WITHOUT ROWID;
        """,
    )
)

_COLUMNS = "comment_id, photo_id, user_id, text, time_stamp_us, created_at_us, parent_id"

# Rows removed per write transaction when purging, so one huge purge never holds the writer long.
PURGE_CHUNK = 500


class SqliteCommentStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._marks = SqliteTombstones()

    async def post(self, comment: Comment, event: events_pb2.CommentChanged) -> None:
        def work(conn: sqlite3.Connection) -> None:
            if self._marks.is_marked(conn, Kind.PHOTO, comment.photo_id):
                raise PhotoGone(comment.photo_id)
            conn.execute(
                f"INSERT INTO comments_by_photo ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    comment.comment_id,
                    comment.photo_id,
                    comment.user_id,
                    comment.text,
                    comment.time_stamp_us,
                    comment.created_at_us,
                    comment.parent_id,
                ),
            )
            conn.execute(
                "INSERT INTO comments_by_user (user_id, photo_id, comment_id) VALUES (?, ?, ?)",
                (comment.user_id, comment.photo_id, comment.comment_id),
            )
            _add_to_count(conn, comment.photo_id, 1)
            enqueue(conn, event)

        await self._db.write(work)

    async def get(self, photo_id: int, comment_id: int) -> Comment | None:
        def work(conn: sqlite3.Connection) -> Comment | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ? AND comment_id = ?",
                (photo_id, comment_id),
            ).fetchone()
            return Comment(*row) if row else None

        return await self._db.read(work)

    async def delete(self, photo_id: int, comment_id: int, event: events_pb2.CommentChanged) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if not _remove(conn, photo_id, comment_id):
                return False
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def page(self, photo_id: int, limit: int, after_comment_id: int | None, newest_first: bool) -> list[Comment]:
        direction, comparison = ("DESC", "<") if newest_first else ("ASC", ">")
        sql = f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ?"
        params: tuple[int, ...] = (photo_id,)
        if after_comment_id is not None:
            sql += f" AND comment_id {comparison} ?"
            params += (after_comment_id,)
        sql += f" ORDER BY comment_id {direction} LIMIT ?"

        def work(conn: sqlite3.Connection) -> list[Comment]:
            return [Comment(*row) for row in conn.execute(sql, (*params, limit))]

        return await self._db.read(work)

    async def first_pages(self, photo_ids: list[int], limit: int, newest_first: bool) -> list[FirstPage]:
        if len(photo_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        unique = sorted(set(photo_ids))
        direction = "DESC" if newest_first else "ASC"
        page = f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ? ORDER BY comment_id {direction} LIMIT ?"

        def work(conn: sqlite3.Connection) -> list[FirstPage]:
            if not unique:
                return []
            marks = ",".join("?" * len(unique))
            # One snapshot for every page and count, so a count never disagrees with its page.
            conn.execute("BEGIN")
            try:
                counts = dict(
                    conn.execute(
                        f"SELECT photo_id, comment_count FROM comment_counts WHERE photo_id IN ({marks})", unique
                    )
                )
                pages = {
                    photo_id: [Comment(*row) for row in conn.execute(page, (photo_id, limit))] for photo_id in unique
                }
            finally:
                conn.execute("COMMIT")
            return [FirstPage(pages[photo_id], counts.get(photo_id, 0)) for photo_id in photo_ids]

        return await self._db.read(work)

    async def counts(self, photo_ids: list[int]) -> list[int]:
        if len(photo_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        unique = sorted(set(photo_ids))

        def work(conn: sqlite3.Connection) -> list[int]:
            if not unique:
                return []
            marks = ",".join("?" * len(unique))
            found = dict(
                conn.execute(f"SELECT photo_id, comment_count FROM comment_counts WHERE photo_id IN ({marks})", unique)
            )
            return [found.get(photo_id, 0) for photo_id in photo_ids]

        return await self._db.lookup(work)

    async def like_comment(self, photo_id: int, comment_id: int, user_id: int, liked: bool) -> CommentLikes | None:
        def work(conn: sqlite3.Connection) -> CommentLikes | None:
            exists = conn.execute(
                "SELECT 1 FROM comments_by_photo WHERE photo_id = ? AND comment_id = ?", (photo_id, comment_id)
            ).fetchone()
            if exists is None:
                return None
            if liked:
                conn.execute(
                    "INSERT OR IGNORE INTO comment_likes (photo_id, comment_id, user_id) VALUES (?, ?, ?)",
                    (photo_id, comment_id, user_id),
                )
            else:
                conn.execute(
                    "DELETE FROM comment_likes WHERE photo_id = ? AND comment_id = ? AND user_id = ?",
                    (photo_id, comment_id, user_id),
                )
            return _likes(conn, photo_id, comment_id, user_id)

        return await self._db.write(work)

    async def comment_likes(self, photo_id: int, comment_ids: list[int], viewer_id: int) -> list[CommentLikes]:
        return await self._db.read(lambda conn: [_likes(conn, photo_id, c, viewer_id) for c in comment_ids])

    async def purge_photo(self, photo_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            self._marks.mark(conn, Kind.PHOTO, photo_id)
            rows = conn.execute(
                "SELECT user_id, comment_id FROM comments_by_photo WHERE photo_id = ?", (photo_id,)
            ).fetchall()
            conn.executemany(
                "DELETE FROM comments_by_user WHERE user_id = ? AND photo_id = ? AND comment_id = ?",
                [(user_id, photo_id, comment_id) for user_id, comment_id in rows],
            )
            conn.execute("DELETE FROM comments_by_photo WHERE photo_id = ?", (photo_id,))
            conn.execute("DELETE FROM comment_counts WHERE photo_id = ?", (photo_id,))
            conn.execute("DELETE FROM comment_likes WHERE photo_id = ?", (photo_id,))
            return len(rows)

        return await self._db.write(work)

    async def purge_user(self, user_id: int) -> int:
        def chunk(conn: sqlite3.Connection) -> int:
            rows = conn.execute(
                "SELECT photo_id, comment_id FROM comments_by_user WHERE user_id = ? LIMIT ?", (user_id, PURGE_CHUNK)
            ).fetchall()
            for photo_id, comment_id in rows:
                # The by-user row goes even when the comment itself is already gone, so the loop ends.
                conn.execute(
                    "DELETE FROM comments_by_user WHERE user_id = ? AND photo_id = ? AND comment_id = ?",
                    (user_id, photo_id, comment_id),
                )
                _remove(conn, photo_id, comment_id)
            return len(rows)

        dropped = 0
        while removed := await self._db.write(chunk):
            dropped += removed
        return dropped


def _remove(conn: sqlite3.Connection, photo_id: int, comment_id: int) -> bool:
    """Delete one comment from both tables and its count; False when there was none."""
    row = conn.execute(
        "DELETE FROM comments_by_photo WHERE photo_id = ? AND comment_id = ? RETURNING user_id", (photo_id, comment_id)
    ).fetchone()
    if row is None:
        return False
    conn.execute(
        "DELETE FROM comments_by_user WHERE user_id = ? AND photo_id = ? AND comment_id = ?",
        (row[0], photo_id, comment_id),
    )
    _add_to_count(conn, photo_id, -1)
    conn.execute("DELETE FROM comment_likes WHERE photo_id = ? AND comment_id = ?", (photo_id, comment_id))
    return True


def _likes(conn: sqlite3.Connection, photo_id: int, comment_id: int, viewer_id: int) -> CommentLikes:
    count = conn.execute(
        "SELECT COUNT(*) FROM comment_likes WHERE photo_id = ? AND comment_id = ?", (photo_id, comment_id)
    ).fetchone()[0]
    mine = conn.execute(
        "SELECT 1 FROM comment_likes WHERE photo_id = ? AND comment_id = ? AND user_id = ?",
        (photo_id, comment_id, viewer_id),
    ).fetchone()
    return CommentLikes(comment_id, count, mine is not None)


def _add_to_count(conn: sqlite3.Connection, photo_id: int, delta: int) -> None:
    conn.execute("INSERT OR IGNORE INTO comment_counts (photo_id, comment_count) VALUES (?, 0)", (photo_id,))
    conn.execute(
        "UPDATE comment_counts SET comment_count = max(comment_count + ?, 0) WHERE photo_id = ?", (delta, photo_id)
    )
