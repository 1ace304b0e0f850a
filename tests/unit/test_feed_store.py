"""The SQLite feed store: idempotent fan-out writes, trimming, purges and tombstones."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.feed.sqlite import SCHEMA, SqliteFeedStore
from services.feed.store import Post
from services.runtime.sqlite import Database

CAPACITY = 5


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteFeedStore]:
    database = Database(tmp_path / "feed.db", SCHEMA)
    await database.start()
    try:
        yield SqliteFeedStore(database, feed_capacity=CAPACITY, author_posts_kept=4)
    finally:
        await database.stop()


def post(photo_id: int, author_id: int = 100) -> Post:
    return Post(photo_id=photo_id, author_id=author_id, posted_ms=1_700_000_000_000 + photo_id)


async def feed_ids(store: SqliteFeedStore, user_id: int) -> list[int]:
    return [p.photo_id for p in await store.feed(user_id, None, 100)]


async def test_fan_out_is_idempotent_under_redelivery(store: SqliteFeedStore) -> None:
    assert await store.add_to_feeds(post(1), [1, 2, 3]) == 3
    assert await store.add_to_feeds(post(1), [1, 2, 3, 3]) == 0
    for user_id in (1, 2, 3):
        assert await feed_ids(store, user_id) == [1]


async def test_empty_page_writes_nothing(store: SqliteFeedStore) -> None:
    assert await store.add_to_feeds(post(1), []) == 0


async def test_feed_is_newest_first_and_pages_below_cursor(store: SqliteFeedStore) -> None:
    for photo_id in (3, 1, 4, 2):
        await store.add_to_feeds(post(photo_id), [7])
    assert await feed_ids(store, 7) == [4, 3, 2, 1]
    assert [p.photo_id for p in await store.feed(7, 3, 10)] == [2, 1]
    assert [p.photo_id for p in await store.feed(7, None, 2)] == [4, 3]


async def test_feed_keeps_only_the_newest_entries(store: SqliteFeedStore) -> None:
    for photo_id in range(1, 9):
        await store.add_to_feeds(post(photo_id), [1, 2])
    assert await feed_ids(store, 1) == [8, 7, 6, 5, 4]
    # An older entry arriving late into a full feed does not push out newer ones.
    await store.add_to_feeds(post(2), [1])
    assert await feed_ids(store, 1) == [8, 7, 6, 5, 4]
    # Purges free room that later posts may fill again without over-trimming.
    await store.remove_photo(8, 100)
    await store.add_to_feeds(post(9), [1])
    assert await feed_ids(store, 1) == [9, 7, 6, 5, 4]


async def test_backfill_adds_posts_and_trims(store: SqliteFeedStore) -> None:
    await store.add_to_feeds(post(10, author_id=5), [1])
    assert await store.add_to_feed(1, [post(i, author_id=6) for i in range(1, 8)]) == 7
    assert await feed_ids(store, 1) == [10, 7, 6, 5, 4]
    assert await store.add_to_feed(1, [post(7, author_id=6)]) == 0


async def test_unfollow_removes_only_that_authors_entries(store: SqliteFeedStore) -> None:
    await store.add_to_feeds(post(1, author_id=10), [1, 2])
    await store.add_to_feeds(post(2, author_id=11), [1])
    assert await store.remove_author_from_feed(1, 10) == 1
    assert await feed_ids(store, 1) == [2]
    assert await feed_ids(store, 2) == [1]
    assert await store.remove_author_from_feed(1, 10) == 0


async def test_deleted_photo_leaves_every_feed_and_stays_out(store: SqliteFeedStore) -> None:
    assert await store.record_post(post(1), pulled=False)
    await store.add_to_feeds(post(1), [1, 2, 3])
    assert await store.remove_photo(1, 100) == 3
    for user_id in (1, 2, 3):
        assert await feed_ids(store, user_id) == []
    assert await store.recent_posts(100, 10) == []
    # A redelivered PhotoPosted or a follow backfill after the delete does not bring it back.
    assert not await store.record_post(post(1), pulled=False)
    assert await store.add_to_feeds(post(1), [1]) == 0
    assert await store.add_to_feed(4, [post(1)]) == 0
    assert await feed_ids(store, 1) == []


async def test_user_deleted_removes_their_feed_posts_and_entries(store: SqliteFeedStore) -> None:
    await store.record_post(post(1, author_id=50), pulled=False)
    await store.record_post(post(2, author_id=50), pulled=True)
    await store.add_to_feeds(post(1, author_id=50), [1, 2])
    await store.add_to_feeds(post(3, author_id=60), [50, 1])
    await store.remove_user(50)
    assert await feed_ids(store, 1) == [3]
    assert await feed_ids(store, 2) == []
    assert await feed_ids(store, 50) == []
    assert await store.large_accounts() == []
    assert await store.pulled_posts([50], None, 10) == []
    assert await store.is_deleted_user(50)
    # Late events neither write into their feed nor put their posts anywhere.
    assert await store.add_to_feeds(post(4, author_id=60), [50, 1]) == 1
    assert await feed_ids(store, 50) == []
    assert not await store.record_post(post(5, author_id=50), pulled=False)
    assert await store.add_to_feeds(post(5, author_id=50), [1]) == 0
    assert await store.add_to_feed(1, [post(6, author_id=50)]) == 0


async def test_author_posts_keep_the_newest_and_split_pulled(store: SqliteFeedStore) -> None:
    for photo_id in range(1, 7):
        assert await store.record_post(post(photo_id), pulled=photo_id % 2 == 0)
    # Four kept per author (3..6); pulled ones (4, 6) are for the read path, the rest for backfill.
    assert [p.photo_id for p in await store.recent_posts(100, 10)] == [5, 3]
    assert [p.photo_id for p in await store.pulled_posts([100], None, 10)] == [6, 4]
    assert [p.photo_id for p in await store.pulled_posts([100], 6, 10)] == [4]
    assert await store.large_accounts() == [100]
    # Recording the same post again is harmless.
    assert await store.record_post(post(6), pulled=True)
    assert [p.photo_id for p in await store.pulled_posts([100], None, 1)] == [6]


async def test_pulled_posts_merge_several_authors_newest_first(store: SqliteFeedStore) -> None:
    await store.record_post(post(1, author_id=1), pulled=True)
    await store.record_post(post(3, author_id=1), pulled=True)
    await store.record_post(post(2, author_id=2), pulled=True)
    await store.record_post(post(4, author_id=3), pulled=True)
    assert [p.photo_id for p in await store.pulled_posts([1, 2], None, 10)] == [3, 2, 1]
    assert [p.photo_id for p in await store.pulled_posts([1, 2], None, 2)] == [3, 2]
