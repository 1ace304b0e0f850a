"""Follow's event consumer: a deleted user's edges, both directions, go away.

Naturally idempotent: a redelivered UserDeleted finds nothing left to remove. No FollowDeleted
events are emitted for these edges; the feed consumes UserDeleted itself and purges by author.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.follow.store import FollowStore
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.follow.events")

USER_DELETED_DURABLE = "follow-user-deleted"


class UserDeletedHandler:
    def __init__(self, store: FollowStore, batch: int) -> None:
        self._store = store
        self._batch = batch

    async def __call__(self, event: Message) -> None:
        assert isinstance(event, events_pb2.UserDeleted)
        removed = 0
        while count := await self._store.remove_user_edges(event.user_id, self._batch):
            removed += count
        log.info("removed deleted user's follows", extra={"user_id": event.user_id, "edges": removed})
