"""Notification store conformance: the same assertions on SQLite and on CQL, through NotificationStore.

Adds are idempotent per event and ordered per action (a late like cannot undo a newer unlike, nor a
redelivered one come back), withdrawals need only the action's key, the list is capped at its capacity,
the read position only moves forward, and photo and user purges drop what they should and refuse more.
"""

from __future__ import annotations

import pytest

from services.notification import cql
from services.notification.cql import CqlNotificationStore
from services.notification.sqlite import SqliteNotificationStore
from services.notification.store import STORAGE, Entry, NotificationStore, Type
from services.runtime.ids import IdGenerator
from services.runtime.tombstones import Kind
from tests.conformance.conftest import Databases, PurgeMidway, tombstoned

ids = IdGenerator(97)
OWNER, ADA, BOB = 10, 20, 30
PHOTO = 500


def like(actor: int, photo: int = PHOTO, recipient: int = OWNER) -> Entry:
    return Entry(recipient, ids.next_id(), Type.LIKE, actor, photo, 0, f"like:{photo}:{actor}")


def follow(actor: int, recipient: int = OWNER) -> Entry:
    return Entry(recipient, ids.next_id(), Type.FOLLOW, actor, 0, 0, f"follow:{actor}:{recipient}")


@pytest.fixture
async def store(backend: str, databases: Databases) -> NotificationStore:
    if backend == "sqlite":
        return SqliteNotificationStore(await databases.sqlite(STORAGE), capacity=5)
    return CqlNotificationStore(await databases.cql(STORAGE, service="notification"), capacity=5)


async def ids_of(store: NotificationStore, recipient: int = OWNER) -> list[int]:
    return [entry.notification_id for entry in await store.recent(recipient, 100)]


async def test_an_event_adds_one_notification_and_its_redelivery_none(store: NotificationStore) -> None:
    first = like(ADA)
    assert await store.add(first, event_id=1000) is True
    again = like(ADA)  # the redelivered event: a new notification id is minted, the event is the same
    assert await store.add(again, event_id=1000) is False
    assert await store.recent(OWNER, 10) == [first]


async def test_newest_first_and_limited(store: NotificationStore) -> None:
    entries = [like(ADA), follow(BOB), like(BOB)]
    for number, entry in enumerate(entries, start=1):
        assert await store.add(entry, event_id=number)
    assert await ids_of(store) == [e.notification_id for e in reversed(entries)]
    assert len(await store.recent(OWNER, 2)) == 2
    assert await store.recent(ADA, 10) == []


async def test_recent_after_a_position_reads_only_what_came_later(store: NotificationStore) -> None:
    """What the unread count reads: the notifications after the read position, newest first, capped."""
    entries = [like(ADA), follow(BOB), like(BOB), follow(ADA)]
    for number, entry in enumerate(entries, start=1):
        assert await store.add(entry, event_id=number)
    newest_first = list(reversed(entries))
    assert await store.recent(OWNER, 10, after=entries[1].notification_id) == newest_first[:2]
    assert await store.recent(OWNER, 1, after=entries[1].notification_id) == newest_first[:1]
    assert await store.recent(OWNER, 10, after=entries[-1].notification_id) == []
    assert await store.recent(OWNER, 10, after=0) == newest_first


async def test_withdraw_by_key_and_a_late_like_does_not_come_back(store: NotificationStore) -> None:
    entry = like(ADA)
    assert await store.add(entry, event_id=100)
    assert await store.withdraw(entry.action_key, event_id=200) == entry
    assert await store.recent(OWNER, 10) == []
    assert await store.withdraw(entry.action_key, event_id=200) is None  # redelivered unlike
    assert await store.add(like(ADA), event_id=100) is False  # the like redelivered after its unlike
    relike = like(ADA)
    assert await store.add(relike, event_id=300) is True  # a new like, after the unlike
    assert await store.recent(OWNER, 10) == [relike]


async def test_an_unlike_before_its_like_wins(store: NotificationStore) -> None:
    assert await store.withdraw(f"like:{PHOTO}:{ADA}", event_id=200) is None
    assert await store.add(like(ADA), event_id=100) is False
    assert await store.recent(OWNER, 10) == []


async def test_capped_at_capacity_newest_kept(store: NotificationStore) -> None:
    entries = [like(actor) for actor in range(100, 108)]
    for number, entry in enumerate(entries, start=1):
        await store.add(entry, event_id=number)
    kept = [e.notification_id for e in reversed(entries)][:5]
    assert await ids_of(store) == kept
    # A trimmed notification's withdrawal is harmless; its redelivered event stays out.
    assert await store.withdraw(entries[0].action_key, event_id=50) is None
    assert await store.add(like(101), event_id=2) is False
    assert await ids_of(store) == kept


async def test_read_position_moves_forward_only(store: NotificationStore) -> None:
    assert await store.read_position(OWNER) == 0
    assert await store.mark_read(OWNER, 500) == 500
    assert await store.mark_read(OWNER, 300) == 500
    assert await store.mark_read(OWNER, 800) == 800
    assert await store.read_position(OWNER) == 800
    assert await store.read_position(ADA) == 0


async def test_purge_photo_drops_its_notifications_and_refuses_more(
    store: NotificationStore, databases: Databases
) -> None:
    await store.add(like(ADA), event_id=1)
    mention = Entry(BOB, ids.next_id(), Type.MENTION, OWNER, PHOTO, 0, f"mention:{PHOTO}:{BOB}")
    await store.add(mention, event_id=2)
    other = like(ADA, photo=PHOTO + 1)
    await store.add(other, event_id=3)
    assert await store.purge_photo(PHOTO) == 2
    assert await store.recent(OWNER, 10) == [other]
    assert await store.recent(BOB, 10) == []
    assert await store.add(like(BOB), event_id=4) is False
    assert await store.purge_photo(PHOTO) == 0


async def test_purge_user_drops_theirs_and_what_they_caused(store: NotificationStore) -> None:
    await store.add(like(ADA), event_id=1)  # ADA caused, OWNER receives
    await store.add(follow(OWNER, recipient=ADA), event_id=2)  # ADA receives
    kept = follow(BOB)
    await store.add(kept, event_id=3)
    await store.mark_read(ADA, 10)
    assert await store.purge_user(ADA) == 2
    assert await store.recent(OWNER, 10) == [kept]
    assert await store.recent(ADA, 10) == []
    assert await store.read_position(ADA) == 0
    assert await store.add(follow(ADA), event_id=4) is False  # from a deleted user
    assert await store.add(follow(BOB, recipient=ADA), event_id=5) is False  # to a deleted user


async def test_cql_a_like_racing_the_photos_purge_does_not_outlive_it(databases: Databases) -> None:
    db = await databases.cql(STORAGE, service="notification")
    plain = CqlNotificationStore(db, capacity=5)
    racing = CqlNotificationStore(
        PurgeMidway(db, lambda query: query is cql.INSERT, lambda: plain.purge_photo(PHOTO)),  # type: ignore[arg-type]
        capacity=5,
    )
    assert await racing.add(like(ADA), event_id=1) is False
    assert await plain.recent(OWNER, 10) == []
    assert await tombstoned(db, Kind.PHOTO, PHOTO)


async def test_cql_the_same_event_on_two_replicas_at_once_stores_one(databases: Databases) -> None:
    import asyncio

    db = await databases.cql(STORAGE, service="notification")
    one, two = CqlNotificationStore(db, capacity=5), CqlNotificationStore(db, capacity=5)
    results = await asyncio.gather(one.add(like(ADA), event_id=7), two.add(like(ADA), event_id=7))
    assert len(await one.recent(OWNER, 10)) == 1
    assert results.count(True) <= 1
