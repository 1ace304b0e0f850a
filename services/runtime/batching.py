"""Coalescing concurrent loads into batch calls: the DataLoader pattern, with no timer.

Handlers ask for one key each (`await loader.load(key, timeout)`). Every key asked for while the
event loop runs one turn goes out in one batch call when that turn ends (`loop.call_soon`), so an
idle service adds no latency (a lone request is a batch of one, sent at once) and a busy one sends
fewer, larger calls: under load a view costs a fraction of each downstream call instead of a whole
one. Duplicate keys in a turn share one slot in the batch.

One turn is often not enough: grpc.aio starts each incoming RPC in a loop iteration of its own, so
views served concurrently rarely ask within the same turn (measured: one batch call per view at any
rate). With `max_in_flight`, at most that many dispatches are out at once; keys asked for while all
are out wait for the first to come back and then go out together — group commit, in effect. An idle
service still sends at once; a busy one sends batches as large as its load, each caller waiting at
most one downstream round trip longer. A dispatch sends everything asked since the last one, in calls
of at most `max_batch` keys, all at once: holding the keys past `max_batch` for a later dispatch would
cap a loader at `max_batch` keys per round trip (or per pause), and a page of 12 photos reached that.

A busy loader also paces itself (`Pacing`): while it is asked at least `busy_rate` times a second
(BatchingSettings: 500), it sends a batch no sooner than `pause` (10 ms) after the last. Below that
rate it sends as soon as a slot is free, so a quiet or moderately loaded service adds no latency (a
pause that gathered one or two callers would cost them time and save little). Above it, each batch
gathers about rate × pause callers (5 at the busy rate): dispatches per kind stay at most
1 / `pause` per process whatever the load, each caller waits at most `pause` longer, and the CPU a
request costs keeps falling as load rises (measured with `make profile`: ViewPhoto at 800/s cost the
mesh about half the CPU per view). The rate is counted over windows of `RATE_WINDOW_SECONDS`.

A background ask (`load_in_background`: a cache refreshing an entry ahead of its expiry) is not in a
hurry: it rides along in the next batch a caller's ask sends, and goes out on its own only if none does
within BACKGROUND_DELAY_SECONDS. It does not count towards the loader's rate. So refreshing a busy
cache adds keys to batches that were going out anyway, not calls.

Each caller keeps its own deadline: it stops waiting when its timeout passes, without failing the
batch for the others; the batch call gets the latest deadline among the callers still waiting.
Because one call answers many callers, the fetch runs in an empty call context — no caller's token
(the runtime's client interceptor then sends the service's own), deadline or request id; it is
given the timeout and the first caller's request id (so a lone request stays traceable) explicitly,
and runs in the first caller's trace (when tracing is on), so a view's trace still shows its calls.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from services.runtime import callctx, tracing

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Fetch = Callable[[list[K], float, str | None], Awaitable[Mapping[K, V]]]


# How long a loader counts its callers before judging whether it is busy.
RATE_WINDOW_SECONDS = 0.1
# The longest a background ask (`load_in_background`) waits for a caller's batch to ride along in before
# it is sent on its own: a cache's refresh ahead has half a second before its entry expires.
BACKGROUND_DELAY_SECONDS = 0.1


@dataclass(frozen=True)
class Pacing:
    """A loader asked at least `busy_rate` times a second waits `pause` seconds between batches (see the
    module). A zero pause, or no rate: send as soon as a slot is free."""

    busy_rate: float = 0.0
    pause: float = 0.0

    def pause_at(self, rate: float) -> float:
        """The pause between batches of a loader asked `rate` times a second."""
        return self.pause if self.busy_rate > 0 and rate >= self.busy_rate else 0.0


NO_PACING = Pacing()


class _Group:
    """The answers of one `submit_group`: one future for all its keys, resolved when the last one arrives."""

    __slots__ = ("future", "left", "values")

    def __init__(self, future: asyncio.Future, size: int) -> None:  # type: ignore[type-arg]
        self.future = future
        self.values: list[Any] = [None] * size
        self.left = size

    def put(self, index: int, value: object) -> None:
        self.values[index] = value
        self.left -= 1
        if not self.left:
            self.future.set_result(self.values)


@dataclass(slots=True)
class _Waiter:
    future: asyncio.Future  # type: ignore[type-arg]
    deadline: float  # loop time
    request_id: str | None
    trace: object  # the caller's trace context (None with tracing off)
    group: _Group | None = None  # set for a submit_group key: `future` is the group's
    index: int = 0  # the key's place in its group


class BatchLoader(Generic[K, V]):
    """`load(key)` → the value `fetch` found for it (None when it found none), one fetch per loop turn.

    `fetch(keys, timeout, request_id)` answers up to `max_batch` distinct keys with a mapping (keys it
    leaves out are None); what it raises, every caller of that batch gets.
    """

    def __init__(
        self, fetch: Fetch[K, V], max_batch: int, max_in_flight: int | None = None, pacing: Pacing = NO_PACING
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one key")
        if max_in_flight is not None and max_in_flight < 1:
            raise ValueError("at least one batch call must be allowed out")
        self._fetch = fetch
        self._max_batch = max_batch
        self._max_in_flight = max_in_flight
        self._pacing = pacing
        self._callers = 0  # submit / submit_group calls in this rate window
        self._window_start = float("-inf")
        self._pause = 0.0  # pacing.pause_at the last window's rate
        self._next_send = float("-inf")  # loop time: a paced loader sends no sooner
        self._pending: dict[K, list[_Waiter]] = {}
        self._urgent = False  # a caller awaits something pending (else only background asks wait)
        self._dispatch_handle: asyncio.Handle | None = None
        self._dispatch_when = float("inf")  # loop time the scheduled dispatch runs at
        self._running: set[asyncio.Task[None]] = set()
        # Batches sent and keys they carried, for the curious (tests, profiles).
        self.batches = 0
        self.keys = 0

    def submit(self, key: K, timeout: float) -> asyncio.Future[V | None]:
        """Ask for `key` now, await the answer later (so one handler can have several loads in flight
        without a task each). The future fails with TimeoutError once `timeout` seconds pass; a caller
        that stops caring cancels it."""
        loop = asyncio.get_running_loop()
        future = self._ask(loop, key, timeout)
        self._callers += 1
        self._urgent = True
        self._schedule(loop)
        return future

    def _ask(self, loop: asyncio.AbstractEventLoop, key: K, timeout: float) -> asyncio.Future[V | None]:
        future: asyncio.Future[V | None] = loop.create_future()
        deadline = loop.time() + timeout
        expiry = loop.call_at(deadline, _expire, future)
        future.add_done_callback(lambda _: expiry.cancel())
        waiter = _Waiter(future, deadline, callctx.request_id(), tracing.current_context())
        self._pending.setdefault(key, []).append(waiter)
        return future

    def submit_group(self, keys: Sequence[K], timeout: float) -> asyncio.Future[list[V | None]]:
        """Ask for every key of `keys` at once; the future answers a list in their order (or fails as a whole:
        the first failure, or TimeoutError once `timeout` passes). A page asks for a dozen keys, a fan-out for
        hundreds: one future and one timer for them all, not one of each per key."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[V | None]] = loop.create_future()
        if not keys:
            future.set_result([])
            return future
        deadline = loop.time() + timeout
        expiry = loop.call_at(deadline, _expire, future)
        future.add_done_callback(lambda _: expiry.cancel())
        group = _Group(future, len(keys))
        request_id, trace = callctx.request_id(), tracing.current_context()
        pending = self._pending
        for index, key in enumerate(keys):
            waiter = _Waiter(future, deadline, request_id, trace, group, index)
            waiters = pending.get(key)
            if waiters is None:
                pending[key] = [waiter]
            else:
                waiters.append(waiter)
        self._callers += 1
        self._urgent = True
        self._schedule(loop)
        return future

    def _free_slots(self) -> int | None:
        return None if self._max_in_flight is None else self._max_in_flight - len(self._running)

    def _schedule(self, loop: asyncio.AbstractEventLoop) -> None:
        """Dispatch at the end of this turn (or once the pause after the last batch is over); only background
        asks waiting: within BACKGROUND_DELAY_SECONDS, or sooner with whatever a caller asks meanwhile. Not
        while every slot is taken (a returning batch will)."""
        free = self._free_slots()
        if not self._pending or (free is not None and free <= 0):
            return
        now = loop.time()
        when = max(now if self._urgent else now + BACKGROUND_DELAY_SECONDS, self._next_send)
        if self._dispatch_handle is not None:
            if self._dispatch_when <= when:
                return
            self._dispatch_handle.cancel()
        self._dispatch_when = when
        if when > now:
            self._dispatch_handle = loop.call_at(when, self._dispatch, context=contextvars.Context())
        else:
            self._dispatch_handle = loop.call_soon(self._dispatch, context=contextvars.Context())

    def load_in_background(self, key: K, timeout: float, then: Callable[[], None]) -> None:
        """Ask for `key` with nobody awaiting the answer (a cache's refresh ahead: `fetch` keeps what it finds);
        `then()` runs when it ends, however it ends, and a failure is dropped (the next ask tries again)."""

        def ended(future: asyncio.Future[V | None]) -> None:
            if not future.cancelled():
                future.exception()  # retrieved: a failed refresh is not an error anyone waits on
            then()

        loop = asyncio.get_running_loop()
        self._ask(loop, key, timeout).add_done_callback(ended)
        self._schedule(loop)

    async def load(self, key: K, timeout: float) -> V | None:
        """The value for `key`; TimeoutError if `timeout` seconds pass first."""
        return await self.submit(key, timeout)

    def _dispatch(self) -> None:
        """Runs once the turn's handlers have all asked (and in an empty context, see the module): sends everything
        asked since the last dispatch, in calls of at most `max_batch` keys, all at once (one slot)."""
        self._dispatch_handle, self._dispatch_when = None, float("inf")
        pending, self._pending = self._pending, {}
        live = {key: waiters for key, waiters in pending.items() if any(not w.future.done() for w in waiters)}
        self._urgent = False
        if not live:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        if now - self._window_start >= RATE_WINDOW_SECONDS:
            self._pause = self._pacing.pause_at(self._callers / (now - self._window_start))
            self._window_start, self._callers = now, 0
        self._next_send = now + self._pause
        keys = list(live)
        chunks = [
            {key: live[key] for key in keys[at : at + self._max_batch]} for at in range(0, len(keys), self._max_batch)
        ]
        task = loop.create_task(self._run(chunks[0]) if len(chunks) == 1 else self._run_each(chunks))
        self._running.add(task)
        task.add_done_callback(self._finished)

    async def _run_each(self, chunks: list[dict[K, list[_Waiter]]]) -> None:
        await asyncio.gather(*(self._run(chunk) for chunk in chunks))

    def _finished(self, task: asyncio.Task[None]) -> None:
        """A dispatch came back: its slot sends what was asked for meanwhile."""
        self._running.discard(task)
        self._schedule(asyncio.get_running_loop())

    async def _run(self, batch: dict[K, list[_Waiter]]) -> None:
        waiting = [w for waiters in batch.values() for w in waiters if not w.future.done()]
        if not waiting:
            return
        now = asyncio.get_running_loop().time()
        timeout = max(w.deadline for w in waiting) - now
        self.batches += 1
        self.keys += len(batch)
        try:
            with tracing.within(waiting[0].trace):
                found = await self._fetch(list(batch), max(timeout, 0.001), waiting[0].request_id)
        except asyncio.CancelledError:
            for waiter in waiting:
                waiter.future.cancel()
            raise
        except Exception as exc:
            for waiter in waiting:
                if not waiter.future.done():
                    waiter.future.set_exception(exc)
            return
        for key, waiters in batch.items():
            value = found.get(key)
            for waiter in waiters:
                if waiter.future.done():
                    continue
                if waiter.group is None:
                    waiter.future.set_result(value)
                else:
                    waiter.group.put(waiter.index, value)


def settle(futures: Iterable[asyncio.Future[Any] | None]) -> None:
    """Loads a caller stopped waiting for: cancelled if pending, their failure marked seen if not (one batch's
    failure fails all its keys; those not awaited would each log "exception was never retrieved")."""
    for future in futures:
        if future is None:
            continue
        if not future.done():
            future.cancel()
        elif not future.cancelled():
            future.exception()


def _expire(future: asyncio.Future) -> None:  # type: ignore[type-arg]
    if not future.done():
        future.set_exception(TimeoutError())
