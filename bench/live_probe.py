"""Live updates at scale: many Server-Sent Events watchers on the gateway, their memory, and how fast a
like reaches its photo owner's stream.

    .venv/bin/python -m bench.live_probe --watchers 1000 --likes 200 --rate 10

Opens `watchers` SSE streams (GET /v1/users/{id}/notifications:watch, one per user) through the
gateway and waits until each has its first event (the unread count: the stream is subscribed). Memory
per watcher: the gateway's and the notification service's resident memory with the streams open,
minus before, over the number of streams. Then likes arrive at `rate`/s on photos whose owners are
watching, each from a user who had not liked it; delivery = the like acknowledged → the event read
from the owner's stream (p50, p99, max; a like not seen within 10 s counts as missed).

Standalone it starts its own mesh (user, photo, like, notification) and gateway, on an idle machine; in
`make bench` (bench/__main__.py) it runs on the bench's mesh while the design mix runs at its highest
sustained rate. Numbers are for this machine as it is at the time; they go in reports, not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import httpx

from bench.processes import memory_kib
from shutter.like.v1 import like_pb2, like_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.social import new_photo
from tests.support.sse import Stream
from tests.support.users import sign_up_many, user_without_account

NOT_SEEN_SECONDS = 10.0
OPEN_AT_ONCE = 50


@dataclass(frozen=True)
class Watcher:
    user_id: int
    token: str


@dataclass
class LiveResult:
    watchers: int
    open_seconds: float
    gateway_kib_per_watcher: float
    notification_kib_per_watcher: float
    likes: int
    missed: int
    delivery_ms_p50: float | None
    delivery_ms_p99: float | None
    delivery_ms_max: float | None

    def summary(self) -> dict[str, object]:
        return asdict(self)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


class Watchers:
    """The open streams; `expect(owner, actor)` is a future resolved when that like reaches the owner."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client
        self._expected: dict[tuple[int, int], asyncio.Future[float]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.ready = 0

    def expect(self, owner: int, actor: int) -> asyncio.Future[float]:
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._expected[(owner, actor)] = future
        return future

    async def open(self, watchers: Sequence[Watcher]) -> None:
        slots = asyncio.Semaphore(OPEN_AT_ONCE)
        opened = [asyncio.get_running_loop().create_future() for _ in watchers]
        for watcher, ready in zip(watchers, opened, strict=True):
            self._tasks.append(asyncio.create_task(self._watch(watcher, ready, slots)))
        await asyncio.gather(*opened)

    async def _watch(self, watcher: Watcher, ready: asyncio.Future[None], slots: asyncio.Semaphore) -> None:
        headers = {"Authorization": f"Bearer {watcher.token}", "Accept": "text/event-stream"}
        path = f"/v1/users/{watcher.user_id}/notifications:watch"
        try:
            async with slots:
                response_cm = self._client.stream("GET", path, headers=headers)
                response = await response_cm.__aenter__()
                if response.status_code != 200:
                    raise RuntimeError(f"watch refused: {response.status_code} {await response.aread()!r}")
                stream = Stream(response)
                await stream.next_event(timeout=30)  # the unread count: subscribed
                self.ready += 1
                ready.set_result(None)
            try:
                while (event := await stream.next_event(timeout=3600)) is not None:
                    notification = event.data.get("notification") if isinstance(event.data, dict) else None
                    if notification:
                        future = self._expected.pop((watcher.user_id, int(notification["actorId"])), None)
                        if future is not None and not future.done():
                            future.set_result(time.perf_counter())
            finally:
                await response_cm.__aexit__(None, None, None)
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def measure(
    gateway_url: str,
    pids: dict[str, int],
    like: grpc.aio.Channel,
    watchers: Sequence[Watcher],
    targets: Sequence[tuple[int, int]],
    likers: Sequence[Watcher],
    likes: int,
    rate: float,
    rng: random.Random,
) -> LiveResult:
    """`targets`: (owner id, photo id) with the owner among `watchers`; `likers` like them, each pair once."""
    before = {name: memory_kib(pid).get("VmRSS", 0) for name, pid in pids.items()}
    limits = httpx.Limits(max_connections=len(watchers) + 10, max_keepalive_connections=len(watchers) + 10)
    timeout = httpx.Timeout(30, read=None)
    async with httpx.AsyncClient(base_url=gateway_url, limits=limits, timeout=timeout) as client:
        streams = Watchers(client)
        started = time.monotonic()
        try:
            await streams.open(watchers)
            open_seconds = time.monotonic() - started
            await asyncio.sleep(2)
            after = {name: memory_kib(pid).get("VmRSS", 0) for name, pid in pids.items()}
            per_watcher = {name: round((after[name] - before[name]) / len(watchers), 1) for name in pids}
            print(f"resident KiB before {before}, with the streams open {after}", file=sys.stderr)

            pairs = [(owner, photo, liker) for owner, photo in targets for liker in likers if liker.user_id != owner]
            rng.shuffle(pairs)
            stub = like_pb2_grpc.LikeServiceStub(like)
            delivered: list[float] = []
            missed = 0

            async def one(owner: int, photo: int, liker: Watcher) -> None:
                nonlocal missed
                seen = streams.expect(owner, liker.user_id)
                await stub.LikePhoto(like_pb2.LikePhotoRequest(photo_id=photo), metadata=auth(liker.token), timeout=10)
                acknowledged = time.perf_counter()
                try:
                    delivered.append((await asyncio.wait_for(seen, NOT_SEEN_SECONDS) - acknowledged) * 1000)
                except TimeoutError:
                    missed += 1

            running = []
            for owner, photo, liker in pairs[:likes]:
                running.append(asyncio.create_task(one(owner, photo, liker)))
                await asyncio.sleep(1 / rate)
            await asyncio.gather(*running)
        finally:
            await streams.close()
    return LiveResult(
        watchers=len(watchers),
        open_seconds=round(open_seconds, 1),
        gateway_kib_per_watcher=per_watcher.get("gateway", 0.0),
        notification_kib_per_watcher=per_watcher.get("notification", 0.0),
        likes=len(delivered) + missed,
        missed=missed,
        delivery_ms_p50=percentile(delivered, 0.50),
        delivery_ms_p99=percentile(delivered, 0.99),
        delivery_ms_max=round(max(delivered), 1) if delivered else None,
    )


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="live-probe-") as workdir:
        mesh = Mesh(
            Path(workdir),
            services=("user", "follow", "photo", "like", "notification"),
            extra_env={"SHUTTER_LOG_LEVEL": "WARNING"},
        )
        try:
            await mesh.start()
            mesh.start_gateway()
            await mesh.wait_gateway()
            # Accounts for the people who post and like; the other watchers only watch (no account needed).
            people = []
            while len(people) < args.owners + args.likers:
                people += await sign_up_many(mesh, min(8, args.owners + args.likers - len(people)), "live")
            owners, liking = people[: args.owners], people[args.owners :]
            idle = [user_without_account(mesh) for _ in range(args.watchers - len(owners))]
            watchers = [Watcher(p.user_id, p.token) for p in [*owners, *idle]]
            likers = [Watcher(p.user_id, p.token) for p in liking]
            targets = [(owner.user_id, (await new_photo(mesh, owner)).photo_id) for owner in owners]
            pids = {name: mesh.processes[name].pid for name in ("gateway", "notification")}
            result = await measure(
                mesh.gateway_url, pids, mesh.channel("like"), watchers, targets, likers, args.likes, args.rate, rng
            )
            print(json.dumps(result.summary(), indent=2))
        finally:
            await mesh.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--watchers", type=int, default=1000)
    parser.add_argument("--owners", type=int, default=20, help="watchers whose photos get liked")
    parser.add_argument("--likers", type=int, default=20)
    parser.add_argument("--likes", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10, help="likes per second")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
