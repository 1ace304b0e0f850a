"""Reading home feeds through the running FeedService, for tests and the feed probe.

ids = await feed_photo_ids(mesh, alice.user_id)                  # every photo id, newest first
await eventually(lambda: feed_has(mesh, bob, photo.photo_id))    # fan-out is asynchronous
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from services.feed.sqlite import SqliteFeedStore
from services.feed.store import STORAGE
from services.runtime.sqlite import Database
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.users import Identity


@contextlib.asynccontextmanager
async def sqlite_feed_store(folder: Path) -> AsyncIterator[SqliteFeedStore]:
    """A real SQLite feed store in `folder`, for tests of the feed's parts without a mesh."""
    database = Database(folder / "feed.db", STORAGE.sqlite_schema())
    await database.start()
    try:
        yield SqliteFeedStore(database)
    finally:
        await database.stop()


def feed_stub(mesh: Mesh) -> feed_pb2_grpc.FeedServiceStub:
    return feed_pb2_grpc.FeedServiceStub(mesh.channel("feed"))


async def feed_page(
    mesh: Mesh, user_id: int, page_size: int = 100, page_token: str = "", token: str | None = None
) -> feed_pb2.GetFeedResponse:
    request = feed_pb2.GetFeedRequest(user_id=user_id, page_size=page_size, page_token=page_token)
    return await feed_stub(mesh).GetFeed(request, metadata=auth(token or mesh.user_token(user_id)), timeout=10)


async def feed_items(mesh: Mesh, user_id: int, page_size: int = 100) -> list[feed_pb2.FeedItem]:
    """The whole feed, page after page."""
    items: list[feed_pb2.FeedItem] = []
    token = ""
    while True:
        reply = await feed_page(mesh, user_id, page_size, token)
        items.extend(reply.items)
        token = reply.next_page_token
        if not token:
            return items


async def feed_photo_ids(mesh: Mesh, user_id: int) -> list[int]:
    return [item.photo_id for item in await feed_items(mesh, user_id)]


async def feed_has(mesh: Mesh, reader: Identity, *photo_ids: int) -> bool:
    """Whether every one of photo_ids is in the reader's feed."""
    return set(photo_ids) <= set(await feed_photo_ids(mesh, reader.user_id))


async def feed_lacks(mesh: Mesh, reader: Identity, photo_id: int) -> bool:
    return photo_id not in await feed_photo_ids(mesh, reader.user_id)
