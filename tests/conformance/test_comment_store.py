"""Comment store conformance: the same assertions on SQLite and on CQL, through the CommentStore Protocol.

Comments and their events (one per real change, also when deletes race), pages in both orders that
neither skip nor repeat, batch counts in request order, the deleted-photo marker, and the photo and
user purges fixing counts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from services.comment import cql, sqlite
from services.comment.cql import CqlCommentStore
from services.comment.sqlite import SqliteCommentStore
from services.comment.store import MAX_BATCH, STORAGE, Comment, CommentLikes, CommentStore, FirstPage, PhotoGone
from services.runtime.cql import Query
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OutboxStore, SqliteOutbox
from services.runtime.outbox_cql import CqlOutbox
from shutter.events.v1 import events_pb2
from tests.conformance.conftest import Databases, PurgeMidway

ids = IdGenerator(94)
CREATED, DELETED = events_pb2.COMMENT_CHANGE_CREATED, events_pb2.COMMENT_CHANGE_DELETED


def event(comment: Comment, change: events_pb2.CommentChange) -> events_pb2.CommentChanged:
    return events_pb2.CommentChanged(
        meta=new_meta(ids, "comment"),
        photo_id=comment.photo_id,
        comment_id=comment.comment_id,
        user_id=comment.user_id,
        change=change,
    )


@dataclass
class Comments:
    store: CommentStore
    outbox: OutboxStore

    async def post(self, photo_id: int, user_id: int, text: str = "nice") -> Comment:
        comment = Comment(ids.next_id(), photo_id, user_id, text, time_stamp_us=1_000_001, created_at_us=2_000_002)
        await self.store.post(comment, event(comment, CREATED))
        return comment

    async def delete(self, comment: Comment) -> bool:
        return await self.store.delete(comment.photo_id, comment.comment_id, event(comment, DELETED))

    async def events(self) -> list[tuple[int, int]]:
        """(comment id, change) of every pending event, oldest first."""
        found = []
        for pending in await self.outbox.pending(1000):
            changed = decode(pending.subject, pending.payload)
            assert isinstance(changed, events_pb2.CommentChanged)
            found.append((changed.comment_id, changed.change))
        return found

    async def all_pages(self, photo_id: int, page: int, newest_first: bool) -> list[str]:
        seen: list[str] = []
        cursor = None
        while comments := await self.store.page(photo_id, page, cursor, newest_first):
            seen.extend(c.text for c in comments)
            cursor = comments[-1].comment_id
        return seen


@pytest.fixture
async def comments(backend: str, databases: Databases) -> Comments:
    if backend == "sqlite":
        database = await databases.sqlite(STORAGE)
        return Comments(SqliteCommentStore(database), SqliteOutbox(database))
    database = await databases.cql(STORAGE, service="comment")
    outbox = CqlOutbox(database)
    await outbox.start()
    return Comments(CqlCommentStore(database), outbox)


async def test_post_get_delete_round_trip_with_one_event_per_change(comments: Comments) -> None:
    comment = await comments.post(1, 10, "first\nline two — ünïcødé 📷")
    assert await comments.store.get(1, comment.comment_id) == comment
    assert await comments.store.get(2, comment.comment_id) is None  # a comment belongs to its photo
    assert await comments.store.counts([1]) == [1]

    assert await comments.delete(comment) is True
    assert await comments.delete(comment) is False
    assert await comments.store.get(1, comment.comment_id) is None
    assert await comments.store.counts([1]) == [0]
    assert await comments.store.page(1, 10, None, newest_first=False) == []
    assert await comments.events() == [(comment.comment_id, CREATED), (comment.comment_id, DELETED)]


async def test_racing_deletes_remove_once_and_emit_one_event(comments: Comments) -> None:
    comment = await comments.post(4, 10)
    kept = await comments.post(4, 11)

    removed = await asyncio.gather(*(comments.delete(comment) for _ in range(6)))

    assert removed.count(True) == 1
    assert await comments.store.counts([4]) == [1]
    assert await comments.events() == [
        (comment.comment_id, CREATED),
        (kept.comment_id, CREATED),
        (comment.comment_id, DELETED),
    ]
    assert await comments.store.purge_user(10) == 0  # the delete took the author's by-user row too


async def test_pages_in_both_orders_with_keyset_cursor(comments: Comments) -> None:
    for i in range(5):
        await comments.post(5, 10 + i, f"c{i}")

    oldest = await comments.store.page(5, 2, None, newest_first=False)
    assert [c.text for c in oldest] == ["c0", "c1"]
    rest = await comments.store.page(5, 10, oldest[-1].comment_id, newest_first=False)
    assert [c.text for c in rest] == ["c2", "c3", "c4"]
    newest = await comments.store.page(5, 2, None, newest_first=True)
    assert [c.text for c in newest] == ["c4", "c3"]
    rest = await comments.store.page(5, 10, newest[-1].comment_id, newest_first=True)
    assert [c.text for c in rest] == ["c2", "c1", "c0"]
    assert [c.user_id for c in oldest] == [10, 11]
    assert await comments.store.page(6, 10, None, newest_first=False) == []


async def test_newest_first_pages_neither_skip_nor_repeat_while_comments_arrive(comments: Comments) -> None:
    for i in range(10):
        await comments.post(7, 10, f"old{i}")

    seen: list[str] = []
    cursor = None
    arrivals = 0
    while page := await comments.store.page(7, 3, cursor, newest_first=True):
        seen.extend(c.text for c in page)
        cursor = page[-1].comment_id
        await comments.post(7, 11, f"new{arrivals}")  # above the cursor: shifts nothing
        arrivals += 1

    assert seen == [f"old{i}" for i in range(9, -1, -1)]
    everything = [*(f"old{i}" for i in range(10)), *(f"new{i}" for i in range(arrivals))]
    assert await comments.all_pages(7, 4, newest_first=False) == everything
    assert await comments.all_pages(7, 4, newest_first=True) == everything[::-1]


async def test_counts_follow_request_order(comments: Comments) -> None:
    for _ in range(3):
        await comments.post(1, 10)
    await comments.post(2, 10)

    assert await comments.store.counts([2, 3, 1, 2]) == [1, 0, 3, 1]
    assert await comments.store.counts([]) == []
    photos = list(range(100, 200))  # a full batch
    await asyncio.gather(*(comments.post(photo, 12) for photo in photos[::3]))
    assert await comments.store.counts(photos[::-1]) == [int(p % 3 == 1) for p in photos[::-1]]


async def test_first_pages_for_many_photos_in_request_order_with_their_counts(comments: Comments) -> None:
    posted = {photo: [await comments.post(photo, 10, f"{photo}-{n}") for n in range(photo % 10)] for photo in (1, 3, 5)}

    firsts = await comments.store.first_pages([5, 99, 1, 3, 5], 2, newest_first=False)
    assert (
        firsts
        == [
            FirstPage(posted[5][:2], 5),
            FirstPage([], 0),  # a photo without comments (or unknown)
            FirstPage(posted[1][:1], 1),
            FirstPage(posted[3][:2], 3),
            FirstPage(posted[5][:2], 5),  # a repeated photo answers again, in its place
        ]
    )
    newest = await comments.store.first_pages([3], 2, newest_first=True)
    assert newest == [FirstPage(list(reversed(posted[3]))[:2], 3)]
    assert await comments.store.first_pages([], 2, newest_first=False) == []


async def test_first_pages_of_a_full_batch(comments: Comments) -> None:
    photos = list(range(3000, 3000 + MAX_BATCH))
    for photo in photos[::10]:
        await comments.post(photo, 10, f"on {photo}")

    firsts = await comments.store.first_pages(list(reversed(photos)), 20, newest_first=False)

    assert [(len(first.comments), first.total) for first in firsts] == [
        (1, 1) if photo % 10 == 0 else (0, 0) for photo in reversed(photos)
    ]
    assert [first.comments[0].photo_id for first in firsts if first.comments] == list(reversed(photos[::10]))


async def test_purge_photo_drops_comments_and_refuses_new_ones(comments: Comments) -> None:
    await comments.post(1, 10)
    await comments.post(1, 11)
    kept = await comments.post(2, 10)
    events_before = await comments.events()

    assert await comments.store.purge_photo(1) == 2
    assert await comments.store.purge_photo(1) == 0  # a redelivered PhotoDeleted finds nothing

    assert await comments.store.counts([1, 2]) == [0, 1]
    assert await comments.store.page(1, 10, None, newest_first=True) == []
    with pytest.raises(PhotoGone):
        await comments.post(1, 12)
    assert await comments.store.counts([1]) == [0]
    assert await comments.events() == events_before  # the purge emits nothing, and the refused post neither
    # The purge took the authors' by-user rows: purging user 10 later finds only the comment on photo 2.
    assert await comments.store.purge_user(10) == 1
    assert await comments.store.get(2, kept.comment_id) is None


async def test_purge_user_fixes_counts_and_is_idempotent(comments: Comments) -> None:
    slots = asyncio.Semaphore(16)

    async def post(photo: int) -> None:
        async with slots:
            await comments.post(photo, 42)

    photos = range(1, max(sqlite.PURGE_CHUNK, cql.PURGE_CHUNK) + 2)  # more than one purge chunk on either backend
    await asyncio.gather(*(post(photo) for photo in photos))
    await comments.post(1, 42)  # two comments by the user on one photo
    other = await comments.post(1, 43)

    assert await comments.store.purge_user(42) == len(photos) + 1
    assert await comments.store.purge_user(42) == 0

    assert await comments.store.counts([1, 2, photos[-1]]) == [1, 0, 0]
    assert await comments.store.page(1, 10, None, newest_first=False) == [other]


@pytest.mark.parametrize(
    "moment",
    [
        pytest.param(lambda query: query is cql.INSERT_COMMENT, id="before-the-batch"),
        pytest.param(lambda query: query is cql.BUMP, id="before-the-count"),
    ],
)
async def test_cql_a_comment_racing_the_photos_purge_does_not_outlive_it(
    databases: Databases, moment: Callable[[Query], bool]
) -> None:
    database = await databases.cql(STORAGE, service="comment")
    purger = CqlCommentStore(database)
    racing = CqlCommentStore(PurgeMidway(database, moment, lambda: purger.purge_photo(5)))  # type: ignore[arg-type]
    comment = Comment(ids.next_id(), 5, 50, "late", time_stamp_us=1, created_at_us=2)

    with pytest.raises(PhotoGone):
        await racing.post(comment, event(comment, CREATED))

    assert await purger.counts([5]) == [0]
    assert await purger.page(5, 10, None, newest_first=False) == []
    assert await purger.purge_user(50) == 0  # no by-user row left behind either
    assert await purger.purge_photo(5) == 0


# Replies and likes on comments.


async def test_a_reply_keeps_its_thread_in_every_read(comments: Comments) -> None:
    top = await comments.post(40, 10, "top")
    reply = Comment(ids.next_id(), 40, 11, "reply", 1, 2, parent_id=top.comment_id)
    await comments.store.post(reply, event(reply, CREATED))

    assert await comments.store.get(40, reply.comment_id) == reply
    assert await comments.store.page(40, 10, None, newest_first=False) == [top, reply]
    [first] = await comments.store.first_pages([40], 10, newest_first=True)
    assert first.comments == [reply, top]


async def test_comment_likes_count_once_per_person_and_go_with_the_comment(comments: Comments) -> None:
    liked, other = await comments.post(41, 10), await comments.post(41, 10)
    for user_id in (1, 2, 2):  # a double tap counts once
        await comments.store.like_comment(41, liked.comment_id, user_id, True)

    assert await comments.store.like_comment(41, liked.comment_id, 3, True) == CommentLikes(liked.comment_id, 3, True)
    assert await comments.store.like_comment(41, liked.comment_id, 3, False) == CommentLikes(liked.comment_id, 2, False)
    assert await comments.store.like_comment(41, liked.comment_id, 3, False) == CommentLikes(liked.comment_id, 2, False)
    assert await comments.store.comment_likes(41, [other.comment_id, liked.comment_id], 1) == [
        CommentLikes(other.comment_id, 0, False),
        CommentLikes(liked.comment_id, 2, True),
    ]
    assert await comments.store.like_comment(41, 12345, 1, True) is None  # no such comment
    assert await comments.store.like_comment(42, liked.comment_id, 1, True) is None  # another photo's id
    assert await comments.delete(liked) is True  # its likes go with it
    assert await comments.store.comment_likes(41, [liked.comment_id], 1) == [CommentLikes(liked.comment_id, 0, False)]
    await comments.store.like_comment(41, other.comment_id, 1, True)
    await comments.store.purge_photo(41)
    assert await comments.store.comment_likes(41, [other.comment_id], 1) == [CommentLikes(other.comment_id, 0, False)]
