"""The unread badge reads only what came after the read position, and still leaves out blocked actors.

A real SQLite notification store, which records what each read asked for; the follow service is a
stand-in answering BatchGetRelationships by its contract (one actor is blocked).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.notification.notifier import unread_badge
from services.notification.sqlite import SqliteNotificationStore
from services.notification.store import STORAGE, Entry, Type
from services.runtime.ids import IdGenerator
from services.runtime.sqlite import Database
from services.runtime.visibility import Visibility
from shutter.follow.v1 import follow_pb2

READER, BLOCKED = 1, 1018
ids = IdGenerator(5)


class RecordingStore(SqliteNotificationStore):
    """The SQLite store, noting how many rows each `recent` read returned."""

    rows_read: list[int]

    async def recent(self, recipient_id: int, limit: int, after: int = 0) -> list[Entry]:
        found = await super().recent(recipient_id, limit, after)
        self.rows_read.append(len(found))
        return found


class Blocks:
    async def BatchGetRelationships(
        self, request: follow_pb2.BatchGetRelationshipsRequest, **_: object
    ) -> follow_pb2.BatchGetRelationshipsResponse:
        return follow_pb2.BatchGetRelationshipsResponse(
            relationships=[
                follow_pb2.Relationship(
                    viewer_id=p.viewer_id, author_id=p.author_id, blocked_by_viewer=p.author_id == BLOCKED
                )
                for p in request.pairs
            ]
        )


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[RecordingStore]:
    database = Database(tmp_path / "notifications.db", STORAGE.sqlite_schema())
    await database.start()
    try:
        recording = RecordingStore(database, capacity=500)
        recording.rows_read = []
        yield recording
    finally:
        await database.stop()


async def test_the_badge_reads_only_the_unread(store: RecordingStore) -> None:
    entries = [
        Entry(READER, ids.next_id(), Type.LIKE, 1000 + i, 50 + i, 0, f"like:{50 + i}:{1000 + i}") for i in range(20)
    ]
    for number, entry in enumerate(entries, start=1):
        assert await store.add(entry, event_id=number)
    await store.mark_read(READER, entries[16].notification_id)  # three unread, one of them by a blocked actor
    badge = await unread_badge(store, Visibility(None, Blocks()), READER, 500)  # type: ignore[arg-type]
    assert (badge.count, badge.read_up_to) == (2, entries[16].notification_id)
    assert store.rows_read == [3]  # not the 20 retained
