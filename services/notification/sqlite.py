"""SQLite implementation of NotificationStore.

- notifications(recipient_id, notification_id DESC): a user's list, read newest first; indexes by
  photo and by actor make the purges lookups, never scans.
- notification_actions(action_key): the last event that changed each action and the notification it
  made; withdrawn actions are kept for the tombstone retention (an older event cannot arrive later).
- read_positions(recipient_id): how far the user has read.
Each write is one transaction: the tombstone check, the action's order check and the row commit together.
"""

from __future__ import annotations

import sqlite3
import time

from services.notification.store import Entry, Type
from services.runtime.sqlite import Database, SqliteSchema
from services.runtime.tombstones import RETENTION_MS, Kind, SqliteTombstones

SCHEMA = SqliteSchema(
    (
        """
        CREATE TABLE IF NOT EXISTS notifications (
            recipient_id INTEGER NOT NULL,
            notification_id INTEGER NOT NULL,
            type INTEGER NOT NULL,
            actor_id INTEGER NOT NULL,
            photo_id INTEGER NOT NULL,
            comment_id INTEGER NOT NULL,
            action_key TEXT NOT NULL,
            PRIMARY KEY (recipient_id, notification_id)
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS notifications_by_photo ON notifications (photo_id) WHERE photo_id != 0;
        CREATE INDEX IF NOT EXISTS notifications_by_actor ON notifications (actor_id);
        CREATE TABLE IF NOT EXISTS notification_actions (
            action_key TEXT PRIMARY KEY,
            event_id INTEGER NOT NULL,
            recipient_id INTEGER NOT NULL,
            notification_id INTEGER NOT NULL,
            active INTEGER NOT NULL,
            changed_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS withdrawn_actions ON notification_actions (changed_ms) WHERE active = 0;
        CREATE TABLE IF NOT EXISTS read_positions (
            recipient_id INTEGER PRIMARY KEY,
            read_up_to INTEGER NOT NULL
        );
        """,
    )
)

_COLUMNS = "recipient_id, notification_id, type, actor_id, photo_id, comment_id, action_key"


def _entry(row: tuple[int, int, int, int, int, int, str]) -> Entry:
    return Entry(row[0], row[1], Type(row[2]), row[3], row[4], row[5], row[6])


class SqliteNotificationStore:
    def __init__(self, db: Database, *, capacity: int = 500) -> None:
        self._db = db
        self._capacity = capacity
        self._marks = SqliteTombstones()

    async def add(self, entry: Entry, event_id: int) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if self._marks.which_marked(conn, Kind.USER, [entry.recipient_id, entry.actor_id]):
                return False
            if entry.photo_id and self._marks.is_marked(conn, Kind.PHOTO, entry.photo_id):
                return False
            row = conn.execute(
                "SELECT event_id FROM notification_actions WHERE action_key = ?", (entry.action_key,)
            ).fetchone()
            if row is not None and row[0] >= event_id:
                return False
            conn.execute(
                "INSERT INTO notification_actions"
                " (action_key, event_id, recipient_id, notification_id, active, changed_ms) VALUES (?, ?, ?, ?, 1, ?)"
                " ON CONFLICT (action_key) DO UPDATE SET event_id = excluded.event_id,"
                " recipient_id = excluded.recipient_id, notification_id = excluded.notification_id, active = 1,"
                " changed_ms = excluded.changed_ms",
                (entry.action_key, event_id, entry.recipient_id, entry.notification_id, _now_ms()),
            )
            conn.execute(
                f"INSERT OR IGNORE INTO notifications ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.recipient_id,
                    entry.notification_id,
                    int(entry.type),
                    entry.actor_id,
                    entry.photo_id,
                    entry.comment_id,
                    entry.action_key,
                ),
            )
            self._trim(conn, entry.recipient_id)
            # Trimmed straight away (older than everything kept): not new to anyone.
            return _exists(conn, entry.recipient_id, entry.notification_id)

        return await self._db.write(work)

    def _trim(self, conn: sqlite3.Connection, recipient_id: int) -> None:
        cut = conn.execute(
            "SELECT notification_id, action_key FROM notifications WHERE recipient_id = ?"
            " ORDER BY notification_id DESC LIMIT -1 OFFSET ?",
            (recipient_id, self._capacity),
        ).fetchall()
        # Their actions stay: a redelivered event of a trimmed notification must not bring it back as new.
        conn.executemany(
            "DELETE FROM notifications WHERE recipient_id = ? AND notification_id = ?",
            [(recipient_id, notification_id) for notification_id, _ in cut],
        )

    async def withdraw(self, action_key: str, event_id: int) -> Entry | None:
        def work(conn: sqlite3.Connection) -> Entry | None:
            now = _now_ms()
            conn.execute("DELETE FROM notification_actions WHERE active = 0 AND changed_ms < ?", (now - RETENTION_MS,))
            row = conn.execute(
                "SELECT event_id, recipient_id, notification_id, active FROM notification_actions WHERE action_key = ?",
                (action_key,),
            ).fetchone()
            if row is not None and row[0] >= event_id:
                return None
            conn.execute(
                "INSERT INTO notification_actions"
                " (action_key, event_id, recipient_id, notification_id, active, changed_ms) VALUES (?, ?, 0, 0, 0, ?)"
                " ON CONFLICT (action_key) DO UPDATE SET event_id = excluded.event_id, recipient_id = 0,"
                " notification_id = 0, active = 0, changed_ms = excluded.changed_ms",
                (action_key, event_id, now),
            )
            if row is None or not row[3]:
                return None
            found = conn.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ? AND notification_id = ?",
                (row[1], row[2]),
            ).fetchone()
            conn.execute("DELETE FROM notifications WHERE recipient_id = ? AND notification_id = ?", (row[1], row[2]))
            return None if found is None else _entry(found)

        return await self._db.write(work)

    async def recent(self, recipient_id: int, limit: int, after: int = 0) -> list[Entry]:
        def work(conn: sqlite3.Connection) -> list[Entry]:
            rows = conn.execute(
                f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ? AND notification_id > ?"
                " ORDER BY notification_id DESC LIMIT ?",
                (recipient_id, after, limit),
            )
            return [_entry(row) for row in rows]

        return await self._db.read(work)

    async def read_position(self, recipient_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT read_up_to FROM read_positions WHERE recipient_id = ?", (recipient_id,))
            found = row.fetchone()
            return 0 if found is None else int(found[0])

        return await self._db.read(work)

    async def mark_read(self, recipient_id: int, up_to: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT INTO read_positions (recipient_id, read_up_to) VALUES (?, ?) ON CONFLICT (recipient_id)"
                " DO UPDATE SET read_up_to = max(read_up_to, excluded.read_up_to)",
                (recipient_id, up_to),
            )
            row = conn.execute("SELECT read_up_to FROM read_positions WHERE recipient_id = ?", (recipient_id,))
            return int(row.fetchone()[0])

        return await self._db.write(work)

    async def purge_photo(self, photo_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            self._marks.mark(conn, Kind.PHOTO, photo_id)
            rows = conn.execute(
                "SELECT recipient_id, notification_id, action_key FROM notifications WHERE photo_id = ?", (photo_id,)
            ).fetchall()
            for recipient_id, notification_id, action_key in rows:
                _drop(conn, recipient_id, notification_id, action_key)
            return len(rows)

        return await self._db.write(work)

    async def purge_user(self, user_id: int) -> int:
        def work(conn: sqlite3.Connection) -> int:
            self._marks.mark(conn, Kind.USER, user_id)
            rows = conn.execute(
                "SELECT recipient_id, notification_id, action_key FROM notifications WHERE recipient_id = ?"
                " UNION SELECT recipient_id, notification_id, action_key FROM notifications WHERE actor_id = ?",
                (user_id, user_id),
            ).fetchall()
            for recipient_id, notification_id, action_key in rows:
                _drop(conn, recipient_id, notification_id, action_key)
            conn.execute("DELETE FROM read_positions WHERE recipient_id = ?", (user_id,))
            return len(rows)

        return await self._db.write(work)


def _drop(conn: sqlite3.Connection, recipient_id: int, notification_id: int, action_key: str) -> None:
    """A purged notification and its action (the tombstone keeps a late copy of its event out)."""
    conn.execute(
        "DELETE FROM notifications WHERE recipient_id = ? AND notification_id = ?", (recipient_id, notification_id)
    )
    conn.execute(
        "DELETE FROM notification_actions WHERE action_key = ? AND notification_id = ?", (action_key, notification_id)
    )


def _exists(conn: sqlite3.Connection, recipient_id: int, notification_id: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM notifications WHERE recipient_id = ? AND notification_id = ?",
            (recipient_id, notification_id),
        ).fetchone()
        is not None
    )


def _now_ms() -> int:
    return int(time.time() * 1000)
