"""CQL (ScyllaDB) implementation of the photo store; `SCHEMA` also holds the blob tables (cql_blobs.py).

Tables, query-first. Photos are immutable once posted (there is no edit RPC), so copying a photo's
columns into every table that lists it costs nothing to keep in sync:
- photos(photo_id): GetPhoto, BatchGetPhotos (concurrent single-partition reads), the sweep's check.
- photos_by_user((user_id, bucket), photo_id DESC): ListUserPhotos newest first, keyset-paged on the
  clustering key (`photo_id < cursor LIMIT n`), each row a full copy of the photo so a page is one
  partition read, not n more. bucket = the 30-day period of the photo id (ids are time-ordered): an
  unbucketed partition per user would grow forever, and a prolific account (1,000 photos a day) would
  reach ~30k rows (~12 MB) per bucket instead of ~1M rows per 3 years. The page token needs no change:
  the bucket is derived from the `before` photo id it already carries.
- photo_buckets_by_user((user_id), bucket DESC): the user's non-empty buckets, so a listing walks only
  buckets that ever held a photo (a user posting once a year is not read month by empty month). A
  bucket row is never removed (a delete cannot know whether an upload into the same bucket races it),
  so a listing may visit an emptied bucket: at most 13 a year.
- upload_keys((user_id, idempotency_key)): who holds an upload's idempotency key, and the fingerprint of
  the request that claimed it (metadata + SHA-256 of the bytes; added by ALTER, so older claims have none).

Idempotency. The key is claimed with a lightweight transaction (`INSERT … IF NOT EXISTS`, Paxos at
LOCAL_SERIAL) carrying the new photo's id and the claim time; only the winner writes the photo. CQL
cannot make that claim and the photo's rows one transaction (a conditional batch must stay in one
partition), so an attempt can die, or its batch time out, between claim and commit. What a retry with
the same key gets, by what it finds:
- the claimed photo is committed → that photo, created=False, nothing written (its own blobs deleted);
  KeyReused instead when the claim's fingerprint says it was a different request (other metadata or bytes);
- the claim is our own photo id (the driver retried our LWT after it applied) → we go on and commit;
- the claimed photo is not committed and the claim is younger than CLAIM_LEASE_MS → after waiting
  briefly (a live attempt commits within milliseconds of its claim), KeyInUse: UNAVAILABLE, retry.
  The earlier attempt may still be in flight, or its timed-out batch may still be replayed from the
  batchlog (within seconds); writing a second photo now could leave two photos for one key;
- the claim is older than the lease with still no photo → that attempt is dead: the retry takes the
  key over with an LWT conditioned on the dead photo id (one winner among racing retries) and commits
  its own photo, created=True. The dead attempt's blobs are orphans for the sweep, whose minimum age
  (cql_blobs.SWEEP_MIN_AGE_MS, 1 h) is far beyond the lease, so a batch replayed from the batchlog
  very late still finds its bytes: at worst the key then has two photos, never a photo without bytes.
A commit that times out raises CommitOutcomeUnknown: the uploader keeps the blobs, the client retries.

Writes: the photo row, its photos_by_user copy, its bucket row and the PhotoPosted outbox row go in ONE
logged batch (services.runtime.outbox_cql.write_with_events): all applied eventually or none. Delete:
the three rows and the key + PhotoDeleted, one logged batch. Two deletes racing on the same photo can
both emit PhotoDeleted (the read-then-batch is not a transaction); consumers are idempotent by
photo id, and a conditional delete would instead risk a row gone without its listing copy or event.

Consistency, per statement (levels in services.runtime.cql):
- photo and metadata writes, deletes, outbox rows: LOCAL_QUORUM — no photo is lost with one replica
  down, and with quorum reads every acknowledged photo is seen;
- the key claim and take-over: LWT, serial LOCAL_SERIAL (one winner per key, available when another
  DC is not), commit LOCAL_QUORUM;
- get (decides downloads, deletes, likes and comments), the key lookup, and `existing` (decides
  whether the sweep deletes bytes): LOCAL_QUORUM, so none of them misses an acknowledged photo;
- batch get (feed hydration, the hot read): LOCAL_ONE, then LOCAL_QUORUM for the ids it missed, so a
  photo posted a moment ago is never reported missing; rows are immutable, so a replica that has one
  has the right one;
- listing a profile: LOCAL_ONE; a photo appearing a moment late in a list is acceptable.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

from cassandra import OperationTimedOut, WriteTimeout

from services.photo.cql_blobs import BLOB_TABLES
from services.photo.store import (
    BlobInfo,
    CommitOutcomeUnknown,
    KeyedUpload,
    KeyInUse,
    KeyReused,
    PhotoRecord,
    same_request,
)
from services.runtime.cql import READ_FAST, READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, CqlSchema, Query, applied
from services.runtime.ids import id_timestamp_ms
from services.runtime.outbox_cql import write_with_events
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
    with_outbox=True,
)

_COLUMNS = (
    "photo_id, user_id, title, location, time_stamp_ms, tags, created_at_ms, width, height, "
    "original_type, original_size, original_sha256, display_type, display_size, display_sha256, "
    "thumbnail_type, thumbnail_size, thumbnail_sha256, idempotency_key"
)
_MARKS = ", ".join("?" * len(_COLUMNS.split(", ")))

INSERT_PHOTO = Query(f"INSERT INTO photos ({_COLUMNS}) VALUES ({_MARKS})", WRITE_DURABLE)
INSERT_LISTED = Query(f"INSERT INTO photos_by_user (bucket, {_COLUMNS}) VALUES (?, {_MARKS})", WRITE_DURABLE)
INSERT_BUCKET = Query("INSERT INTO photo_buckets_by_user (user_id, bucket) VALUES (?, ?)", WRITE_DURABLE)
READ_PHOTO = Query(f"SELECT {_COLUMNS} FROM photos WHERE photo_id = ?", READ_STRONG)
READ_PHOTO_FAST = Query(f"SELECT {_COLUMNS} FROM photos WHERE photo_id = ?", READ_FAST)
PHOTO_EXISTS = Query("SELECT photo_id FROM photos WHERE photo_id = ?", READ_STRONG)
BUCKETS = Query("SELECT bucket FROM photo_buckets_by_user WHERE user_id = ? AND bucket <= ? LIMIT ?", READ_FAST)
LIST_BUCKET = Query(
    f"SELECT {_COLUMNS} FROM photos_by_user WHERE user_id = ? AND bucket = ? AND photo_id < ? LIMIT ?", READ_FAST
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

_NO_CURSOR = 2**63 - 1
# Buckets fetched per look-up while walking a listing back in time.
_BUCKETS_PER_READ = 16
# Concurrent single-partition reads for BatchGetPhotos and the sweep's existence checks.
_READ_CONCURRENCY = 64


def bucket_of(photo_id: int) -> int:
    return id_timestamp_ms(photo_id) // BUCKET_MS


def _values(photo: PhotoRecord) -> tuple[Any, ...]:
    return (
        photo.photo_id, photo.user_id, photo.title, photo.location, photo.time_stamp_ms, list(photo.tags),
        photo.created_at_ms, photo.width, photo.height,
        photo.original.content_type, photo.original.byte_size, photo.original.sha256,
        photo.display.content_type, photo.display.byte_size, photo.display.sha256,
        photo.thumbnail.content_type, photo.thumbnail.byte_size, photo.thumbnail.sha256,
        photo.idempotency_key,
    )  # fmt: skip


def _record(row: Any) -> PhotoRecord:
    return PhotoRecord(
        photo_id=row.photo_id,
        user_id=row.user_id,
        title=row.title,
        location=row.location,
        time_stamp_ms=row.time_stamp_ms,
        tags=tuple(row.tags or ()),  # CQL reads an empty list back as null
        created_at_ms=row.created_at_ms,
        width=row.width,
        height=row.height,
        original=BlobInfo(row.original_type, row.original_size, row.original_sha256),
        display=BlobInfo(row.display_type, row.display_size, row.display_sha256),
        thumbnail=BlobInfo(row.thumbnail_type, row.thumbnail_size, row.thumbnail_sha256),
        idempotency_key=row.idempotency_key or "",
    )


def _now_ms() -> int:
    return int(time.time() * 1000)


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
            now = _now_ms()
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
        return _record(rows[0]) if rows else None

    async def get_many(self, photo_ids: list[int]) -> dict[int, PhotoRecord]:
        found = await self._read_many(READ_PHOTO_FAST, photo_ids)
        missed = [photo_id for photo_id in photo_ids if photo_id not in found]
        if missed:  # a replica may not have a brand-new photo yet: ask a quorum before leaving it out
            found.update(await self._read_many(READ_PHOTO, missed))
        return found

    async def list_by_user(self, user_id: int, before_photo_id: int | None, limit: int) -> list[PhotoRecord]:
        cursor = before_photo_id if before_photo_id is not None else _NO_CURSOR
        newest_bucket = bucket_of(cursor) if before_photo_id is not None else _NO_CURSOR
        found: list[PhotoRecord] = []
        while len(found) < limit:
            rows = await self._db.execute(BUCKETS, (user_id, newest_bucket, _BUCKETS_PER_READ))
            buckets = [row.bucket for row in rows]
            for bucket in buckets:
                listed = await self._db.execute(LIST_BUCKET, (user_id, bucket, cursor, limit - len(found)))
                found.extend(_record(row) for row in listed)
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
        limit = asyncio.Semaphore(_READ_CONCURRENCY)

        async def exists(photo_id: int) -> bool:
            async with limit:
                return bool(await self._db.execute(PHOTO_EXISTS, (photo_id,)))

        answers = await asyncio.gather(*(exists(photo_id) for photo_id in photo_ids))
        return {photo_id for photo_id, found in zip(photo_ids, answers, strict=True) if found}

    async def _read_many(self, query: Query, photo_ids: Sequence[int]) -> dict[int, PhotoRecord]:
        limit = asyncio.Semaphore(_READ_CONCURRENCY)

        async def read(photo_id: int) -> PhotoRecord | None:
            async with limit:
                rows = await self._db.execute(query, (photo_id,))
            return _record(rows[0]) if rows else None

        photos = await asyncio.gather(*(read(photo_id) for photo_id in photo_ids))
        return {photo.photo_id: photo for photo in photos if photo is not None}
