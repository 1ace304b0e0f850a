"""CommentStore conformance: every backend must pass these (SQLite now; the CQL issue adds its fixture)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.comment.sqlite import SCHEMA, SqliteCommentStore
from services.comment.store import Comment, CommentStore, PhotoGone
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OUTBOX_SCHEMA
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2

ids = IdGenerator(1)


def new_comment(photo_id: int, user_id: int, text: str = "nice") -> Comment:
    return Comment(ids.next_id(), photo_id, user_id, text, time_stamp_us=1_000_000, created_at_us=2_000_000)


def event(comment: Comment, change: events_pb2.CommentChange) -> events_pb2.CommentChanged:
    meta = events_pb2.EventMeta(event_id=ids.next_id(), source="comment")
    return events_pb2.CommentChanged(
        meta=meta, photo_id=comment.photo_id, comment_id=comment.comment_id, user_id=comment.user_id, change=change
    )


async def post(store: CommentStore, photo_id: int, user_id: int, text: str = "nice") -> Comment:
    comment = new_comment(photo_id, user_id, text)
    await store.post(comment, event(comment, events_pb2.COMMENT_CHANGE_CREATED))
    return comment


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "comment.db", SCHEMA + OUTBOX_SCHEMA)
    await db.start()
    yield db
    await db.stop()


@pytest.fixture
def store(database: Database) -> CommentStore:
    return SqliteCommentStore(database)


async def outbox_changes(database: Database) -> list[tuple[int, int]]:
    def rows(conn: sqlite3.Connection) -> list[bytes]:
        return [row[0] for row in conn.execute("SELECT payload FROM outbox ORDER BY seq")]

    events = [events_pb2.CommentChanged.FromString(payload) for payload in await database.read(rows)]
    return [(e.comment_id, e.change) for e in events]


async def test_post_get_delete_round_trip_with_events(store: CommentStore, database: Database) -> None:
    comment = await post(store, 1, 10, "first\nline two")
    assert await store.get(1, comment.comment_id) == comment
    assert await store.get(2, comment.comment_id) is None
    assert await store.counts([1]) == [1]
    deleted = event(comment, events_pb2.COMMENT_CHANGE_DELETED)
    assert await store.delete(1, comment.comment_id, deleted) is True
    assert await store.delete(1, comment.comment_id, deleted) is False
    assert await store.get(1, comment.comment_id) is None
    assert await store.counts([1]) == [0]
    assert await outbox_changes(database) == [
        (comment.comment_id, events_pb2.COMMENT_CHANGE_CREATED),
        (comment.comment_id, events_pb2.COMMENT_CHANGE_DELETED),
    ]


async def test_pages_in_both_orders_with_keyset_cursor(store: CommentStore) -> None:
    posted = [await post(store, 5, 10 + i, f"c{i}") for i in range(5)]
    oldest = await store.page(5, 2, None, newest_first=False)
    assert [c.text for c in oldest] == ["c0", "c1"]
    assert [c.text for c in await store.page(5, 10, oldest[-1].comment_id, newest_first=False)] == ["c2", "c3", "c4"]
    newest = await store.page(5, 2, None, newest_first=True)
    assert [c.text for c in newest] == ["c4", "c3"]
    assert [c.text for c in await store.page(5, 10, newest[-1].comment_id, newest_first=True)] == ["c2", "c1", "c0"]
    assert await store.page(6, 10, None, newest_first=False) == []
    assert len(posted) == 5


async def test_counts_follow_request_order(store: CommentStore) -> None:
    for _ in range(3):
        await post(store, 1, 10)
    await post(store, 2, 10)
    assert await store.counts([2, 3, 1, 2]) == [1, 0, 3, 1]
    assert await store.counts([]) == []


async def test_purge_photo_drops_comments_and_refuses_new_ones(store: CommentStore) -> None:
    await post(store, 1, 10)
    await post(store, 1, 11)
    kept = await post(store, 2, 10)
    assert await store.purge_photo(1) == 2
    assert await store.purge_photo(1) == 0
    assert await store.counts([1, 2]) == [0, 1]
    with pytest.raises(PhotoGone):
        await post(store, 1, 12)
    assert await store.purge_user(10) == 1
    assert await store.get(2, kept.comment_id) is None


async def test_purge_user_fixes_counts_and_is_idempotent(store: CommentStore) -> None:
    for photo in range(1, 602):  # more than one purge chunk
        await post(store, photo, 42)
    other = await post(store, 1, 43)
    assert await store.purge_user(42) == 601
    assert await store.purge_user(42) == 0
    assert await store.counts([1, 2, 601]) == [1, 0, 0]
    assert await store.page(1, 10, None, newest_first=False) == [other]
