"""Bounded concurrency: many independent requests (one per partition, per key) with a cap on how many
are in flight, so a large fan-out or purge keeps the cluster busy without crowding out other work."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


async def bounded_gather(items: Iterable[T], work: Callable[[T], Awaitable[R]], limit: int) -> list[R]:
    """`work(item)` for every item, at most `limit` at a time; results in the items' order.

    The first failure propagates as itself (as asyncio.gather does), so callers and the event consumer
    can still tell a transient error from a poison one; a task group would wrap it in an ExceptionGroup.
    """
    slots = asyncio.Semaphore(limit)

    async def one(item: T) -> R:
        async with slots:
            return await work(item)

    return await asyncio.gather(*(one(item) for item in items))
