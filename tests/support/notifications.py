"""Notifications through the running NotificationService, and a live watcher of a user's stream."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc

from shutter.notification.v1 import notification_pb2, notification_pb2_grpc
from tests.support.mesh import Mesh
from tests.support.users import Identity


def notifications(mesh: Mesh) -> notification_pb2_grpc.NotificationServiceStub:
    return notification_pb2_grpc.NotificationServiceStub(mesh.channel("notification"))


async def groups_of(mesh: Mesh, user: Identity, **fields: Any) -> list[notification_pb2.NotificationGroup]:
    request = notification_pb2.ListNotificationsRequest(user_id=user.user_id, **fields)
    return list((await notifications(mesh).ListNotifications(request, metadata=user.metadata, timeout=10)).groups)


class Watch:
    """A server stream read in the background: `next(accept)` waits for the next message `accept` keeps."""

    def __init__(self, call: Any) -> None:
        self.call = call
        self.received: list[Any] = []
        self._seen = 0
        self._changed = asyncio.Condition()
        self.error: grpc.aio.AioRpcError | None = None
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for message in self.call:
                async with self._changed:
                    self.received.append(message)
                    self._changed.notify_all()
        except grpc.aio.AioRpcError as exc:
            self.error = exc
        async with self._changed:
            self._changed.notify_all()

    async def next(self, accept: Callable[[Any], bool], timeout: float = 10) -> Any:
        """The next message after the ones already taken that `accept` keeps (messages before it are passed)."""
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                while self._seen < len(self.received):
                    message = self.received[self._seen]
                    self._seen += 1
                    if accept(message):
                        return message
                if self._task.done():
                    raise AssertionError(f"stream ended: {self.error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"nothing accepted within {timeout} s; got {self.received[self._seen :]}")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), left)

    async def close(self) -> None:
        self.call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def watching(mesh: Mesh, user: Identity, after_position: int = 0) -> AsyncIterator[Watch]:
    """A WatchNotifications stream of `user`, open until the block ends; its first message (the unread count)
    has arrived when the block starts, so the watcher is subscribed."""
    request = notification_pb2.WatchNotificationsRequest(user_id=user.user_id, after_position=after_position)
    watch = Watch(notifications(mesh).WatchNotifications(request, metadata=user.metadata, timeout=120))
    try:
        await watch.next(lambda update: not update.position)  # the count that follows the catch-up
        watch._seen = 0  # the caught-up ones stay readable
        yield watch
    finally:
        await watch.close()
