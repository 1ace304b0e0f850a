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
    MEDIA_COLUMNS,
    MEDIA_MARKS,
    PHOTO_COLUMNS,
    PHOTO_MARKS,
    CommitOutcomeUnknown,
    KeyedMedia,
    KeyedUpload,
    KeyInUse,
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
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_FAST, READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, CqlSchema, Query, applied
from services.runtime.ids import id_timestamp_ms, min_id_at
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
        # Albums: every image of a post (JSON, see store.encode_images), in both copies of the row.
        "ALTER TABLE photos ADD images text",
        "ALTER TABLE photos_by_user ADD images text",
        """CREATE TABLE IF NOT EXISTS media (
            media_id bigint PRIMARY KEY,
            user_id bigint,
            created_at_ms bigint,
            idempotency_key text,
            post_id bigint,
            image text
        )""",
        # Media no post holds yet, by id (time-ordered) in a few partitions: the expiry sweep reads the
        # oldest of each. Rows leave when a post takes the medium or the sweep deletes it.
        """CREATE TABLE IF NOT EXISTS pending_media (
            shard int,
            media_id bigint,
            PRIMARY KEY ((shard), media_id)
        )""",
        """CREATE TABLE IF NOT EXISTS media_keys (
            user_id bigint,
            idempotency_key text,
            media_id bigint,
            request_fingerprint text,
            PRIMARY KEY ((user_id, idempotency_key))
        )""",
        # Captions, and the users they mention, in both copies of the row.
        "ALTER TABLE photos ADD (caption text, mentioned_user_ids list<bigint>)",
        "ALTER TABLE photos_by_user ADD (caption text, mentioned_user_ids list<bigint>)",
        "ALTER TABLE photos ADD edited_at_ms bigint",
        "ALTER TABLE photos_by_user ADD edited_at_ms bigint",
    ),
)

INSERT_PHOTO = Query(f"INSERT INTO photos ({PHOTO_COLUMNS}) VALUES ({PHOTO_MARKS})", WRITE_DURABLE)
INSERT_LISTED = Query(f"INSERT INTO photos_by_user (bucket, {PHOTO_COLUMNS}) VALUES (?, {PHOTO_MARKS})", WRITE_DURABLE)
INSERT_BUCKET = Query("INSERT INTO photo_buckets_by_user (user_id, bucket) VALUES (?, ?)", WRITE_DURABLE)
READ_PHOTO = Query(f"SELECT {PHOTO_COLUMNS} FROM photos WHERE photo_id = ?", READ_STRONG)
READ_PHOTO_FAST = Query(f"SELECT {PHOTO_COLUMNS} FROM photos WHERE photo_id = ?", READ_FAST)
PHOTO_EXISTS = Query("SELECT photo_id FROM photos WHERE photo_id = ?", READ_STRONG)
COUNT_BUCKET = Query("SELECT COUNT(*) AS n FROM photos_by_user WHERE user_id = ? AND bucket = ?", READ_FAST)
ALL_BUCKETS = Query("SELECT bucket FROM photo_buckets_by_user WHERE user_id = ?", READ_FAST)
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

RELEASE_KEY = Query(
    "DELETE FROM upload_keys WHERE user_id = ? AND idempotency_key = ? IF photo_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
INSERT_MEDIA = Query(f"INSERT INTO media ({MEDIA_COLUMNS}) VALUES ({MEDIA_MARKS})", WRITE_DURABLE)
READ_MEDIA = Query(f"SELECT {MEDIA_COLUMNS} FROM media WHERE media_id = ?", READ_STRONG)
MEDIA_EXISTS = Query("SELECT media_id FROM media WHERE media_id = ?", READ_STRONG)
# A post takes a medium with a lightweight transaction: two posts racing for one medium cannot both win.
TAKE_MEDIA = Query(
    "UPDATE media SET post_id = ? WHERE media_id = ? IF post_id = 0 AND user_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
RELEASE_MEDIA = Query(
    "UPDATE media SET post_id = 0 WHERE media_id = ? IF post_id = ?", WRITE_DURABLE, serial_consistency=SERIAL
)
DELETE_UNPOSTED_MEDIA = Query(
    "DELETE FROM media WHERE media_id = ? IF post_id = ?", WRITE_DURABLE, serial_consistency=SERIAL
)
DELETE_MEDIA = Query("DELETE FROM media WHERE media_id = ?", WRITE_DURABLE)
INSERT_PENDING = Query("INSERT INTO pending_media (shard, media_id) VALUES (?, ?)", WRITE_DURABLE)
DELETE_PENDING = Query("DELETE FROM pending_media WHERE shard = ? AND media_id = ?", WRITE_DURABLE)
OLDEST_PENDING = Query("SELECT media_id FROM pending_media WHERE shard = ? AND media_id < ? LIMIT ?", READ_STRONG)
CLAIM_MEDIA_KEY = Query(
    "INSERT INTO media_keys (user_id, idempotency_key, media_id, request_fingerprint) VALUES (?, ?, ?, ?)"
    " IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
TAKE_OVER_MEDIA_KEY = Query(
    "UPDATE media_keys SET media_id = ?, request_fingerprint = ? WHERE user_id = ? AND idempotency_key = ?"
    " IF media_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_MEDIA_KEY = Query(
    "SELECT media_id, request_fingerprint FROM media_keys WHERE user_id = ? AND idempotency_key = ?", READ_STRONG
)
RELEASE_MEDIA_KEY = Query(
    "DELETE FROM media_keys WHERE user_id = ? AND idempotency_key = ? IF media_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
MEDIA_SHARDS = 8
_EDITED = "title = ?, location = ?, tags = ?, caption = ?, mentioned_user_ids = ?, images = ?, edited_at_ms = ?"
EDIT_PHOTO = Query(f"UPDATE photos SET {_EDITED} WHERE photo_id = ?", WRITE_DURABLE)
EDIT_LISTED = Query(
    f"UPDATE photos_by_user SET {_EDITED} WHERE user_id = ? AND bucket = ? AND photo_id = ?", WRITE_DURABLE
)

# Buckets fetched per look-up while walking a listing back in time.
_BUCKETS_PER_READ = 16
# Concurrent single-partition reads for BatchGetPhotos and the sweep's existence checks.
_READ_CONCURRENCY = 64


def bucket_of(photo_id: int) -> int:
    return id_timestamp_ms(photo_id) // BUCKET_MS


def _values(photo: PhotoRecord) -> tuple[Any, ...]:
    return photo_values(photo, list)


def _photo_or_none(row: Any) -> PhotoRecord | None:
    """A row without an owner is what an edit racing the photo's delete left: not a photo."""
    return None if row.user_id is None else photo_record(row)


def _pending(media_id: int) -> tuple[int, int]:
    return media_id % MEDIA_SHARDS, media_id


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
            try:
                await self._take_media(photo)
            except (MediaNotFound, MediaTaken):
                if photo.idempotency_key:  # refused: the key is free for a corrected request at once
                    await self._db.execute(RELEASE_KEY, (photo.user_id, photo.idempotency_key, photo.photo_id))
                raise
            writes = [
                (INSERT_PHOTO, _values(photo)),
                (INSERT_LISTED, (bucket_of(photo.photo_id), *_values(photo))),
                (INSERT_BUCKET, (photo.user_id, bucket_of(photo.photo_id))),
                *((DELETE_PENDING, _pending(media_id)) for media_id in photo.media_ids()),
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

    async def _take_media(self, photo: PhotoRecord) -> None:
        """Take each medium for the post (LWT), or none: a refusal gives back the ones taken so far. A post
        that dies between this and its batch leaves its media taken by a post that never appears; the
        expiry sweep treats them as free (expired_media)."""
        taken: list[int] = []
        try:
            for index, image in enumerate(photo.images):
                if image.media_id == photo.photo_id:
                    continue
                rows = await self._db.execute(TAKE_MEDIA, (photo.photo_id, image.media_id, photo.user_id))
                if not applied(rows):
                    owner, holder = getattr(rows[0], "user_id", None), getattr(rows[0], "post_id", None)
                    if owner == photo.user_id and holder:
                        raise MediaTaken(index, image.media_id)
                    raise MediaNotFound(index)
                taken.append(image.media_id)
        except BaseException:
            for media_id in taken:
                await self._db.execute(RELEASE_MEDIA, (media_id, photo.photo_id))
            raise

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
        return _photo_or_none(rows[0]) if rows else None

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
                found.extend(photo for photo in map(_photo_or_none, listed) if photo is not None)
                if len(found) >= limit:
                    break
            if len(buckets) < _BUCKETS_PER_READ:
                break
            newest_bucket = buckets[-1] - 1
        return found

    async def count_by_user(self, user_id: int) -> int:
        """One COUNT per 30-day bucket the user ever posted in (a dozen a year), concurrently: a profile's
        figure, read when a profile opens, never on the view path."""
        buckets = [row.bucket for row in await self._db.execute(ALL_BUCKETS, (user_id,))]

        async def count(bucket: int) -> int:
            return (await self._db.execute(COUNT_BUCKET, (user_id, bucket)))[0].n

        return sum(await bounded_gather(buckets, count, _READ_CONCURRENCY))

    async def update(self, photo: PhotoRecord, event: events_pb2.PhotoEdited) -> PhotoRecord | None:
        """Both copies of the row change in one batch with the event. An edit racing a delete can leave the
        edited cells of a deleted row behind (CQL writes are upserts): rows without an owner are not photos
        (`_photo_or_none`)."""
        if await self.get(photo.photo_id) is None:
            return None
        edited = (
            photo.title, photo.location, list(photo.tags), photo.caption, list(photo.mentioned_user_ids),
            encode_images(photo.images), photo.edited_at_ms,
        )  # fmt: skip
        writes = [
            (EDIT_PHOTO, (*edited, photo.photo_id)),
            (EDIT_LISTED, (*edited, photo.user_id, bucket_of(photo.photo_id), photo.photo_id)),
        ]
        await write_with_events(self._db, writes, [event])
        return await self.get(photo.photo_id)

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
        media = await self.get_media(photo.media_ids())
        writes.extend((DELETE_MEDIA, (media_id,)) for media_id in media)
        await write_with_events(self._db, writes, [event])
        for item in media.values():  # a key left behind points at no medium: the next claim takes it over
            if item.idempotency_key:
                await self._db.execute(RELEASE_MEDIA_KEY, (item.user_id, item.idempotency_key, item.media_id))
        return photo

    async def existing(self, photo_ids: list[int]) -> set[int]:
        async def exists(photo_id: int) -> bool:
            return bool(await self._db.execute(PHOTO_EXISTS, (photo_id,))) or bool(
                await self._db.execute(MEDIA_EXISTS, (photo_id,))
            )

        answers = await bounded_gather(photo_ids, exists, _READ_CONCURRENCY)
        return {photo_id for photo_id, found in zip(photo_ids, answers, strict=True) if found}

    async def create_media(self, media: MediaRecord, fingerprint: str = "") -> tuple[MediaRecord, bool]:
        """The medium's row goes in before its key is claimed, so a claimed key whose medium is missing was
        freed by a delete or the expiry sweep, and is taken over; no lease is needed."""
        try:
            await self._db.batch([(INSERT_MEDIA, media_values(media)), (INSERT_PENDING, _pending(media.media_id))])
        except (WriteTimeout, OperationTimedOut) as exc:
            raise CommitOutcomeUnknown(str(exc)) from exc
        if not media.idempotency_key:
            return media, True
        user_id, key = media.user_id, media.idempotency_key
        for _ in range(3):
            rows = await self._db.execute(CLAIM_MEDIA_KEY, (user_id, key, media.media_id, fingerprint))
            if applied(rows) or rows[0].media_id == media.media_id:
                return media, True
            holder = rows[0].media_id
            earlier = (await self.get_media([holder])).get(holder)
            if earlier is not None:
                await self._drop(media)
                if not same_request(rows[0].request_fingerprint or "", fingerprint):
                    raise KeyReused(holder)
                return earlier, False
            take_over = (media.media_id, fingerprint, user_id, key, holder)
            if applied(await self._db.execute(TAKE_OVER_MEDIA_KEY, take_over)):
                return media, True
        await self._drop(media)
        raise KeyInUse(f"idempotency key {key!r} keeps changing hands")

    async def _drop(self, media: MediaRecord) -> None:
        """A medium that lost its key's claim: never visible to anyone, so plain deletes do."""
        await self._db.batch([(DELETE_MEDIA, (media.media_id,)), (DELETE_PENDING, _pending(media.media_id))])

    async def media_by_idempotency_key(self, user_id: int, key: str) -> KeyedMedia | None:
        rows = await self._db.execute(READ_MEDIA_KEY, (user_id, key))
        media = (await self.get_media([rows[0].media_id])).get(rows[0].media_id) if rows else None
        return KeyedMedia(media, rows[0].request_fingerprint or "") if media is not None else None

    async def get_media(self, media_ids: list[int]) -> dict[int, MediaRecord]:
        async def read(media_id: int) -> MediaRecord | None:
            rows = await self._db.execute(READ_MEDIA, (media_id,))
            return media_record(rows[0]) if rows else None

        found = await bounded_gather(media_ids, read, _READ_CONCURRENCY)
        return {media.media_id: media for media in found if media is not None}

    async def expired_media(self, created_before_ms: int, limit: int) -> list[MediaRecord]:
        """Ids are time-ordered, so the oldest pending rows of each shard are the expired ones. A medium
        taken by a post that never committed (it died between its LWTs and its batch) counts as free."""
        cutoff = min_id_at(created_before_ms)
        ids: list[int] = []
        for shard in range(MEDIA_SHARDS):
            ids.extend(row.media_id for row in await self._db.execute(OLDEST_PENDING, (shard, cutoff, limit)))
        ids = sorted(ids)[:limit]
        found = await self.get_media(ids)
        posts = await self.existing(sorted({m.post_id for m in found.values() if m.post_id}))
        expired: list[MediaRecord] = []
        for media_id in ids:
            media = found.get(media_id)
            if media is None or media.post_id in posts:  # a row left by a crash: nothing to delete but it
                await self._db.execute(DELETE_PENDING, _pending(media_id))
            elif media.created_at_ms < created_before_ms:
                expired.append(media)
        return expired

    async def delete_media(self, media: MediaRecord) -> bool:
        if not applied(await self._db.execute(DELETE_UNPOSTED_MEDIA, (media.media_id, media.post_id))):
            return False
        await self._db.execute(DELETE_PENDING, _pending(media.media_id))
        if media.idempotency_key:
            await self._db.execute(RELEASE_MEDIA_KEY, (media.user_id, media.idempotency_key, media.media_id))
        return True

    async def _read_many(self, query: Query, photo_ids: Sequence[int]) -> dict[int, PhotoRecord]:
        async def read(photo_id: int) -> PhotoRecord | None:
            rows = await self._db.execute(query, (photo_id,))
            return _photo_or_none(rows[0]) if rows else None

        photos = await bounded_gather(photo_ids, read, _READ_CONCURRENCY)
        return {photo.photo_id: photo for photo in photos if photo is not None}
