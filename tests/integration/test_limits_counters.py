"""The limiter on a real nats-server, as two replicas would run it: one shared count, leases that stay within
the limit, byte quotas that give back what they refuse, and a store that does not answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.runtime.events import EventBus
from services.runtime.limits import ACCOUNT, Counters, CountersDown, Limiter, Rate, RateLimited, charge, subject
from tests.support.mesh import Mesh, free_port

LIKES = "/shutter.like.v1.LikeService/LikePhoto"


@pytest.fixture(scope="module")
async def nats_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    mesh = Mesh(Path(tmp_path_factory.mktemp("limits-nats")), services=())
    mesh.start_nats()
    try:
        yield mesh.settings.nats_url
    finally:
        mesh.stop_nats()


async def replica(url: str, rates: dict[tuple[str, str], Rate], lease_max: int = 32) -> tuple[Limiter, EventBus]:
    bus = EventBus(url, "limits-test")
    await bus.start()
    await asyncio.wait_for(bus.ready(), 20)
    return Limiter(Counters(bus, 2.0, 86400), rates, lease_max=lease_max), bus


async def admitted(limiter: Limiter, user: int, calls: int) -> int:
    count = 0
    for _ in range(calls):
        try:
            await limiter.admit(LIKES, user, "192.0.2.1")
            count += 1
        except RateLimited:
            pass
    return count


async def test_two_replicas_share_one_exact_count(nats_url: str) -> None:
    rates = {("likes", ACCOUNT): Rate(10, 3600)}
    (first, a), (second, b) = await replica(nats_url, rates), await replica(nats_url, rates)
    user = time.time_ns()
    try:
        results = [await admitted(limiter, user, 1) for limiter in (first, second) * 7]
        assert sum(results) == 10 and results[:10] == [1] * 10  # small limits are counted call by call
        with pytest.raises(RateLimited) as refused:
            await second.admit(LIKES, user, "192.0.2.1")
        assert 0 < refused.value.retry_after <= 3600  # type: ignore[operator]
        assert dict(refused.value.trailing_metadata())["ratelimit-remaining"] == "0"
        assert await admitted(first, user + 1, 1) == 1  # another account is untouched
    finally:
        await a.stop()
        await b.stop()


async def test_leases_save_round_trips_and_never_exceed_the_limit(nats_url: str) -> None:
    limit, lease_max = 640, 8
    rates = {("likes", ACCOUNT): Rate(limit, 3600)}
    (first, a), (second, b) = await replica(nats_url, rates, lease_max), await replica(nats_url, rates, lease_max)
    user = time.time_ns()
    round_trips = 0
    for limiter in (first, second):
        counters, add = limiter.counters, limiter.counters.add

        async def counted(name: str, amount: int = 1, add=add) -> int:
            nonlocal round_trips
            round_trips += 1
            return await add(name, amount)

        counters.add = counted  # type: ignore[method-assign]
    try:
        total = 0
        for _ in range(limit // 20 + 5):
            total += await admitted(first, user, 10) + await admitted(second, user, 10)
        # Units one replica holds unused are spent for the other: refused a little early, never over.
        assert limit - 2 * lease_max <= total <= limit
        assert round_trips < total / 4, round_trips
        shared = await first.counters.read(subject("likes", ACCOUNT, str(user), int(time.time() // 3600)))
        assert shared.value <= limit + 2 * lease_max  # refused calls past the limit are decided locally
    finally:
        await a.stop()
        await b.stop()


async def test_a_refused_byte_charge_is_given_back(nats_url: str) -> None:
    rates = {("upload_bytes", ACCOUNT): Rate(1000, 86400)}
    (limiter, bus) = await replica(nats_url, rates)
    (other, other_bus) = await replica(nats_url, rates)
    keys = {ACCOUNT: str(time.time_ns())}
    try:
        await charge(limiter, "upload_bytes", keys, 600)
        with pytest.raises(RateLimited):
            await charge(other, "upload_bytes", keys, 600)
        await charge(other, "upload_bytes", keys, 400)  # the refused 600 did not count
        with pytest.raises(RateLimited):
            await charge(limiter, "upload_bytes", keys, 1)
    finally:
        await bus.stop()
        await other_bus.stop()


async def test_counters_that_do_not_answer_fail_fast() -> None:
    bus = EventBus(f"nats://127.0.0.1:{free_port()}", "limits-test")  # nothing listens there
    await bus.start()
    limiter = Limiter(Counters(bus, 0.2, 86400), {("likes", ACCOUNT): Rate(5, 60)})
    try:
        started = time.monotonic()
        with pytest.raises(CountersDown):
            await limiter.hit("likes", {ACCOUNT: "1"})
        assert time.monotonic() - started < 1
        assert await limiter.admit(LIKES, 1, "192.0.2.1") is None  # an ordinary call goes on: fail open
    finally:
        await bus.stop()
