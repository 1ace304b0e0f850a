"""CQL (ScyllaDB) implementation of NotificationStore.

- notifications ((recipient_id), notification_id DESC): a user's list, one partition, at most about
  `capacity` rows (trimmed on every add: notifications are rare next to reads, and the trim reads only
  that partition's keys).
- notifications_by_photo ((photo_id), recipient_id, notification_id) and notifications_by_actor
  ((actor_id), recipient_id, notification_id): what a photo or user purge deletes, without a scan.
- notification_actions ((action_key)): the last event that changed each action, written USING TIMESTAMP
  <that event's id>, so that a like and its unlike handled at once by two replicas converge on the
  newer one whatever order the writes land in (every write to this table uses an event id as its
  timestamp; ids are far above the microsecond clock, so a default-timestamp write would lose).
  A withdrawn action lives for the tombstone retention (TTL), long enough to outlast its late events.
- read_positions ((recipient_id)): moved forward only, by a lightweight transaction.

Races follow the tombstone rule (docs/storage/README.md): an add writes first and then checks the marks
and its action, undoing its row when a deletion or a newer withdrawal got in between; purges mark first
and read the indexes second.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from services.notification.store import Entry, Type
from services.runtime.concurrency import bounded_gather
from services.runtime.cql import READ_STRONG, SERIAL, WRITE_DURABLE, CqlDatabase, CqlSchema, Query, applied
from services.runtime.tombstones import RETENTION_SECONDS, Kind
from services.runtime.tombstones_cql import CqlTombstones

SCHEMA = CqlSchema(
    (
        """CREATE TABLE IF NOT EXISTS notifications (
            recipient_id bigint,
            notification_id bigint,
            type int,
            actor_id bigint,
            photo_id bigint,
            comment_id bigint,
            action_key text,
            PRIMARY KEY ((recipient_id), notification_id)
        ) WITH CLUSTERING ORDER BY (notification_id DESC)""",
        """CREATE TABLE IF NOT EXISTS notifications_by_photo (
            photo_id bigint,
            recipient_id bigint,
            notification_id bigint,
            PRIMARY KEY ((photo_id), recipient_id, notification_id)
        )""",
        """CREATE TABLE IF NOT EXISTS notifications_by_actor (
            actor_id bigint,
            recipient_id bigint,
            notification_id bigint,
            PRIMARY KEY ((actor_id), recipient_id, notification_id)
        )""",
        """CREATE TABLE IF NOT EXISTS notification_actions (
            action_key text PRIMARY KEY,
            event_id bigint,
            recipient_id bigint,
            notification_id bigint,
            active boolean
        )""",
        """CREATE TABLE IF NOT EXISTS read_positions (
            recipient_id bigint PRIMARY KEY,
            read_up_to bigint
        )""",
    )
)

_COLUMNS = "recipient_id, notification_id, type, actor_id, photo_id, comment_id, action_key"
INSERT = Query(f"INSERT INTO notifications ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", WRITE_DURABLE)
DELETE = Query("DELETE FROM notifications WHERE recipient_id = ? AND notification_id = ?", WRITE_DURABLE)
DELETE_ALL = Query("DELETE FROM notifications WHERE recipient_id = ?", WRITE_DURABLE)
ONE = Query(f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ? AND notification_id = ?", READ_STRONG)
NEWEST = Query(
    f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ? AND notification_id > ? LIMIT ?", READ_STRONG
)
ALL = Query(f"SELECT {_COLUMNS} FROM notifications WHERE recipient_id = ?", READ_STRONG)

INDEX_PHOTO = Query(
    "INSERT INTO notifications_by_photo (photo_id, recipient_id, notification_id) VALUES (?, ?, ?)", WRITE_DURABLE
)
UNINDEX_PHOTO = Query(
    "DELETE FROM notifications_by_photo WHERE photo_id = ? AND recipient_id = ? AND notification_id = ?", WRITE_DURABLE
)
BY_PHOTO = Query("SELECT recipient_id, notification_id FROM notifications_by_photo WHERE photo_id = ?", READ_STRONG)
DROP_PHOTO_INDEX = Query("DELETE FROM notifications_by_photo WHERE photo_id = ?", WRITE_DURABLE)
INDEX_ACTOR = Query(
    "INSERT INTO notifications_by_actor (actor_id, recipient_id, notification_id) VALUES (?, ?, ?)", WRITE_DURABLE
)
UNINDEX_ACTOR = Query(
    "DELETE FROM notifications_by_actor WHERE actor_id = ? AND recipient_id = ? AND notification_id = ?", WRITE_DURABLE
)
BY_ACTOR = Query("SELECT recipient_id, notification_id FROM notifications_by_actor WHERE actor_id = ?", READ_STRONG)
DROP_ACTOR_INDEX = Query("DELETE FROM notifications_by_actor WHERE actor_id = ?", WRITE_DURABLE)

ACTION = Query(
    "SELECT event_id, recipient_id, notification_id, active FROM notification_actions WHERE action_key = ?",
    READ_STRONG,
)
ACTIVATE = Query(
    "INSERT INTO notification_actions (action_key, event_id, recipient_id, notification_id, active)"
    " VALUES (?, ?, ?, ?, true) USING TIMESTAMP ?",
    WRITE_DURABLE,
)
DEACTIVATE = Query(
    "INSERT INTO notification_actions (action_key, event_id, recipient_id, notification_id, active)"
    f" VALUES (?, ?, 0, 0, false) USING TIMESTAMP ? AND TTL {RETENTION_SECONDS}",
    WRITE_DURABLE,
)
FORGET_ACTION = Query("DELETE FROM notification_actions USING TIMESTAMP ? WHERE action_key = ?", WRITE_DURABLE)

READ_POSITION = Query("SELECT read_up_to FROM read_positions WHERE recipient_id = ?", READ_STRONG)
START_POSITION = Query(
    "INSERT INTO read_positions (recipient_id, read_up_to) VALUES (?, ?) IF NOT EXISTS",
    WRITE_DURABLE,
    idempotent=False,
    serial_consistency=SERIAL,
)
ADVANCE_POSITION = Query(
    "UPDATE read_positions SET read_up_to = ? WHERE recipient_id = ? IF read_up_to < ?",
    WRITE_DURABLE,
    idempotent=False,
    serial_consistency=SERIAL,
)
FORGET_POSITION = Query("DELETE FROM read_positions WHERE recipient_id = ?", WRITE_DURABLE)

WRITE_CONCURRENCY = 32


def _entry(row: Any) -> Entry:
    return Entry(
        row.recipient_id,
        row.notification_id,
        Type(row.type),
        row.actor_id,
        row.photo_id,
        row.comment_id,
        row.action_key,
    )


class CqlNotificationStore:
    def __init__(self, db: CqlDatabase, *, capacity: int = 500) -> None:
        self._db = db
        self._capacity = capacity
        self._marks = CqlTombstones(db)

    async def _deleted(self, entry: Entry) -> bool:
        users, photo = await asyncio.gather(
            self._marks.which_marked(Kind.USER, [entry.recipient_id, entry.actor_id]),
            self._marks.is_marked(Kind.PHOTO, entry.photo_id) if entry.photo_id else _false(),
        )
        return bool(users) or photo

    async def add(self, entry: Entry, event_id: int) -> bool:
        if await self._deleted(entry):
            return False
        action = await self._db.execute(ACTION, (entry.action_key,))
        if action and action[0].event_id >= event_id:
            return False
        await self._db.execute(
            ACTIVATE, (entry.action_key, event_id, entry.recipient_id, entry.notification_id, event_id)
        )
        await self._write_row(entry)
        # Written first, checked second: a purge, a newer withdrawal, or the same event handled at once by
        # another replica (equal timestamps: one notification id wins the cell) got in between: undo ours.
        action = await self._db.execute(ACTION, (entry.action_key,))
        ours = bool(action) and (action[0].event_id, action[0].notification_id) == (event_id, entry.notification_id)
        if not ours or await self._deleted(entry):
            await self._drop(entry, forget_action=False)
            return False
        await self._trim(entry.recipient_id)
        return bool(await self._db.execute(ONE, (entry.recipient_id, entry.notification_id)))

    async def _write_row(self, entry: Entry) -> None:
        await self._db.execute(INDEX_ACTOR, (entry.actor_id, entry.recipient_id, entry.notification_id))
        if entry.photo_id:
            await self._db.execute(INDEX_PHOTO, (entry.photo_id, entry.recipient_id, entry.notification_id))
        await self._db.execute(
            INSERT,
            (
                entry.recipient_id,
                entry.notification_id,
                int(entry.type),
                entry.actor_id,
                entry.photo_id,
                entry.comment_id,
                entry.action_key,
            ),
        )

    async def _drop(self, entry: Entry, *, forget_action: bool = True) -> None:
        """The row, its index entries and (unless a newer event owns it) its action."""
        writes: list[tuple[Query, Sequence[Any]]] = [
            (DELETE, (entry.recipient_id, entry.notification_id)),
            (UNINDEX_ACTOR, (entry.actor_id, entry.recipient_id, entry.notification_id)),
        ]
        if entry.photo_id:
            writes.append((UNINDEX_PHOTO, (entry.photo_id, entry.recipient_id, entry.notification_id)))
        if forget_action:
            action = await self._db.execute(ACTION, (entry.action_key,))
            if action and action[0].notification_id == entry.notification_id:
                # At that event's timestamp: a newer event's write to the action still stands.
                writes.append((FORGET_ACTION, (action[0].event_id, entry.action_key)))
        await bounded_gather(writes, lambda write: self._db.execute(*write), WRITE_CONCURRENCY)

    async def _trim(self, recipient_id: int) -> None:
        rows = await self._all(ALL, (recipient_id,))
        # Their actions stay: a redelivered event of a trimmed notification must not bring it back as new.
        await bounded_gather(
            rows[self._capacity :], lambda row: self._drop(_entry(row), forget_action=False), WRITE_CONCURRENCY
        )

    async def withdraw(self, action_key: str, event_id: int) -> Entry | None:
        action = await self._db.execute(ACTION, (action_key,))
        if action and action[0].event_id >= event_id:
            return None
        await self._db.execute(DEACTIVATE, (action_key, event_id, event_id))
        if not action or not action[0].active:
            return None
        rows = await self._db.execute(ONE, (action[0].recipient_id, action[0].notification_id))
        if not rows:
            return None
        entry = _entry(rows[0])
        await self._drop(entry, forget_action=False)
        return entry

    async def recent(self, recipient_id: int, limit: int, after: int = 0) -> list[Entry]:
        return [_entry(row) for row in await self._db.execute(NEWEST, (recipient_id, after, limit))]

    async def read_position(self, recipient_id: int) -> int:
        rows = await self._db.execute(READ_POSITION, (recipient_id,))
        return int(rows[0].read_up_to) if rows else 0

    async def mark_read(self, recipient_id: int, up_to: int) -> int:
        if applied(await self._db.execute(START_POSITION, (recipient_id, up_to))):
            return up_to
        while True:
            answer = await self._db.execute(ADVANCE_POSITION, (up_to, recipient_id, up_to))
            if applied(answer):
                return up_to
            current = getattr(answer[0], "read_up_to", None) if answer else None
            if current is None:  # the row went (the user was purged) between the two statements
                return up_to
            if current >= up_to:
                return int(current)

    async def purge_photo(self, photo_id: int) -> int:
        await self._marks.mark(Kind.PHOTO, photo_id)
        found = await self._entries(await self._all(BY_PHOTO, (photo_id,)))
        await bounded_gather(found, self._drop, WRITE_CONCURRENCY)
        await self._db.execute(DROP_PHOTO_INDEX, (photo_id,))
        return len(found)

    async def purge_user(self, user_id: int) -> int:
        await self._marks.mark(Kind.USER, user_id)
        own = [_entry(row) for row in await self._all(ALL, (user_id,))]
        caused = await self._entries(await self._all(BY_ACTOR, (user_id,)))
        await bounded_gather([*own, *caused], self._drop, WRITE_CONCURRENCY)
        await self._db.execute(DELETE_ALL, (user_id,))
        await self._db.execute(DROP_ACTOR_INDEX, (user_id,))
        await self._db.execute(FORGET_POSITION, (user_id,))
        return len({(e.recipient_id, e.notification_id) for e in [*own, *caused]})

    async def _entries(self, keys: list[Any]) -> list[Entry]:
        rows = await bounded_gather(
            keys, lambda key: self._db.execute(ONE, (key.recipient_id, key.notification_id)), WRITE_CONCURRENCY
        )
        return [_entry(found[0]) for found in rows if found]

    async def _all(self, query: Query, params: Sequence[Any]) -> list[Any]:
        rows: list[Any] = []
        state: bytes | None = None
        while True:
            page = await self._db.page(query, params, 1000, state)
            rows.extend(page.rows)
            if page.paging_state is None:
                return rows
            state = page.paging_state


async def _false() -> bool:
    return False
