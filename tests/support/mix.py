"""A small closed-loop driver of the design's mix, for the scale tests and the replica throughput probe.

Views dominate (the design's 20:1 view-to-upload ratio, scaled down so one machine can run it), then feeds,
likes, searches, follows, uploads and comments. Each worker picks an operation by weight and calls it
through the mesh's channels (balanced over replicas, with the runtime's retry policy on a replicated mesh).

What is checked afterwards lives in `Tally`: every call's outcome by operation and status code, every
acknowledged upload (its idempotency key, photo id, tag, and how many attempts failed first).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import grpc

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.feed.v1 import feed_pb2, feed_pb2_grpc
from shutter.follow.v1 import follow_pb2, follow_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.photo.v1 import photo_pb2_grpc
from shutter.search.v1 import search_pb2, search_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.photos import make_jpeg, metadata, requests
from tests.support.users import Identity

# Relative weights: per 100 operations.
MIX: dict[str, int] = {"view": 50, "feed": 15, "like": 10, "search": 8, "follow": 5, "upload": 8, "comment": 4}
# Operations the contracts mark idempotent: retried by the channel, so they must never fail here.
IDEMPOTENT = frozenset({"view", "feed", "like", "search", "follow"})
UPLOAD_ATTEMPTS = 10
TIMEOUT = 10.0
IMAGE = make_jpeg(48, 32)


@dataclass
class Upload:
    """One logical upload: its key and tag, the photo the service acknowledged, the attempts that failed."""

    key: str
    tag: str
    author: Identity
    photo_id: int = 0
    failures: list[str] = field(default_factory=list)
    kills_seen: int = 0  # kills that began, or were not over, while it was being attempted (each may fail one)


@dataclass
class Tally:
    ok: Counter[str] = field(default_factory=Counter)
    failed: Counter[tuple[str, str]] = field(default_factory=Counter)  # (operation, status code)
    uploads: list[Upload] = field(default_factory=list)
    kills: int = 0  # bumped by whoever kills a process, so an upload knows how many it lived through
    restarting: bool = False  # a killed process is not back yet
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0

    def failures(self, operations: frozenset[str]) -> dict[tuple[str, str], int]:
        return {key: count for key, count in self.failed.items() if key[0] in operations}


class Mix:
    """Workers calling the mix as `authors` and `readers` until `stop` is set."""

    def __init__(self, mesh: Mesh, authors: list[Identity], readers: list[Identity], bystander: Identity) -> None:
        self.mesh = mesh
        self.authors = authors
        self.readers = readers
        self.bystander = bystander  # followed by anyone, posts nothing: follows leave the feeds checked alone
        self.photos: list[int] = []  # acknowledged photo ids, for views and likes
        self.tally = Tally()
        self.run_tag = "zq" + uuid.uuid4().hex[:10]
        self._random = random.Random(23)
        self._operations = {
            "view": self._view,
            "feed": self._feed,
            "like": self._like,
            "search": self._search,
            "follow": self._follow,
            "upload": self._upload,
            "comment": self._comment,
        }

    def _stub(self, name: str, kind: type) -> object:
        return kind(self.mesh.channel(name))

    async def run(self, stop: asyncio.Event, workers: int = 6) -> Tally:
        if not self.photos:
            await self._upload()  # something to view
        started = time.monotonic()
        await asyncio.gather(*(self._worker(stop) for _ in range(workers)))
        self.tally.elapsed = time.monotonic() - started
        return self.tally

    async def _worker(self, stop: asyncio.Event) -> None:
        names, weights = list(MIX), list(MIX.values())
        while not stop.is_set():
            name = self._random.choices(names, weights)[0]
            await self._counted(name, self._operations[name])

    async def _counted(self, name: str, call: Callable[[], Awaitable[object]]) -> None:
        try:
            await call()
        except grpc.aio.AioRpcError as exc:
            self.tally.failed[(name, exc.code().name)] += 1
            return
        self.tally.ok[name] += 1

    def _reader(self) -> Identity:
        return self._random.choice(self.readers)

    async def _view(self) -> None:
        viewer = self._reader()
        stub = view_pb2_grpc.ViewServiceStub(self.mesh.channel("view"))
        request = view_pb2.ViewPhotoRequest(photo_id=self._random.choice(self.photos), user_id=viewer.user_id)
        await stub.ViewPhoto(request, metadata=viewer.metadata, timeout=TIMEOUT)

    async def _feed(self) -> None:
        reader = self._reader()
        stub = feed_pb2_grpc.FeedServiceStub(self.mesh.channel("feed"))
        request = feed_pb2.GetFeedRequest(user_id=reader.user_id, page_size=20)
        await stub.GetFeed(request, metadata=reader.metadata, timeout=TIMEOUT)

    async def _like(self) -> None:
        liker = self._reader()
        stub = like_pb2_grpc.LikeServiceStub(self.mesh.channel("like"))
        request = like_pb2.LikePhotoRequest(photo_id=self._random.choice(self.photos), user_id=liker.user_id)
        await stub.LikePhoto(request, metadata=liker.metadata, timeout=TIMEOUT)

    async def _search(self) -> None:
        searcher = self._reader()
        stub = search_pb2_grpc.SearchServiceStub(self.mesh.channel("search"))
        request = search_pb2.SearchPhotosRequest(tag=self.run_tag, page_size=20)
        await stub.SearchPhotos(request, metadata=searcher.metadata, timeout=TIMEOUT)

    async def _follow(self) -> None:
        follower = self._reader()
        stub = follow_pb2_grpc.FollowServiceStub(self.mesh.channel("follow"))
        request = follow_pb2.FollowRequest(follower_id=follower.user_id, followee_id=self.bystander.user_id)
        await stub.Follow(request, metadata=follower.metadata, timeout=TIMEOUT)

    async def _comment(self) -> None:
        """Not idempotent and without a key: a failure is counted, never retried (a retry could post twice)."""
        author = self._reader()
        stub = comment_pb2_grpc.CommentServiceStub(self.mesh.channel("comment"))
        request = comment_pb2.PostCommentRequest(
            photo_id=self._random.choice(self.photos), user_id=author.user_id, text="nice"
        )
        await stub.PostComment(request, metadata=author.metadata, timeout=TIMEOUT)

    async def _upload(self) -> None:
        """One logical upload, retried with its idempotency key until the service acknowledges it."""
        author = self._random.choice(self.authors)
        upload = Upload(key=uuid.uuid4().hex, tag="zq" + uuid.uuid4().hex[:12], author=author)
        kills_before = self.tally.kills - (1 if self.tally.restarting else 0)
        stub = photo_pb2_grpc.PhotoServiceStub(self.mesh.channel("photo"))
        meta = metadata(author.user_id, title="scale", tags=[upload.tag, self.run_tag], idempotency_key=upload.key)
        for _ in range(UPLOAD_ATTEMPTS):
            try:
                reply = await stub.UploadPhoto(requests(meta, IMAGE), metadata=author.metadata, timeout=TIMEOUT)
            except grpc.aio.AioRpcError as exc:
                upload.failures.append(exc.code().name)
                self.tally.failed[("upload", exc.code().name)] += 1
                await asyncio.sleep(0.2)
                continue
            upload.photo_id = reply.photo.photo_id
            upload.kills_seen = self.tally.kills - kills_before
            self.tally.uploads.append(upload)
            self.photos.append(upload.photo_id)
            return
        raise AssertionError(f"upload {upload.key} failed {UPLOAD_ATTEMPTS} times: {upload.failures}")
