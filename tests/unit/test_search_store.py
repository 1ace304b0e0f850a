"""The search index's repository contract, run against every implementation (SQLite today).

A CQL implementation joins by adding itself to the `store` fixture's params.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime.sqlite import Database
from services.search.indexer import indexed_photo
from services.search.normalise import query_terms
from services.search.sqlite import SCHEMA, SqliteSearchStore
from services.search.store import SearchStore


@pytest.fixture(params=["sqlite"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SearchStore]:
    database = Database(tmp_path / "search.db", SCHEMA)
    await database.start()
    try:
        yield SqliteSearchStore(database)
    finally:
        await database.stop()


async def post(
    store: SearchStore, photo_id: int, title: str = "", location: str = "", tags: tuple[str, ...] = (), user_id: int = 7
) -> bool:
    document, terms = indexed_photo(photo_id, user_id, title, location, list(tags), 1_700_000_000_000 + photo_id)
    return await store.index_photo(document, terms)


async def find(store: SearchStore, tag: str = "", text: str = "", location: str = "", **paging: int) -> list[int]:
    hits = await store.search(query_terms(tag, text, location), paging.get("before"), paging.get("limit", 100))
    return [hit.photo_id for hit in hits]


async def test_a_posted_photo_is_found_by_tag_word_and_location(store: SearchStore) -> None:
    assert await post(store, 10, "Sunset over the bay", "San Francisco, CA", ("#Golden",))
    assert await find(store, tag="golden") == [10]
    assert await find(store, text="bay sunset") == [10]
    assert await find(store, location="francisco") == [10]
    assert await find(store, tag="#golden", text="sunset", location="san") == [10]
    assert await find(store, text="sunrise") == []
    assert await find(store, text="sunset sunrise") == []


async def test_hits_carry_the_document(store: SearchStore) -> None:
    await post(store, 11, "Café", "Paris", ("#Coffee", "latte"), user_id=42)
    [hit] = await store.search(query_terms("coffee", "", ""), None, 10)
    assert (hit.photo_id, hit.user_id, hit.title, hit.location, hit.tags) == (
        11,
        42,
        "Café",
        "Paris",
        ("#Coffee", "latte"),
    )
    assert hit.created_at_ms == 1_700_000_000_011


async def test_results_are_newest_first_and_keyset_pages_cover_everything_once(store: SearchStore) -> None:
    for photo_id in (5, 1, 9, 3, 7, 2, 8):
        await post(store, photo_id, "beach day")
    assert await find(store, text="beach") == [9, 8, 7, 5, 3, 2, 1]
    seen: list[int] = []
    before = None
    while True:
        page = await store.search(query_terms("", "beach", ""), before, 3)
        seen += [hit.photo_id for hit in page]
        if len(page) < 3:
            break
        before = page[-1].photo_id
    assert seen == [9, 8, 7, 5, 3, 2, 1]


async def test_multi_term_queries_intersect(store: SearchStore) -> None:
    # "dog" is common, "puppy" is rare: the intersection is the photos that have both.
    for photo_id in range(1, 41):
        await post(store, photo_id, "dog puppy" if photo_id % 10 == 0 else "dog park")
    assert await find(store, text="dog puppy") == [40, 30, 20, 10]
    assert await find(store, text="puppy dog", before=30) == [20, 10]
    assert await find(store, text="dog park", limit=2) == [39, 38]


async def test_reindexing_replaces_the_terms_and_is_idempotent(store: SearchStore) -> None:
    await post(store, 20, "old title")
    await post(store, 20, "old title")
    assert await find(store, text="old") == [20]
    await post(store, 20, "new title")
    assert await find(store, text="old") == []
    assert await find(store, text="title new") == [20]


async def test_a_deleted_photo_is_gone_and_stays_gone(store: SearchStore) -> None:
    await post(store, 30, "kitten", tags=("cat",))
    await store.remove_photo(30)
    await store.remove_photo(30)  # redelivered delete
    assert await find(store, text="kitten") == []
    assert await find(store, tag="cat") == []
    assert not await post(store, 30, "kitten", tags=("cat",))  # redelivered post
    assert await find(store, tag="cat") == []


async def test_a_delete_before_its_post_leaves_a_tombstone(store: SearchStore) -> None:
    await store.remove_photo(31)
    assert not await post(store, 31, "ghost")
    assert await find(store, text="ghost") == []


async def test_deleting_one_photo_keeps_the_others(store: SearchStore) -> None:
    await post(store, 40, "tree")
    await post(store, 41, "tree")
    await store.remove_photo(41)
    assert await find(store, text="tree") == [40]


async def test_users_and_their_photos_are_listed_for_the_reindex(store: SearchStore) -> None:
    await post(store, 50, "a", user_id=3)
    await post(store, 51, "b", user_id=3)
    await post(store, 52, "c", user_id=1)
    await post(store, 53, "d", user_id=2)
    assert await store.indexed_user_ids(0, 10) == [1, 2, 3]
    assert await store.indexed_user_ids(1, 1) == [2]
    assert await store.user_photo_ids(3, 1000) == [51, 50]
    assert await store.user_photo_ids(3, 51) == [50]
