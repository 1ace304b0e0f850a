"""cancel_until_done: a task that loses a cancellation is cancelled again until it ends."""

from __future__ import annotations

import asyncio

from services.runtime.concurrency import cancel_until_done


async def test_a_task_that_swallows_its_first_cancellation_is_cancelled_again() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # as a retry loop does when wait_for turns the cancel into the call's error

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    async with asyncio.timeout(2):
        await cancel_until_done(task)
    assert task.cancelled()
    assert swallowed == 1


async def test_a_task_that_ends_with_an_error_is_retrieved_not_raised() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("closing failed") from None

    task = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_until_done(task)
    assert isinstance(task.exception(), RuntimeError)


async def test_a_finished_task_is_left_as_it_is() -> None:
    async def done() -> int:
        return 7

    task = asyncio.create_task(done())
    await task
    await cancel_until_done(task)
    assert task.result() == 7
