"""SQLite implementation of FeedStore, tables laid out by the queries that read them.

- feed(user_id, photo_id DESC): a user's home feed, read newest first with a keyset cursor.
  Secondary indexes feed_by_photo (photo deleted) and feed_by_author (unfollow, user deleted) make
  every purge a lookup, never a scan. feed_sizes keeps each feed's row count (maintained by
  triggers, so redelivered inserts that are ignored do not count) so trimming to the newest N is
  one cheap query per page of followers rather than a count per user.
- author_posts(author_id, photo_id DESC): each author's newest posts, for follow backfill and for
  the read-time merge of large accounts' posts (pulled = 1).
- large_accounts, deleted_photos, deleted_users: the large-account set and tombstones.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Sequence

from services.feed.store import Post
from services.runtime.sqlite import Database

SCHEMA = """
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

# A photo tombstone must outlive every copy of the event it guards against: the events stream keeps
# messages for 7 days.
PHOTO_TOMBSTONE_MS = 8 * 24 * 3600 * 1000
# SQLite's limit on bound parameters is 32,766; stay far below it.
IN_CHUNK = 500


def _now_ms() -> int:
    return int(time.time() * 1000)


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

    # -- writes ------------------------------------------------------------------------------

    async def record_post(self, post: Post, *, pulled: bool) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if _photo_deleted(conn, post.photo_id) or _user_deleted(conn, post.author_id):
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
                    (post.author_id, _now_ms()),
                )
            return True

        return await self._db.write(work)

    async def add_to_feeds(self, post: Post, user_ids: Sequence[int]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if _photo_deleted(conn, post.photo_id) or _user_deleted(conn, post.author_id):
                return 0
            targets = _without_deleted_users(conn, list(dict.fromkeys(user_ids)))
            conn.executemany(
                "INSERT OR IGNORE INTO feed (user_id, photo_id, author_id, posted_ms) VALUES (?, ?, ?, ?)",
                [(user_id, post.photo_id, post.author_id, post.posted_ms) for user_id in targets],
            )
            self._trim(conn, targets)
            return len(targets)

        return await self._db.write(work)

    async def add_to_feed(self, user_id: int, posts: Sequence[Post]) -> int:
        def work(conn: sqlite3.Connection) -> int:
            if _user_deleted(conn, user_id):
                return 0
            deleted = _deleted_photo_ids(conn, [post.photo_id for post in posts])
            kept = [
                (user_id, post.photo_id, post.author_id, post.posted_ms)
                for post in posts
                if post.photo_id not in deleted and not _user_deleted(conn, post.author_id)
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
            now = _now_ms()
            conn.execute(
                "INSERT OR IGNORE INTO deleted_photos (photo_id, deleted_ms) VALUES (?, ?)",
                (photo_id, now),
            )
            conn.execute("DELETE FROM deleted_photos WHERE deleted_ms < ?", (now - PHOTO_TOMBSTONE_MS,))
            conn.execute("DELETE FROM author_posts WHERE author_id = ? AND photo_id = ?", (author_id, photo_id))
            return conn.execute("DELETE FROM feed WHERE photo_id = ?", (photo_id,)).rowcount

        return await self._db.write(work)

    async def remove_user(self, user_id: int) -> None:
        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR IGNORE INTO deleted_users (user_id, deleted_ms) VALUES (?, ?)",
                (user_id, _now_ms()),
            )
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

        return await self._db.read(work)

    async def feed(self, user_id: int, before: int | None, limit: int) -> list[Post]:
        def work(conn: sqlite3.Connection) -> list[Post]:
            rows = conn.execute(
                "SELECT photo_id, author_id, posted_ms FROM feed WHERE user_id = ? AND photo_id < ?"
                " ORDER BY photo_id DESC LIMIT ?",
                (user_id, before if before is not None else 2**63 - 1, limit),
            )
            return [Post(*row) for row in rows]

        return await self._db.read(work)

    async def large_accounts(self) -> list[int]:
        def work(conn: sqlite3.Connection) -> list[int]:
            return [row[0] for row in conn.execute("SELECT author_id FROM large_accounts ORDER BY author_id")]

        return await self._db.read(work)

    async def pulled_posts(self, author_ids: Sequence[int], before: int | None, limit: int) -> list[Post]:
        def work(conn: sqlite3.Connection) -> list[Post]:
            upper = before if before is not None else 2**63 - 1
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

    async def is_deleted_user(self, user_id: int) -> bool:
        return await self._db.read(lambda conn: _user_deleted(conn, user_id))


def _photo_deleted(conn: sqlite3.Connection, photo_id: int) -> bool:
    return conn.execute("SELECT 1 FROM deleted_photos WHERE photo_id = ?", (photo_id,)).fetchone() is not None


def _user_deleted(conn: sqlite3.Connection, user_id: int) -> bool:
    return conn.execute("SELECT 1 FROM deleted_users WHERE user_id = ?", (user_id,)).fetchone() is not None


def _deleted_photo_ids(conn: sqlite3.Connection, photo_ids: Sequence[int]) -> set[int]:
    deleted: set[int] = set()
    for chunk in _chunks(photo_ids):
        rows = conn.execute(f"SELECT photo_id FROM deleted_photos WHERE photo_id IN ({_marks(len(chunk))})", chunk)
        deleted.update(row[0] for row in rows)
    return deleted


def _without_deleted_users(conn: sqlite3.Connection, user_ids: list[int]) -> list[int]:
    deleted: set[int] = set()
    for chunk in _chunks(user_ids):
        rows = conn.execute(f"SELECT user_id FROM deleted_users WHERE user_id IN ({_marks(len(chunk))})", chunk)
        deleted.update(row[0] for row in rows)
    return [user_id for user_id in user_ids if user_id not in deleted]
