"""Wait for the event pipelines to catch up, so a phase measures its own load and not the last one's.

Seeding writes tens of thousands of follows and thousands of posts in a few minutes; their events
(fan-out, backfill, notifications, indexing) take a while longer to handle. Measured while that backlog
drains, a view path competes with it for the cores and the freshness probe waits behind it, so each
reading would be of whatever came before. The wait itself is reported: how long the mesh took to catch up
is a figure of its own.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection
from dataclasses import dataclass

import nats
from tqdm import tqdm

from services.runtime.events import EVENTS_STREAM, nats_servers

POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Drained:
    seconds: float
    events_at_start: int  # delivered-but-unacked plus not yet delivered, over every consumer
    caught_up: bool

    def summary(self) -> dict[str, object]:
        return {"seconds": round(self.seconds, 1), "events_at_start": self.events_at_start, "caught_up": self.caught_up}


async def backlog(js: nats.js.JetStreamContext, durables: Collection[str] | None = None) -> int:
    """Events the stream's consumers (or only `durables`) still have to handle: pending plus delivered and not
    yet acked."""
    infos = await js.consumers_info(EVENTS_STREAM)
    return sum(
        (info.num_pending or 0) + (info.num_ack_pending or 0)
        for info in infos
        if durables is None or info.name in durables
    )


async def wait_for_consumers(
    nats_url: str, timeout: float, label: str, durables: Collection[str] | None = None
) -> Drained:
    """Until no consumer (of `durables`, when given: a mesh shared with others) has anything left to handle, or
    `timeout` seconds; shows the backlog shrinking."""
    client = await nats.connect(nats_servers(nats_url), name="bench-backlog")
    started = time.monotonic()
    try:
        js = client.jetstream()
        first = left = await backlog(js, durables)
        with tqdm(total=first, desc=label, unit="event") as bar:
            while left and time.monotonic() - started < timeout:
                await asyncio.sleep(POLL_SECONDS)
                left = await backlog(js, durables)
                bar.total = max(bar.total or 0, left)
                bar.n = max(bar.total - left, 0)
                bar.refresh()
        return Drained(time.monotonic() - started, first, caught_up=left == 0)
    finally:
        await client.close()
