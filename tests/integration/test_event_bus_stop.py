"""A bus stops at once, however far its first connection to NATS got.

Against a port nothing listens on, nats-py's first connection retries forever, and its `asyncio.wait_for`
(Python 3.11) can swallow the cancellation that stop sends as a refused connection comes back: the
connection loop then tried again and stop never returned (services.runtime.concurrency.cancel_until_done).
Each stop runs on a fresh event loop, as a service's does, so the loop turns it lands on are alike from run
to run: before the fix, a stop a few turns in landed inside a refused attempt and never returned.
"""

from __future__ import annotations

import asyncio
import time

from services.runtime.events import EventBus
from tests.support.mesh import free_port

# More than the turns a refused connection attempt takes, so stop lands at every step of one.
TURNS = 16
STOPPED_WITHIN_SECONDS = 2.0


async def _stop_after(turns: int, then: float = 0.0) -> float:
    """Seconds a bus takes to stop, `turns` loop turns (and `then` seconds) after it started."""
    bus = EventBus(f"nats://127.0.0.1:{free_port()}", "stop-test")
    await bus.start()
    for _ in range(turns):
        await asyncio.sleep(0)
    await asyncio.sleep(then)
    started = time.monotonic()
    async with asyncio.timeout(10):
        await bus.stop()
    assert not bus.connected
    return time.monotonic() - started


def test_a_bus_that_never_reached_nats_stops_at_once() -> None:
    """From before the connecting task ran (turn 0) to well into its first attempt."""
    taken = {turns: round(asyncio.run(_stop_after(turns)), 2) for turns in range(TURNS)}
    assert max(taken.values()) < STOPPED_WITHIN_SECONDS, taken


def test_a_bus_stops_during_the_wait_between_attempts() -> None:
    taken = asyncio.run(_stop_after(0, then=0.7))  # past a refused attempt, into reconnect_time_wait (0.5 s)
    assert taken < STOPPED_WITHIN_SECONDS
