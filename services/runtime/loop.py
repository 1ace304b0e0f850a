"""The event loop every process of the mesh runs on: uvloop unless SHUTTER_EVENT_LOOP says `asyncio`.

grpc.aio drives its completion queue through the loop (a reader callback per batch of events, a future per
call), so the loop's own cost is paid on every RPC. Measured (`python -m bench.profile`, loops alternated): the
view path's mesh CPU per view 2.5-7% lower, its p99 at 600 views/s 57-66 ms against 84-494 ms on the standard
loop. The gateway runs on uvloop through uvicorn already.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvloop

T = TypeVar("T")

EVENT_LOOPS = ("uvloop", "asyncio")


def run(main: Coroutine[Any, Any, T], kind: str) -> T:
    """asyncio.run on the loop `kind` names (one of EVENT_LOOPS)."""
    if kind == "uvloop":
        return uvloop.run(main)
    if kind == "asyncio":
        return asyncio.run(main)
    raise ValueError(f"event loop {kind!r} is not one of {EVENT_LOOPS}")
