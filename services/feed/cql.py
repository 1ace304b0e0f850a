"""CQL (ScyllaDB) implementation of FeedStore: fan-out on write into capped per-user partitions.

Feeds are trimmed lazily (a deterministic 1-in-`trim_every` write trims), fan-out writes go as
token-aware single-partition inserts at most WRITE_CONCURRENCY at a time, and deletes win over late
writes because removers mark first and read second while writers write first and check second.
Tables, trimming, consistency per statement and why: docs/storage/feed.md.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

from services.feed.store import Post
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_FAST, READ_STRONG, WRITE_DURABLE, CqlDatabase, CqlSchema, Query
from services.runtime.requests import INT64_MAX, now_ms
from services.runtime.tombstones import Kind
from services.runtime.tombstones_cql import CqlTombstones, copy_legacy_marks

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS feeds (
            user_id bigint,
            photo_id bigint,
            author_id bigint,
            posted_ms bigint,
            PRIMARY KEY ((user_id), photo_id)
        ) WITH CLUSTERING ORDER BY (photo_id DESC)""",
        """CREATE TABLE IF NOT EXISTS feed_by_photo (
            photo_id bigint,
            user_id bigint,
            PRIMARY KEY ((photo_id), user_id)
        )""",
        """CREATE TABLE IF NOT EXISTS author_posts (
            author_id bigint,
            pulled boolean,
            photo_id bigint,
            posted_ms bigint,
            PRIMARY KEY ((author_id), pulled, photo_id)
        ) WITH CLUSTERING ORDER BY (pulled ASC, photo_id DESC)""",
        """CREATE TABLE IF NOT EXISTS large_accounts (
            bucket int,
            author_id bigint,
            marked_ms bigint,
            PRIMARY KEY ((bucket), author_id)
        )""",
        # The feed's own tombstones, before the runtime's (steps 7 and 8 copy them there).
        """CREATE TABLE IF NOT EXISTS deleted_photos (
            photo_id bigint PRIMARY KEY,
            deleted_ms bigint
        ) WITH default_time_to_live = 691200""",
        """CREATE TABLE IF NOT EXISTS deleted_users (
            user_id bigint PRIMARY KEY,
            deleted_ms bigint
        ) WITH default_time_to_live = 691200""",
        copy_legacy_marks("deleted_photos", "photo_id", Kind.PHOTO, "deleted_ms"),
        copy_legacy_marks("deleted_users", "user_id", Kind.USER, "deleted_ms"),
    )
)

INSERT_ENTRY = Query("INSERT INTO feeds (user_id, photo_id, author_id, posted_ms) VALUES (?, ?, ?, ?)", WRITE_DURABLE)
DELETE_ENTRY = Query("DELETE FROM feeds WHERE user_id = ? AND photo_id = ?", WRITE_DURABLE)
DELETE_FEED = Query("DELETE FROM feeds WHERE user_id = ?", WRITE_DURABLE)
TRIM_FEED = Query("DELETE FROM feeds WHERE user_id = ? AND photo_id <= ?", WRITE_DURABLE)
FEED_PAGE = Query(
    "SELECT photo_id, author_id, posted_ms FROM feeds WHERE user_id = ? AND photo_id < ? LIMIT ?", READ_FAST
)
# A whole feed (capacity + a short tail): what an unfollow searches, a trim cuts and a user purge empties.
FEED_ENTRIES = Query("SELECT photo_id, author_id FROM feeds WHERE user_id = ?", READ_STRONG)

INSERT_REACHED = Query("INSERT INTO feed_by_photo (photo_id, user_id) VALUES (?, ?)", WRITE_DURABLE)
DELETE_REACHED = Query("DELETE FROM feed_by_photo WHERE photo_id = ? AND user_id = ?", WRITE_DURABLE)
DELETE_ALL_REACHED = Query("DELETE FROM feed_by_photo WHERE photo_id = ?", WRITE_DURABLE)
REACHED = Query("SELECT user_id FROM feed_by_photo WHERE photo_id = ?", READ_STRONG)

INSERT_AUTHOR_POST = Query(
    "INSERT INTO author_posts (author_id, pulled, photo_id, posted_ms) VALUES (?, ?, ?, ?)", WRITE_DURABLE
)
DELETE_AUTHOR_POST = Query(
    "DELETE FROM author_posts WHERE author_id = ? AND pulled = ? AND photo_id = ?", WRITE_DURABLE
)
TRIM_AUTHOR_POSTS = Query(
    "DELETE FROM author_posts WHERE author_id = ? AND pulled = ? AND photo_id <= ?", WRITE_DURABLE
)
DELETE_AUTHOR_POSTS = Query("DELETE FROM author_posts WHERE author_id = ?", WRITE_DURABLE)
AUTHOR_POSTS_PAGE = Query(
    "SELECT photo_id, posted_ms FROM author_posts WHERE author_id = ? AND pulled = ? AND photo_id < ? LIMIT ?",
    READ_FAST,
)
# Every retained post of an author, for a trim or a user purge.
AUTHOR_POST_KEYS = Query("SELECT pulled, photo_id FROM author_posts WHERE author_id = ?", READ_STRONG)

MARK_LARGE = Query("INSERT INTO large_accounts (bucket, author_id, marked_ms) VALUES (0, ?, ?)", WRITE_DURABLE)
UNMARK_LARGE = Query("DELETE FROM large_accounts WHERE bucket = 0 AND author_id = ?", WRITE_DURABLE)
LARGE_ACCOUNTS = Query("SELECT author_id FROM large_accounts WHERE bucket = 0 LIMIT ?", READ_FAST)
LARGE_AMONG = Query("SELECT author_id FROM large_accounts WHERE bucket = 0 AND author_id IN ?", READ_FAST)
# ScyllaDB refuses clustering-key IN lists longer than max_clustering_key_restrictions_per_query (100 by default).
CLUSTERING_IN_LIMIT = 100
# Such reads in flight for one feed read (a reader following thousands of accounts).
READ_CONCURRENCY = 16

# Requests in flight for one fan-out page or purge: enough to keep a few nodes busy, few enough that
# one large purge cannot crowd out the other work of the cluster.
WRITE_CONCURRENCY = 64
# Rows of one partition per batch: well under Cassandra's 5 KiB warning (Scylla warns at 128 KiB).
INDEX_BATCH = 100

_T = TypeVar("_T")


def _trim_due(owner_id: int, photo_id: int, every: int) -> bool:
    """Whether writing `photo_id` under `owner_id` trims that partition: a deterministic 1-in-`every`."""
    if every <= 1:
        return True
    mixed = ((owner_id * 0x9E3779B97F4A7C15) ^ photo_id) * 0xBF58476D1CE4E5B9 & 0xFFFFFFFFFFFFFFFF
    return (mixed >> 29) % every == 0


def _chunks(values: Sequence[_T], size: int) -> Iterable[Sequence[_T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


class CqlFeedStore:
    def __init__(
        self,
        db: CqlDatabase,
        *,
        feed_capacity: int = 800,
        author_posts_kept: int = 800,
        trim_every: int = 32,
        read_page: int = 1000,
    ) -> None:
        self._db = db
        self._capacity = feed_capacity
        self._author_posts_kept = author_posts_kept
        self._trim_every = trim_every
        self._read_page = read_page
        self._marks = CqlTombstones(db)

    # -- writes ------------------------------------------------------------------------------

    async def record_post(self, post: Post, *, pulled: bool) -> bool:
        if await self._deleted(post.photo_id, post.author_id):
            return False
        # One partition: the post moves to its `pulled` slice (a redelivery may reclassify it).
        await self._db.batch(
            [
                (INSERT_AUTHOR_POST, (post.author_id, pulled, post.photo_id, post.posted_ms)),
                (DELETE_AUTHOR_POST, (post.author_id, not pulled, post.photo_id)),
            ],
            WRITE_DURABLE,
        )
        if pulled:
            await self._db.execute(MARK_LARGE, (post.author_id, now_ms()))
        if await self._deleted(post.photo_id, post.author_id):  # deleted while we wrote: undo
            await self._forget_author_post(post.author_id, post.photo_id)
            return False
        if _trim_due(post.author_id, post.photo_id, self._trim_every):
            await self._trim_author_posts(post.author_id)
        return True

    async def add_to_feeds(self, post: Post, user_ids: Sequence[int]) -> int:
        if not user_ids or await self._deleted(post.photo_id, post.author_id):
            return 0
        targets = await self._without_deleted_followers(list(dict.fromkeys(user_ids)))
        # Index first: a concurrent photo delete that reads the index then finds every row we add.
        for chunk in _chunks(targets, INDEX_BATCH):
            await self._db.batch([(INSERT_REACHED, (post.photo_id, user_id)) for user_id in chunk], WRITE_DURABLE)
        entry = (post.photo_id, post.author_id, post.posted_ms)
        await bounded_gather(
            targets, lambda user_id: self._db.execute(INSERT_ENTRY, (user_id, *entry)), WRITE_CONCURRENCY
        )
        if await self._deleted(post.photo_id, post.author_id):
            await self._purge_photo_from_feeds(post.photo_id)
            return 0
        due = [user_id for user_id in targets if _trim_due(user_id, post.photo_id, self._trim_every)]
        await bounded_gather(due, self._trim_feed, WRITE_CONCURRENCY)
        return len(targets)

    async def add_to_feed(self, user_id: int, posts: Sequence[Post]) -> int:
        if not posts or await self._deleted_users([user_id]):
            return 0
        deleted_photos = await self._deleted_photos([post.photo_id for post in posts])
        deleted_authors = await self._deleted_users(list({post.author_id for post in posts}))
        kept = [p for p in posts if p.photo_id not in deleted_photos and p.author_id not in deleted_authors]
        if not kept:
            return 0
        await bounded_gather(
            kept, lambda post: self._db.execute(INSERT_REACHED, (post.photo_id, user_id)), WRITE_CONCURRENCY
        )
        for chunk in _chunks(kept, INDEX_BATCH):  # the feed rows share the user's partition
            await self._db.batch(
                [(INSERT_ENTRY, (user_id, p.photo_id, p.author_id, p.posted_ms)) for p in chunk], WRITE_DURABLE
            )
        late_photos = await self._deleted_photos([post.photo_id for post in kept])
        late_authors = await self._deleted_users(list({post.author_id for post in kept}))
        undo = [p for p in kept if p.photo_id in late_photos or p.author_id in late_authors]
        await bounded_gather(undo, lambda post: self._remove_entry(user_id, post.photo_id), WRITE_CONCURRENCY)
        await self._trim_feed(user_id)
        return len(kept) - len(undo)

    async def remove_author_from_feed(self, user_id: int, author_id: int) -> int:
        entries = await self._all_rows(FEED_ENTRIES, (user_id,))
        photo_ids = [row.photo_id for row in entries if row.author_id == author_id]
        await bounded_gather(photo_ids, lambda photo_id: self._remove_entry(user_id, photo_id), WRITE_CONCURRENCY)
        return len(photo_ids)

    async def remove_photo(self, photo_id: int, author_id: int) -> int:
        await self._marks.mark(Kind.PHOTO, photo_id)
        await self._forget_author_post(author_id, photo_id)
        return await self._purge_photo_from_feeds(photo_id)

    async def remove_user(self, user_id: int) -> None:
        await self._marks.mark(Kind.USER, user_id)
        # Their own feed: the index rows that point into it, then the partition.
        entries = await self._all_rows(FEED_ENTRIES, (user_id,))
        await bounded_gather(
            entries, lambda row: self._db.execute(DELETE_REACHED, (row.photo_id, user_id)), WRITE_CONCURRENCY
        )
        await self._db.execute(DELETE_FEED, (user_id,))
        # Their posts in other feeds, one post at a time so a redelivered event resumes cheaply.
        for row in await self._all_rows(AUTHOR_POST_KEYS, (user_id,)):
            await self._purge_photo_from_feeds(row.photo_id)
        await self._db.execute(DELETE_AUTHOR_POSTS, (user_id,))
        await self._db.execute(UNMARK_LARGE, (user_id,))

    # -- reads -------------------------------------------------------------------------------

    async def recent_posts(self, author_id: int, limit: int) -> list[Post]:
        rows = await self._db.execute(AUTHOR_POSTS_PAGE, (author_id, False, INT64_MAX, limit))
        return [Post(row.photo_id, author_id, row.posted_ms) for row in rows]

    async def feed(self, user_id: int, before: int | None, limit: int) -> list[Post]:
        cursor = before if before is not None else INT64_MAX
        rows = await self._db.execute(FEED_PAGE, (user_id, cursor, limit))
        return [Post(row.photo_id, row.author_id, row.posted_ms) for row in rows]

    async def large_accounts(self, limit: int) -> list[int]:
        return [row.author_id for row in await self._db.execute(LARGE_ACCOUNTS, (limit,))]

    async def large_among(self, author_ids: Sequence[int]) -> set[int]:
        ids = list(dict.fromkeys(author_ids))
        chunks = [ids[i : i + CLUSTERING_IN_LIMIT] for i in range(0, len(ids), CLUSTERING_IN_LIMIT)]
        pages = await bounded_gather(chunks, lambda chunk: self._db.execute(LARGE_AMONG, (chunk,)), READ_CONCURRENCY)
        return {row.author_id for rows in pages for row in rows}

    async def pulled_posts(self, author_ids: Sequence[int], before: int | None, limit: int) -> list[Post]:
        cursor = before if before is not None else INT64_MAX
        found: list[Post] = []

        async def read(author_id: int) -> None:
            rows = await self._db.execute(AUTHOR_POSTS_PAGE, (author_id, True, cursor, limit))
            found.extend(Post(row.photo_id, author_id, row.posted_ms) for row in rows)

        await bounded_gather(list(dict.fromkeys(author_ids)), read, WRITE_CONCURRENCY)
        found.sort(key=lambda post: post.photo_id, reverse=True)
        return found[:limit]

    # -- helpers -----------------------------------------------------------------------------

    async def _remove_entry(self, user_id: int, photo_id: int) -> None:
        await asyncio.gather(
            self._db.execute(DELETE_ENTRY, (user_id, photo_id)),
            self._db.execute(DELETE_REACHED, (photo_id, user_id)),
        )

    async def _purge_photo_from_feeds(self, photo_id: int) -> int:
        """Delete the photo's row from every feed the index names, page by page; then the index."""
        removed = 0
        state: bytes | None = None
        while True:
            page = await self._db.page(REACHED, (photo_id,), self._read_page, state)
            await bounded_gather(
                page.rows, lambda row: self._db.execute(DELETE_ENTRY, (row.user_id, photo_id)), WRITE_CONCURRENCY
            )
            removed += len(page.rows)
            if page.paging_state is None:
                break
            state = page.paging_state
        await self._db.execute(DELETE_ALL_REACHED, (photo_id,))
        return removed

    async def _forget_author_post(self, author_id: int, photo_id: int) -> None:
        await self._db.batch(
            [(DELETE_AUTHOR_POST, (author_id, pulled, photo_id)) for pulled in (False, True)], WRITE_DURABLE
        )

    async def _trim_feed(self, user_id: int) -> None:
        """Cut the feed to its newest `capacity` entries, and the index rows of what was cut."""
        photo_ids = [row.photo_id for row in await self._all_rows(FEED_ENTRIES, (user_id,))]
        if len(photo_ids) <= self._capacity:
            return
        cut = photo_ids[self._capacity :]  # newest first: everything from the (capacity+1)th on
        await self._db.execute(TRIM_FEED, (user_id, cut[0]))
        await bounded_gather(
            cut, lambda photo_id: self._db.execute(DELETE_REACHED, (photo_id, user_id)), WRITE_CONCURRENCY
        )

    async def _trim_author_posts(self, author_id: int) -> None:
        """Keep the author's newest `author_posts_kept` posts, pulled or not."""
        photo_ids = sorted((row.photo_id for row in await self._all_rows(AUTHOR_POST_KEYS, (author_id,))), reverse=True)
        if len(photo_ids) <= self._author_posts_kept:
            return
        oldest_kept_out = photo_ids[self._author_posts_kept]
        await self._db.batch(
            [(TRIM_AUTHOR_POSTS, (author_id, pulled, oldest_kept_out)) for pulled in (False, True)], WRITE_DURABLE
        )

    async def _all_rows(self, query: Query, params: Sequence[Any]) -> list[Any]:
        """Every row of a partition that is bounded by design (a capped feed, the retained posts)."""
        rows: list[Any] = []
        state: bytes | None = None
        while True:
            page = await self._db.page(query, params, self._read_page, state)
            rows.extend(page.rows)
            if page.paging_state is None:
                return rows
            state = page.paging_state

    async def _deleted(self, photo_id: int, author_id: int) -> bool:
        photos, authors = await asyncio.gather(
            self._marks.is_marked(Kind.PHOTO, photo_id), self._marks.is_marked(Kind.USER, author_id)
        )
        return photos or authors

    async def _deleted_photos(self, photo_ids: Sequence[int]) -> set[int]:
        return await self._marks.which_marked(Kind.PHOTO, photo_ids)

    async def _deleted_users(self, user_ids: Sequence[int]) -> set[int]:
        return await self._marks.which_marked(Kind.USER, user_ids)

    async def _without_deleted_followers(self, user_ids: list[int]) -> list[int]:
        # One replica is enough here: the follow service already drops a deleted user's edges, and a
        # miss only leaves a row in the feed of an account nobody can read any more.
        deleted = await self._marks.which_marked(Kind.USER, user_ids, fast=True)
        return [user_id for user_id in user_ids if user_id not in deleted]
