"""CQL (ScyllaDB) implementation of the comment store.

A post writes the comment, its by-user row and its event in one logged batch, then moves the counter;
a delete needs one winner, so it removes the comment with `DELETE … IF EXISTS` and only the winner
emits and counts. A comment racing its photo's purge checks the tombstone before and after writing.
Tables, paging, counters' drift and consistency: docs/storage/comment.md.
"""

from __future__ import annotations

import asyncio
from typing import Any

from services.comment.store import MAX_BATCH, Comment, CommentLikes, FirstPage, PhotoGone
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
        copy_legacy_marks("deleted_photos", "photo_id", Kind.PHOTO),
        # Replies (one level) and likes on comments: a like is claimed once (LWT), and only the claim
        # that applied moves the counter, so retries and double taps count once.
        "ALTER TABLE comments_by_photo ADD parent_id bigint",
        """CREATE TABLE IF NOT EXISTS comment_likes (
            photo_id bigint,
            comment_id bigint,
            user_id bigint,
            PRIMARY KEY ((photo_id, comment_id), user_id)
        )""",
        """CREATE TABLE IF NOT EXISTS comment_like_counts (
            photo_id bigint,
            comment_id bigint,
            likes counter,
            PRIMARY KEY ((photo_id), comment_id)
        )""",
    ),
)

_COLUMNS = "comment_id, photo_id, user_id, text, time_stamp_us, created_at_us, parent_id"

INSERT_COMMENT = Query(f"INSERT INTO comments_by_photo ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", WRITE_DURABLE)
CLAIM_LIKE = Query(
    "INSERT INTO comment_likes (photo_id, comment_id, user_id) VALUES (?, ?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
RELEASE_LIKE = Query(
    "DELETE FROM comment_likes WHERE photo_id = ? AND comment_id = ? AND user_id = ? IF EXISTS",
    WRITE_DURABLE,
    serial_consistency=SERIAL,
)
READ_LIKE = Query(
    "SELECT user_id FROM comment_likes WHERE photo_id = ? AND comment_id = ? AND user_id = ?", READ_STRONG
)
BUMP_LIKES = Query(
    "UPDATE comment_like_counts SET likes = likes + ? WHERE photo_id = ? AND comment_id = ?",
    WRITE_DURABLE,
    idempotent=False,
)
READ_LIKES = Query("SELECT likes FROM comment_like_counts WHERE photo_id = ? AND comment_id = ?", READ_FAST)
DROP_PHOTO_LIKE_COUNTS = Query("DELETE FROM comment_like_counts WHERE photo_id = ?", WRITE_DURABLE)
DROP_LIKERS = Query("DELETE FROM comment_likes WHERE photo_id = ? AND comment_id = ?", WRITE_DURABLE)
DROP_LIKE_COUNT = Query("DELETE FROM comment_like_counts WHERE photo_id = ? AND comment_id = ?", WRITE_DURABLE)
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

# Rows read per step of a purge, and writes in flight at once: a big purge never floods the cluster.
PURGE_CHUNK = 500
_PURGE_CONCURRENCY = 32


def _comment(row: Any) -> Comment:
    return Comment(
        row.comment_id, row.photo_id, row.user_id, row.text, row.time_stamp_us, row.created_at_us, row.parent_id or 0
    )


class CqlCommentStore:
    def __init__(self, db: CqlDatabase) -> None:
        self._db = db
        self._marks = CqlTombstones(db)

    async def post(self, comment: Comment, event: events_pb2.CommentChanged) -> None:
        await self._refuse_deleted(comment.photo_id)
        row = (
            comment.comment_id,
            comment.photo_id,
            comment.user_id,
            comment.text,
            comment.time_stamp_us,
            comment.created_at_us,
            comment.parent_id,
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
        await self._drop_likes(photo_id, comment_id)
        return True

    async def _drop_likes(self, photo_id: int, comment_id: int) -> None:
        """A removed comment's likers and count (its id is never reused)."""
        await self._db.execute(DROP_LIKERS, (photo_id, comment_id))
        await self._db.execute(DROP_LIKE_COUNT, (photo_id, comment_id))

    async def page(self, photo_id: int, limit: int, after_comment_id: int | None, newest_first: bool) -> list[Comment]:
        if newest_first:
            query, cursor = NEWEST_FIRST, INT64_MAX if after_comment_id is None else after_comment_id
        else:
            query, cursor = OLDEST_FIRST, INT64_MIN if after_comment_id is None else after_comment_id
        return [_comment(row) for row in await self._db.execute(query, (photo_id, cursor, limit))]

    async def first_pages(self, photo_ids: list[int], limit: int, newest_first: bool) -> list[FirstPage]:
        if len(photo_ids) > MAX_BATCH:
            raise ValueError(f"at most {MAX_BATCH} photos per batch")
        unique = sorted(set(photo_ids))
        # A page and a count per photo, each one partition, all at once (no multi-partition IN).
        pages, counts = await asyncio.gather(
            asyncio.gather(*(self.page(photo_id, limit, None, newest_first) for photo_id in unique)),
            self.counts(unique),
        )
        found = {photo_id: FirstPage(page, count) for photo_id, page, count in zip(unique, pages, counts, strict=True)}
        return [found[photo_id] for photo_id in photo_ids]

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
        await self._marks.mark(Kind.PHOTO, photo_id)
        dropped = 0
        after = INT64_MIN
        while rows := await self._db.execute(PHOTO_COMMENTS, (photo_id, after, PURGE_CHUNK)):
            await bounded_gather(
                rows,
                lambda row: self._db.execute(DELETE_BY_USER, (row.user_id, photo_id, row.comment_id)),
                _PURGE_CONCURRENCY,
            )
            await bounded_gather(
                rows, lambda row: self._db.execute(DROP_LIKERS, (photo_id, row.comment_id)), _PURGE_CONCURRENCY
            )
            dropped += len(rows)
            after = rows[-1].comment_id
        await self._db.execute(DROP_PHOTO_COMMENTS, (photo_id,))
        await self._db.execute(DROP_PHOTO_COUNT, (photo_id,))
        await self._db.execute(DROP_PHOTO_LIKE_COUNTS, (photo_id,))
        return dropped

    async def like_comment(self, photo_id: int, comment_id: int, user_id: int, liked: bool) -> CommentLikes | None:
        if await self.get(photo_id, comment_id) is None:
            return None
        claim = CLAIM_LIKE if liked else RELEASE_LIKE
        if applied(await self._db.execute(claim, (photo_id, comment_id, user_id))):
            await self._db.execute(BUMP_LIKES, (1 if liked else -1, photo_id, comment_id))
        return (await self.comment_likes(photo_id, [comment_id], user_id))[0]

    async def comment_likes(self, photo_id: int, comment_ids: list[int], viewer_id: int) -> list[CommentLikes]:
        async def read(comment_id: int) -> CommentLikes:
            counted, mine = await asyncio.gather(
                self._db.execute(READ_LIKES, (photo_id, comment_id)),
                self._db.execute(READ_LIKE, (photo_id, comment_id, viewer_id)),
            )
            # A counter that drifted below zero (a crash between claim and count) reads as zero.
            return CommentLikes(comment_id, max(counted[0].likes or 0, 0) if counted else 0, bool(mine))

        return await bounded_gather(comment_ids, read, _PURGE_CONCURRENCY)

    async def purge_user(self, user_id: int) -> int:
        dropped = 0
        after = (INT64_MIN, INT64_MIN)
        while rows := await self._db.execute(USER_COMMENTS, (user_id, *after, PURGE_CHUNK)):
            await bounded_gather(
                rows, lambda row: self._drop(row.photo_id, row.comment_id, user_id), _PURGE_CONCURRENCY
            )
            dropped += len(rows)
            after = (rows[-1].photo_id, rows[-1].comment_id)
        return dropped

    async def _drop(self, photo_id: int, comment_id: int, user_id: int) -> None:
        """Remove one comment without an event; the count moves only if this call removed the comment.
        The by-user row goes either way, so a purge's work list always shrinks."""
        if applied(await self._db.execute(REMOVE_COMMENT, (photo_id, comment_id))):
            await self._db.execute(BUMP, (-1, photo_id))
            await self._drop_likes(photo_id, comment_id)
        await self._db.execute(DELETE_BY_USER, (user_id, photo_id, comment_id))

    async def _refuse_deleted(self, photo_id: int) -> None:
        if await self._marks.is_marked(Kind.PHOTO, photo_id):
            raise PhotoGone(photo_id)
