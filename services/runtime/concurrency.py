"""Bounded concurrency: many independent requests (one per partition, per key) with a cap on how many
are in flight, so a large fan-out or purge keeps the cluster busy without crowding out other work; and
cancelling a task that may not take its first cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

# How long a cancelled task gets to end before it is cancelled again.
RECANCEL_SECONDS = 0.1

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


async def cancel_until_done(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and wait for it to end, cancelling it again each time it carries on instead.

    A library's retry loop can lose a cancellation: on Python 3.11, `asyncio.wait_for` swallows one that
    arrives as its awaitable fails (CPython gh-86296), and the loop's `except Exception` then tries again.
    nats-py's first connection does exactly that against a refused port, so a bus that never reached NATS
    did not stop. Whatever the task ended with is retrieved, never raised.
    """
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=RECANCEL_SECONDS)
    if not task.cancelled():
        task.exception()
