"""CQL (ScyllaDB) implementation of the like store.

One like, one winner: the (photo, user) pair is claimed with a lightweight transaction, and only the
request whose claim applied writes the listing rows and the event (one logged batch) and moves the
counter, so double taps and retries count once. A like racing its photo's purge checks the tombstone
before and after writing. Tables, counters' drift, batch reads and consistency: docs/storage/like.md.
"""

from __future__ import annotations

import asyncio

from services.like.store import MAX_BATCH, Like, LikerCursor, PhotoGone, Summary
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import (
    READ_FAST,
    READ_STRONG,
    SERIAL,
    WRITE_DURABLE,
    CqlDatabase,
    CqlSchema,
    Query,
    applied,
)
from services.runtime.outbox_cql import write_with_events
from services.runtime.requests import INT64_MAX, INT64_MIN
from services.runtime.tombstones import Kind
from services.runtime.tombstones_cql import CqlTombstones, copy_legacy_marks
from shutter.events.v1 import events_pb2

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS likes_by_photo (
            photo_id bigint,
            user_id bigint,
            like_id bigint,
            liked_at_ms bigint,
            PRIMARY KEY ((photo_id), user_id)
        )""",
        """CREATE TABLE IF NOT EXISTS likers_by_photo (
            photo_id bigint,
            liked_at_ms bigint,
            user_id bigint,
            PRIMARY KEY ((photo_id), liked_at_ms, user_id)
        ) WITH CLUSTERING ORDER BY (liked_at_ms DESC, user_id DESC)""",
        """CREATE TABLE IF NOT EXISTS likes_by_user (
            user_id bigint,
            photo_id bigint,
            like_id bigint,
            liked_at_ms bigint,
            PRIMARY KEY ((user_id), photo_id)
        )""",
        "CREATE TABLE IF NOT EXISTS like_counts (photo_id bigint PRIMARY KEY, like_count counter)",
        "CREATE TABLE IF NOT EXISTS deleted_photos (photo_id bigint PRIMARY KEY)",
        copy_legacy_marks("deleted_photos", "photo_id", Kind.PHOTO),
    ),
)

CLAIM = Query(
    "INSERT INTO likes_by_photo (photo_id, user_id, like_id, liked_at_ms) VALUES (?, ?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_CLAIM = Query("SELECT like_id, liked_at_ms FROM likes_by_photo WHERE photo_id = ? AND user_id = ?", READ_STRONG)
RELEASE = Query(
    "DELETE FROM likes_by_photo WHERE photo_id = ? AND user_id = ? IF like_id = ?",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
INSERT_LIKER = Query("INSERT INTO likers_by_photo (photo_id, liked_at_ms, user_id) VALUES (?, ?, ?)", WRITE_DURABLE)
DELETE_LIKER = Query(
    "DELETE FROM likers_by_photo WHERE photo_id = ? AND liked_at_ms = ? AND user_id = ?", WRITE_DURABLE
)
INSERT_BY_USER = Query(
    "INSERT INTO likes_by_user (user_id, photo_id, like_id, liked_at_ms) VALUES (?, ?, ?, ?)", WRITE_DURABLE
)
DELETE_BY_USER = Query("DELETE FROM likes_by_user WHERE user_id = ? AND photo_id = ?", WRITE_DURABLE)
LIKERS_PAGE = Query(
    "SELECT user_id, liked_at_ms FROM likers_by_photo WHERE photo_id = ? AND (liked_at_ms, user_id) < (?, ?) LIMIT ?",
    READ_FAST,
)
VIEWER_LIKED = Query("SELECT photo_id FROM likes_by_user WHERE user_id = ? AND photo_id IN ?", READ_STRONG)
COUNT = Query("SELECT like_count FROM like_counts WHERE photo_id = ?", READ_FAST)
BUMP = Query("UPDATE like_counts SET like_count = like_count + ? WHERE photo_id = ?", WRITE_DURABLE, idempotent=False)
# The purges' work lists, walked by keyset so one call never rescans the tombstones it just left.
PHOTO_CLAIMS = Query("SELECT user_id FROM likes_by_photo WHERE photo_id = ? AND user_id > ? LIMIT ?", READ_STRONG)
USER_LIKES = Query(
    "SELECT photo_id, like_id, liked_at_ms FROM likes_by_user WHERE user_id = ? AND photo_id > ? LIMIT ?",
    READ_STRONG,
)
DROP_PHOTO_LIKERS = Query("DELETE FROM likers_by_photo WHERE photo_id = ?", WRITE_DURABLE)
DROP_PHOTO_CLAIMS = Query("DELETE FROM likes_by_photo WHERE photo_id = ?", WRITE_DURABLE)
# Final by design: a deleted photo is never counted again (its marker refuses new likes).
DROP_PHOTO_COUNT = Query("DELETE FROM like_counts WHERE photo_id = ?", WRITE_DURABLE)

# Rows read per step of a purge, and writes in flight at once: a viral photo's purge never floods the cluster.
PURGE_CHUNK = 500
_PURGE_CONCURRENCY = 32


class CqlLikeStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db
        self._marks = CqlTombstones(db)

    async def like(self, photo_id: int, user_id: int, liked_at_ms: int, event: events_pb2.LikeChanged) -> bool:
        await self._refuse_deleted(photo_id)
        like_id = event.meta.event_id
        rows = await self._db.execute(CLAIM, (photo_id, user_id, like_id, liked_at_ms))
        if not applied(rows) and rows[0].like_id != like_id:  # equal: our own attempt, retried
            return False
        await write_with_events(
            self._db,
            [
                (INSERT_LIKER, (photo_id, liked_at_ms, user_id)),
                (INSERT_BY_USER, (user_id, photo_id, like_id, liked_at_ms)),
            ],
            [event],
        )
        await self._db.execute(BUMP, (1, photo_id))
        try:
            await self._refuse_deleted(photo_id)
        except PhotoGone:  # deleted while we wrote: the purge may have missed this like, so drop it here
            await self._drop(photo_id, user_id, like_id, liked_at_ms)
            # Our increment may have landed after the purge deleted the counter; deleting it again shadows it.
            await self._db.execute(DROP_PHOTO_COUNT, (photo_id,))
            raise
        return True

    async def unlike(self, photo_id: int, user_id: int, event: events_pb2.LikeChanged) -> bool:
        rows = await self._db.execute(READ_CLAIM, (photo_id, user_id))
        if not rows:
            return False
        like_id, liked_at_ms = rows[0].like_id, rows[0].liked_at_ms
        if not applied(await self._db.execute(RELEASE, (photo_id, user_id, like_id))):
            return False  # another unlike (or a purge) removed it first
        await write_with_events(self._db, _listing_deletes(photo_id, user_id, liked_at_ms), [event])
        await self._db.execute(BUMP, (-1, photo_id))
        return True

    async def summaries(self, pairs: list[tuple[int, int]]) -> list[Summary]:
        if len(pairs) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        photos = sorted({photo_id for photo_id, _ in pairs})
        if not photos:
            return []
        by_viewer: dict[int, set[int]] = {}
        for photo_id, viewer_id in pairs:
            if viewer_id:
                by_viewer.setdefault(viewer_id, set()).add(photo_id)
        viewers = sorted(by_viewer)
        # One count read per photo and one has-liked read per viewer (a single partition each), at once.
        reads = [self._db.execute(COUNT, (photo_id,)) for photo_id in photos]
        reads += [self._db.execute(VIEWER_LIKED, (viewer, sorted(by_viewer[viewer]))) for viewer in viewers]
        answers = await asyncio.gather(*reads)
        # A counter that drifted below zero (see the module docstring) reads as zero, as in SQLite.
        counts = {
            photo_id: max(rows[0].like_count or 0, 0) if rows else 0
            for photo_id, rows in zip(photos, answers[: len(photos)], strict=True)
        }
        liked = {
            (row.photo_id, viewer) for viewer, rows in zip(viewers, answers[len(photos) :], strict=True) for row in rows
        }
        return [Summary(p, counts[p], (p, v) in liked) for p, v in pairs]

    async def likers(self, photo_id: int, limit: int, after: LikerCursor | None) -> list[Like]:
        cursor = (after.liked_at_ms, after.user_id) if after else (INT64_MAX, INT64_MAX)
        rows = await self._db.execute(LIKERS_PAGE, (photo_id, *cursor, limit))
        return [Like(row.user_id, row.liked_at_ms) for row in rows]

    async def purge_photo(self, photo_id: int) -> int:
        """Marker first, then the likers' by-user rows, then the photo's partitions (the work list) last,
        so a purge that dies half-way is finished by the redelivered event."""
        await self._marks.mark(Kind.PHOTO, photo_id)
        dropped = 0
        after = INT64_MIN
        while rows := await self._db.execute(PHOTO_CLAIMS, (photo_id, after, PURGE_CHUNK)):
            await bounded_gather(
                rows, lambda row: self._db.execute(DELETE_BY_USER, (row.user_id, photo_id)), _PURGE_CONCURRENCY
            )
            dropped += len(rows)
            after = rows[-1].user_id
        await self._db.execute(DROP_PHOTO_LIKERS, (photo_id,))
        await self._db.execute(DROP_PHOTO_CLAIMS, (photo_id,))
        await self._db.execute(DROP_PHOTO_COUNT, (photo_id,))
        return dropped

    async def purge_user(self, user_id: int) -> int:
        dropped = 0
        after = INT64_MIN
        while rows := await self._db.execute(USER_LIKES, (user_id, after, PURGE_CHUNK)):
            await bounded_gather(
                rows, lambda row: self._drop(row.photo_id, user_id, row.like_id, row.liked_at_ms), _PURGE_CONCURRENCY
            )
            dropped += len(rows)
            after = rows[-1].photo_id
        return dropped

    async def _drop(self, photo_id: int, user_id: int, like_id: int, liked_at_ms: int) -> None:
        """Remove one like without an event; the count moves only if this call removed the claim."""
        if applied(await self._db.execute(RELEASE, (photo_id, user_id, like_id))):
            await self._db.execute(BUMP, (-1, photo_id))
        await self._db.batch(_listing_deletes(photo_id, user_id, liked_at_ms))

    async def _refuse_deleted(self, photo_id: int) -> None:
        if await self._marks.is_marked(Kind.PHOTO, photo_id):
            raise PhotoGone(photo_id)


def _listing_deletes(photo_id: int, user_id: int, liked_at_ms: int) -> list[tuple[Query, tuple[int, ...]]]:
    return [(DELETE_LIKER, (photo_id, liked_at_ms, user_id)), (DELETE_BY_USER, (user_id, photo_id))]
