"""Views/s and latency of ViewPhoto (and ViewUserPhotos) through real gRPC on a private mesh.

    .venv/bin/python -m bench.view_probe --seconds 15 --concurrency 32

Starts nats-server and the photo, like, comment and view services in a temporary directory, seeds one
photo with likes and comments (and a user with a page of photos), then drives closed-loop clients
for a fixed time and prints throughput and latency percentiles. Everything it starts, it stops.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc

from shutter.comment.v1 import comment_pb2, comment_pb2_grpc
from shutter.like.v1 import like_pb2, like_pb2_grpc
from shutter.view.v1 import view_pb2, view_pb2_grpc
from tests.support.mesh import Mesh, auth
from tests.support.photos import make_jpeg, upload

SERVICES = ("follow", "photo", "like", "comment", "view")
OWNER, VIEWER = 1001, 2002


async def seed(mesh: Mesh, photos: int, likers: int, comments: int) -> int:
    """A user with `photos` photos; the newest has `likers` likes and `comments` comments. Returns its id."""
    token = mesh.user_token(OWNER)
    uploaded = [await upload(mesh, token, OWNER, make_jpeg(64, 48), title=f"p{i}") for i in range(photos)]
    target = uploaded[-1].photo_id
    like_stub = like_pb2_grpc.LikeServiceStub(mesh.channel("like"))
    for user in range(3000, 3000 + likers):
        await like_stub.LikePhoto(
            like_pb2.LikePhotoRequest(photo_id=target, user_id=user), metadata=auth(mesh.user_token(user))
        )
    comment_stub = comment_pb2_grpc.CommentServiceStub(mesh.channel("comment"))
    for index in range(comments):
        await comment_stub.PostComment(
            comment_pb2.PostCommentRequest(photo_id=target, user_id=OWNER, text=f"comment {index}"),
            metadata=auth(token),
        )
    return target


def degraded(reply: view_pb2.ViewPhotoResponse | view_pb2.ViewUserPhotosResponse) -> bool:
    """Whether any part of the answer was marked unavailable (Like or Comment missed its budget)."""
    views = [reply.view] if isinstance(reply, view_pb2.ViewPhotoResponse) else list(reply.views)
    return any(view.unavailable_parts for view in views)


async def drive(
    call: Callable[[], Awaitable[view_pb2.ViewPhotoResponse | view_pb2.ViewUserPhotosResponse]],
    seconds: float,
    concurrency: int,
) -> tuple[list[float], int, int]:
    """Closed loop: `concurrency` workers call back-to-back until time is up.

    Returns the latencies of answered calls, how many of those were degraded, and how many failed.
    """
    latencies: list[float] = []
    partial = errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors, partial
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            try:
                reply = await call()
            except grpc.aio.AioRpcError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - started)
            partial += degraded(reply)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, partial, errors


def report(name: str, latencies: list[float], partial: int, errors: int, seconds: float) -> None:
    ordered = sorted(latencies)
    p50 = statistics.median(ordered) * 1000
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000
    print(
        f"{name:<15} {len(ordered) / seconds:8.0f} views/s   p50 {p50:6.1f} ms   p99 {p99:6.1f} ms"
        f"   answered {len(ordered)} (degraded {partial})   errors {errors}",
        flush=True,
    )


async def main(options: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="view-probe-") as workdir:
        mesh = Mesh(Path(workdir), services=SERVICES)
        try:
            await mesh.start()
            photo_id = await seed(mesh, photos=12, likers=25, comments=30)
            views = view_pb2_grpc.ViewServiceStub(mesh.channel("view"))
            metadata = auth(mesh.user_token(VIEWER))
            photo_request = view_pb2.ViewPhotoRequest(photo_id=photo_id, user_id=VIEWER)
            user_request = view_pb2.ViewUserPhotosRequest(user_id=OWNER, viewer_id=VIEWER, page_size=12)
            view_photo = lambda: views.ViewPhoto(photo_request, metadata=metadata, timeout=options.deadline)  # noqa: E731
            view_user = lambda: views.ViewUserPhotos(user_request, metadata=metadata, timeout=options.deadline)  # noqa: E731
            await drive(view_photo, 2, options.concurrency)  # warm-up
            print(f"concurrency {options.concurrency}, {options.seconds:.0f} s each, deadline {options.deadline} s")
            report("ViewPhoto", *await drive(view_photo, options.seconds, options.concurrency), options.seconds)
            report("ViewUserPhotos", *await drive(view_user, options.seconds, options.concurrency), options.seconds)
        finally:
            await mesh.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--deadline", type=float, default=2.0)
    asyncio.run(main(parser.parse_args()))
