"""Post→searchable latency: how long after the photo service acknowledges an upload it is findable.

    .venv/bin/python -m bench.search_probe --photos 300 --concurrency 4
    .venv/bin/python -m bench.search_probe --photos 100 --concurrency 1 --idle 1.5   # an idle mesh

Starts its own nats-server, photo and search services on free loopback ports (temporary data dir),
then `concurrency` posters each upload a small real JPEG with a unique word and poll SearchPhotos
every POLL_SECONDS until it is found. Prints p50/p90/p99/max in milliseconds. The figure includes
the outbox relay, JetStream, the consumer's fetch loop, the SQLite commit and one poll interval.
With --idle, each poster pauses a random 0–2×idle seconds between uploads, so the consumer sits idle
between events the way it does on a quiet mesh (back-to-back uploads keep it busy and hide idle-time
effects such as pull requests expiring).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from shutter.search.v1 import search_pb2, search_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import make_jpeg, upload

POLL_SECONDS = 0.005
GIVE_UP_SECONDS = 30.0


async def probe_one(mesh: Mesh, user_id: int, image: bytes) -> float | None:
    word = "probe" + uuid.uuid4().hex[:12]
    token = mesh.user_token(user_id)
    await upload(mesh, token, user_id, image, title=f"probe {word}", tags=[word])
    acknowledged = time.perf_counter()
    stub = search_pb2_grpc.SearchServiceStub(mesh.channel("search"))
    request = search_pb2.SearchPhotosRequest(tag=word, page_size=1)
    while time.perf_counter() - acknowledged < GIVE_UP_SECONDS:
        if (await stub.SearchPhotos(request, metadata=auth(token), timeout=5)).hits:
            return (time.perf_counter() - acknowledged) * 1000
        await asyncio.sleep(POLL_SECONDS)
    return None


async def poster(
    mesh: Mesh, user_id: int, count: int, latencies: list[float], missed: list[int], idle: float = 0.0
) -> None:
    image = make_jpeg(64, 48)
    for _ in range(count):
        if idle:
            await asyncio.sleep(random.uniform(0, 2 * idle))
        latency = await probe_one(mesh, user_id, image)
        if latency is None:
            missed.append(1)
        else:
            latencies.append(latency)


def percentile(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


async def run(photos: int, concurrency: int, idle: float = 0.0) -> None:
    with tempfile.TemporaryDirectory(prefix="search-probe-") as workdir:
        mesh = Mesh(Path(workdir), services=("follow", "photo", "search"))
        try:
            await mesh.start()
            await poster(mesh, 9_000, 5, [], [])  # warm-up: channels, consumer, page cache
            latencies: list[float] = []
            missed: list[int] = []
            started = time.perf_counter()
            per_poster = max(photos // concurrency, 1)
            await asyncio.gather(
                *(poster(mesh, 9_001 + i, per_poster, latencies, missed, idle) for i in range(concurrency))
            )
            elapsed = time.perf_counter() - started
        finally:
            await mesh.close()
    print(
        f"photos={len(latencies) + len(missed)} concurrency={concurrency} missed={len(missed)} "
        f"uploads/s={(len(latencies) + len(missed)) / elapsed:.1f}"
    )
    if len(latencies) >= 2:
        print(
            "post→searchable ms: "
            f"p50={percentile(latencies, 50):.1f} p90={percentile(latencies, 90):.1f} "
            f"p99={percentile(latencies, 99):.1f} max={max(latencies):.1f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description="Measure post→searchable latency on a local photo+search mesh.")
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--idle", type=float, default=0.0, help="mean seconds each poster pauses between uploads")
    args = parser.parse_args()
    asyncio.run(run(args.photos, args.concurrency, args.idle))


if __name__ == "__main__":
    main()
