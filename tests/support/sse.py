"""Reading a Server-Sent Events stream from the gateway with httpx, as a browser's EventSource would."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Event:
    """One event: its `event:` name ("message" when none), `id:` and `data:` (parsed JSON)."""

    name: str = "message"
    id: str = ""
    data: Any = None


@dataclass
class Stream:
    """The events and comment lines (heartbeats) read so far."""

    response: httpx.Response
    events: list[Event] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    _lines: AsyncIterator[str] | None = None

    async def next_event(self, timeout: float = 10) -> Event | None:
        """The next event, or None when the stream ended. `asyncio.timeout`, not `wait_for`: on Python 3.11
        wait_for swallows a cancellation that arrives as its read completes (CPython gh-86296), and the
        reader then waits for the next event instead of stopping (it hung the bench's live phase)."""
        if self._lines is None:
            self._lines = self.response.aiter_lines()
        async with asyncio.timeout(timeout):
            return await self._read_event()

    async def _read_event(self) -> Event | None:
        assert self._lines is not None
        current = Event()
        data: list[str] = []
        async for line in self._lines:
            if line == "":
                if data:
                    current.data = json.loads("\n".join(data))
                    self.events.append(current)
                    return current
                continue
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "":
                self.comments.append(value)
            elif name == "event":
                current.name = value
            elif name == "id":
                current.id = value
            elif name == "data":
                data.append(value)
        return None

    async def until(self, accept: Any, timeout: float = 10) -> Event:
        """Events are read (and kept in `events`) until one that `accept` keeps."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            event = await self.next_event(max(deadline - loop.time(), 0.01))
            if event is None:
                raise AssertionError(f"the stream ended; events: {self.events}")
            if accept(event):
                return event
