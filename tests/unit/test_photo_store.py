"""SqlitePhotoStore specifics. What every backend must do is in tests/conformance/test_photo_store.py."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest

from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import STORAGE, BlobInfo, PhotoRecord
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2

IDS = IdGenerator(1)


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "photo.db", STORAGE.sqlite_schema())
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


async def test_failed_create_writes_neither_row_nor_event(database: Database) -> None:
    store = SqlitePhotoStore(database)
    photo = _photo(1)
    await store.create(photo, _posted(photo))
    with pytest.raises(Exception, match="UNIQUE"):
        await store.create(replace(photo, title="again"), _posted(photo))  # same id, same event id
    assert (await store.get(photo.photo_id)) == photo
    assert len(await _outbox(database)) == 1
