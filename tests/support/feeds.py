"""Reading home feeds through the running FeedService, for tests and the feed probe.

ids = await feed_photo_ids(mesh, alice)                    # every photo id, newest first
await wait_until(lambda: photo_in_feed(mesh, bob, photo))  # fan-out is asynchronous
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from tests.support.mesh import Mesh, auth


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


async def wait_until(check: Callable[[], Awaitable[bool]], timeout: float = 15, interval: float = 0.05) -> bool:
    """Poll until `check` holds; False when it never did within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if await check():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)
