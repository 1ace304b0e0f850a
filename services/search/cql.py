"""CQL (ScyllaDB) implementation of the search index: the same tables as sqlite.py, bucketed by day.

Tables, each read by its partition key only (no secondary indexes, no ALLOW FILTERING):
- photos_by_term((term_kind, term, bucket), photo_id DESC): the posting lists. `bucket` is the UTC day
  of the photo (from its time-ordered id), because a hot term makes one huge partition otherwise: at
  1,000 photos/s a tag on 4% of photos (#love is on about that share) gets 3.5 M postings a day,
  100 M a month. A day keeps such a partition near 100 MB (≈30 B a row), a month would be GBs.
  The price is paid by rare terms, whose postings spread over many days; term_buckets lists the days
  a term has postings in, so a search reads only non-empty days, newest first, several at once when
  they are sparse. A photo's postings all sit in the same bucket under every term (the bucket comes
  from the photo id), which is what lets the other terms of a query be checked by primary key.
- term_buckets((term_kind, term), bucket DESC): the days to walk. Never pruned: a day whose postings
  were all deleted costs one empty read.
- term_counts((term_kind, term)) counter: approximate posting-list lengths that only choose which
  term drives a query (the rarest). Counter updates are not idempotent (never retried by the driver)
  and can drift; a wrong count makes a query slower, never wrong.
- docs(photo_id): what a hit shows, plus the terms the photo is filed under (to unfile it) and the edit
  it reflects (edited_at_ms): a filing older than the doc's is refused.
- photos_by_user((user_id), photo_id DESC): for the reindex's per-user reconciliation.
Deleted photos are tombstoned (services.runtime.tombstones_cql), for the runtime's one retention.

Multi-term search: the driver term's postings are read a bucket at a time in keyset chunks (photo_id
below the last one seen); each chunk is checked against the other terms, rarest first, with one
`photo_id IN (…)` read per term in the same bucket partition; survivors are looked up in docs, and a
posting whose doc is gone (deleted) is skipped.

Consistency, per statement below:
- Postings, term_buckets and counters are written at LOCAL_ONE: search is derived data, a photo files
  10+ postings, and one lost write is repaired by hinted handoff, repair or the reindex command;
  searches read them at LOCAL_ONE (a moment of staleness is acceptable by design).
- docs, photos_by_user and the tombstones are written and read (by the index/delete paths) at
  LOCAL_QUORUM: they decide whether a deleted photo can be shown again. remove_photo writes the
  tombstone then reads the doc's terms; index_photo writes the doc then re-reads the tombstone. With
  R + W > RF, one of the two always sees the other, so a post racing its delete is always unfiled
  (by whichever side notices) and a leftover posting finds no doc.
- index_photo reads the doc's edited_at_ms (with its terms, LOCAL_QUORUM) and refuses an older filing:
  the indexer handles one event at a time, so a stale post or edit redelivered later never wins. Two
  replicas filing two versions of one photo at the same instant can still race (the last write
  wins, no lightweight transaction on the post path); the photo's next edit or the reindex repairs it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import aclosing
from typing import Any

from services.runtime.cql import READ_FAST, READ_STRONG, WRITE_DURABLE, WRITE_FAST, CqlDatabase, CqlSchema, Query
from services.runtime.ids import id_timestamp_ms
from services.runtime.normalise import Term, TermKind
from services.runtime.requests import INT64_MAX
from services.runtime.tombstones import Kind
from services.runtime.tombstones_cql import CqlTombstones, copy_legacy_marks
from services.search.store import IndexedPhoto

BUCKET_MS = 86_400_000  # one UTC day; see the module docstring for the arithmetic
# Candidates checked per round trip in a multi-term query; also keeps each `IN (…)` list small
# (ScyllaDB refuses clustering-key IN lists above max_clustering_key_restrictions_per_query = 100).
PROBE_CHUNK = 100
MAX_BUCKETS_AT_ONCE = 8  # sparse days are read this many at a time (after 1, 2, 4)

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS photos_by_term (
            term_kind text,
            term text,
            bucket int,
            photo_id bigint,
            PRIMARY KEY ((term_kind, term, bucket), photo_id)
        ) WITH CLUSTERING ORDER BY (photo_id DESC)""",
        """CREATE TABLE IF NOT EXISTS term_buckets (
            term_kind text,
            term text,
            bucket int,
            PRIMARY KEY ((term_kind, term), bucket)
        ) WITH CLUSTERING ORDER BY (bucket DESC)""",
        """CREATE TABLE IF NOT EXISTS term_counts (
            term_kind text,
            term text,
            postings counter,
            PRIMARY KEY ((term_kind, term))
        )""",
        """CREATE TABLE IF NOT EXISTS docs (
            photo_id bigint PRIMARY KEY,
            user_id bigint,
            title text,
            location text,
            tags frozen<list<text>>,
            created_at_ms bigint,
            terms frozen<set<frozen<tuple<text, text>>>>
        )""",
        """CREATE TABLE IF NOT EXISTS photos_by_user (
            user_id bigint,
            photo_id bigint,
            PRIMARY KEY ((user_id), photo_id)
        ) WITH CLUSTERING ORDER BY (photo_id DESC)""",
        "CREATE TABLE IF NOT EXISTS tombstones (photo_id bigint PRIMARY KEY, deleted_at_ms bigint)",
        copy_legacy_marks("tombstones", "photo_id", Kind.PHOTO, "deleted_at_ms"),
        "ALTER TABLE docs ADD edited_at_ms bigint",
    ),
)

# Derived, rebuildable, many per photo: LOCAL_ONE writes and reads.
INSERT_POSTING = Query("INSERT INTO photos_by_term (term_kind, term, bucket, photo_id) VALUES (?, ?, ?, ?)", WRITE_FAST)
DELETE_POSTING = Query(
    "DELETE FROM photos_by_term WHERE term_kind = ? AND term = ? AND bucket = ? AND photo_id = ?", WRITE_FAST
)
INSERT_TERM_BUCKET = Query("INSERT INTO term_buckets (term_kind, term, bucket) VALUES (?, ?, ?)", WRITE_FAST)
# Counters only guide planning: never retried (a retry could count twice), LOCAL_ONE.
COUNT_POSTINGS = Query(
    "UPDATE term_counts SET postings = postings + ? WHERE term_kind = ? AND term = ?", WRITE_FAST, idempotent=False
)
SELECT_COUNT = Query("SELECT postings FROM term_counts WHERE term_kind = ? AND term = ?", READ_FAST)
SELECT_BUCKETS = Query("SELECT bucket FROM term_buckets WHERE term_kind = ? AND term = ? AND bucket <= ?", READ_FAST)
SELECT_POSTINGS = Query(
    "SELECT photo_id FROM photos_by_term WHERE term_kind = ? AND term = ? AND bucket = ? AND photo_id < ? LIMIT ?",
    READ_FAST,
)
SELECT_PRESENT = Query(
    "SELECT photo_id FROM photos_by_term WHERE term_kind = ? AND term = ? AND bucket = ? AND photo_id IN ?",
    READ_FAST,
)
# A hit's document: LOCAL_ONE like the postings that led to it.
SELECT_DOC = Query(
    "SELECT photo_id, user_id, title, location, tags, created_at_ms, edited_at_ms FROM docs WHERE photo_id = ?",
    READ_FAST,
)
# What decides visibility after a delete: LOCAL_QUORUM both ways (see the module docstring).
UPSERT_DOC = Query(
    "INSERT INTO docs (photo_id, user_id, title, location, tags, created_at_ms, terms, edited_at_ms)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    WRITE_DURABLE,
)
SELECT_DOC_FILING = Query("SELECT user_id, terms, edited_at_ms FROM docs WHERE photo_id = ?", READ_STRONG)
DELETE_DOC = Query("DELETE FROM docs WHERE photo_id = ?", WRITE_DURABLE)
INSERT_USER_PHOTO = Query("INSERT INTO photos_by_user (user_id, photo_id) VALUES (?, ?)", WRITE_DURABLE)
DELETE_USER_PHOTO = Query("DELETE FROM photos_by_user WHERE user_id = ? AND photo_id = ?", WRITE_DURABLE)
# The reindex wants every id it may have to remove: LOCAL_QUORUM (it is rare and not latency-bound).
SELECT_USER_PHOTOS = Query("SELECT photo_id FROM photos_by_user WHERE user_id = ? AND photo_id < ?", READ_STRONG)
# A full scan of partition keys in token order: how CQL enumerates partitions without filtering.
SELECT_USERS = Query("SELECT DISTINCT user_id FROM photos_by_user", READ_FAST)

USER_PHOTOS_PAGE = 1000


def bucket_of(photo_id: int) -> int:
    """The UTC day (since 1970) the photo was made in; ids are time-ordered, so this needs no lookup."""
    return id_timestamp_ms(photo_id) // BUCKET_MS


def _term_params(term: Term) -> tuple[str, str]:
    return (term.kind.value, term.text)


class CqlSearchStore:
    def __init__(self, database: CqlDatabase) -> None:
        self._db = database
        self._marks = CqlTombstones(database)

    async def _each(self, query: Query, params: Iterable[Sequence[Any]]) -> list[list[Any]]:
        return await asyncio.gather(*(self._db.execute(query, p) for p in params))

    async def _tombstoned(self, photo_id: int) -> bool:
        return await self._marks.is_marked(Kind.PHOTO, photo_id)

    async def _filing(self, photo_id: int) -> tuple[int, list[Term], int] | None:
        """(user_id, terms, edited_at_ms) the photo is filed under, or None when it has no doc."""
        rows = await self._db.execute(SELECT_DOC_FILING, (photo_id,))
        if not rows:
            return None
        row = rows[0]
        return row.user_id, [Term(TermKind(kind), text) for kind, text in row.terms or ()], row.edited_at_ms or 0

    async def index_photo(self, photo: IndexedPhoto, terms: Sequence[Term]) -> bool:
        tombstoned, filing = await asyncio.gather(self._tombstoned(photo.photo_id), self._filing(photo.photo_id))
        if tombstoned or (filing is not None and filing[2] > photo.edited_at_ms):
            return False
        wanted = sorted(set(terms))
        previous = set(filing[1]) if filing else set()
        bucket = bucket_of(photo.photo_id)
        added = [term for term in wanted if term not in previous]
        dropped = sorted(previous - set(wanted))
        # Postings first: a doc (what makes a photo visible) never exists without its postings.
        await asyncio.gather(
            self._each(INSERT_POSTING, [(*_term_params(t), bucket, photo.photo_id) for t in wanted]),
            self._each(INSERT_TERM_BUCKET, [(*_term_params(t), bucket) for t in wanted]),
            self._each(DELETE_POSTING, [(*_term_params(t), bucket, photo.photo_id) for t in dropped]),
        )
        await self._db.batch(
            [
                (
                    UPSERT_DOC,
                    (
                        photo.photo_id,
                        photo.user_id,
                        photo.title,
                        photo.location,
                        list(photo.tags),
                        photo.created_at_ms,
                        {_term_params(t) for t in wanted},
                        photo.edited_at_ms,
                    ),
                ),
                (INSERT_USER_PHOTO, (photo.user_id, photo.photo_id)),
            ],
            WRITE_DURABLE,
        )
        await self._each(
            COUNT_POSTINGS, [(1, *_term_params(t)) for t in added] + [(-1, *_term_params(t)) for t in dropped]
        )
        if await self._tombstoned(photo.photo_id):  # deleted while we were filing it: undo
            await self._unfile(photo.photo_id)
            return False
        return True

    async def remove_photo(self, photo_id: int) -> None:
        await self._marks.mark(Kind.PHOTO, photo_id)
        await self._unfile(photo_id)

    async def _unfile(self, photo_id: int) -> None:
        """Drop the photo's postings and doc (idempotent: a second call finds no doc)."""
        filing = await self._filing(photo_id)
        if filing is None:
            return
        user_id, terms, _ = filing
        bucket = bucket_of(photo_id)
        await self._each(DELETE_POSTING, [(*_term_params(t), bucket, photo_id) for t in terms])
        await self._db.batch([(DELETE_DOC, (photo_id,)), (DELETE_USER_PHOTO, (user_id, photo_id))], WRITE_DURABLE)
        await self._each(COUNT_POSTINGS, [(-1, *_term_params(t)) for t in terms])

    async def search(self, terms: Sequence[Term], before_photo_id: int | None, limit: int) -> list[IndexedPhoto]:
        unique = sorted(set(terms))
        if not unique or limit <= 0:
            return []
        counts = await self._each(SELECT_COUNT, [_term_params(t) for t in unique])
        # Rarest first; a term with no counter row counts as 0, so it drives and ends the search at once.
        by_rarity = [
            term for _, term in sorted(zip((rows[0].postings if rows else 0 for rows in counts), unique, strict=True))
        ]
        driver, *probes = by_rarity
        before = INT64_MAX if before_photo_id is None else before_photo_id
        chunk = PROBE_CHUNK if probes else limit
        found: list[IndexedPhoto] = []
        async with aclosing(self._postings(driver, before, chunk)) as chunks:
            async for bucket, candidates in chunks:
                for probe in probes:
                    if not candidates:
                        break
                    rows = await self._db.execute(SELECT_PRESENT, (*_term_params(probe), bucket, candidates))
                    present = {row.photo_id for row in rows}
                    candidates = [photo_id for photo_id in candidates if photo_id in present]
                while candidates:
                    wanted, candidates = candidates[: limit - len(found)], candidates[limit - len(found) :]
                    docs = await self._each(SELECT_DOC, [(photo_id,) for photo_id in wanted])
                    found += [_doc(rows[0]) for rows in docs if rows]  # no doc: deleted, a leftover posting
                    if len(found) == limit:
                        return found
        return found

    async def _postings(self, term: Term, before: int, chunk: int) -> AsyncIterator[tuple[int, list[int]]]:
        """The term's photo ids below `before`, newest first, as (bucket, ids) chunks of at most `chunk`.

        Buckets are read one at a time while they fill chunks; sparse ones (a rare term) in growing
        waves of concurrent reads, so a page of a rare term does not cost one round trip per day."""
        wave = 1
        async with aclosing(self._buckets(term, bucket_of(max(before - 1, 0)))) as buckets:
            while batch := [bucket async for bucket in _take(buckets, wave)]:
                firsts = await self._each(SELECT_POSTINGS, [(*_term_params(term), b, before, chunk) for b in batch])
                for bucket, rows in zip(batch, firsts, strict=True):
                    ids = [row.photo_id for row in rows]
                    while ids:
                        yield bucket, ids
                        if len(ids) < chunk:
                            break
                        rows = await self._db.execute(SELECT_POSTINGS, (*_term_params(term), bucket, ids[-1], chunk))
                        ids = [row.photo_id for row in rows]
                wave = min(wave * 2, MAX_BUCKETS_AT_ONCE)

    async def _buckets(self, term: Term, newest: int) -> AsyncIterator[int]:
        state = None
        while True:
            page = await self._db.page(SELECT_BUCKETS, (*_term_params(term), newest), 64, state)
            for row in page.rows:
                yield row.bucket
            state = page.paging_state
            if state is None:
                return

    async def user_photo_ids(self, user_id: int, below_photo_id: int) -> list[int]:
        ids: list[int] = []
        state = None
        while True:
            page = await self._db.page(SELECT_USER_PHOTOS, (user_id, below_photo_id), USER_PHOTOS_PAGE, state)
            ids += [row.photo_id for row in page.rows]
            state = page.paging_state
            if state is None:
                return ids

    async def indexed_user_ids(self, page_size: int = 1000) -> AsyncIterator[int]:
        state = None
        while True:
            page = await self._db.page(SELECT_USERS, (), page_size, state)
            for row in page.rows:
                yield row.user_id
            state = page.paging_state
            if state is None:
                return


async def _take(source: AsyncIterator[int], count: int) -> AsyncIterator[int]:
    for _ in range(count):
        try:
            yield await anext(source)
        except StopAsyncIteration:
            return


def _doc(row: Any) -> IndexedPhoto:
    return IndexedPhoto(
        row.photo_id,
        row.user_id,
        row.title,
        row.location,
        tuple(row.tags or ()),
        row.created_at_ms,
        row.edited_at_ms or 0,
    )
