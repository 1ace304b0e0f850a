"""Seed a social graph through the real APIs: users, a power-law follow graph, photos.

Follower counts follow a Zipf-like law (a few accounts followed by many, most by few), with the
top accounts pushed above the feed's large-account threshold so the pull path is exercised.
"""

from __future__ import annotations

import asyncio
import io
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc
from PIL import Image

from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.photo.v1 import photo_pb2, photo_pb2_grpc
from shutter.user.v1 import user_pb2, user_pb2_grpc

TAGS = ["sunset", "sea", "travel", "food", "city", "café", "mountain", "street", "portrait", "cat"]
PLACES = ["Lisbon", "São Paulo", "Reykjavík", "Kyoto", "New York", "Cape Town"]


@dataclass
class SeededUser:
    user_id: int
    username: str
    token: str


@dataclass
class Graph:
    users: list[SeededUser] = field(default_factory=list)
    followers: dict[int, list[int]] = field(default_factory=dict)  # followee -> followers
    photos: list[tuple[int, int]] = field(default_factory=list)  # (photo_id, author_id)

    def follower_counts(self) -> list[int]:
        return [len(self.followers.get(u.user_id, [])) for u in self.users]


def small_jpeg(seed: int, size: int = 96) -> bytes:
    rng = random.Random(seed)
    image = Image.new("RGB", (size, size), (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    return buffer.getvalue()


def auth(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def bounded(limit: int, jobs: list[Callable[[], Awaitable[object]]], progress: Callable[[int], None]) -> list:
    semaphore = asyncio.Semaphore(limit)

    async def run(job: Callable[[], Awaitable[object]]) -> object:
        async with semaphore:
            result = await job()
            progress(1)
            return result

    return await asyncio.gather(*(run(job) for job in jobs))


async def seed_users(
    channel: grpc.aio.Channel,
    count: int,
    run_id: str,
    token_for: Callable[[int], str],
    progress: Callable[[int], None],
) -> list[SeededUser]:
    """Real sign-ups; tokens are minted with the bench mesh's own secret rather than by signing in,
    which would cost a second argon2 hash per user and tell the bench nothing new."""
    stub = user_pb2_grpc.UserServiceStub(channel)

    async def one(index: int) -> SeededUser:
        username = f"b{run_id}_{index}"
        created = await stub.CreateUser(
            user_pb2.CreateUserRequest(
                username=username, display_name=f"Bench {index}", password=f"pw-{run_id}-{index}"
            ),
            timeout=120,
        )
        return SeededUser(created.user.user_id, username, token_for(created.user.user_id))

    return await bounded(16, [lambda i=i: one(i) for i in range(count)], progress)


def power_law_follows(
    users: list[SeededUser], mean_follows: int, large_accounts: int, large_size: int, rng: random.Random
) -> dict[int, list[int]]:
    """followee -> followers: Zipf popularity, plus `large_accounts` followed by `large_size` users."""
    ids = [u.user_id for u in users]
    weights = [1.0 / (rank + 1) for rank in range(len(ids))]
    followers: dict[int, set[int]] = {uid: set() for uid in ids}
    for follower in ids:
        for followee in rng.choices(ids, weights=weights, k=mean_follows):
            if followee != follower:
                followers[followee].add(follower)
    for followee in ids[:large_accounts]:
        candidates = [u for u in ids if u != followee]
        followers[followee].update(rng.sample(candidates, min(large_size, len(candidates))))
    return {k: sorted(v) for k, v in followers.items()}


async def seed_follows(channel: grpc.aio.Channel, graph: Graph, progress: Callable[[int], None]) -> None:
    stub = follow_pb2_grpc.FollowServiceStub(channel)
    tokens = {u.user_id: u.token for u in graph.users}
    jobs = [
        (lambda f=follower, e=followee: stub.Follow(
            follow_pb2.FollowRequest(follower_id=f, followee_id=e), metadata=auth(tokens[f]), timeout=30))
        for followee, followers in graph.followers.items()
        for follower in followers
    ]  # fmt: skip
    await bounded(32, jobs, progress)


async def upload(
    stub: photo_pb2_grpc.PhotoServiceStub, user: SeededUser, data: bytes, title: str, tags: list[str], location: str
) -> int:
    async def requests():  # type: ignore[no-untyped-def]
        yield photo_pb2.UploadPhotoRequest(
            metadata=photo_pb2.PhotoMetadata(user_id=user.user_id, title=title, tags=tags, location=location)
        )
        yield photo_pb2.UploadPhotoRequest(chunk=data)

    reply = await stub.UploadPhoto(requests(), metadata=auth(user.token), timeout=60)
    return reply.photo.photo_id


async def seed_photos(
    channel: grpc.aio.Channel, graph: Graph, per_user: int, rng: random.Random, progress: Callable[[int], None]
) -> None:
    stub = photo_pb2_grpc.PhotoServiceStub(channel)
    image = small_jpeg(1)

    async def one(user: SeededUser, n: int) -> tuple[int, int]:
        tags = rng.sample(TAGS, 2)
        photo_id = await upload(stub, user, image, f"{tags[0]} and {tags[1]} #{n}", tags, rng.choice(PLACES))
        return photo_id, user.user_id

    jobs = [lambda u=u, n=n: one(u, n) for u in graph.users for n in range(per_user)]
    graph.photos.extend(await bounded(8, jobs, progress))
