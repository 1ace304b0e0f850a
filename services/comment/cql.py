"""CQL (ScyllaDB) implementation of the comment store.

Tables, query-first:
- comments_by_photo((photo_id), comment_id ASC) → the comment. Ids are time-ordered, so clustering
  order is creation order: ListComments oldest first reads the partition forwards
  (`comment_id > cursor`), newest first reads it backwards (`ORDER BY comment_id DESC`, `< cursor`),
  each page one keyset range read that neither skips nor repeats while comments arrive. The same
  partition answers DeleteComment's authorisation lookup: the request names the photo, so
  ((photo_id), comment_id) is a point read and no separate comments(comment_id) table is needed.
  A photo with millions of comments would want time buckets in the partition key; the cursor already
  carries the comment id a bucket derives from, so they can be added without changing page tokens.
- comments_by_user((user_id), photo_id, comment_id): only the work list of a deleted user's purge.
- comment_counts(photo_id): a CQL counter, so a count never scans a partition.
- deleted_photos(photo_id): the marker PhotoDeleted leaves, so a comment racing the deletion cannot
  outlive it.

Post writes the comment, its by-user row and CommentChanged in one logged batch (atomic, via
services.runtime.outbox_cql), then moves the counter, which cannot join a logged batch. A post needs no
claim: every post is a new comment with a new server-made id. Delete does need one winner — the
author and the photo's owner deleting at once, or a client retrying, must not emit two events or
count twice — so it removes the comment with `DELETE … IF EXISTS` (Paxos), and only the winner writes
the by-user delete + event batch and moves the counter. (The row was written without Paxos; mixing is
safe here because the conditional delete always comes after the insert it removes, by far more than
any clock skew between coordinators.)

Counters are not idempotent and are never retried by the driver (Query.idempotent=False). The price is
drift, as in the follow and like stores: a process dying between the batch and the counter, or a
counter write that timed out, leaves a count off by one. Counts are approximate by nature; a
reconciliation job that recounts a photo's partition would fix it, and is not built.

Deleted photos: purge_photo writes the marker first and only then reads the photo's comments; post
checks the marker before writing (a cheap refusal) and again after, removing its own comment if the
photo went meanwhile — so either the purge sees the comment or the post sees the marker. A post's
increment can land after the purge deleted the photo's counter (a CQL counter incremented after its
deletion comes back), so the post that finds the marker deletes the counter again, after its increment.
The comment's event has already left in that race; consumers of CommentChanged already live with
deleted photos.

Batch counts: concurrent single-partition counter reads rather than one `photo_id IN ?` over up to 100
partitions, which would route every read through one coordinator (an extra hop, no token awareness),
hold all results in its memory and be as slow as the slowest partition (see services/like/cql.py).

Consistency, per statement (levels in services.runtime.cql):
- the conditional delete: LWT, serial LOCAL_SERIAL, commit LOCAL_QUORUM;
- comments, by-user rows, events, markers, purges: LOCAL_QUORUM — acknowledged writes survive a
  replica's loss;
- reads that decide a write (the comment read for delete authorisation, the marker, the purges'
  work lists): LOCAL_QUORUM, so they see every acknowledged write;
- pages and counts: LOCAL_ONE — the hot reads behind every view; a moment of staleness is fine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

from services.comment.store import MAX_BATCH, Comment, PhotoGone
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
from shutter.events.v1 import events_pb2

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS comments_by_photo (
            photo_id bigint,
            comment_id bigint,
            user_id bigint,
            text text,
            time_stamp_us bigint,
            created_at_us bigint,
            PRIMARY KEY ((photo_id), comment_id)
        ) WITH CLUSTERING ORDER BY (comment_id ASC)""",
        """CREATE TABLE IF NOT EXISTS comments_by_user (
            user_id bigint,
            photo_id bigint,
            comment_id bigint,
            PRIMARY KEY ((user_id), photo_id, comment_id)
        )""",
        "CREATE TABLE IF NOT EXISTS comment_counts (photo_id bigint PRIMARY KEY, comment_count counter)",
        "CREATE TABLE IF NOT EXISTS deleted_photos (photo_id bigint PRIMARY KEY)",
    ),
    with_outbox=True,
)

_COLUMNS = "comment_id, photo_id, user_id, text, time_stamp_us, created_at_us"

INSERT_COMMENT = Query(f"INSERT INTO comments_by_photo ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)", WRITE_DURABLE)
INSERT_BY_USER = Query("INSERT INTO comments_by_user (user_id, photo_id, comment_id) VALUES (?, ?, ?)", WRITE_DURABLE)
READ_COMMENT = Query(f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ? AND comment_id = ?", READ_STRONG)
REMOVE_COMMENT = Query(
    "DELETE FROM comments_by_photo WHERE photo_id = ? AND comment_id = ? IF EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
DELETE_BY_USER = Query(
    "DELETE FROM comments_by_user WHERE user_id = ? AND photo_id = ? AND comment_id = ?", WRITE_DURABLE
)
OLDEST_FIRST = Query(
    f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ? AND comment_id > ? LIMIT ?", READ_FAST
)
NEWEST_FIRST = Query(
    f"SELECT {_COLUMNS} FROM comments_by_photo WHERE photo_id = ? AND comment_id < ? ORDER BY comment_id DESC LIMIT ?",
    READ_FAST,
)
COUNT = Query("SELECT comment_count FROM comment_counts WHERE photo_id = ?", READ_FAST)
BUMP = Query(
    "UPDATE comment_counts SET comment_count = comment_count + ? WHERE photo_id = ?", WRITE_DURABLE, idempotent=False
)
MARK_DELETED = Query("INSERT INTO deleted_photos (photo_id) VALUES (?)", WRITE_DURABLE)
IS_DELETED = Query("SELECT photo_id FROM deleted_photos WHERE photo_id = ?", READ_STRONG)
# The purges' work lists, walked by keyset so one call never rescans the tombstones it just left.
PHOTO_COMMENTS = Query(
    "SELECT comment_id, user_id FROM comments_by_photo WHERE photo_id = ? AND comment_id > ? LIMIT ?", READ_STRONG
)
USER_COMMENTS = Query(
    "SELECT photo_id, comment_id FROM comments_by_user WHERE user_id = ? AND (photo_id, comment_id) > (?, ?) LIMIT ?",
    READ_STRONG,
)
DROP_PHOTO_COMMENTS = Query("DELETE FROM comments_by_photo WHERE photo_id = ?", WRITE_DURABLE)
# Final by design: a deleted photo is never counted again (its marker refuses new comments).
DROP_PHOTO_COUNT = Query("DELETE FROM comment_counts WHERE photo_id = ?", WRITE_DURABLE)

_NO_CURSOR = 2**63 - 1
_BEFORE_ANY_ID = -(2**63)
# Rows read per step of a purge, and writes in flight at once: a big purge never floods the cluster.
PURGE_CHUNK = 500
_PURGE_CONCURRENCY = 32


def _comment(row: Any) -> Comment:
    return Comment(row.comment_id, row.photo_id, row.user_id, row.text, row.time_stamp_us, row.created_at_us)


class CqlCommentStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db

    async def post(self, comment: Comment, event: events_pb2.CommentChanged) -> None:
        await self._refuse_deleted(comment.photo_id)
        row = (
            comment.comment_id,
            comment.photo_id,
            comment.user_id,
            comment.text,
            comment.time_stamp_us,
            comment.created_at_us,
        )
        by_user = (comment.user_id, comment.photo_id, comment.comment_id)
        await write_with_events(self._db, [(INSERT_COMMENT, row), (INSERT_BY_USER, by_user)], [event])
        await self._db.execute(BUMP, (1, comment.photo_id))
        try:
            await self._refuse_deleted(comment.photo_id)
        except PhotoGone:  # deleted while we wrote: the purge may have missed this comment, so drop it here
            await self._drop(comment.photo_id, comment.comment_id, comment.user_id)
            # Our increment may have landed after the purge deleted the counter; deleting it again shadows it.
            await self._db.execute(DROP_PHOTO_COUNT, (comment.photo_id,))
            raise

    async def get(self, photo_id: int, comment_id: int) -> Comment | None:
        rows = await self._db.execute(READ_COMMENT, (photo_id, comment_id))
        return _comment(rows[0]) if rows else None

    async def delete(self, photo_id: int, comment_id: int, event: events_pb2.CommentChanged) -> bool:
        if not applied(await self._db.execute(REMOVE_COMMENT, (photo_id, comment_id))):
            return False  # not there, or another delete (or a purge) removed it first
        # An applied DELETE … IF EXISTS returns no columns; the event names the author (it is made from
        # the comment the service read to authorise the delete), which keys the by-user row.
        by_user = (event.user_id, photo_id, comment_id)
        await write_with_events(self._db, [(DELETE_BY_USER, by_user)], [event])
        await self._db.execute(BUMP, (-1, photo_id))
        return True

    async def page(self, photo_id: int, limit: int, after_comment_id: int | None, newest_first: bool) -> list[Comment]:
        if newest_first:
            query, cursor = NEWEST_FIRST, _NO_CURSOR if after_comment_id is None else after_comment_id
        else:
            query, cursor = OLDEST_FIRST, _BEFORE_ANY_ID if after_comment_id is None else after_comment_id
        return [_comment(row) for row in await self._db.execute(query, (photo_id, cursor, limit))]

    async def counts(self, photo_ids: list[int]) -> list[int]:
        if len(photo_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        unique = sorted(set(photo_ids))
        answers = await asyncio.gather(*(self._db.execute(COUNT, (photo_id,)) for photo_id in unique))
        # A counter that drifted below zero (see the module docstring) reads as zero, as in SQLite.
        found = {
            photo_id: max(rows[0].comment_count or 0, 0) if rows else 0
            for photo_id, rows in zip(unique, answers, strict=True)
        }
        return [found[photo_id] for photo_id in photo_ids]

    async def purge_photo(self, photo_id: int) -> int:
        """Marker first, then the authors' by-user rows, then the photo's partition (the work list) last,
        so a purge that dies half-way is finished by the redelivered event."""
        await self._db.execute(MARK_DELETED, (photo_id,))
        dropped = 0
        after = _BEFORE_ANY_ID
        while rows := await self._db.execute(PHOTO_COMMENTS, (photo_id, after, PURGE_CHUNK)):
            await _bounded(self._db.execute(DELETE_BY_USER, (row.user_id, photo_id, row.comment_id)) for row in rows)
            dropped += len(rows)
            after = rows[-1].comment_id
        await self._db.execute(DROP_PHOTO_COMMENTS, (photo_id,))
        await self._db.execute(DROP_PHOTO_COUNT, (photo_id,))
        return dropped

    async def purge_user(self, user_id: int) -> int:
        dropped = 0
        after = (_BEFORE_ANY_ID, _BEFORE_ANY_ID)
        while rows := await self._db.execute(USER_COMMENTS, (user_id, *after, PURGE_CHUNK)):
            await _bounded(self._drop(row.photo_id, row.comment_id, user_id) for row in rows)
            dropped += len(rows)
            after = (rows[-1].photo_id, rows[-1].comment_id)
        return dropped

    async def _drop(self, photo_id: int, comment_id: int, user_id: int) -> None:
        """Remove one comment without an event; the count moves only if this call removed the comment.
        The by-user row goes either way, so a purge's work list always shrinks."""
        if applied(await self._db.execute(REMOVE_COMMENT, (photo_id, comment_id))):
            await self._db.execute(BUMP, (-1, photo_id))
        await self._db.execute(DELETE_BY_USER, (user_id, photo_id, comment_id))

    async def _refuse_deleted(self, photo_id: int) -> None:
        if await self._db.execute(IS_DELETED, (photo_id,)):
            raise PhotoGone(photo_id)


async def _bounded(work: Iterable[Awaitable[Any]]) -> None:
    slots = asyncio.Semaphore(_PURGE_CONCURRENCY)

    async def run(step: Awaitable[Any]) -> None:
        async with slots:
            await step

    await asyncio.gather(*(run(step) for step in work))
