"""Data hanging off photos and users (likes, comments) goes when they do: one consumer for every
service that keeps such data. Stores implement `purge_photo` / `purge_user` idempotently, so a
redelivered event is harmless."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

from google.protobuf.message import Message

from shutter.events.v1 import events_pb2

if TYPE_CHECKING:
    from services.runtime.server import Runtime

log = logging.getLogger("shutter.purges")

PURGE_EVENTS: list[type[Message]] = [events_pb2.PhotoDeleted, events_pb2.UserDeleted]


class Purgeable(Protocol):
    async def purge_photo(self, photo_id: int) -> int:
        """Drop what hangs off a deleted photo and refuse more; returns how much went."""
        ...

    async def purge_user(self, user_id: int) -> int:
        """Drop a deleted user's share; returns how much went."""
        ...


class PurgeOnDeletion:
    """PhotoDeleted → purge_photo, UserDeleted → purge_user; `what` names the data in the logs."""

    def __init__(self, store: Purgeable, what: str) -> None:
        self._store = store
        self._what = what

    async def handle(self, event: Message) -> None:
        if isinstance(event, events_pb2.PhotoDeleted):
            dropped = await self._store.purge_photo(event.photo_id)
            log.info(f"photo {self._what} purged", extra={"photo_id": event.photo_id, self._what: dropped})
        elif isinstance(event, events_pb2.UserDeleted):
            dropped = await self._store.purge_user(event.user_id)
            log.info(f"user {self._what} purged", extra={"user_id": event.user_id, self._what: dropped})


def purge_on_deletion(runtime: Runtime, durable: str, store: Purgeable, what: str) -> PurgeOnDeletion:
    """Start the durable consumer `durable` purging `store` (in the runtime's start order)."""
    purge = PurgeOnDeletion(store, what)
    runtime.consume(durable, PURGE_EVENTS, purge.handle)
    return purge
