"""SQLite implementation of FeedStore, tables laid out by the queries that read them.

- feed(user_id, photo_id DESC): a user's home feed, read newest first with a keyset cursor.
  Secondary indexes feed_by_photo (photo deleted) and feed_by_author (unfollow, user deleted) make
  every purge a lookup, never a scan. feed_sizes keeps each feed's row count (maintained by
  triggers, so redelivered inserts that are ignored do not count) so trimming to the newest N is
  one cheap query per page of followers rather than a count per user.
- author_posts(author_id, photo_id DESC): each author's newest posts, for follow backfill and for
  the read-time merge of large accounts' posts (pulled = 1).
- large_accounts: authors whose posts are pulled at read time, not fanned out.
Deleted photos and users are tombstoned (services.runtime.tombstones) in the same transaction as the
purge, and every write checks the marks in its own transaction.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from services.feed.store import Post
from services.runtime.requests import INT64_MAX
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import Kind, SqliteTombstones

# Keys per IN list (SQLite allows 32,766 variables; a statement this size stays quick to prepare).
IN_CHUNK = 500

_STEP_1 = """
CREATE TABLE IF NOT EXISTS feed (
    user_id   INTEGER NOT NULL,
    photo_id  INTEGER NOT NULL,
    author_id INTEGER NOT NULL,
    posted_ms INTEGER NOT NULL,
    PRIMARY KEY (user_id, photo_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS feed_by_photo ON feed (photo_id);
CREATE INDEX IF NOT EXISTS feed_by_author ON feed (author_id, user_id);

CREATE TABLE IF NOT EXISTS feed_sizes (
    user_id INTEGER PRIMARY KEY,
    entries INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS feed_entry_added AFTER INSERT ON feed BEGIN
    INSERT INTO feed_sizes (user_id, entries) VALUES (new.user_id, 1)
        ON CONFLICT (user_id) DO UPDATE SET entries = entries + 1;
END;
CREATE TRIGGER IF NOT EXISTS feed_entry_removed AFTER DELETE ON feed BEGIN
    UPDATE feed_sizes SET entries = entries - 1 WHERE user_id = old.user_id;
END;

CREATE TABLE IF NOT EXISTS author_posts (
    author_id INTEGER NOT NULL,
    photo_id  INTEGER NOT NULL,
    posted_ms INTEGER NOT NULL,
    pulled    INTEGER NOT NULL,
    PRIMARY KEY (author_id, photo_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS large_accounts (
    author_id INTEGER PRIMARY KEY,
    marked_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS deleted_photos (
    photo_id   INTEGER PRIMARY KEY,
    deleted_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deleted_photos_by_time ON deleted_photos (deleted_ms);

CREATE TABLE IF NOT EXISTS deleted_users (
    user_id    INTEGER PRIMARY KEY,
    deleted_ms INTEGER NOT NULL
);
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # The feed's own tombstones move into the runtime's deleted_ids (one retention for every store).
        """
        INSERT OR IGNORE INTO deleted_ids (kind, id, marked_ms)
            SELECT 'photo', photo_id, deleted_ms FROM deleted_photos;
        INSERT OR IGNORE INTO deleted_ids (kind, id, marked_ms)
            SELECT 'user', user_id, deleted_ms FROM deleted_users;
        DROP TABLE deleted_photos;
        DROP TABLE deleted_users;
        """,
    )
)

# SQLite's limit on bound parameters is 32,766; stay far below it.
IN_CHUNK = 500


def _chunks(values: Sequence[int], size: int = IN_CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _marks(count: int) -> str:
    return ",".join("?" * count)


class SqliteFeedStore:
    def __init__(self, database: Database, *, feed_capacity: int = 800, author_posts_kept: int = 800) -> None:
        self._db = database
        self._capacity = feed_capacity
        self._author_posts_kept = author_posts_kept
        self._marks = SqliteTombstones()

    def _deleted(self, conn: sqlite3.Connection, post: Post) -> bool:
        return self._marks.is_marked(conn, Kind.PHOTO, post.photo_id) or self._marks.is_marked(
            conn, Kind.USER, post.author_id
        )

    # -- writes ------------------------------------------------------------------------------

    async def record_post(self, post: Post, *, pulled: bool) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if self._deleted(conn, post):
                return False
            conn.execute(
                "INSERT INTO author_posts (author_id, photo_id, posted_ms, pulled) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (author_id, photo_id) DO UPDATE SET pulled = excluded.pulled",
                (post.author_id, post.photo_id, post.posted_ms, int(pulled)),
            )
            conn.execute(
                "DELETE FROM author_posts WHERE author_id = ? AND photo_id IN"
                " (SELECT photo_id FROM author_posts WHERE author_id = ? ORDER BY photo_id DESC LIMIT -1 OFFSET ?)",
                (post.author_id, post.author_id, self._author_posts_kept),
            )
            if pulled:
                conn.execute(
                    "INSERT OR IGNORE INTO large_accounts (author_id, marked_ms) VALUES (?, ?)",
                    (post.author_id, int(time.time() * 1000)),
                )
            return True

        return await self._db.write(work)

    async def add_to_feeds(self, post: Post, user_ids: Sequence[int]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if self._deleted(conn, post):
                return 0
            followers = list(dict.fromkeys(user_ids))
            deleted = self._marks.which_marked(conn, Kind.USER, followers)
            targets = [user_id for user_id in followers if user_id not in deleted]
            conn.executemany(
                "INSERT OR IGNORE INTO feed (user_id, photo_id, author_id, posted_ms) VALUES (?, ?, ?, ?)",
                [(user_id, post.photo_id, post.author_id, post.posted_ms) for user_id in targets],
            )
            self._trim(conn, targets)
            return len(targets)

        return await self._db.write(work)

    async def add_to_feed(self, user_id: int, posts: Sequence[Post]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if self._marks.is_marked(conn, Kind.USER, user_id):
                return 0
            photos = self._marks.which_marked(conn, Kind.PHOTO, [post.photo_id for post in posts])
            authors = self._marks.which_marked(conn, Kind.USER, [post.author_id for post in posts])
            kept = [
                (user_id, post.photo_id, post.author_id, post.posted_ms)
                for post in posts
                if post.photo_id not in photos and post.author_id not in authors
            ]
            conn.executemany(
                "INSERT OR IGNORE INTO feed (user_id, photo_id, author_id, posted_ms) VALUES (?, ?, ?, ?)", kept
            )
            self._trim(conn, [user_id])
            return len(kept)

        return await self._db.write(work)

    def _trim(self, conn: sqlite3.Connection, user_ids: Sequence[int]) -> None:
        """Keep each feed's newest `capacity` entries; only feeds over capacity are touched."""
        for chunk in _chunks(user_ids):
            over = conn.execute(
                f"SELECT user_id, entries FROM feed_sizes WHERE user_id IN ({_marks(len(chunk))}) AND entries > ?",
                (*chunk, self._capacity),
            ).fetchall()
            for user_id, entries in over:
                conn.execute(
                    "DELETE FROM feed WHERE user_id = ? AND photo_id IN"
                    " (SELECT photo_id FROM feed WHERE user_id = ? ORDER BY photo_id LIMIT ?)",
                    (user_id, user_id, entries - self._capacity),
                )

    async def remove_author_from_feed(self, user_id: int, author_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM feed WHERE author_id = ? AND user_id = ?", (author_id, user_id)).rowcount

        return await self._db.write(work)

    async def remove_photo(self, photo_id: int, author_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            self._marks.mark(conn, Kind.PHOTO, photo_id)
            conn.execute("DELETE FROM author_posts WHERE author_id = ? AND photo_id = ?", (author_id, photo_id))
            return conn.execute("DELETE FROM feed WHERE photo_id = ?", (photo_id,)).rowcount

        return await self._db.write(work)

    async def remove_user(self, user_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            self._marks.mark(conn, Kind.USER, user_id)
            conn.execute("DELETE FROM feed WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM feed WHERE author_id = ?", (user_id,))
            conn.execute("DELETE FROM feed_sizes WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM author_posts WHERE author_id = ?", (user_id,))
            conn.execute("DELETE FROM large_accounts WHERE author_id = ?", (user_id,))

        await self._db.write(work)

    # -- reads -------------------------------------------------------------------------------

    async def recent_posts(self, author_id: int, limit: int) -> list[Post]:
        def work(conn: sqlite3.Connection) -> list[Post]:
            rows = conn.execute(
                "SELECT photo_id, author_id, posted_ms FROM author_posts WHERE author_id = ? AND pulled = 0"
                " ORDER BY photo_id DESC LIMIT ?",
                (author_id, limit),
            )
            return [Post(*row) for row in rows]

        return await self._db.lookup(work)

    async def feed(self, user_id: int, before: int | None, limit: int) -> list[Post]:
        def work(conn: sqlite3.Connection) -> list[Post]:
            rows = conn.execute(
                "SELECT photo_id, author_id, posted_ms FROM feed WHERE user_id = ? AND photo_id < ?"
                " ORDER BY photo_id DESC LIMIT ?",
                (user_id, before if before is not None else INT64_MAX, limit),
            )
            return [Post(*row) for row in rows]

        return await self._db.lookup(work)

    async def large_accounts(self, limit: int) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            rows = conn.execute("SELECT author_id FROM large_accounts ORDER BY author_id LIMIT ?", (limit,))
            return [row[0] for row in rows]

        # The first `limit` keys of the table: one short indexed read, on the event loop.
        return await self._db.lookup(work)

    async def large_among(self, author_ids: Sequence[int]) -> set[int]:
        def work(conn: sqlite3.Connection) -> set[int]:
            found: set[int] = set()
            for start in range(0, len(author_ids), IN_CHUNK):
                chunk = list(author_ids[start : start + IN_CHUNK])
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(f"SELECT author_id FROM large_accounts WHERE author_id IN ({marks})", chunk)
                found.update(row[0] for row in rows)
            return found

        # As many keys as the reader follows (thousands, for some): on the read thread.
        return await self._db.read(work)

    async def pulled_posts(self, author_ids: Sequence[int], before: int | None, limit: int) -> list[Post]:
        def work(conn: sqlite3.Connection) -> list[Post]:
            upper = before if before is not None else INT64_MAX
            found: list[Post] = []
            for author_id in author_ids:
                rows = conn.execute(
                    "SELECT photo_id, author_id, posted_ms FROM author_posts"
                    " WHERE author_id = ? AND photo_id < ? AND pulled = 1 ORDER BY photo_id DESC LIMIT ?",
                    (author_id, upper, limit),
                )
                found.extend(Post(*row) for row in rows)
            found.sort(key=lambda post: post.photo_id, reverse=True)
            return found[:limit]

        return await self._db.read(work)
