"""`python -m services.search.reindex`: rebuild the search index from the photo service, in place.

The photo service is the source of truth, so every photo is re-read from it (ListUserPhotos) and
re-filed with today's normalisation; index documents the photo service no longer has are removed.
Which users to read: everyone the index already knows, everyone who posted within the event stream's
7-day retention (read with a throw-away consumer), and any `--user-id` given. A user who is in
neither (index lost *and* silent for 7 days) cannot be found this way: the photo contract has no
"list every photo" read. That gap is named in the search issue's report rather than papered over.

Safe while the live consumer keeps indexing: every write is the same idempotent upsert, deletes
leave tombstones an upsert respects, and documents newer than a watermark (start time minus
SAFETY_MARGIN_MS, for uploads still in flight) are left to the consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from collections.abc import AsyncIterator

from nats.errors import TimeoutError as NatsTimeoutError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from tqdm import tqdm

from services.runtime.channels import SERVICE
from services.runtime.config import Settings
from services.runtime.events import EVENTS_STREAM, SUBJECTS, EventBus
from services.runtime.ids import min_id_at
from services.runtime.logs import configure_logging
from services.runtime.server import Component, Runtime
from services.runtime.stores import open_store
from services.search.indexer import indexed_photo
from services.search.store import STORAGE, SearchStore
from shutter.events.v1 import events_pb2
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc

log = logging.getLogger("shutter.search.reindex")

SAFETY_MARGIN_MS = 5 * 60 * 1000
PAGE_SIZE = 100


async def users_in_stream(bus: EventBus) -> set[int]:
    """Authors of every PhotoPosted the stream still holds, read by an ephemeral, ack-free consumer."""
    subscription = await bus.jetstream.pull_subscribe(
        SUBJECTS[events_pb2.PhotoPosted],
        stream=EVENTS_STREAM,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.NONE, inactive_threshold=60),
    )
    users: set[int] = set()
    try:
        with tqdm(desc="stream events", unit="event") as progress:
            while True:
                try:
                    messages = await subscription.fetch(256, timeout=2)
                except (NatsTimeoutError, TimeoutError):  # nats-py raises either when a fetch times out
                    break
                for message in messages:
                    users.add(events_pb2.PhotoPosted.FromString(message.data).user_id)
                progress.update(len(messages))
                if messages[-1].metadata.num_pending == 0:
                    break
    finally:
        await subscription.unsubscribe()
    return users


async def users_in_index(store: SearchStore) -> set[int]:
    return {user_id async for user_id in store.indexed_user_ids()}


async def photos_of(photos: photo_pb2_grpc.PhotoServiceStub, user_id: int) -> AsyncIterator[photo_pb2.Photo]:
    token = ""
    while True:
        response = await photos.ListUserPhotos(
            photo_pb2.ListUserPhotosRequest(user_id=user_id, page_size=PAGE_SIZE, page_token=token)
        )
        for photo in response.photos:
            yield photo
        token = response.next_page_token
        if not token:
            return


async def reindex_user(
    store: SearchStore, photos: photo_pb2_grpc.PhotoServiceStub, user_id: int, watermark: int
) -> tuple[int, int]:
    """Re-file every photo the user has; drop indexed ones (below the watermark) photo no longer has."""
    listed: set[int] = set()
    async for photo in photos_of(photos, user_id):
        document, terms = indexed_photo(
            photo.photo_id,
            photo.user_id,
            photo.title,
            photo.location,
            list(photo.tags),
            photo.created_at.ToMilliseconds(),
            photo.caption,
            photo.edited_at.ToMilliseconds(),
        )
        await store.index_photo(document, terms)
        listed.add(photo.photo_id)
    stale = [photo_id for photo_id in await store.user_photo_ids(user_id, watermark) if photo_id not in listed]
    for photo_id in stale:
        await store.remove_photo(photo_id)
    return len(listed), len(stale)


async def reindex(runtime: Runtime, extra_users: set[int], read_stream: bool) -> tuple[int, int, int]:
    """Returns (users, photos indexed, stale documents removed)."""
    store: SearchStore = open_store(runtime, STORAGE)
    bus = runtime.events() if read_stream else None
    started: list[Component] = []
    try:
        for component in runtime.components:
            await component.start()
            started.append(component)
        if bus is not None:
            await bus.ready()  # the event bus connects in the background
        watermark = min_id_at(int(time.time() * 1000) - SAFETY_MARGIN_MS)
        users = extra_users | await users_in_index(store)
        if bus is not None:
            users |= await users_in_stream(bus)
        # As the service: a maintenance run, with no caller.
        photos = runtime.channels.stub("photo", photo_pb2_grpc.PhotoServiceStub, as_=SERVICE)
        indexed = removed = 0
        for user_id in tqdm(sorted(users), desc="users", unit="user"):
            listed, stale = await reindex_user(store, photos, user_id, watermark)
            indexed += listed
            removed += stale
        return len(users), indexed, removed
    finally:
        await runtime.channels.close()
        for component in reversed(started):
            await component.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.search.reindex", description=__doc__.split("\n")[0])
    parser.add_argument("--user-id", type=int, action="append", default=[], help="also reindex this user")
    parser.add_argument("--no-stream", action="store_true", help="do not read the event stream to find recent authors")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging("search-reindex", settings.log_level)
    runtime = Runtime("search", settings)
    users, indexed, removed = asyncio.run(reindex(runtime, set(args.user_id), not args.no_stream))
    print(f"reindexed {users} users: {indexed} photos filed, {removed} stale documents removed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
