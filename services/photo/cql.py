"""CQL (ScyllaDB) implementation of the photo store; `SCHEMA` also holds the blob tables (cql_blobs.py).

Photos are immutable, so every table that lists one holds a full copy. An idempotency key is claimed
with a lightweight transaction before the photo's rows and event go in one logged batch; a retry that
finds the key claimed but not committed waits out a lease before taking it over. Tables, bucketing,
what each retry finds, and consistency per statement: docs/storage/photo.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from cassandra import OperationTimedOut, WriteTimeout

from services.photo.cql_blobs import BLOB_TABLES
from services.photo.store import (
    PHOTO_COLUMNS,
    PHOTO_MARKS,
    CommitOutcomeUnknown,
    KeyedUpload,
    KeyInUse,
    KeyReused,
    PhotoRecord,
    photo_record,
    photo_values,
    same_request,
)
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_FAST, READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, CqlSchema, Query, applied
from services.runtime.ids import id_timestamp_ms
from services.runtime.outbox_cql import write_with_events
from services.runtime.requests import INT64_MAX, now_ms
from shutter.events.v1 import events_pb2

BUCKET_MS = 30 * 24 * 3600 * 1000
# Longer than an attempt can take between its claim and its batch landing, batchlog replay included.
CLAIM_LEASE_MS = 60_000
# How long a retry waits for a live earlier attempt's batch before answering KeyInUse.
_WAIT_FOR_COMMIT_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8)

_PHOTO_COLUMNS = """
    user_id bigint,
    title text,
    location text,
    time_stamp_ms bigint,
    tags list<text>,
    created_at_ms bigint,
    width int,
    height int,
    original_type text,
    original_size bigint,
    original_sha256 text,
    display_type text,
    display_size bigint,
    display_sha256 text,
    thumbnail_type text,
    thumbnail_size bigint,
    thumbnail_sha256 text,
    idempotency_key text"""

SCHEMA = CqlSchema(
    (
        f"CREATE TABLE IF NOT EXISTS photos (photo_id bigint PRIMARY KEY, {_PHOTO_COLUMNS})",
        f"""CREATE TABLE IF NOT EXISTS photos_by_user (
            bucket bigint,
            photo_id bigint,
            {_PHOTO_COLUMNS},
            PRIMARY KEY ((user_id, bucket), photo_id)
        ) WITH CLUSTERING ORDER BY (photo_id DESC)""",
        """CREATE TABLE IF NOT EXISTS photo_buckets_by_user (
            user_id bigint,
            bucket bigint,
            PRIMARY KEY ((user_id), bucket)
        ) WITH CLUSTERING ORDER BY (bucket DESC)""",
        """CREATE TABLE IF NOT EXISTS upload_keys (
            user_id bigint,
            idempotency_key text,
            photo_id bigint,
            claimed_at_ms bigint,
            PRIMARY KEY ((user_id, idempotency_key))
        )""",
        "ALTER TABLE upload_keys ADD request_fingerprint text",
        *BLOB_TABLES,
    ),
)

INSERT_PHOTO = Query(f"INSERT INTO photos ({PHOTO_COLUMNS}) VALUES ({PHOTO_MARKS})", WRITE_DURABLE)
INSERT_LISTED = Query(f"INSERT INTO photos_by_user (bucket, {PHOTO_COLUMNS}) VALUES (?, {PHOTO_MARKS})", WRITE_DURABLE)
INSERT_BUCKET = Query("INSERT INTO photo_buckets_by_user (user_id, bucket) VALUES (?, ?)", WRITE_DURABLE)
READ_PHOTO = Query(f"SELECT {PHOTO_COLUMNS} FROM photos WHERE photo_id = ?", READ_STRONG)
READ_PHOTO_FAST = Query(f"SELECT {PHOTO_COLUMNS} FROM photos WHERE photo_id = ?", READ_FAST)
PHOTO_EXISTS = Query("SELECT photo_id FROM photos WHERE photo_id = ?", READ_STRONG)
BUCKETS = Query("SELECT bucket FROM photo_buckets_by_user WHERE user_id = ? AND bucket <= ? LIMIT ?", READ_FAST)
LIST_BUCKET = Query(
    f"SELECT {PHOTO_COLUMNS} FROM photos_by_user WHERE user_id = ? AND bucket = ? AND photo_id < ? LIMIT ?", READ_FAST
)
CLAIM_KEY = Query(
    "INSERT INTO upload_keys (user_id, idempotency_key, photo_id, claimed_at_ms, request_fingerprint)"
    " VALUES (?, ?, ?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
TAKE_OVER_KEY = Query(
    "UPDATE upload_keys SET photo_id = ?, claimed_at_ms = ?, request_fingerprint = ?"
    " WHERE user_id = ? AND idempotency_key = ? IF photo_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_KEY = Query(
    "SELECT photo_id, request_fingerprint FROM upload_keys WHERE user_id = ? AND idempotency_key = ?", READ_STRONG
)
DELETE_PHOTO = Query("DELETE FROM photos WHERE photo_id = ?", WRITE_DURABLE)
DELETE_LISTED = Query("DELETE FROM photos_by_user WHERE user_id = ? AND bucket = ? AND photo_id = ?", WRITE_DURABLE)
DELETE_KEY = Query("DELETE FROM upload_keys WHERE user_id = ? AND idempotency_key = ?", WRITE_DURABLE)

# Buckets fetched per look-up while walking a listing back in time.
_BUCKETS_PER_READ = 16
# Concurrent single-partition reads for BatchGetPhotos and the sweep's existence checks.
_READ_CONCURRENCY = 64


def bucket_of(photo_id: int) -> int:
    return id_timestamp_ms(photo_id) // BUCKET_MS


def _values(photo: PhotoRecord) -> tuple[Any, ...]:
    return photo_values(photo, list)


class CqlPhotoStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db

    async def create(
        self, photo: PhotoRecord, event: events_pb2.PhotoPosted, fingerprint: str = ""
    ) -> tuple[PhotoRecord, bool]:
        try:
            if photo.idempotency_key:
                earlier = await self._claim_key(photo, fingerprint)
                if earlier is not None:
                    return earlier, False
            writes = [
                (INSERT_PHOTO, _values(photo)),
                (INSERT_LISTED, (bucket_of(photo.photo_id), *_values(photo))),
                (INSERT_BUCKET, (photo.user_id, bucket_of(photo.photo_id))),
            ]
            await write_with_events(self._db, writes, [event])
        except (WriteTimeout, OperationTimedOut) as exc:
            raise CommitOutcomeUnknown(str(exc)) from exc
        return photo, True

    async def _claim_key(self, photo: PhotoRecord, fingerprint: str) -> PhotoRecord | None:
        """None when this upload now holds its key; the committed photo of the attempt that holds it
        otherwise (KeyReused if that attempt was a different request). KeyInUse while that attempt may
        still commit (see the module docstring)."""
        user_id, key = photo.user_id, photo.idempotency_key
        for _ in range(3):  # a take-over lost to another retry, or a key freed by a delete: look again
            now = now_ms()
            rows = await self._db.execute(CLAIM_KEY, (user_id, key, photo.photo_id, now, fingerprint))
            if applied(rows) or rows[0].photo_id == photo.photo_id:
                return None
            holder, claimed_at_ms = rows[0].photo_id, rows[0].claimed_at_ms
            recent = now - claimed_at_ms < CLAIM_LEASE_MS
            earlier = await self._committed(holder, wait=recent)
            if earlier is not None:
                if not same_request(rows[0].request_fingerprint or "", fingerprint):
                    raise KeyReused(holder)
                return earlier
            if recent:
                raise KeyInUse(f"photo {holder} holds idempotency key {key!r} and has not committed yet")
            take_over = (photo.photo_id, now, fingerprint, user_id, key, holder)
            if applied(await self._db.execute(TAKE_OVER_KEY, take_over)):
                return None
        raise KeyInUse(f"idempotency key {key!r} keeps changing hands")

    async def _committed(self, photo_id: int, *, wait: bool) -> PhotoRecord | None:
        """The photo if committed; with `wait`, polls briefly for a live attempt's batch to land."""
        photo = await self.get(photo_id)
        for pause in _WAIT_FOR_COMMIT_S if wait else ():
            if photo is not None:
                break
            await asyncio.sleep(pause)
            photo = await self.get(photo_id)
        return photo

    async def by_idempotency_key(self, user_id: int, key: str) -> KeyedUpload | None:
        rows = await self._db.execute(READ_KEY, (user_id, key))
        photo = await self.get(rows[0].photo_id) if rows else None
        return KeyedUpload(photo, rows[0].request_fingerprint or "") if photo is not None else None

    async def get(self, photo_id: int) -> PhotoRecord | None:
        rows = await self._db.execute(READ_PHOTO, (photo_id,))
        return photo_record(rows[0]) if rows else None

    async def get_many(self, photo_ids: list[int]) -> dict[int, PhotoRecord]:
        found = await self._read_many(READ_PHOTO_FAST, photo_ids)
        missed = [photo_id for photo_id in photo_ids if photo_id not in found]
        if missed:  # a replica may not have a brand-new photo yet: ask a quorum before leaving it out
            found.update(await self._read_many(READ_PHOTO, missed))
        return found

    async def list_by_user(self, user_id: int, before_photo_id: int | None, limit: int) -> list[PhotoRecord]:
        cursor = before_photo_id if before_photo_id is not None else INT64_MAX
        newest_bucket = bucket_of(cursor) if before_photo_id is not None else INT64_MAX
        found: list[PhotoRecord] = []
        while len(found) < limit:
            rows = await self._db.execute(BUCKETS, (user_id, newest_bucket, _BUCKETS_PER_READ))
            buckets = [row.bucket for row in rows]
            for bucket in buckets:
                listed = await self._db.execute(LIST_BUCKET, (user_id, bucket, cursor, limit - len(found)))
                found.extend(photo_record(row) for row in listed)
                if len(found) >= limit:
                    break
            if len(buckets) < _BUCKETS_PER_READ:
                break
            newest_bucket = buckets[-1] - 1
        return found

    async def delete(self, photo_id: int, event: events_pb2.PhotoDeleted) -> PhotoRecord | None:
        photo = await self.get(photo_id)
        if photo is None:
            return None
        writes: list[tuple[Query, Sequence[Any]]] = [
            (DELETE_PHOTO, (photo_id,)),
            (DELETE_LISTED, (photo.user_id, bucket_of(photo_id), photo_id)),
        ]
        if photo.idempotency_key:
            writes.append((DELETE_KEY, (photo.user_id, photo.idempotency_key)))
        await write_with_events(self._db, writes, [event])
        return photo

    async def existing(self, photo_ids: list[int]) -> set[int]:
        async def exists(photo_id: int) -> bool:
            return bool(await self._db.execute(PHOTO_EXISTS, (photo_id,)))

        answers = await bounded_gather(photo_ids, exists, _READ_CONCURRENCY)
        return {photo_id for photo_id, found in zip(photo_ids, answers, strict=True) if found}

    async def _read_many(self, query: Query, photo_ids: Sequence[int]) -> dict[int, PhotoRecord]:
        async def read(photo_id: int) -> PhotoRecord | None:
            rows = await self._db.execute(query, (photo_id,))
            return photo_record(rows[0]) if rows else None

        photos = await bounded_gather(photo_ids, read, _READ_CONCURRENCY)
        return {photo.photo_id: photo for photo in photos if photo is not None}
