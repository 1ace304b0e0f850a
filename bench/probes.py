"""Freshness probes: how long after an upload is acknowledged it shows in feeds and in search."""

from __future__ import annotations

import asyncio
import statistics
import time
from dataclasses import dataclass

import grpc

from bench.seed import SeededUser, auth, small_jpeg, upload
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.photo.v1 import photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc

POLL_SECONDS = 0.02
GIVE_UP_SECONDS = 30.0


@dataclass
class Freshness:
    feed_ms: list[float]
    search_ms: list[float]
    missed_feed: int
    missed_search: int
    fanout_entries_per_s: float | None

    def summary(self) -> dict[str, object]:
        return {
            "post_to_feed_p50_ms": _percentile(self.feed_ms, 50),
            "post_to_feed_p99_ms": _percentile(self.feed_ms, 99),
            "post_to_search_p50_ms": _percentile(self.search_ms, 50),
            "post_to_search_p99_ms": _percentile(self.search_ms, 99),
            "probes": len(self.feed_ms) + self.missed_feed,
            "missed_feed": self.missed_feed,
            "missed_search": self.missed_search,
            "fanout_entries_per_s": self.fanout_entries_per_s,
        }


def _percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 1)
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 1)


async def _until(check, started: float) -> float | None:  # type: ignore[no-untyped-def]
    while time.perf_counter() - started < GIVE_UP_SECONDS:
        if await check():
            return (time.perf_counter() - started) * 1000
        await asyncio.sleep(POLL_SECONDS)
    return None


async def probe_freshness(
    photo: grpc.aio.Channel,
    feed: grpc.aio.Channel,
    search: grpc.aio.Channel,
    author: SeededUser,
    follower: SeededUser,
    posts: int,
    rate_per_s: float,
    run_id: str,
) -> Freshness:
    """Post `posts` photos at `rate_per_s`; time each until the follower's feed and search show it."""
    photos = photo_pb2_grpc.PhotoServiceStub(photo)
    feeds = feed_pb2_grpc.FeedServiceStub(feed)
    searches = search_pb2_grpc.SearchServiceStub(search)
    image = small_jpeg(7)
    feed_ms: list[float] = []
    search_ms: list[float] = []
    misses = {"feed": 0, "search": 0}

    async def one(n: int) -> None:
        tag = f"probe{run_id}n{n}"
        photo_id = await upload(photos, author, image, f"freshness probe {n}", [tag], "Lisbon")
        started = time.perf_counter()

        async def in_feed() -> bool:
            reply = await feeds.GetFeed(
                feed_pb2.GetFeedRequest(user_id=follower.user_id, page_size=50),
                metadata=auth(follower.token),
                timeout=5,
            )
            return any(item.photo_id == photo_id for item in reply.items)

        async def in_search() -> bool:
            reply = await searches.SearchPhotos(
                search_pb2.SearchPhotosRequest(tag=tag, page_size=5), metadata=auth(follower.token), timeout=5
            )
            return any(hit.photo_id == photo_id for hit in reply.hits)

        feed_result, search_result = await asyncio.gather(_until(in_feed, started), _until(in_search, started))
        for name, result, bucket in (("feed", feed_result, feed_ms), ("search", search_result, search_ms)):
            if result is None:
                misses[name] += 1
            else:
                bucket.append(result)

    tasks = []
    for n in range(posts):
        tasks.append(asyncio.create_task(one(n)))
        await asyncio.sleep(1 / rate_per_s)
    await asyncio.gather(*tasks)
    return Freshness(feed_ms, search_ms, misses["feed"], misses["search"], None)


async def probe_fanout_throughput(
    photo: grpc.aio.Channel, feed: grpc.aio.Channel, author: SeededUser, followers: list[SeededUser]
) -> float | None:
    """One post by an author with many followers: feed entries written per second until all have it."""
    if not followers:
        return None
    photos = photo_pb2_grpc.PhotoServiceStub(photo)
    feeds = feed_pb2_grpc.FeedServiceStub(feed)
    photo_id = await upload(photos, author, small_jpeg(9), "fan-out probe", ["fanoutprobe"], "Kyoto")
    started = time.perf_counter()
    waiting = {f.user_id: f for f in followers}
    while waiting and time.perf_counter() - started < GIVE_UP_SECONDS:
        sample = list(waiting.values())[:64]
        replies = await asyncio.gather(
            *(
                feeds.GetFeed(
                    feed_pb2.GetFeedRequest(user_id=f.user_id, page_size=20), metadata=auth(f.token), timeout=5
                )
                for f in sample
            )
        )
        for follower, reply in zip(sample, replies, strict=True):
            if any(item.photo_id == photo_id for item in reply.items):
                waiting.pop(follower.user_id)
        if waiting:
            await asyncio.sleep(POLL_SECONDS)
    if waiting:
        return None
    return round(len(followers) / (time.perf_counter() - started), 1)
