"""BatchLoader: loads asked for in one event-loop turn go out as one batch call, each caller on its own deadline."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Mapping

import pytest

from services.runtime import callctx
from services.runtime.batching import BACKGROUND_DELAY_SECONDS, RATE_WINDOW_SECONDS, BatchLoader, Pacing


class Backend:
    """A batch endpoint: doubles each key, leaves out negative ones, records every call."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.calls: list[tuple[list[int], float, str | None, callctx.Principal | None]] = []
        self.delay = delay
        self.error = error

        self.sent_at: list[float] = []  # loop time of each call

    async def fetch(self, keys: list[int], timeout: float, request_id: str | None) -> Mapping[int, int]:
        self.calls.append((keys, timeout, request_id, callctx.principal()))
        self.sent_at.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return {key: key * 2 for key in keys if key >= 0}


async def test_loads_of_one_turn_go_out_as_one_batch_with_duplicates_once() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100)
    results = await asyncio.gather(*(loader.load(key, 1.0) for key in (1, 2, 2, 3, -4)))
    assert results == [2, 4, 4, 6, None]  # a key the fetch left out is None
    assert [keys for keys, *_ in backend.calls] == [[1, 2, 3, -4]]
    assert (loader.batches, loader.keys) == (1, 4)


async def test_a_lone_load_is_sent_at_the_end_of_its_turn_not_after_a_timer() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100)
    future = loader.submit(7, 1.0)
    await asyncio.sleep(0)  # the turn ends: the batch task is created
    await asyncio.sleep(0)  # and has run up to its fetch
    assert [keys for keys, *_ in backend.calls] == [[7]]
    assert await future == 14
    assert await loader.load(8, 1.0) == 16  # a later turn: a batch of its own
    assert len(backend.calls) == 2


async def test_more_keys_than_a_batch_holds_are_split() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=3)
    results = await asyncio.gather(*(loader.load(key, 1.0) for key in range(7)))
    assert results == [key * 2 for key in range(7)]
    assert [keys for keys, *_ in backend.calls] == [[0, 1, 2], [3, 4, 5], [6]]


async def test_each_caller_keeps_its_own_deadline_and_the_batch_gets_the_latest() -> None:
    backend = Backend(delay=0.2)
    loader = BatchLoader(backend.fetch, max_batch=100)
    hasty = loader.submit(1, 0.05)
    patient = loader.submit(2, 1.0)
    with pytest.raises(TimeoutError):
        await hasty
    assert await patient == 4
    ((keys, timeout, _, _),) = backend.calls
    assert keys == [1, 2] and 0.9 < timeout <= 1.0


async def test_a_failed_fetch_fails_every_caller_of_that_batch() -> None:
    loader = BatchLoader(Backend(error=ConnectionError("down")).fetch, max_batch=100)
    outcomes = await asyncio.gather(loader.load(1, 1.0), loader.load(2, 1.0), return_exceptions=True)
    assert all(isinstance(outcome, ConnectionError) for outcome in outcomes)


async def test_a_caller_that_gave_up_before_the_turn_ended_is_not_fetched_for() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100)
    loader.submit(1, 1.0).cancel()
    assert await loader.load(2, 1.0) == 4
    assert [keys for keys, *_ in backend.calls] == [[2]]


async def test_the_fetch_runs_as_the_service_with_the_first_callers_request_id() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100)

    async def as_user(user_id: int, request_id: str) -> int | None:
        callctx.bind(callctx.Principal(token=f"t{user_id}", user_id=user_id), request_id, 5.0)
        return await loader.load(user_id, 1.0)

    assert await asyncio.gather(as_user(1, "first"), as_user(2, "second")) == [2, 4]
    ((_, timeout, request_id, principal),) = backend.calls
    # One call answers both users, so it carries neither's token (nor their deadline).
    assert principal is None
    assert request_id == "first"
    assert timeout <= 1.0


async def test_loads_asked_while_every_slot_is_out_go_out_together_when_one_returns() -> None:
    backend = Backend(delay=0.05)
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1)
    first = loader.submit(1, 1.0)
    await asyncio.sleep(0.01)  # later turns, as grpc.aio starts each RPC: the first batch is out
    later = []
    for key in (2, 3, 4):
        later.append(loader.submit(key, 1.0))
        await asyncio.sleep(0)
    assert [keys for keys, *_ in backend.calls] == [[1]]
    assert await asyncio.gather(first, *later) == [2, 4, 6, 8]
    assert [keys for keys, *_ in backend.calls] == [[1], [2, 3, 4]]
    assert await loader.load(5, 1.0) == 10  # nothing out: sent at once again
    assert len(backend.calls) == 3


async def test_a_dispatch_sends_every_key_at_once_in_calls_of_max_batch_and_takes_one_slot() -> None:
    backend = Backend(delay=0.05)
    loader = BatchLoader(backend.fetch, max_batch=2, max_in_flight=1)
    first = [loader.submit(key, 1.0) for key in range(5)]
    await asyncio.sleep(0.01)
    assert [keys for keys, *_ in backend.calls] == [[0, 1], [2, 3], [4]]  # not held back for later slots
    assert max(backend.sent_at) - min(backend.sent_at) < 0.01
    later = loader.submit(5, 1.0)  # the dispatch is still out: its one slot is taken
    await asyncio.sleep(0.01)
    assert len(backend.calls) == 3
    assert await asyncio.gather(*first, later) == [key * 2 for key in range(6)]
    assert [keys for keys, *_ in backend.calls][3:] == [[5]]


async def test_many_keys_asked_at_once_share_one_batch_with_other_asks_and_expire_together() -> None:
    backend = Backend(delay=0.2)
    loader = BatchLoader(backend.fetch, max_batch=100)
    many = loader.submit_group([1, 2, -3], 0.05)
    lone = loader.submit(4, 1.0)
    with pytest.raises(TimeoutError):  # one deadline for the three
        await many
    assert await lone == 8  # the batch they shared still answers the caller that kept waiting
    assert [keys for keys, *_ in backend.calls] == [[1, 2, -3, 4]]


async def test_many_keys_answered_in_time_come_back_in_the_order_asked() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=2)  # three distinct keys: two calls answer one group
    assert await loader.submit_group([5, -1, 6, 5], 1.0) == [10, None, 12, 10]
    assert [keys for keys, *_ in backend.calls] == [[5, -1], [6]]
    assert await loader.submit_group([], 1.0) == []


async def test_a_group_fails_as_a_whole_when_one_of_its_calls_fails() -> None:
    loader = BatchLoader(Backend(error=RuntimeError("down")).fetch, max_batch=2)
    with pytest.raises(RuntimeError):
        await loader.submit_group([1, 2, 3], 1.0)


def test_only_a_loader_asked_at_its_busy_rate_pauses() -> None:
    pacing = Pacing(busy_rate=500, pause=0.010)
    assert [pacing.pause_at(rate) for rate in (0, 100, 499.9, 500, 5000)] == [0, 0, 0, 0.010, 0.010]
    assert Pacing().pause_at(5000) == 0  # no pacing: send whenever a slot is free
    assert Pacing(busy_rate=0, pause=0.010).pause_at(5000) == 0


async def test_a_loader_asked_below_its_busy_rate_is_never_paused() -> None:
    backend = Backend()
    # Busy at 10,000 asks a second: nothing here comes near it.
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1, pacing=Pacing(busy_rate=10_000, pause=5.0))
    for key in range(3):
        asked = asyncio.get_running_loop().time()
        assert await loader.load(key, 1.0) == key * 2
        assert backend.sent_at[-1] - asked < 1.0  # far below the 5 s a pause would be
        await asyncio.sleep(RATE_WINDOW_SECONDS)
    assert len(backend.calls) == 3


async def test_a_busy_loader_pauses_and_what_is_asked_meanwhile_goes_out_together() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1, pacing=Pacing(busy_rate=1, pause=0.3))
    # Asked three times within a window: busy (at ≥ 1 ask a second), judged when the window's next batch goes.
    assert await asyncio.gather(*(loader.load(key, 1.0) for key in (1, 2, 3))) == [2, 4, 6]
    await asyncio.sleep(RATE_WINDOW_SECONDS)
    assert await loader.load(4, 1.0) == 8
    later = []
    for key in (5, 6, 7):  # asked in later turns, well within the pause
        later.append(loader.submit(key, 1.0))
        await asyncio.sleep(0)
    assert len(backend.calls) == 2  # held back: the slot is free, the pause is not over
    assert await asyncio.gather(*later) == [10, 12, 14]
    assert [keys for keys, *_ in backend.calls] == [[1, 2, 3], [4], [5, 6, 7]]
    assert backend.sent_at[2] - backend.sent_at[1] >= 0.3 - 0.001


async def test_a_loader_that_quietens_stops_pausing() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1, pacing=Pacing(busy_rate=20, pause=0.3))
    await loader.load(0, 1.0)  # a window starts
    await asyncio.gather(*(loader.load(key, 1.0) for key in range(1, 11)))
    await asyncio.sleep(RATE_WINDOW_SECONDS)
    await loader.load(11, 1.0)  # judged busy (11 asks in about a window): the next batch waits
    asked = asyncio.get_running_loop().time()
    await loader.load(12, 1.0)
    assert backend.sent_at[-1] - asked >= 0.3 - 0.05
    await asyncio.sleep(0.6)  # quiet
    await loader.load(13, 1.0)
    asked = asyncio.get_running_loop().time()
    assert await loader.load(14, 1.0) == 28  # not paused
    assert backend.sent_at[-1] - asked < 0.2


async def test_a_background_ask_rides_along_with_the_next_callers_batch() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1)
    ended: list[int] = []
    loader.load_in_background(9, 1.0, lambda: ended.append(9))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert backend.calls == []  # not sent at the end of its turn, as a caller's ask is
    assert await loader.load(1, 1.0) == 2
    assert [keys for keys, *_ in backend.calls] == [[9, 1]]
    await asyncio.sleep(0)
    assert ended == [9]


async def test_a_lone_background_ask_goes_out_on_its_own_after_the_delay() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1)
    ended: list[int] = []
    asked = asyncio.get_running_loop().time()
    loader.load_in_background(9, 1.0, lambda: ended.append(9))
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS / 2)
    assert backend.calls == []
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS)
    assert [keys for keys, *_ in backend.calls] == [[9]]
    assert backend.sent_at[0] - asked >= BACKGROUND_DELAY_SECONDS - 0.001
    assert ended == [9]


async def test_a_failed_background_ask_still_ends_and_its_error_is_not_left_unretrieved() -> None:
    backend = Backend(error=RuntimeError("down"))
    loader = BatchLoader(backend.fetch, max_batch=100)
    ended: list[int] = []
    unretrieved: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda _loop, context: unretrieved.append(context))
    loader.load_in_background(9, 1.0, lambda: ended.append(9))
    await asyncio.sleep(BACKGROUND_DELAY_SECONDS * 1.5)
    assert ended == [9] and len(backend.calls) == 1
    gc.collect()  # an unretrieved exception is reported when its future is collected
    assert unretrieved == []


async def test_background_asks_do_not_make_a_loader_busy() -> None:
    backend = Backend()
    loader = BatchLoader(backend.fetch, max_batch=100, max_in_flight=1, pacing=Pacing(busy_rate=5, pause=5.0))
    for key in range(50):  # 50 background asks, far above the busy rate, in one window
        loader.load_in_background(key, 1.0, lambda: None)
    await asyncio.sleep(RATE_WINDOW_SECONDS + BACKGROUND_DELAY_SECONDS)
    assert len(backend.calls) == 1
    asked = asyncio.get_running_loop().time()
    assert await loader.load(100, 1.0) == 200
    assert backend.sent_at[-1] - asked < 1.0  # not paused: a caller's ask counts, a refresh does not
