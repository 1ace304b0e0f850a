"""A live stream's queue (services.runtime.live.Watcher): updates in order, IDLE when quiet, and a cancelled
wait that stops however its timing falls."""

from __future__ import annotations

import asyncio

import pytest

from services.runtime.live import IDLE, Watcher


async def test_updates_come_in_order_and_a_quiet_wait_answers_idle() -> None:
    watcher = Watcher(queue_size=4)
    watcher.offer(b"one")
    watcher.offer(b"two")
    assert [await watcher.next(1.0), await watcher.next(1.0)] == [b"one", b"two"]
    assert await watcher.next(0.01) is IDLE


async def test_a_cancelled_wait_stops_even_when_an_update_arrives_in_the_same_turn() -> None:
    watcher = Watcher(queue_size=4)
    waiting = asyncio.create_task(watcher.next(60))
    await asyncio.sleep(0)  # waiting on the queue
    watcher.offer(b"update")  # an update arrives ...
    waiting.cancel()  # ... as the client goes away
    with pytest.raises(asyncio.CancelledError):
        await waiting
