"""Local scratch space for uploads in flight: the stream is written here, hashed and size-checked
chunk by chunk, so an oversized upload is refused as soon as it crosses the limit and nothing is
ever buffered whole in memory. Each upload gets its own directory, removed when the RPC ends
(however it ends); whatever a crash left behind is swept when the service starts.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from services.runtime.errors import ResourceExhausted

log = logging.getLogger("shutter.photo.staging")

T = TypeVar("T")

_FLUSH_BYTES = 1024 * 1024


class Staging:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._io = ThreadPoolExecutor(4, thread_name_prefix="staging")

    async def start(self) -> None:
        """Sweep what a previous process left (it can no longer finish those uploads)."""
        await asyncio.get_running_loop().run_in_executor(self._io, self._sweep)

    async def stop(self) -> None:
        self._io.shutdown(wait=True)

    def _sweep(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        stale = list(self.root.iterdir())
        for entry in stale:
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        if stale:
            log.info("swept stale upload files", extra={"count": len(stale)})

    def new(self, max_bytes: int) -> StagedUpload:
        """A fresh upload area; nothing exists on disk until its `open`."""
        return StagedUpload(self.root / uuid.uuid4().hex, max_bytes, self._io)


class StagedUpload:
    """One upload's bytes on local disk, with their running SHA-256 and size.

    Every piece of work on the directory (file I/O, image rendering) runs shielded and is tracked,
    so `discard` after a cancellation waits for it and then removes everything: a cancelled
    stream leaves no file behind, even when the cancellation lands mid-operation.
    """

    def __init__(self, directory: Path, max_bytes: int, io: ThreadPoolExecutor) -> None:
        self.directory = directory
        self.original = directory / "original"
        self.size = 0
        self._max_bytes = max_bytes
        self._io = io
        self._handle: BinaryIO | None = None
        self._hasher = hashlib.sha256()
        self._buffer = bytearray()
        self._pending: set[asyncio.Future[Any]] = set()

    async def guard(self, work: Awaitable[T]) -> T:
        """Await `work` so that a cancellation of the caller does not abandon it half-done."""
        future = asyncio.ensure_future(work)
        self._pending.add(future)
        future.add_done_callback(self._pending.discard)
        return await asyncio.shield(future)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await self.guard(asyncio.get_running_loop().run_in_executor(self._io, fn, *args))

    async def open(self) -> None:
        def create() -> BinaryIO:
            self.directory.mkdir()
            return open(self.original, "wb")  # closed by finish or discard

        self._handle = await self._in_thread(create)

    async def append(self, chunk: bytes) -> None:
        """Take the next chunk; RESOURCE_EXHAUSTED the moment the total passes the limit."""
        if self.size + len(chunk) > self._max_bytes:
            raise ResourceExhausted(f"photo is larger than the {self._max_bytes}-byte upload limit")
        self.size += len(chunk)
        self._hasher.update(chunk)
        self._buffer += chunk
        if len(self._buffer) >= _FLUSH_BYTES:
            await self._flush()

    async def _flush(self) -> None:
        assert self._handle is not None, "staged upload not open"
        data = bytes(self._buffer)
        self._buffer.clear()
        await self._in_thread(self._handle.write, data)

    async def finish(self) -> str:
        """Write out what is buffered and close the file; returns the hex SHA-256."""
        await self._flush()
        assert self._handle is not None
        await self._in_thread(self._handle.close)
        return self._hasher.hexdigest()

    async def discard(self) -> None:
        """Once work in flight has settled, remove the upload's files; safe to call at any point."""
        while self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        handle = self._handle

        def remove() -> None:
            if handle is not None:
                # Closing flushes what is buffered; on a full disk that fails again, and the upload is
                # being answered already (the first failure is the one reported).
                with contextlib.suppress(OSError):
                    handle.close()
            shutil.rmtree(self.directory, ignore_errors=True)

        await asyncio.get_running_loop().run_in_executor(self._io, remove)
