"""The notification repository: each user's newest notifications, the actions behind them, read positions.

Backend-neutral (SQLite and CQL; tests/conformance/test_notification_store.py holds both to it).

- A notification's id is minted when it is stored: time-ordered in the order notifications arrive (the
  list's order, and the position a reader marks read or resumes from, so a late event still lands after
  what a watcher has already seen).
- Every notification comes from an *action* with a key of its own ("like:<photo>:<user>",
  "comment:<comment>", "follow:<follower>:<followee>", "follow_request:<requester>:<target>",
  "mention:<photo>:<user>"). The action keeps the id of the last event that changed it (its *order*): an
  event older than that is ignored, so an unlike redelivered before its like, or a like redelivered after
  its unlike, cannot bring the notification back. A withdrawal needs only the key, not the recipient (an
  unlike does not read the photo). The caller chooses the order: the event's id, or, for an action that
  is news only once (a mention), a number fixed for the action, so every later event finds it done.
- Deleted photos and users purge their notifications and leave tombstones (services.runtime.tombstones),
  checked by every add.
- Each user keeps the newest `capacity` notifications (CAPACITY; why that number: settings.py).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from services.runtime.stores import Storage

STORAGE = Storage(
    sqlite="services.notification.sqlite:SqliteNotificationStore",
    cql="services.notification.cql:CqlNotificationStore",
    tombstones=True,
)


class Type(enum.IntEnum):
    """The contract's NotificationType values."""

    LIKE = 1
    COMMENT = 2
    FOLLOW = 3
    MENTION = 4
    FOLLOW_REQUESTED = 5


@dataclass(frozen=True)
class Entry:
    """One notification as stored."""

    recipient_id: int
    notification_id: int
    type: Type
    actor_id: int
    photo_id: int
    comment_id: int
    action_key: str


class NotificationStore(Protocol):
    async def add(self, entry: Entry, event_id: int) -> bool:
        """Store the notification caused by event `event_id` unless its recipient, actor or photo is
        deleted or its action has seen this event (a redelivery) or a newer one; trims the recipient's list
        to capacity. True when it was stored now."""
        ...

    async def withdraw(self, action_key: str, event_id: int) -> Entry | None:
        """The action was undone by event `event_id`: drop its notification (returned, if there was one)
        and ignore its older events from now on. Idempotent; an older `event_id` than the action's changes nothing."""
        ...

    async def recent(self, recipient_id: int, limit: int, after: int = 0) -> list[Entry]:
        """The recipient's newest notifications, newest first; only those with ids above `after` (the unread,
        given the read position) when given."""
        ...

    async def read_position(self, recipient_id: int) -> int:
        """The id up to which the recipient has read (0: nothing)."""
        ...

    async def mark_read(self, recipient_id: int, up_to: int) -> int:
        """Move the read position forward to `up_to` (never back); returns the position now."""
        ...

    async def purge_photo(self, photo_id: int) -> int:
        """Drop the notifications about a deleted photo and refuse new ones; returns how many went."""
        ...

    async def purge_user(self, user_id: int) -> int:
        """Drop a deleted user's notifications and those they caused; refuse new ones; returns how many went."""
        ...
