"""Events the photo service consumes: UserDeleted removes every photo of that user."""

from __future__ import annotations

import logging

from google.protobuf.message import Message

from services.photo.store import PhotoStore
from services.photo.uploads import Deleter
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.photo.events")

_PAGE = 100


class UserDeletedHandler:
    """Deletes the user's photos one by one, each with its PhotoDeleted so feeds and search purge it.

    Idempotent: a redelivery finds fewer (or no) photos left and deletes those.
    """

    def __init__(self, store: PhotoStore, deleter: Deleter) -> None:
        self._store = store
        self._deleter = deleter

    async def __call__(self, event: Message) -> None:
        assert isinstance(event, events_pb2.UserDeleted)
        deleted = 0
        while photos := await self._store.list_by_user(event.user_id, None, _PAGE):
            for photo in photos:
                deleted += await self._deleter.delete(photo)
        log.info("deleted a removed user's photos", extra={"user_id": event.user_id, "photos": deleted})
