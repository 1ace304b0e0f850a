"""The search index's repository contract, run against both implementations (SQLite and CQL).

Photo ids are time-ordered; most tests use small ids (all made on the ids' epoch day), the bucket
tests make ids on chosen days with `min_id_at`, because the CQL store partitions postings by day.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from services.runtime.ids import min_id_at
from services.runtime.normalise import Term, TermKind, query_terms
from services.runtime.requests import INT64_MAX
from services.search import cql
from services.search.cql import INSERT_POSTING, CqlSearchStore, bucket_of
from services.search.indexer import indexed_photo
from services.search.sqlite import SqliteSearchStore
from services.search.store import STORAGE, SearchStore
from tests.conformance.conftest import Databases

DAY_ONE = datetime(2025, 3, 1, 12, tzinfo=UTC)


@pytest.fixture
async def store(backend: str, databases: Databases) -> SearchStore:
    if backend == "sqlite":
        return SqliteSearchStore(await databases.sqlite(STORAGE))
    return CqlSearchStore(await databases.cql(STORAGE, service="search"))


def id_on_day(day: int, n: int = 0) -> int:
    """A photo id made `day` days after DAY_ONE (+ n ids later the same millisecond)."""
    return min_id_at(int((DAY_ONE + timedelta(days=day)).timestamp() * 1000)) + n


async def post(
    store: SearchStore,
    photo_id: int,
    title: str = "",
    location: str = "",
    tags: tuple[str, ...] = (),
    user_id: int = 7,
    edited_at_ms: int = 0,
) -> bool:
    """File the photo as posted, or as edited at `edited_at_ms`."""
    document, terms = indexed_photo(
        photo_id, user_id, title, location, list(tags), 1_700_000_000_000 + photo_id, edited_at_ms=edited_at_ms
    )
    return await store.index_photo(document, terms)


async def find(store: SearchStore, tag: str = "", text: str = "", location: str = "", **paging: int) -> list[int]:
    hits = await store.search(query_terms(tag, text, location), paging.get("before"), paging.get("limit", 100))
    return [hit.photo_id for hit in hits]


async def all_pages(store: SearchStore, text: str, size: int) -> list[int]:
    """Every hit of a text query, read page by page with the keyset the service uses."""
    seen: list[int] = []
    before = None
    while True:
        page = await store.search(query_terms("", text, ""), before, size)
        seen += [hit.photo_id for hit in page]
        if len(page) < size:
            return seen
        before = page[-1].photo_id


async def test_a_posted_photo_is_found_by_tag_word_and_location(store: SearchStore) -> None:
    assert await post(store, 10, "Sunset over the bay", "San Francisco, CA", ("#Golden",))
    assert await find(store, tag="golden") == [10]
    assert await find(store, text="bay sunset") == [10]
    assert await find(store, location="francisco") == [10]
    assert await find(store, tag="#golden", text="sunset", location="san") == [10]
    assert await find(store, text="sunrise") == []
    assert await find(store, text="sunset sunrise") == []
    assert await find(store, location="bay") == []  # a title word is not a location


async def test_hits_carry_the_document(store: SearchStore) -> None:
    await post(store, 11, "Café", "Paris", ("#Coffee", "latte"), user_id=42)
    await post(store, 12, "Tea", "", (), user_id=43)
    [hit] = await store.search(query_terms("coffee", "", ""), None, 10)
    assert (hit.photo_id, hit.user_id, hit.title, hit.location, hit.tags) == (
        11,
        42,
        "Café",
        "Paris",
        ("#Coffee", "latte"),
    )
    assert hit.created_at_ms == 1_700_000_000_011
    [bare] = await store.search(query_terms("", "tea", ""), None, 10)
    assert (bare.location, bare.tags) == ("", ())


async def test_empty_queries_and_limits_find_nothing(store: SearchStore) -> None:
    await post(store, 13, "anything")
    assert await store.search([], None, 10) == []
    assert await find(store, text="anything", limit=0) == []


async def test_results_are_newest_first_and_keyset_pages_cover_everything_once(store: SearchStore) -> None:
    for photo_id in (5, 1, 9, 3, 7, 2, 8):
        await post(store, photo_id, "beach day")
    assert await find(store, text="beach") == [9, 8, 7, 5, 3, 2, 1]
    assert await all_pages(store, "beach", 3) == [9, 8, 7, 5, 3, 2, 1]
    assert await find(store, text="beach", before=7, limit=2) == [5, 3]


async def test_multi_term_queries_intersect(store: SearchStore) -> None:
    # "dog" is common, "puppy" is rare: the intersection is the photos that have both.
    for photo_id in range(1, 41):
        await post(store, photo_id, "dog puppy" if photo_id % 10 == 0 else "dog park")
    assert await find(store, text="dog puppy") == [40, 30, 20, 10]
    assert await find(store, text="puppy dog", before=30) == [20, 10]
    assert await find(store, text="dog park", limit=2) == [39, 38]
    assert await find(store, text="park puppy") == []


async def test_an_intersection_larger_than_one_probe_chunk_pages_without_gaps(store: SearchStore) -> None:
    # 260 candidates for the common term, so a multi-term page spans several chunks of candidates.
    async def file(photo_id: int) -> None:
        await post(store, photo_id, "cat sofa" if photo_id % 3 == 0 else "cat")

    await asyncio.gather(*(file(photo_id) for photo_id in range(1, 261)))
    expected = [photo_id for photo_id in range(260, 0, -1) if photo_id % 3 == 0]
    assert await find(store, text="cat sofa", limit=200) == expected
    assert await all_pages(store, "sofa cat", 7) == expected
    assert await all_pages(store, "cat", 50) == list(range(260, 0, -1))


async def test_search_walks_photos_of_many_days_newest_first(store: SearchStore) -> None:
    days = (0, 0, 1, 5, 31, 32, 200, 400)
    photos = [id_on_day(day, n) for n, day in enumerate(days)]
    for photo_id in photos:
        await post(store, photo_id, "harbour boats")
    # Every other day also has a photo with one of the two words only.
    for n, day in enumerate(days):
        await post(store, id_on_day(day, 100 + n), "harbour")

    newest_first = sorted(photos, reverse=True)
    assert await find(store, text="boats") == newest_first
    assert await all_pages(store, "boats", 3) == newest_first
    assert await all_pages(store, "harbour boats", 2) == newest_first
    assert await find(store, text="boats", before=id_on_day(32)) == [p for p in newest_first if p < id_on_day(32)]
    assert len(await all_pages(store, "harbour", 4)) == 2 * len(days)


async def test_a_rare_term_spread_over_many_days_pages_without_gaps(store: SearchStore) -> None:
    rare = [id_on_day(day) for day in range(0, 60, 2)]  # 30 photos, one every other day
    for photo_id in rare:
        await post(store, photo_id, "comet sky")
    for day in range(0, 60):
        await post(store, id_on_day(day, 1), "sky")

    assert await all_pages(store, "comet", 4) == sorted(rare, reverse=True)
    assert await all_pages(store, "sky comet", 5) == sorted(rare, reverse=True)
    assert len(await all_pages(store, "sky", 7)) == 90


async def test_reindexing_replaces_the_terms_and_is_idempotent(store: SearchStore) -> None:
    assert await post(store, 20, "old title", tags=("vintage",))
    assert await post(store, 20, "old title", tags=("vintage",))  # redelivered
    assert await find(store, text="old") == [20]
    assert await post(store, 20, "new title")
    assert await find(store, text="old") == []
    assert await find(store, tag="vintage") == []
    assert await find(store, text="title new") == [20]
    [hit] = await store.search(query_terms("", "title", ""), None, 10)
    assert (hit.title, hit.tags) == ("new title", ())


async def test_a_late_post_or_older_edit_never_replaces_a_newer_edit(store: SearchStore) -> None:
    assert await post(store, 60, "harbour at dawn", tags=("misty",))
    assert await post(store, 60, "harbour at noon", tags=("sunny",), edited_at_ms=1_750_000_000_002)
    assert not await post(store, 60, "harbour at dawn", tags=("misty",))  # the post redelivered
    assert not await post(store, 60, "harbour at dusk", edited_at_ms=1_750_000_000_001)  # an older edit, late
    for stale in ({"text": "dawn"}, {"tag": "misty"}, {"text": "dusk"}):
        assert await find(store, **stale) == [], stale
    assert await find(store, text="noon harbour") == [60]
    assert await find(store, tag="sunny") == [60]
    [hit] = await store.search(query_terms("", "noon", ""), None, 10)
    assert (hit.title, hit.tags, hit.edited_at_ms) == ("harbour at noon", ("sunny",), 1_750_000_000_002)
    # The same edit again (a redelivery, or the reindex with today's normalisation) is filed again.
    assert await post(store, 60, "harbour at noon", tags=("sunny",), edited_at_ms=1_750_000_000_002)
    assert await post(store, 60, "harbour at night", edited_at_ms=1_750_000_000_003)
    assert await find(store, text="night") == [60]
    assert await find(store, text="noon") == []


async def test_an_edit_filed_before_its_post_is_kept(store: SearchStore) -> None:
    assert await post(store, 61, "second thoughts", edited_at_ms=1_750_000_000_000)
    assert not await post(store, 61, "first thoughts")
    assert await find(store, text="first") == []
    assert await find(store, text="second thoughts") == [61]


async def test_a_deleted_photo_is_gone_and_stays_gone(store: SearchStore) -> None:
    await post(store, 30, "kitten", tags=("cat",))
    await store.remove_photo(30)
    await store.remove_photo(30)  # redelivered delete
    assert await find(store, text="kitten") == []
    assert await find(store, tag="cat") == []
    assert not await post(store, 30, "kitten", tags=("cat",))  # redelivered post
    assert await find(store, tag="cat") == []
    assert await store.user_photo_ids(7, 1000) == []


async def test_a_delete_before_its_post_leaves_a_tombstone(store: SearchStore) -> None:
    await store.remove_photo(31)
    assert not await post(store, 31, "ghost")
    assert await find(store, text="ghost") == []
    assert [user async for user in store.indexed_user_ids()] == []


async def test_a_post_racing_its_delete_never_stays_visible(store: SearchStore) -> None:
    photos = range(100, 130)
    await asyncio.gather(*(task for p in photos for task in (post(store, p, "racing"), store.remove_photo(p))))
    assert await find(store, text="racing") == []
    for photo_id in photos:
        assert not await post(store, photo_id, "racing")


async def test_deleting_one_photo_keeps_the_others(store: SearchStore) -> None:
    await post(store, 40, "tree")
    await post(store, 41, "tree")
    await post(store, 42, "tree")
    await store.remove_photo(41)
    assert await find(store, text="tree") == [42, 40]
    assert await all_pages(store, "tree", 1) == [42, 40]


async def test_users_and_their_photos_are_listed_for_the_reindex(store: SearchStore) -> None:
    await post(store, 50, "a", user_id=3)
    await post(store, 51, "b", user_id=3)
    await post(store, 52, "c", user_id=1)
    await post(store, 53, "d", user_id=2)
    assert sorted([user async for user in store.indexed_user_ids()]) == [1, 2, 3]
    assert await store.user_photo_ids(3, 1000) == [51, 50]
    assert await store.user_photo_ids(3, 51) == [50]
    assert await store.user_photo_ids(4, 1000) == []

    await store.remove_photo(52)
    assert sorted([user async for user in store.indexed_user_ids()]) == [2, 3]


async def test_listing_many_users_in_small_pages_repeats_and_misses_none(store: SearchStore) -> None:
    users = range(1000, 1025)
    for n, user_id in enumerate(users):
        await post(store, 200 + n, "x", user_id=user_id)
        await post(store, 300 + n, "y", user_id=user_id)
    listed = [user async for user in store.indexed_user_ids(page_size=4)]
    assert sorted(listed) == list(users)


# CQL only: what the bucketed layout and the approximate counters must not change.


async def test_cql_files_a_photo_under_the_day_it_was_made(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="search")
    store = CqlSearchStore(database)
    photo_id = id_on_day(3)
    await post(store, photo_id, "lighthouse")

    assert bucket_of(photo_id) == (DAY_ONE + timedelta(days=3)).date().toordinal() - datetime(1970, 1, 1).toordinal()
    rows = await database.execute(cql.SELECT_POSTINGS, ("word", "lighthouse", bucket_of(photo_id), INT64_MAX, 10))
    assert [row.photo_id for row in rows] == [photo_id]
    buckets = await database.execute(cql.SELECT_BUCKETS, ("word", "lighthouse", bucket_of(photo_id) + 1))
    assert [row.bucket for row in buckets] == [bucket_of(photo_id)]


async def test_cql_skips_a_posting_left_without_its_document(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="search")
    store = CqlSearchStore(database)
    await post(store, 60, "meadow")
    await post(store, 61, "meadow")
    await database.execute(INSERT_POSTING, ("word", "meadow", bucket_of(62), 62))  # its doc never written

    assert await find(store, text="meadow") == [61, 60]
    assert await find(store, text="meadow", limit=1) == [61]


async def test_cql_wrong_counters_change_the_plan_never_the_result(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="search")
    store = CqlSearchStore(database)
    for photo_id in range(1, 31):
        await post(store, photo_id, "river stone" if photo_id % 5 == 0 else "river")
    before = await find(store, text="river stone")

    # Make the common term look rarest (it now drives), then make a term look absent.
    await database.execute(cql.COUNT_POSTINGS, (-1000, "word", "river"))
    assert await find(store, text="river stone") == before == [30, 25, 20, 15, 10, 5]
    await database.execute(cql.COUNT_POSTINGS, (-6, "word", "stone"))
    assert await find(store, text="stone river") == before
    assert await find(store, text="stone") == before


async def test_cql_counters_follow_filing_and_unfiling(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="search")
    store = CqlSearchStore(database)

    async def count(term: Term) -> int:
        rows = await database.execute(cql.SELECT_COUNT, (term.kind.value, term.text))
        return rows[0].postings if rows else 0

    await post(store, 70, "owl", tags=("night",))
    await post(store, 70, "owl", tags=("night",))  # redelivered: counted once
    await post(store, 71, "owl")
    assert await count(Term(TermKind.WORD, "owl")) == 2
    assert await count(Term(TermKind.TAG, "night")) == 1
    await post(store, 70, "owl")  # the tag was dropped
    await store.remove_photo(71)
    assert await count(Term(TermKind.WORD, "owl")) == 1
    assert await count(Term(TermKind.TAG, "night")) == 0
