"""Waiting for what happens asynchronously (events, fan-out, indexing, restarts): the one polling helper.

await eventually(lambda: feed_has(mesh, bob, photo.photo_id))     # a check that returns a bool
view = await eventually(whole_view, timeout=60)                  # a check that asserts, then returns
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T] | T],
    timeout: float = 20,
    *,
    interval: float = 0.05,
    explain: Callable[[], str] | None = None,
) -> T:
    """Call `check` (sync or async) until it passes, and return what it returned the time it did.

    It fails by raising AssertionError or by returning something falsy other than None (False, 0, []); a check
    that only asserts returns None and passes. Any other exception ends the wait at once (so does `pytest.fail`,
    for what must hold on every try). After `timeout` seconds the last failure is raised, with `explain()` (a
    log tail, say) added to it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result is None or result:
                return result  # type: ignore[return-value]
            failure = AssertionError(f"{getattr(check, '__qualname__', check)} still returned {result!r}")
        except AssertionError as exc:
            failure = exc
        if time.monotonic() > deadline:
            failure.add_note(f"(still failing after {timeout:g}s of polling)")
            if explain is not None:
                failure.add_note(explain())
            raise failure
        await asyncio.sleep(interval)
