"""The SSE reader the tests and the bench's live phase use (tests.support.sse)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.sse import Stream


async def test_a_cancelled_read_stops_even_when_its_event_arrives_in_the_same_turn() -> None:
    gate: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def lines() -> AsyncIterator[str]:
        await gate
        yield "data: 1"
        yield ""
        await asyncio.Event().wait()  # nothing more

    stream = Stream(response=Any)  # type: ignore[arg-type]
    stream._lines = lines()
    reader = asyncio.create_task(stream.next_event(timeout=60))
    await asyncio.sleep(0)  # the reader waits for a line
    gate.set_result(None)  # the event arrives ...
    reader.cancel()  # ... and the reader is told to stop, in the same turn
    with pytest.raises(asyncio.CancelledError):
        await reader


async def test_events_and_the_end_of_the_stream_are_read_in_order() -> None:
    async def lines() -> AsyncIterator[str]:
        for line in (": heartbeat", "event: unread", "id: 7", 'data: {"n": 1}', "", 'data: {"n": 2}', ""):
            yield line

    stream = Stream(response=Any)  # type: ignore[arg-type]
    stream._lines = lines()
    first, second, end = [await stream.next_event() for _ in range(3)]
    assert (first.name, first.id, first.data) == ("unread", "7", {"n": 1})  # type: ignore[union-attr]
    assert second is not None and second.data == {"n": 2} and end is None
    assert stream.comments == ["heartbeat"]
