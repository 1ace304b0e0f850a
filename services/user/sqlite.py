"""SQLite implementation of the user store (tables laid out as the CQL ones are)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from services.runtime.outbox import enqueue
from services.runtime.sqlite import Database, SqliteSchema
from services.user import names, rules
from services.user.store import AvatarImage, Credentials, ProfileChange, UsernameTaken, UserRecord
from shutter.events.v1 import events_pb2

_STEP_1 = """
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    display_name TEXT NOT NULL,
    bio TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users_by_username (
    username_key TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL,
    password_hash TEXT NOT NULL
) WITHOUT ROWID;
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # Profile pictures: square renditions by size, and the version clients put in their URLs.
        """CREATE TABLE IF NOT EXISTS avatars (
            user_id INTEGER NOT NULL,
            size INTEGER NOT NULL,
            content_type TEXT NOT NULL,
            data BLOB NOT NULL,
            sha256 TEXT NOT NULL,
            PRIMARY KEY (user_id, size)
        ) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS avatar_versions (
            user_id INTEGER PRIMARY KEY,
            version INTEGER NOT NULL
        );""",
        # Finding people by name (services.user.names): one row per term, with all of the user's terms.
        """CREATE TABLE IF NOT EXISTS user_names (
            term TEXT NOT NULL,
            user_id INTEGER NOT NULL,
            terms TEXT NOT NULL,
            PRIMARY KEY (term, user_id)
        ) WITHOUT ROWID;
        INSERT OR IGNORE INTO user_names (term, user_id, terms) SELECT lower(username), user_id, '[]' FROM users;""",
    )
)

_USER_COLUMNS = "user_id, username, display_name, bio, created_at_ms"
# SQLite's default limit on bound parameters is far above this; chunks keep statements small.
_IN_CHUNK = 500


def _user(row: tuple | None) -> UserRecord | None:
    return UserRecord(*row) if row else None


class SqliteUserStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(self, user: UserRecord, password_hash: str) -> None:
        def work(conn: sqlite3.Connection) -> None:
            key = rules.username_key(user.username)
            if conn.execute("SELECT 1 FROM users_by_username WHERE username_key = ?", (key,)).fetchone():
                raise UsernameTaken(user.username)
            conn.execute(
                "INSERT INTO users_by_username (username_key, user_id, password_hash) VALUES (?, ?, ?)",
                (key, user.user_id, password_hash),
            )
            conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (user.user_id, user.username, user.display_name, user.bio, user.created_at_ms),
            )
            _index_names(conn, user.user_id, [], names.name_terms(user.username, user.display_name))

        await self._db.write(work)

    async def username_taken(self, username_key: str) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            return conn.execute("SELECT 1 FROM users_by_username WHERE username_key = ?", (username_key,)).fetchone()

        return bool(await self._db.read(work))

    async def get(self, user_id: int) -> UserRecord | None:
        return await self._db.read(
            lambda conn: _user(
                conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone()
            )
        )

    async def get_by_username(self, username_key: str) -> UserRecord | None:
        def work(conn: sqlite3.Connection) -> UserRecord | None:
            row = conn.execute(
                "SELECT user_id FROM users_by_username WHERE username_key = ?", (username_key,)
            ).fetchone()
            if row is None:
                return None
            return _user(conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", row).fetchone())

        return await self._db.read(work)

    async def get_many(self, user_ids: Sequence[int]) -> dict[int, UserRecord]:
        def work(conn: sqlite3.Connection) -> dict[int, UserRecord]:
            found: dict[int, UserRecord] = {}
            for start in range(0, len(user_ids), _IN_CHUNK):
                chunk = list(user_ids[start : start + _IN_CHUNK])
                marks = ",".join("?" * len(chunk))
                for row in conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id IN ({marks})", chunk):
                    found[row[0]] = UserRecord(*row)
            return found

        return await self._db.read(work)

    async def credentials(self, username_key: str) -> Credentials | None:
        def work(conn: sqlite3.Connection) -> Credentials | None:
            row = conn.execute(
                "SELECT user_id, password_hash FROM users_by_username WHERE username_key = ?", (username_key,)
            ).fetchone()
            return Credentials(*row) if row else None

        return await self._db.read(work)

    async def set_password_hash(self, username_key: str, user_id: int, password_hash: str) -> None:
        await self._db.write(
            lambda conn: conn.execute(
                "UPDATE users_by_username SET password_hash = ? WHERE username_key = ? AND user_id = ?",
                (password_hash, username_key, user_id),
            )
        )

    async def update(self, user_id: int, change: ProfileChange) -> UserRecord | None:
        def work(conn: sqlite3.Connection) -> UserRecord | None:
            if change.display_name is not None:
                old = conn.execute("SELECT username, display_name FROM users WHERE user_id = ?", (user_id,)).fetchone()
                conn.execute("UPDATE users SET display_name = ? WHERE user_id = ?", (change.display_name, user_id))
                if old is not None:
                    new_terms = names.name_terms(old[0], change.display_name)
                    _index_names(conn, user_id, names.name_terms(old[0], old[1]), new_terms)
            if change.bio is not None:
                conn.execute("UPDATE users SET bio = ? WHERE user_id = ?", (change.bio, user_id))
            return _user(conn.execute(f"SELECT {_USER_COLUMNS} FROM users WHERE user_id = ?", (user_id,)).fetchone())

        return await self._db.write(work)

    async def delete(self, user_id: int, event: events_pb2.UserDeleted) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT username, display_name FROM users WHERE user_id = ?", (user_id,)).fetchone()
            if row is None:
                return False
            _index_names(conn, user_id, names.name_terms(row[0], row[1]), [])
            conn.execute("DELETE FROM users WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM avatars WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM avatar_versions WHERE user_id = ?", (user_id,))
            conn.execute("DELETE FROM users_by_username WHERE username_key = ?", (rules.username_key(row[0]),))
            enqueue(conn, event)
            return True

        return await self._db.write(work)

    async def set_avatar(self, user_id: int, version: int, renditions: dict[int, AvatarImage]) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            if conn.execute("SELECT 1 FROM users WHERE user_id = ?", (user_id,)).fetchone() is None:
                return False
            conn.execute("DELETE FROM avatars WHERE user_id = ?", (user_id,))
            for size, image in renditions.items():
                conn.execute(
                    "INSERT INTO avatars (user_id, size, content_type, data, sha256) VALUES (?, ?, ?, ?, ?)",
                    (user_id, size, image.content_type, image.data, image.sha256),
                )
            conn.execute("INSERT OR REPLACE INTO avatar_versions (user_id, version) VALUES (?, ?)", (user_id, version))
            return True

        return await self._db.write(work)

    async def avatar(self, user_id: int, size: int) -> AvatarImage | None:
        def work(conn: sqlite3.Connection) -> AvatarImage | None:
            row = conn.execute(
                "SELECT content_type, data, sha256 FROM avatars WHERE user_id = ? AND size = ?", (user_id, size)
            ).fetchone()
            return AvatarImage(row[0], bytes(row[1]), row[2]) if row else None

        return await self._db.read(work)

    async def avatar_versions(self, user_ids: Sequence[int]) -> dict[int, int]:
        def work(conn: sqlite3.Connection) -> dict[int, int]:
            found: dict[int, int] = {}
            for start in range(0, len(user_ids), _IN_CHUNK):
                chunk = list(user_ids[start : start + _IN_CHUNK])
                marks = ",".join("?" * len(chunk))
                found.update(
                    conn.execute(f"SELECT user_id, version FROM avatar_versions WHERE user_id IN ({marks})", chunk)
                )
            return found

        return await self._db.read(work)

    async def search_names(self, prefix: str, after: tuple[str, int] | None, limit: int) -> list[tuple[str, int]]:
        def work(conn: sqlite3.Connection) -> list[tuple[str, int]]:
            found: list[tuple[str, int]] = []
            cursor = after or ("", 0)
            while len(found) < limit:
                rows = conn.execute(
                    "SELECT term, user_id, terms FROM user_names WHERE (term, user_id) > (?, ?) AND term >= ?"
                    " AND term < ? ORDER BY term, user_id LIMIT ?",
                    (*cursor, prefix, prefix + names.TOP, limit * 2),
                ).fetchall()
                for term, user_id, terms in rows:
                    if names.first_match(json.loads(terms) or [term], prefix) == term:
                        found.append((term, user_id))
                if len(rows) < limit * 2:
                    break
                cursor = (rows[-1][0], rows[-1][1])
            return found[:limit]

        return await self._db.read(work)


def _index_names(conn: sqlite3.Connection, user_id: int, old: list[str], new: list[str]) -> None:
    """Move the user's name rows from the `old` terms to the `new` ones (each row carries them all)."""
    for term in old:
        conn.execute("DELETE FROM user_names WHERE term = ? AND user_id = ?", (term, user_id))
    for term in new:
        conn.execute(
            "INSERT OR REPLACE INTO user_names (term, user_id, terms) VALUES (?, ?, ?)",
            (term, user_id, json.dumps(new)),
        )
