"""Feed probe: post→feed visibility and fan-out throughput on a power-law follower graph.

    .venv/bin/python -m bench.feed_probe --users 300 --rate 5 --seconds 30
    .venv/bin/python -m bench.feed_probe --users 100 --rate 0.7 --seconds 140 --poisson   # an idle mesh

Starts its own mesh (nats, user, follow, photo, feed) in a temporary directory, signs up users,
builds a follower graph where author popularity follows a Zipf law (a few accounts with most of
the followers, a long tail with few), then:

1. Sustained: uploads photos at --rate posts/s (evenly spaced, or with --poisson at random
   exponential intervals, as independent users post) through the photo service, authors drawn by
   popularity; for each post it polls the feed of the author's *last* follower in fan-out order
   (the one written last) and records upload-acknowledged → visible in GetFeed.
2. Burst: publishes --burst PhotoPosted events for the most-followed authors straight onto
   JetStream and times the feed consumer until it has drained them: feed entries written per
   second, with the photo service out of the picture.

Numbers are for this machine as it is at the time (shared cores); they go in reports, not tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nats

from services.runtime.events import EVENTS_STREAM, SUBJECTS, message_id
from services.runtime.ids import IdGenerator
from services.runtime.requests import now_timestamp
from shutter.events.v1 import events_pb2
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from tests.support.feeds import feed_page
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, upload
from tests.support.users import SignedUp, sign_up_many

DURABLE = "feed-fanout"


def zipf_weights(count: int, exponent: float) -> list[float]:
    return [1.0 / (rank**exponent) for rank in range(1, count + 1)]


def build_graph(users: list[SignedUp], follows_each: int, exponent: float, rng: random.Random) -> set[tuple[int, int]]:
    """(follower, followee) pairs: every user follows ~follows_each others, picked by Zipf popularity."""
    weights = zipf_weights(len(users), exponent)
    edges: set[tuple[int, int]] = set()
    for follower in users:
        wanted = max(1, int(rng.expovariate(1 / follows_each)))
        for followee in rng.choices(users, weights=weights, k=wanted):
            if followee.user_id != follower.user_id:
                edges.add((follower.user_id, followee.user_id))
    return edges


async def create_follows(mesh: Mesh, edges: set[tuple[int, int]], concurrency: int = 32) -> None:
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    gate = asyncio.Semaphore(concurrency)

    async def one(follower: int, followee: int) -> None:
        async with gate:
            await stub.Follow(
                follow_pb2.FollowRequest(follower_id=follower, followee_id=followee),
                metadata=(("authorization", f"Bearer {mesh.user_token(follower)}"),),
                timeout=60,
            )

    await asyncio.gather(*(one(a, b) for a, b in edges))


async def followers_in_fanout_order(mesh: Mesh, author_id: int) -> list[int]:
    stub = follow_pb2_grpc.FollowServiceStub(mesh.channel("follow"))
    token = ""
    found: list[int] = []
    while True:
        reply = await stub.ListFollowers(
            follow_pb2.ListFollowersRequest(user_id=author_id, page_size=1000, page_token=token),
            metadata=(("authorization", f"Bearer {mesh.user_token(author_id)}"),),
            timeout=10,
        )
        found.extend(f.follower_id for f in reply.follows)
        token = reply.next_page_token
        if not token:
            return found


async def wait_drained(js: nats.js.JetStreamContext, timeout: float = 300) -> float:
    """Seconds until the feed consumer has nothing pending or unacknowledged."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        info = await js.consumer_info(EVENTS_STREAM, DURABLE)
        if info.num_pending == 0 and info.num_ack_pending == 0:
            return time.monotonic() - started
        await asyncio.sleep(0.01)
    raise TimeoutError("feed consumer did not drain")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def sustained(
    mesh: Mesh,
    authors: list[SignedUp],
    weights: list[float],
    probes: dict[int, int],
    rate: float,
    seconds: float,
    rng: random.Random,
    poisson: bool = False,
) -> list[float]:
    """Upload at `rate` posts/s; return each post's upload-ack → visible latency in ms."""
    jpeg = make_jpeg(32, 24)
    latencies: list[float] = []
    tasks: list[asyncio.Task[None]] = []

    async def post_and_watch(author: SignedUp) -> None:
        photo = await upload(mesh, author.token, author.user_id, jpeg)
        acked = time.monotonic()
        reader = probes[author.user_id]
        while time.monotonic() - acked < 120:
            reply = await feed_page(mesh, reader, page_size=20)
            if any(item.photo_id == photo.photo_id for item in reply.items):
                latencies.append((time.monotonic() - acked) * 1000)
                return
            await asyncio.sleep(0.01)
        raise TimeoutError(f"photo {photo.photo_id} not visible to {reader} within 120 s")

    started = time.monotonic()
    due = 0.0
    for index in range(int(rate * seconds)):
        due = due + rng.expovariate(rate) if poisson else index / rate
        await asyncio.sleep(max(0.0, started + due - time.monotonic()))
        tasks.append(asyncio.create_task(post_and_watch(rng.choices(authors, weights=weights)[0])))
    await asyncio.gather(*tasks)
    return latencies


async def burst(mesh: Mesh, authors: list[tuple[int, int]], posts: int) -> tuple[int, float]:
    """Publish PhotoPosted for the given (author, followers) pairs round-robin; entries and seconds."""
    nc = await nats.connect(mesh.settings.nats_url)
    js = nc.jetstream()
    ids = IdGenerator(4000)
    entries = 0
    try:
        await wait_drained(js)
        started = time.monotonic()
        for index in range(posts):
            author_id, follower_count = authors[index % len(authors)]
            photo_id = ids.next_id()
            event = events_pb2.PhotoPosted(
                meta=events_pb2.EventMeta(event_id=ids.next_id(), occurred_at=now_timestamp(), source="feed-probe"),
                photo_id=photo_id,
                user_id=author_id,
                created_at=now_timestamp(),
            )
            await js.publish(
                SUBJECTS[events_pb2.PhotoPosted], event.SerializeToString(), headers={"Nats-Msg-Id": message_id(event)}
            )
            entries += follower_count
        await wait_drained(js)
        return entries, time.monotonic() - started
    finally:
        await nc.close()


def fanout_log_stats(mesh: Mesh) -> tuple[int, float]:
    """Entries and busy milliseconds from the feed's own 'fanned out' log lines."""
    entries, busy_ms = 0, 0.0
    for line in (mesh.logs / "feed.log").read_text(errors="replace").splitlines():
        if '"fanned out"' in line:
            record = json.loads(line)
            entries += record["entries"]
            busy_ms += record["ms"]
    return entries, busy_ms


async def main(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="feed-probe-") as workdir:
        mesh = Mesh(Path(workdir), services=("user", "follow", "photo", "feed"))
        try:
            await mesh.start()
            phase = time.monotonic()
            users: list[SignedUp] = []
            while len(users) < args.users:
                users += await sign_up_many(mesh, min(25, args.users - len(users)), "probe")
            print(f"signed up {len(users)} users in {time.monotonic() - phase:.1f} s", file=sys.stderr)

            phase = time.monotonic()
            edges = build_graph(users, args.follows, args.zipf, rng)
            await create_follows(mesh, edges)
            nc = await nats.connect(mesh.settings.nats_url)
            await wait_drained(nc.jetstream())
            await nc.close()
            print(f"{len(edges)} follows in {time.monotonic() - phase:.1f} s", file=sys.stderr)

            followers = {u.user_id: await followers_in_fanout_order(mesh, u.user_id) for u in users}
            counts = sorted((len(f) for f in followers.values()), reverse=True)
            authors = [u for u in users if followers[u.user_id]]
            probes = {u.user_id: followers[u.user_id][-1] for u in authors}
            # Posting activity follows popularity too, flattened: popular accounts post more often.
            weights = [len(followers[u.user_id]) ** 0.5 for u in authors]

            latencies = await sustained(mesh, authors, weights, probes, args.rate, args.seconds, rng, args.poisson)
            top = sorted(((a, len(f)) for a, f in followers.items()), key=lambda pair: -pair[1])[:10]
            burst_entries, burst_seconds = await burst(mesh, top, args.burst)
            log_entries, log_busy_ms = fanout_log_stats(mesh)

            result = {
                "users": len(users),
                "follows": len(edges),
                "followers_max_p50": [counts[0], statistics.median(counts)],
                "sustained": {
                    "rate_per_s": args.rate,
                    "posts": len(latencies),
                    "visibility_ms_p50": round(percentile(latencies, 0.50), 1),
                    "visibility_ms_p99": round(percentile(latencies, 0.99), 1),
                    "visibility_ms_max": round(max(latencies), 1),
                },
                "burst": {
                    "posts": args.burst,
                    "entries": burst_entries,
                    "seconds": round(burst_seconds, 2),
                    "entries_per_s": round(burst_entries / burst_seconds),
                },
                "fanout_busy_entries_per_s": round(log_entries / (log_busy_ms / 1000)) if log_busy_ms else None,
            }
            print(json.dumps(result, indent=2))
        finally:
            await mesh.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--follows", type=float, default=15, help="mean followees per user")
    parser.add_argument("--zipf", type=float, default=1.0, help="popularity exponent")
    parser.add_argument("--rate", type=float, default=5, help="posts per second in the sustained phase")
    parser.add_argument("--poisson", action="store_true", help="random (exponential) gaps between posts")
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--burst", type=int, default=200, help="synthetic posts in the throughput phase")
    parser.add_argument("--seed", type=int, default=7)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
