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
    MEDIA_COLUMNS,
    MEDIA_MARKS,
    PHOTO_COLUMNS,
    PHOTO_MARKS,
    KeyedMedia,
    KeyedUpload,
    KeyReused,
    MediaNotFound,
    MediaRecord,
    MediaTaken,
    PhotoRecord,
    encode_images,
    media_record,
    media_values,
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
        # Albums: every image of a post (JSON, see store.encode_images); '' on rows from before.
        """ALTER TABLE photos ADD COLUMN images TEXT NOT NULL DEFAULT '';
        CREATE TABLE IF NOT EXISTS media (
            media_id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL,
            post_id INTEGER NOT NULL,
            image TEXT NOT NULL
        );
        CREATE INDEX IF NOT EXISTS pending_media ON media (created_at_ms) WHERE post_id = 0;
        CREATE TABLE IF NOT EXISTS media_keys (
            user_id INTEGER NOT NULL,
            idempotency_key TEXT NOT NULL,
            media_id INTEGER NOT NULL,
            request_fingerprint TEXT NOT NULL,
            PRIMARY KEY (user_id, idempotency_key)
        ) WITHOUT ROWID;""",
        # Captions, and the users they mention (a JSON list of ids, like tags).
        """ALTER TABLE photos ADD COLUMN caption TEXT NOT NULL DEFAULT '';
        ALTER TABLE photos ADD COLUMN mentioned_user_ids TEXT NOT NULL DEFAULT '[]';""",
        # Edits: when the post's words last changed (0: never).
        "ALTER TABLE photos ADD COLUMN edited_at_ms INTEGER NOT NULL DEFAULT 0",
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
            _take_media(conn, photo)
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
        return await self._db.lookup(lambda conn: _get(conn, photo_id))

    async def get_many(self, photo_ids: list[int]) -> dict[int, PhotoRecord]:
        def query(conn: sqlite3.Connection) -> dict[int, PhotoRecord]:
            found: dict[int, PhotoRecord] = {}
            for batch in _batches(photo_ids):
                marks = ", ".join("?" * len(batch))
                for row in conn.execute(f"{_SELECT} WHERE photo_id IN ({marks})", batch):
                    record = _record(row)
                    found[record.photo_id] = record
            return found

        return await self._db.lookup(query)

    async def list_by_user(self, user_id: int, before_photo_id: int | None, limit: int) -> list[PhotoRecord]:
        def query(conn: sqlite3.Connection) -> list[PhotoRecord]:
            rows = conn.execute(
                f"{_SELECT} WHERE photo_id IN (SELECT photo_id FROM photos_by_user"
                " WHERE user_id = ? AND photo_id < ? ORDER BY photo_id DESC LIMIT ?) ORDER BY photo_id DESC",
                (user_id, before_photo_id if before_photo_id is not None else INT64_MAX, limit),
            ).fetchall()
            return [_record(row) for row in rows]

        return await self._db.read(query)

    async def update(self, photo: PhotoRecord, event: events_pb2.PhotoEdited) -> PhotoRecord | None:
        def work(conn: sqlite3.Connection) -> PhotoRecord | None:
            changed = conn.execute(
                "UPDATE photos SET title = ?, location = ?, tags = ?, caption = ?, mentioned_user_ids = ?,"
                " images = ?, edited_at_ms = ? WHERE photo_id = ?",
                (*_edited_values(photo), photo.photo_id),
            ).rowcount
            if not changed:
                return None
            enqueue(conn, event)
            return _get(conn, photo.photo_id)

        return await self._db.write(work)

    async def count_by_user(self, user_id: int) -> int:
        return await self._db.read(
            lambda conn: conn.execute("SELECT COUNT(*) FROM photos_by_user WHERE user_id = ?", (user_id,)).fetchone()[0]
        )

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
            for media in _media(conn, photo.media_ids()).values():
                _forget_media(conn, media)
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
                found.update(
                    r[0] for r in conn.execute(f"SELECT media_id FROM media WHERE media_id IN ({marks})", batch)
                )
            return found

        return await self._db.read(query)

    async def create_media(self, media: MediaRecord, fingerprint: str = "") -> tuple[MediaRecord, bool]:
        def work(conn: sqlite3.Connection) -> tuple[MediaRecord, bool]:
            if media.idempotency_key:
                earlier = _media_by_key(conn, media.user_id, media.idempotency_key)
                if earlier is not None:
                    if not same_request(earlier.fingerprint, fingerprint):
                        raise KeyReused(earlier.media.media_id)
                    return earlier.media, False
                conn.execute(
                    "INSERT OR REPLACE INTO media_keys (user_id, idempotency_key, media_id, request_fingerprint)"
                    " VALUES (?, ?, ?, ?)",
                    (media.user_id, media.idempotency_key, media.media_id, fingerprint),
                )
            conn.execute(f"INSERT INTO media ({MEDIA_COLUMNS}) VALUES ({MEDIA_MARKS})", media_values(media))
            return media, True

        return await self._db.write(work)

    async def media_by_idempotency_key(self, user_id: int, key: str) -> KeyedMedia | None:
        return await self._db.read(lambda conn: _media_by_key(conn, user_id, key))

    async def get_media(self, media_ids: list[int]) -> dict[int, MediaRecord]:
        return await self._db.read(lambda conn: _media(conn, media_ids))

    async def expired_media(self, created_before_ms: int, limit: int) -> list[MediaRecord]:
        def query(conn: sqlite3.Connection) -> list[MediaRecord]:
            rows = conn.execute(
                f"SELECT {MEDIA_COLUMNS} FROM media WHERE post_id = 0 AND created_at_ms < ? ORDER BY media_id LIMIT ?",
                (created_before_ms, limit),
            )
            return [media_record(row) for row in rows]

        return await self._db.read(query)

    async def delete_media(self, media: MediaRecord) -> bool:
        def work(conn: sqlite3.Connection) -> bool:
            current = _media(conn, [media.media_id]).get(media.media_id)
            if current is None or current.post_id != 0:
                return False
            _forget_media(conn, current)
            return True

        return await self._db.write(work)


def _edited_values(photo: PhotoRecord) -> tuple[object, ...]:
    return (
        photo.title, photo.location, json.dumps(photo.tags), photo.caption, json.dumps(photo.mentioned_user_ids),
        encode_images(photo.images), photo.edited_at_ms,
    )  # fmt: skip


def _media(conn: sqlite3.Connection, media_ids: list[int]) -> dict[int, MediaRecord]:
    found: dict[int, MediaRecord] = {}
    for batch in _batches(media_ids):
        marks = ", ".join("?" * len(batch))
        for row in conn.execute(f"SELECT {MEDIA_COLUMNS} FROM media WHERE media_id IN ({marks})", batch):
            record = media_record(row)
            found[record.media_id] = record
    return found


def _take_media(conn: sqlite3.Connection, photo: PhotoRecord) -> None:
    """The post takes its media in its own transaction: each must be the owner's and in no post yet."""
    wanted = photo.media_ids()
    found = _media(conn, wanted)
    for index, image in enumerate(photo.images):
        if image.media_id == photo.photo_id:
            continue
        media = found.get(image.media_id)
        if media is None or media.user_id != photo.user_id:
            raise MediaNotFound(index)
        if media.post_id != 0:
            raise MediaTaken(index, media.media_id)
    for media_id in wanted:
        conn.execute("UPDATE media SET post_id = ? WHERE media_id = ?", (photo.photo_id, media_id))


def _forget_media(conn: sqlite3.Connection, media: MediaRecord) -> None:
    conn.execute("DELETE FROM media WHERE media_id = ?", (media.media_id,))
    if media.idempotency_key:
        conn.execute(
            "DELETE FROM media_keys WHERE user_id = ? AND idempotency_key = ? AND media_id = ?",
            (media.user_id, media.idempotency_key, media.media_id),
        )


def _media_by_key(conn: sqlite3.Connection, user_id: int, key: str) -> KeyedMedia | None:
    row = conn.execute(
        "SELECT media_id, request_fingerprint FROM media_keys WHERE user_id = ? AND idempotency_key = ?",
        (user_id, key),
    ).fetchone()
    if row is None:
        return None
    media = _media(conn, [row[0]]).get(row[0])
    return KeyedMedia(media, row[1]) if media is not None else None


def _by_key(conn: sqlite3.Connection, user_id: int, key: str) -> KeyedUpload | None:
    row = conn.execute(
        "SELECT photo_id, request_fingerprint FROM upload_keys WHERE user_id = ? AND idempotency_key = ?",
        (user_id, key),
    ).fetchone()
    if row is None:
        return None
    photo = _get(conn, row[0])
    return KeyedUpload(photo, row[1]) if photo is not None else None
