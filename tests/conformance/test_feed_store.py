"""Feed store conformance: the same assertions on SQLite and on CQL, through the FeedStore Protocol.

Fan-out writes read back newest first, keyset pages without gaps or repeats, the cap, unfollow and
delete purges, tombstones that stop a late event from bringing an entry back, idempotent redelivery,
authors' recent posts and large accounts. The CQL store runs with trim_every=1 here (it trims on every
write, as SQLite does) and with pages of 2 rows, so its paging through partitions is exercised too;
its lazy trimming at the production setting has a test of its own below.
"""

from __future__ import annotations

import pytest

from services.feed.cql import CqlFeedStore
from services.feed.sqlite import SqliteFeedStore
from services.feed.store import STORAGE, FeedStore, Post
from services.runtime.cql import READ_STRONG, CqlDatabase, Query
from services.runtime.sqlite import Database
from services.runtime.tombstones import Kind
from tests.conformance.conftest import Databases, tombstoned

CAPACITY = 5
AUTHOR_POSTS_KEPT = 4


@pytest.fixture
async def database(backend: str, databases: Databases) -> Database | CqlDatabase:
    return await databases.open(backend, STORAGE, service="feed")


@pytest.fixture
def store(database: Database | CqlDatabase) -> FeedStore:
    if isinstance(database, Database):
        return SqliteFeedStore(database, feed_capacity=CAPACITY, author_posts_kept=AUTHOR_POSTS_KEPT)
    return CqlFeedStore(
        database, feed_capacity=CAPACITY, author_posts_kept=AUTHOR_POSTS_KEPT, trim_every=1, read_page=2
    )


def post(photo_id: int, author_id: int = 100) -> Post:
    return Post(photo_id=photo_id, author_id=author_id, posted_ms=1_700_000_000_000 + photo_id)


async def feed_ids(store: FeedStore, user_id: int) -> list[int]:
    return [p.photo_id for p in await store.feed(user_id, None, 100)]


async def test_fan_out_writes_every_follower_and_reads_back_the_post(store: FeedStore) -> None:
    assert await store.add_to_feeds(post(1, author_id=9), [1, 2, 3]) == 3
    for user_id in (1, 2, 3):
        assert await store.feed(user_id, None, 10) == [post(1, author_id=9)]
    assert await feed_ids(store, 4) == []


async def test_redelivered_fan_out_neither_duplicates_nor_loses(store: FeedStore) -> None:
    await store.add_to_feeds(post(1), [1, 2, 3])
    await store.add_to_feeds(post(1), [1, 2, 3, 3])  # a redelivery, with a follower listed twice
    await store.add_to_feeds(post(2), [2])
    assert await feed_ids(store, 1) == [1]
    assert await feed_ids(store, 2) == [2, 1]
    assert await feed_ids(store, 3) == [1]


async def test_empty_page_writes_nothing(store: FeedStore) -> None:
    assert await store.add_to_feeds(post(1), []) == 0
    assert await store.add_to_feed(1, []) == 0


async def test_feed_is_newest_first_and_pages_below_cursor(store: FeedStore) -> None:
    for photo_id in (3, 1, 4, 2):
        await store.add_to_feeds(post(photo_id), [7])
    assert await feed_ids(store, 7) == [4, 3, 2, 1]
    assert [p.photo_id for p in await store.feed(7, 3, 10)] == [2, 1]
    assert [p.photo_id for p in await store.feed(7, None, 2)] == [4, 3]
    assert await store.feed(7, 1, 10) == []


async def test_keyset_pages_have_no_gaps_or_repeats_while_posts_arrive(store: FeedStore) -> None:
    for photo_id in range(10, 14):
        await store.add_to_feeds(post(photo_id), [7])
    seen: list[int] = []
    cursor = None
    while page := await store.feed(7, cursor, 3):
        seen.extend(p.photo_id for p in page)
        cursor = page[-1].photo_id
        if len(seen) == 3:
            await store.add_to_feeds(post(99), [7])  # a newer post lands above the cursor
    assert seen == [13, 12, 11, 10]
    assert await feed_ids(store, 7) == [99, 13, 12, 11, 10]


async def test_feed_keeps_only_the_newest_entries(store: FeedStore) -> None:
    for photo_id in range(1, 9):
        await store.add_to_feeds(post(photo_id), [1, 2])
    assert await feed_ids(store, 1) == [8, 7, 6, 5, 4]
    assert await feed_ids(store, 2) == [8, 7, 6, 5, 4]
    # An older entry arriving late into a full feed does not push out newer ones.
    await store.add_to_feeds(post(2), [1])
    assert await feed_ids(store, 1) == [8, 7, 6, 5, 4]
    # Purges free room that later posts may fill again without over-trimming.
    await store.remove_photo(8, 100)
    await store.add_to_feeds(post(9), [1])
    assert await feed_ids(store, 1) == [9, 7, 6, 5, 4]
    # Trimmed entries are gone from the photo index too: deleting one reaches no feed.
    assert await store.remove_photo(3, 100) == 0


async def test_backfill_adds_posts_and_trims(store: FeedStore) -> None:
    await store.add_to_feeds(post(10, author_id=5), [1])
    assert await store.add_to_feed(1, [post(i, author_id=6) for i in range(1, 8)]) == 7
    assert await feed_ids(store, 1) == [10, 7, 6, 5, 4]
    await store.add_to_feed(1, [post(7, author_id=6)])  # redelivered backfill
    assert await feed_ids(store, 1) == [10, 7, 6, 5, 4]


async def test_unfollow_removes_only_that_authors_entries(store: FeedStore) -> None:
    await store.add_to_feeds(post(1, author_id=10), [1, 2])
    await store.add_to_feeds(post(2, author_id=11), [1])
    await store.add_to_feeds(post(3, author_id=10), [1])
    assert await store.remove_author_from_feed(1, 10) == 2
    assert await feed_ids(store, 1) == [2]
    assert await feed_ids(store, 2) == [1]
    assert await store.remove_author_from_feed(1, 10) == 0
    # The photo index forgot user 1 as well: deleting photo 1 reaches only user 2's feed.
    assert await store.remove_photo(1, 10) == 1


async def test_deleted_photo_leaves_every_feed_and_stays_out(store: FeedStore) -> None:
    assert await store.record_post(post(1), pulled=False)
    await store.add_to_feeds(post(1), [1, 2, 3])
    await store.add_to_feeds(post(2), [1])
    assert await store.remove_photo(1, 100) == 3
    for user_id in (2, 3):
        assert await feed_ids(store, user_id) == []
    assert await feed_ids(store, 1) == [2]
    assert await store.recent_posts(100, 10) == []
    # A redelivered PhotoPosted or a follow backfill after the delete does not bring it back.
    assert not await store.record_post(post(1), pulled=False)
    assert await store.add_to_feeds(post(1), [1]) == 0
    assert await store.add_to_feed(4, [post(1)]) == 0
    assert await feed_ids(store, 1) == [2]
    assert await feed_ids(store, 4) == []
    assert await store.recent_posts(100, 10) == []
    # Deleting again (a redelivered PhotoDeleted) is harmless.
    assert await store.remove_photo(1, 100) == 0


async def test_deleting_a_pulled_post_removes_it_from_the_read_time_merge(store: FeedStore) -> None:
    assert await store.record_post(post(1), pulled=True)
    assert await store.record_post(post(2), pulled=True)
    await store.remove_photo(1, 100)
    assert await store.pulled_posts([100], None, 10) == [post(2)]


async def test_user_deleted_removes_their_feed_posts_and_entries(
    store: FeedStore, database: Database | CqlDatabase
) -> None:
    await store.record_post(post(1, author_id=50), pulled=False)
    await store.record_post(post(2, author_id=50), pulled=True)
    await store.add_to_feeds(post(1, author_id=50), [1, 2])
    await store.add_to_feeds(post(3, author_id=60), [50, 1])
    assert not await tombstoned(database, Kind.USER, 50)
    await store.remove_user(50)
    assert await feed_ids(store, 1) == [3]
    assert await feed_ids(store, 2) == []
    assert await feed_ids(store, 50) == []
    assert await store.large_accounts(10) == []
    assert await store.pulled_posts([50], None, 10) == []
    assert await store.recent_posts(50, 10) == []
    assert await tombstoned(database, Kind.USER, 50)
    # Late events neither write into their feed nor put their posts anywhere.
    assert await store.add_to_feeds(post(4, author_id=60), [50, 1]) == 1
    assert await feed_ids(store, 50) == []
    assert await feed_ids(store, 1) == [4, 3]
    assert not await store.record_post(post(5, author_id=50), pulled=False)
    assert await store.add_to_feeds(post(5, author_id=50), [1]) == 0
    assert await store.add_to_feed(1, [post(6, author_id=50)]) == 0
    assert await store.add_to_feed(50, [post(7, author_id=60)]) == 0
    assert await feed_ids(store, 1) == [4, 3]
    assert await feed_ids(store, 50) == []
    # A redelivered UserDeleted is harmless.
    await store.remove_user(50)
    assert await feed_ids(store, 1) == [4, 3]


async def test_author_posts_keep_the_newest_and_split_pulled(store: FeedStore) -> None:
    for photo_id in range(1, 7):
        assert await store.record_post(post(photo_id), pulled=photo_id % 2 == 0)
    # Four kept per author (3..6); pulled ones (4, 6) are for the read path, the rest for backfill.
    assert await store.recent_posts(100, 10) == [post(5), post(3)]
    assert [p.photo_id for p in await store.pulled_posts([100], None, 10)] == [6, 4]
    assert [p.photo_id for p in await store.pulled_posts([100], 6, 10)] == [4]
    assert [p.photo_id for p in await store.recent_posts(100, 1)] == [5]
    assert await store.large_accounts(10) == [100]
    # Recording the same post again is harmless.
    assert await store.record_post(post(6), pulled=True)
    assert [p.photo_id for p in await store.pulled_posts([100], None, 1)] == [6]
    assert await store.large_accounts(10) == [100]


async def test_a_redelivered_post_may_change_kind_but_is_kept_once(store: FeedStore) -> None:
    assert await store.record_post(post(1), pulled=False)
    assert await store.record_post(post(1), pulled=True)  # the author crossed the threshold meanwhile
    assert await store.recent_posts(100, 10) == []
    assert await store.pulled_posts([100], None, 10) == [post(1)]


async def test_pulled_posts_merge_several_authors_newest_first(store: FeedStore) -> None:
    await store.record_post(post(1, author_id=1), pulled=True)
    await store.record_post(post(3, author_id=1), pulled=True)
    await store.record_post(post(2, author_id=2), pulled=True)
    await store.record_post(post(4, author_id=3), pulled=True)
    await store.record_post(post(5, author_id=2), pulled=False)
    assert [p.photo_id for p in await store.pulled_posts([1, 2], None, 10)] == [3, 2, 1]
    assert [p.photo_id for p in await store.pulled_posts([1, 2], None, 2)] == [3, 2]
    assert [p.photo_id for p in await store.pulled_posts([1, 2], 3, 10)] == [2, 1]
    assert await store.pulled_posts([], None, 10) == []
    assert await store.large_accounts(10) == [1, 2, 3]


async def test_large_accounts_are_read_a_few_at_a_time_or_picked_from_a_list(store: FeedStore) -> None:
    """A feed read never reads every large account: the first few (to tell whether there are few), or the
    large ones among whom the reader follows."""
    for author_id in (7, 3, 5, 9):
        await store.record_post(post(author_id * 10, author_id=author_id), pulled=True)
    await store.record_post(post(40, author_id=4), pulled=False)
    assert await store.large_accounts(2) == [3, 5]
    assert await store.large_accounts(10) == [3, 5, 7, 9]
    assert await store.large_among([9, 4, 3, 11, 3]) == {3, 9}
    assert await store.large_among([]) == set()
    # More ids than one IN list takes (SQLite's chunk, ScyllaDB's clustering-key restriction).
    assert await store.large_among(list(range(1, 1200))) == {3, 5, 7, 9}


# -- CQL only: lazy trimming and tombstone expiry ---------------------------------------------


async def test_cql_lazy_trimming_keeps_feeds_bounded_and_the_index_exact(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="feed")
    store = CqlFeedStore(database, feed_capacity=CAPACITY, trim_every=4, read_page=3)
    for photo_id in range(1, 61):
        await store.add_to_feeds(post(photo_id), [1])
    stored = await partition_ids(database, 1)
    # Never more than the cap plus the tail since the last trim; the newest entries are always there.
    assert CAPACITY <= len(stored) <= CAPACITY + 20
    assert stored[:CAPACITY] == list(range(60, 60 - CAPACITY, -1))
    assert await feed_ids(store, 1) == stored
    # Every row trimmed away left the index: only the stored entries remain reachable.
    reachable = [photo_id for photo_id in range(1, 61) if await index_has(database, photo_id, 1)]
    assert sorted(reachable, reverse=True) == stored


async def test_cql_tombstones_expire_after_eight_days(databases: Databases) -> None:
    database = await databases.cql(STORAGE, service="feed")
    store = CqlFeedStore(database)
    await store.remove_photo(1, 100)
    await store.remove_user(50)
    ttl = Query("SELECT TTL(marked_ms) FROM deleted_ids WHERE kind = ? AND id = ?", READ_STRONG)
    ttl_photo = await database.execute(ttl, (Kind.PHOTO.value, 1))
    ttl_user = await database.execute(ttl, (Kind.USER.value, 50))
    eight_days = 8 * 24 * 3600
    assert eight_days - 60 < ttl_photo[0][0] <= eight_days
    assert eight_days - 60 < ttl_user[0][0] <= eight_days


async def partition_ids(database: CqlDatabase, user_id: int) -> list[int]:
    rows = await database.execute(Query("SELECT photo_id FROM feeds WHERE user_id = ?", READ_STRONG), (user_id,))
    return [row.photo_id for row in rows]


async def index_has(database: CqlDatabase, photo_id: int, user_id: int) -> bool:
    rows = await database.execute(
        Query("SELECT user_id FROM feed_by_photo WHERE photo_id = ? AND user_id = ?", READ_STRONG),
        (photo_id, user_id),
    )
    return bool(rows)
