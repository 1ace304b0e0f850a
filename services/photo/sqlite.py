"""SQLite implementation of PhotoStore.

Tables are laid out query-first, as they would be in Cassandra: `photos` by id (get, batch get),
`photos_by_user` clustered by photo id for the newest-first profile listing, and `upload_keys`
partitioned by user for idempotent retries (with the fingerprint of the request that claimed the key).
Every write is one transaction with its outbox event.
"""

from __future__ import annotations

import json
import sqlite3

from services.photo.store import (
    PHOTO_COLUMNS,
    PHOTO_MARKS,
    KeyedUpload,
    KeyReused,
    PhotoRecord,
    photo_record,
    photo_values,
    same_request,
)
from services.runtime.outbox import enqueue
from services.runtime.requests import INT64_MAX
from services.runtime.sqlite import Database, SqliteSchema
from shutter.events.v1 import events_pb2

_STEP_1 = """
CREATE TABLE IF NOT EXISTS photos (
    photo_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    title TEXT NOT NULL,
    location TEXT NOT NULL,
    time_stamp_ms INTEGER NOT NULL,
    tags TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    original_type TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    original_sha256 TEXT NOT NULL,
    display_type TEXT NOT NULL,
    display_size INTEGER NOT NULL,
    display_sha256 TEXT NOT NULL,
    thumbnail_type TEXT NOT NULL,
    thumbnail_size INTEGER NOT NULL,
    thumbnail_sha256 TEXT NOT NULL,
    idempotency_key TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS photos_by_user (
    user_id INTEGER NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, photo_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS upload_keys (
    user_id INTEGER NOT NULL,
    idempotency_key TEXT NOT NULL,
    photo_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, idempotency_key)
) WITHOUT ROWID;
"""

SCHEMA = SqliteSchema(
    (
        _STEP_1,
        # Idempotency keys remember the request that claimed them; claims from before have none.
        "ALTER TABLE upload_keys ADD COLUMN request_fingerprint TEXT NOT NULL DEFAULT ''",
    )
)

_SELECT = f"SELECT {PHOTO_COLUMNS} FROM photos"
_INSERT = f"INSERT INTO photos ({PHOTO_COLUMNS}) VALUES ({PHOTO_MARKS})"
# SQLite's default limit on bound parameters per statement is 999 on older builds.
_IN_BATCH = 500


def _record(row: tuple) -> PhotoRecord:
    return photo_record(row, json.loads)


def _get(conn: sqlite3.Connection, photo_id: int) -> PhotoRecord | None:
    row = conn.execute(f"{_SELECT} WHERE photo_id = ?", (photo_id,)).fetchone()
    return _record(row) if row else None


def _batches(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + _IN_BATCH] for i in range(0, len(ids), _IN_BATCH)]


class SqlitePhotoStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def create(
        self, photo: PhotoRecord, event: events_pb2.PhotoPosted, fingerprint: str = ""
    ) -> tuple[PhotoRecord, bool]:
        def work(conn: sqlite3.Connection) -> tuple[PhotoRecord, bool]:
            if photo.idempotency_key:
                earlier = _by_key(conn, photo.user_id, photo.idempotency_key)
                if earlier is not None:
                    if not same_request(earlier.fingerprint, fingerprint):
                        raise KeyReused(earlier.photo.photo_id)
                    return earlier.photo, False
                conn.execute(
                    "INSERT INTO upload_keys (user_id, idempotency_key, photo_id, request_fingerprint)"
                    " VALUES (?, ?, ?, ?)",
                    (photo.user_id, photo.idempotency_key, photo.photo_id, fingerprint),
                )
            conn.execute(_INSERT, photo_values(photo, json.dumps))
            conn.execute(
                "INSERT INTO photos_by_user (user_id, photo_id) VALUES (?, ?)", (photo.user_id, photo.photo_id)
            )
            enqueue(conn, event)
            return photo, True

        return await self._db.write(work)

    async def by_idempotency_key(self, user_id: int, key: str) -> KeyedUpload | None:
        return await self._db.read(lambda conn: _by_key(conn, user_id, key))

    async def get(self, photo_id: int) -> PhotoRecord | None:
        return await self._db.read(lambda conn: _get(conn, photo_id))

    async def get_many(self, photo_ids: list[int]) -> dict[int, PhotoRecord]:
        def query(conn: sqlite3.Connection) -> dict[int, PhotoRecord]:
            found: dict[int, PhotoRecord] = {}
            for batch in _batches(photo_ids):
                marks = ", ".join("?" * len(batch))
                for row in conn.execute(f"{_SELECT} WHERE photo_id IN ({marks})", batch):
                    record = _record(row)
                    found[record.photo_id] = record
            return found

        return await self._db.read(query)

    async def list_by_user(self, user_id: int, before_photo_id: int | None, limit: int) -> list[PhotoRecord]:
        def query(conn: sqlite3.Connection) -> list[PhotoRecord]:
            rows = conn.execute(
                f"{_SELECT} WHERE photo_id IN (SELECT photo_id FROM photos_by_user"
                " WHERE user_id = ? AND photo_id < ? ORDER BY photo_id DESC LIMIT ?) ORDER BY photo_id DESC",
                (user_id, before_photo_id if before_photo_id is not None else INT64_MAX, limit),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._db.read(query)

    async def delete(self, photo_id: int, event: events_pb2.PhotoDeleted) -> PhotoRecord | None:
        def work(conn: sqlite3.Connection) -> PhotoRecord | None:
            photo = _get(conn, photo_id)
            if photo is None:
                return None
            conn.execute("DELETE FROM photos WHERE photo_id = ?", (photo_id,))
            conn.execute("DELETE FROM photos_by_user WHERE user_id = ? AND photo_id = ?", (photo.user_id, photo_id))
            if photo.idempotency_key:
                conn.execute(
                    "DELETE FROM upload_keys WHERE user_id = ? AND idempotency_key = ?",
                    (photo.user_id, photo.idempotency_key),
                )
            enqueue(conn, event)
            return photo

        return await self._db.write(work)

    async def existing(self, photo_ids: list[int]) -> set[int]:
        def query(conn: sqlite3.Connection) -> set[int]:
            found: set[int] = set()
            for batch in _batches(photo_ids):
                marks = ", ".join("?" * len(batch))
                found.update(
                    r[0] for r in conn.execute(f"SELECT photo_id FROM photos WHERE photo_id IN ({marks})", batch)
                )
            return found

        return await self._db.read(query)


def _by_key(conn: sqlite3.Connection, user_id: int, key: str) -> KeyedUpload | None:
    row = conn.execute(
        "SELECT photo_id, request_fingerprint FROM upload_keys WHERE user_id = ? AND idempotency_key = ?",
        (user_id, key),
    ).fetchone()
    if row is None:
        return None
    photo = _get(conn, row[0])
    return KeyedUpload(photo, row[1]) if photo is not None else None
