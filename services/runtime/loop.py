"""The event loop every process of the mesh runs on: uvloop unless SHUTTER_EVENT_LOOP says `asyncio`.

grpc.aio drives its completion queue through the loop (a reader callback per batch of events, a future per
call), so the loop's own cost is paid on every RPC. Measured with the bare echo server (`bench.baselines`),
uvloop spends ~20% less CPU per call than the standard loop; the view path, with more tasks and futures per
call, gains more (`python -m bench.profile`). The gateway runs on uvloop through uvicorn already.
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
