"""Local scratch space for uploads in flight: the stream is written here, hashed and size-checked
chunk by chunk, so an oversized upload is refused as soon as it crosses the limit and nothing is
ever buffered whole in memory. Each upload gets its own directory, removed when the RPC ends
(however it ends); whatever a crash left behind is swept when the service starts.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from services.runtime.errors import ResourceExhausted

log = logging.getLogger("shutter.photo.staging")

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

    async def begin(self, max_bytes: int) -> StagedUpload:
        directory = self.root / uuid.uuid4().hex
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._io, directory.mkdir)
        handle = await loop.run_in_executor(self._io, open, directory / "original", "wb")
        return StagedUpload(directory, handle, max_bytes, self._io)


class StagedUpload:
    """One upload's bytes on local disk, with their running SHA-256 and size."""

    def __init__(self, directory: Path, handle: BinaryIO, max_bytes: int, io: ThreadPoolExecutor) -> None:
        self.directory = directory
        self.original = directory / "original"
        self.size = 0
        self._handle = handle
        self._max_bytes = max_bytes
        self._io = io
        self._hasher = hashlib.sha256()
        self._buffer = bytearray()

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
        data = bytes(self._buffer)
        self._buffer.clear()
        await asyncio.get_running_loop().run_in_executor(self._io, self._handle.write, data)

    async def finish(self) -> str:
        """Write out what is buffered and close the file; returns the hex SHA-256."""
        await self._flush()
        await asyncio.get_running_loop().run_in_executor(self._io, self._handle.close)
        return self._hasher.hexdigest()

    async def discard(self) -> None:
        """Remove the upload's files; safe to call more than once and after a failure."""

        def remove() -> None:
            self._handle.close()
            shutil.rmtree(self.directory, ignore_errors=True)

        await asyncio.get_running_loop().run_in_executor(self._io, remove)
