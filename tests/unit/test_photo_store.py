"""SqlitePhotoStore: each change commits with its outbox event; idempotency keys; keyset listing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from services.photo.sqlite import SCHEMA, SqlitePhotoStore
from services.photo.store import BlobInfo, PhotoRecord
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.outbox import OUTBOX_SCHEMA
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2

IDS = IdGenerator(1)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "photo.db", SCHEMA + OUTBOX_SCHEMA)
    await db.start()
    yield db
    await db.stop()


def _photo(user_id: int, key: str = "") -> PhotoRecord:
    blob = BlobInfo("image/jpeg", 10, "ab" * 32)
    return PhotoRecord(
        photo_id=IDS.next_id(), user_id=user_id, title="t", location="l", time_stamp_ms=1, tags=("a", "b"),
        created_at_ms=2, width=3, height=4, original=blob, display=blob, thumbnail=blob, idempotency_key=key,
    )  # fmt: skip


def _posted(photo: PhotoRecord) -> events_pb2.PhotoPosted:
    return events_pb2.PhotoPosted(meta=new_meta(IDS, "photo"), photo_id=photo.photo_id, user_id=photo.user_id)


async def _outbox(db: Database) -> list[events_pb2.PhotoPosted | events_pb2.PhotoDeleted]:
    rows = await db.read(lambda conn: conn.execute("SELECT subject, payload FROM outbox ORDER BY seq").fetchall())
    return [decode(subject, payload) for subject, payload in rows]  # type: ignore[misc]


async def test_create_writes_the_row_and_its_event_together(database: Database) -> None:
    store = SqlitePhotoStore(database)
    photo = _photo(1)
    stored, created = await store.create(photo, _posted(photo))
    assert created and stored == photo
    assert await store.get(photo.photo_id) == photo
    events = await _outbox(database)
    assert [(type(e), e.photo_id) for e in events] == [(events_pb2.PhotoPosted, photo.photo_id)]


async def test_failed_create_writes_neither_row_nor_event(database: Database) -> None:
    store = SqlitePhotoStore(database)
    photo = _photo(1)
    await store.create(photo, _posted(photo))
    with pytest.raises(Exception, match="UNIQUE"):
        await store.create(replace(photo, title="again"), _posted(photo))  # same id, same event id
    assert (await store.get(photo.photo_id)) == photo
    assert len(await _outbox(database)) == 1


async def test_same_idempotency_key_returns_the_first_photo_without_an_event(database: Database) -> None:
    store = SqlitePhotoStore(database)
    first, second, other_user = _photo(1, "k1"), _photo(1, "k1"), _photo(2, "k1")
    assert await store.create(first, _posted(first)) == (first, True)
    assert await store.create(second, _posted(second)) == (first, False)
    assert await store.create(other_user, _posted(other_user)) == (other_user, True)
    assert await store.get(second.photo_id) is None
    assert await store.by_idempotency_key(1, "k1") == first
    assert len(await _outbox(database)) == 2


async def test_list_by_user_pages_newest_first(database: Database) -> None:
    store = SqlitePhotoStore(database)
    mine = [_photo(7) for _ in range(5)]
    for photo in [*mine, _photo(8)]:
        await store.create(photo, _posted(photo))
    newest_first = [p.photo_id for p in reversed(mine)]
    first_page = await store.list_by_user(7, None, 3)
    assert [p.photo_id for p in first_page] == newest_first[:3]
    rest = await store.list_by_user(7, first_page[-1].photo_id, 3)
    assert [p.photo_id for p in rest] == newest_first[3:]


async def test_delete_removes_row_listing_and_key_with_one_event(database: Database) -> None:
    store = SqlitePhotoStore(database)
    photo = _photo(3, "key")
    await store.create(photo, _posted(photo))
    deleted = events_pb2.PhotoDeleted(meta=new_meta(IDS, "photo"), photo_id=photo.photo_id, user_id=3)
    assert await store.delete(photo.photo_id, deleted) == photo
    assert await store.delete(photo.photo_id, deleted) is None  # already gone: no second event
    assert await store.get(photo.photo_id) is None
    assert await store.list_by_user(3, None, 10) == []
    assert await store.by_idempotency_key(3, "key") is None
    assert [type(e) for e in await _outbox(database)] == [events_pb2.PhotoPosted, events_pb2.PhotoDeleted]


async def test_get_many_and_existing(database: Database) -> None:
    store = SqlitePhotoStore(database)
    photos = [_photo(1) for _ in range(3)]
    for photo in photos:
        await store.create(photo, _posted(photo))
    ids = [p.photo_id for p in photos]
    assert set(await store.get_many([*ids, 12345])) == set(ids)
    assert await store.existing([ids[0], 12345]) == {ids[0]}
