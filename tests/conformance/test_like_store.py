"""Like store conformance: the same assertions on SQLite and on CQL, through the LikeStore Protocol.

Likes and their events (exactly one per real change, also under concurrent duplicates), counts and
has-liked in batches in request order, keyset pages newest first with ties, the deleted-photo marker,
and the photo and user purges fixing counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from services.like import cql, sqlite
from services.like.cql import CqlLikeStore
from services.like.sqlite import SqliteLikeStore
from services.like.store import STORAGE, Like, LikerCursor, LikeStore, PhotoGone, Summary
from services.runtime.cql import Query
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases, PurgeMidway

ids = IdGenerator(93)


@dataclass
class Likes:
    store: LikeStore
    outbox: OutboxStore

    async def like(self, photo_id: int, user_id: int, at_ms: int = 1000) -> bool:
        return await self.store.like(photo_id, user_id, at_ms, event(photo_id, user_id, liked=True))

    async def unlike(self, photo_id: int, user_id: int) -> bool:
        return await self.store.unlike(photo_id, user_id, event(photo_id, user_id, liked=False))

    async def events(self) -> list[tuple[int, int, bool]]:
        """(photo, user, liked) of every pending event, oldest first."""
        found = []
        for pending in await self.outbox.pending(1000):
            changed = decode(pending.subject, pending.payload)
            assert isinstance(changed, events_pb2.LikeChanged)
            found.append((changed.photo_id, changed.user_id, changed.liked))
        return found

    async def summaries(self, photo_ids: list[int], viewer_id: int) -> list[Summary]:
        """The one-viewer batch (a page for one reader)."""
        return await self.store.summaries([(photo_id, viewer_id) for photo_id in photo_ids])

    async def all_likers(self, photo_id: int, page: int) -> list[Like]:
        seen: list[Like] = []
        cursor = None
        while likes := await self.store.likers(photo_id, page, cursor):
            seen.extend(likes)
            cursor = LikerCursor(likes[-1].liked_at_ms, likes[-1].user_id)
        return seen


def event(photo_id: int, user_id: int, liked: bool) -> events_pb2.LikeChanged:
    return events_pb2.LikeChanged(meta=new_meta(ids, "like"), photo_id=photo_id, user_id=user_id, liked=liked)


@pytest.fixture
async def likes(backend: str, databases: Databases) -> Likes:
    if backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        return Likes(SqliteLikeStore(database), SqliteOutbox(database))
    database = await databases.cql(STORAGE, service="like")
    outbox = CqlOutbox(database)
    await outbox.start()
    return Likes(CqlLikeStore(database), outbox)


async def test_like_is_idempotent_and_emits_one_event_per_change(likes: Likes) -> None:
    assert await likes.like(1, 10, 1000) is True
    assert await likes.like(1, 10, 2000) is False
    assert await likes.summaries([1], 10) == [Summary(1, 1, True)]
    assert [like.liked_at_ms for like in await likes.store.likers(1, 10, None)] == [1000]  # the first like's time

    assert await likes.unlike(1, 10) is True
    assert await likes.unlike(1, 10) is False
    assert await likes.unlike(2, 10) is False  # never liked
    assert await likes.summaries([1], 10) == [Summary(1, 0, False)]
    assert await likes.store.likers(1, 10, None) == []
    assert await likes.events() == [(1, 10, True), (1, 10, False)]


async def test_concurrent_double_likes_count_once(likes: Likes) -> None:
    created = await asyncio.gather(*(likes.like(3, 30, 3000 + n) for n in range(6)))
    assert created.count(True) == 1
    assert await likes.summaries([3], 30) == [Summary(3, 1, True)]
    assert len(await likes.store.likers(3, 10, None)) == 1

    removed = await asyncio.gather(*(likes.unlike(3, 30) for _ in range(6)))
    assert removed.count(True) == 1
    assert await likes.summaries([3], 30) == [Summary(3, 0, False)]
    assert await likes.events() == [(3, 30, True), (3, 30, False)]

    assert await likes.like(3, 30, 4000) is True  # liking again after an unlike is a new like
    assert await likes.summaries([3], 30) == [Summary(3, 1, True)]


async def test_summaries_follow_request_order_with_duplicates_and_unknown_photos(likes: Likes) -> None:
    for user in (10, 11, 12):
        await likes.like(2, user, 1000 + user)
    await likes.like(3, 11, 5000)

    assert await likes.summaries([3, 99, 2, 3], 11) == [
        Summary(3, 1, True),
        Summary(99, 0, False),
        Summary(2, 3, True),
        Summary(3, 1, True),
    ]
    assert await likes.summaries([2, 3], 10) == [Summary(2, 3, True), Summary(3, 1, False)]
    assert await likes.summaries([2], 0) == [Summary(2, 3, False)]
    assert await likes.summaries([], 11) == []


async def test_one_batch_answers_many_viewers_pair_by_pair(likes: Likes) -> None:
    await likes.like(2, 10)
    await likes.like(2, 11)
    await likes.like(3, 11)

    pairs = [(2, 10), (3, 10), (2, 11), (3, 11), (2, 12), (2, 0), (99, 10), (2, 10)]
    assert await likes.store.summaries(pairs) == [
        Summary(2, 2, True),
        Summary(3, 1, False),  # 10 liked 2, not 3: has-liked is per pair, not per viewer or photo
        Summary(2, 2, True),
        Summary(3, 1, True),
        Summary(2, 2, False),
        Summary(2, 2, False),  # viewer 0: nobody
        Summary(99, 0, False),
        Summary(2, 2, True),  # a repeated pair answers again, in its place
    ]


async def test_a_full_batch_of_pairs_with_a_viewer_each(likes: Likes) -> None:
    photos = list(range(2000, 2100))  # MAX_BATCH
    await asyncio.gather(*(likes.like(photo, photo % 7 + 1) for photo in photos[::3]))

    pairs = [(photo, photo % 7 + 1 if photo % 2 else photo % 5 + 1) for photo in photos]
    summaries = await likes.store.summaries(pairs)

    assert [s.photo_id for s in summaries] == photos
    liked = {(photo, photo % 7 + 1) for photo in photos[::3]}
    assert [(s.like_count, s.viewer_has_liked) for s in summaries] == [
        (int(photo in photos[::3]), pair in liked) for photo, pair in zip(photos, pairs, strict=True)
    ]


async def test_a_full_batch_of_photos(likes: Likes) -> None:
    photos = list(range(1000, 1100))  # MAX_BATCH
    await asyncio.gather(*(likes.like(photo, 7) for photo in photos[::2]))
    await asyncio.gather(*(likes.like(photo, 8) for photo in photos[::4]))

    summaries = await likes.summaries(list(reversed(photos)), 8)

    assert [s.photo_id for s in summaries] == list(reversed(photos))
    assert {s.photo_id: (s.like_count, s.viewer_has_liked) for s in summaries} == {
        photo: ((photo % 2 == 0) + (photo % 4 == 0), photo % 4 == 0) for photo in photos
    }


async def test_likers_page_newest_first_with_ties_broken_by_user(likes: Likes) -> None:
    for user, at in ((1, 100), (2, 300), (3, 300), (4, 200), (5, 50)):
        await likes.like(7, user, at)

    first = await likes.store.likers(7, 2, None)
    assert [(like.user_id, like.liked_at_ms) for like in first] == [(3, 300), (2, 300)]
    second = await likes.store.likers(7, 2, LikerCursor(first[-1].liked_at_ms, first[-1].user_id))
    assert [like.user_id for like in second] == [4, 1]
    third = await likes.store.likers(7, 2, LikerCursor(second[-1].liked_at_ms, second[-1].user_id))
    assert [like.user_id for like in third] == [5]
    assert await likes.store.likers(7, 2, LikerCursor(50, 5)) == []
    assert await likes.store.likers(8, 2, None) == []


async def test_likers_pages_neither_skip_nor_repeat_while_likes_arrive(likes: Likes) -> None:
    for user in range(100, 112):
        await likes.like(9, user, 1000 + user // 3)  # three likes per millisecond: ties everywhere

    seen: list[Like] = []
    cursor = None
    newcomer = 200
    while page := await likes.store.likers(9, 5, cursor):
        seen.extend(page)
        cursor = LikerCursor(page[-1].liked_at_ms, page[-1].user_id)
        await likes.like(9, newcomer, 5000)  # newer than the cursor: lands above it, shifts nothing
        newcomer += 1

    assert [like.user_id for like in seen] == list(range(111, 99, -1))
    everyone = [like.user_id for like in await likes.all_likers(9, 4)]
    assert everyone == [*range(newcomer - 1, 199, -1), *range(111, 99, -1)]


async def test_purge_photo_drops_its_likes_and_refuses_new_ones(likes: Likes) -> None:
    await likes.like(8, 1, 10)
    await likes.like(8, 2, 11)
    await likes.like(9, 1, 12)
    events_before = await likes.events()

    assert await likes.store.purge_photo(8) == 2
    assert await likes.store.purge_photo(8) == 0  # a redelivered PhotoDeleted finds nothing

    assert await likes.summaries([8, 9], 1) == [Summary(8, 0, False), Summary(9, 1, True)]
    assert await likes.store.likers(8, 10, None) == []
    with pytest.raises(PhotoGone):
        await likes.like(8, 3, 13)
    assert await likes.summaries([8], 3) == [Summary(8, 0, False)]
    assert await likes.unlike(8, 1) is False
    assert await likes.events() == events_before  # the purge emits nothing, and the refused like neither
    # The user's other likes are untouched, and purging the user later finds only those.
    assert await likes.store.purge_user(1) == 1


async def test_purge_user_fixes_counts_everywhere_and_is_idempotent(likes: Likes) -> None:
    photos = range(1, max(sqlite.PURGE_CHUNK, cql.PURGE_CHUNK) + 2)  # more than one purge chunk on either backend
    slots = asyncio.Semaphore(16)

    async def like(photo: int) -> None:
        async with slots:
            await likes.like(photo, 42, photo)

    await asyncio.gather(*(like(photo) for photo in photos))
    await likes.like(1, 43, 5)
    await likes.like(2, 44, 6)

    assert await likes.store.purge_user(42) == len(photos)
    assert await likes.store.purge_user(42) == 0

    assert await likes.summaries([1, 2, 3, photos[-1]], 42) == [
        Summary(1, 1, False),
        Summary(2, 1, False),
        Summary(3, 0, False),
        Summary(photos[-1], 0, False),
    ]
    assert [like.user_id for like in await likes.store.likers(1, 10, None)] == [43]
    assert [like.user_id for like in await likes.store.likers(2, 10, None)] == [44]
    assert await likes.summaries([1, 2], 43) == [Summary(1, 1, True), Summary(2, 1, False)]
    assert await likes.like(1, 42) is True  # nothing of the old like is left to collide with


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(lambda query: query is cql.CLAIM, id="before-the-claim"),
        pytest.param(lambda query: query is cql.INSERT_LIKER, id="between-claim-and-batch"),
        pytest.param(lambda query: query is cql.BUMP, id="before-the-count"),
    ],
)
async def test_cql_a_like_racing_the_photos_purge_does_not_outlive_it(
    databases: Databases, moment: Callable[[Query], bool]
) -> None:
    database = await databases.cql(STORAGE, service="like")
    purger = CqlLikeStore(database)
    racing = CqlLikeStore(PurgeMidway(database, moment, lambda: purger.purge_photo(5)))  # type: ignore[arg-type]

    with pytest.raises(PhotoGone):
        await racing.like(5, 50, 1000, event(5, 50, liked=True))

    assert await purger.summaries([(5, 50)]) == [Summary(5, 0, False)]
    assert await purger.likers(5, 10, None) == []
    assert await purger.purge_user(50) == 0  # no by-user row left behind either
    assert await purger.purge_photo(5) == 0
