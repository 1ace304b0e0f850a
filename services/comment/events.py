"""Consumed events: a deleted photo or user takes its comments with it (idempotent, so redelivery is safe)."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.comment.store import CommentStore
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.comment.events")


class PurgeOnDeletion:
    def __init__(self, store: CommentStore) -> None:
        self._store = store

    async def handle(self, event: Message) -> None:
        if isinstance(event, events_pb2.PhotoDeleted):
            dropped = await self._store.purge_photo(event.photo_id)
            log.info("photo comments purged", extra={"photo_id": event.photo_id, "comments": dropped})
        elif isinstance(event, events_pb2.UserDeleted):
            dropped = await self._store.purge_user(event.user_id)
            log.info("user comments purged", extra={"user_id": event.user_id, "comments": dropped})
