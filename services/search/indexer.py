"""The JetStream consumer that keeps the index: PhotoPosted files a photo, PhotoEdited re-files it,
PhotoDeleted removes it.

Every handler is idempotent (upsert by photo id; tombstone + delete), so redelivery, restarts and
replays change nothing. Order does not matter either: a delete that arrives before its post leaves a
tombstone the post then respects, and a post (version 0) or an edit arriving after a newer edit is
refused by the edit version the document carries (PhotoEdited.edited_at). UserDeleted needs no
consumer here: the photo service deletes the user's photos and emits PhotoDeleted for each.
"""

from __future__ import annotations

import logging

from google.protobuf.message import Message
from prometheus_client import Histogram

from services.runtime.metrics import LAG_BUCKETS, event_lag_seconds
from services.runtime.normalise import Term, document_terms
from services.runtime.server import Runtime
from services.search.store import IndexedPhoto, SearchStore
from shutter.events.v1 import events_pb2

log = logging.getLogger("shutter.search.indexer")

DURABLE = "search-indexer"
INDEX_LAG = Histogram(
    "shutter_search_index_lag_seconds",
    "Time from a post being acknowledged to it being searchable.",
    buckets=LAG_BUCKETS,
)


def indexed_photo(
    photo_id: int,
    user_id: int,
    title: str,
    location: str,
    tags: list[str],
    created_at_ms: int,
    caption: str = "",
    edited_at_ms: int = 0,
) -> tuple[IndexedPhoto, list[Term]]:
    """The document and its terms, built the same way from an event or from the photo service."""
    document = IndexedPhoto(photo_id, user_id, title, location, tuple(tags), created_at_ms, edited_at_ms)
    return document, document_terms(title, location, tags, caption)


class SearchIndexer:
    def __init__(self, store: SearchStore) -> None:
        self._store = store

    async def handle(self, event: Message) -> None:
        if isinstance(event, (events_pb2.PhotoPosted, events_pb2.PhotoEdited)):
            await self.photo_posted(event)
        elif isinstance(event, events_pb2.PhotoDeleted):
            await self._store.remove_photo(event.photo_id)

    async def photo_posted(self, event: events_pb2.PhotoPosted | events_pb2.PhotoEdited) -> None:
        """File the photo under its terms as the event has them (an edit re-files it: terms are replaced)."""
        edited_at_ms = event.edited_at.ToMilliseconds() if isinstance(event, events_pb2.PhotoEdited) else 0
        document, terms = indexed_photo(
            event.photo_id,
            event.user_id,
            event.title,
            event.location,
            list(event.tags),
            event.created_at.ToMilliseconds(),
            event.caption,
            edited_at_ms,
        )
        if not await self._store.index_photo(document, terms):
            log.info("skipped a deleted photo or an outdated version", extra={"photo_id": event.photo_id})
            return
        if isinstance(event, events_pb2.PhotoPosted):  # an edit's lag is not a post's
            INDEX_LAG.observe(event_lag_seconds(document.created_at_ms))


def start_indexer(runtime: Runtime, store: SearchStore) -> SearchIndexer:
    indexer = SearchIndexer(store)
    runtime.consume(DURABLE, [events_pb2.PhotoPosted, events_pb2.PhotoEdited, events_pb2.PhotoDeleted], indexer.handle)
    return indexer
