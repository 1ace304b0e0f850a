"""An edit's time is the version search files it under: it must grow with every edit of a photo, even when
the last edit was stamped by a replica whose clock runs ahead of this one's."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from services.photo.captions import Captions
from services.photo.edits import Editor
from services.photo.sqlite import SqlitePhotoStore
from services.photo.store import STORAGE, BlobInfo, PhotoRecord
from services.runtime import callctx
from services.runtime.events import decode, new_meta
from services.runtime.ids import IdGenerator
from services.runtime.sqlite import Database
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2

IDS = IdGenerator(2)
OWNER = 41


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    db = Database(tmp_path / "photo.db", STORAGE.sqlite_schema())
    await db.start()
    try:
        yield db
    finally:
        await db.stop()


@pytest.fixture
def store(database: Database) -> SqlitePhotoStore:
    return SqlitePhotoStore(database)


async def posted(store: SqlitePhotoStore, edited_at_ms: int) -> PhotoRecord:
    blob = BlobInfo("image/jpeg", 10, "ab" * 32)
    photo = PhotoRecord(
        photo_id=IDS.next_id(), user_id=OWNER, title="t", location="l", time_stamp_ms=1, tags=(), created_at_ms=2,
        width=3, height=4, original=blob, display=blob, thumbnail=blob,
    )  # fmt: skip
    event = events_pb2.PhotoPosted(meta=new_meta(IDS, "photo"), photo_id=photo.photo_id, user_id=OWNER)
    await store.create(photo, event)
    if edited_at_ms:
        photo = replace(photo, edited_at_ms=edited_at_ms)
        await store.update(photo, events_pb2.PhotoEdited(meta=new_meta(IDS, "photo"), photo_id=photo.photo_id))
    return photo


async def edit(store: SqlitePhotoStore, photo_id: int, title: str) -> PhotoRecord:
    callctx.bind_principal(callctx.Principal(token="t", user_id=OWNER))
    request = photo_pb2.UpdatePhotoRequest(photo_id=photo_id, title=title, update_mask=FieldMask(paths=["title"]))
    return await Editor(store, IDS, "photo", Captions(None)).edit(request)


async def last_edit_event(database: Database) -> events_pb2.PhotoEdited:
    rows = await database.read(lambda conn: conn.execute("SELECT subject, payload FROM outbox ORDER BY seq").fetchall())
    return [decode(subject, payload) for subject, payload in rows][-1]  # type: ignore[return-value]


async def test_an_edit_is_stamped_with_the_time_it_was_made(store: SqlitePhotoStore, database: Database) -> None:
    photo = await posted(store, 0)
    before = int(time.time() * 1000)
    edited = await edit(store, photo.photo_id, "now")
    assert before <= edited.edited_at_ms <= int(time.time() * 1000)
    assert (await last_edit_event(database)).edited_at.ToMilliseconds() == edited.edited_at_ms


async def test_an_edit_after_one_stamped_ahead_of_this_clock_still_comes_later(
    store: SqlitePhotoStore, database: Database
) -> None:
    ahead = int(time.time() * 1000) + 60_000  # the last edit came from a replica whose clock is a minute fast
    photo = await posted(store, ahead)
    edited = await edit(store, photo.photo_id, "later")
    assert edited.edited_at_ms == ahead + 1
    assert (await last_edit_event(database)).edited_at.ToMilliseconds() == ahead + 1
