"""Where photo bytes live: a small blob-store interface and its filesystem implementation.

Blobs are named by key (`<photo_id>.<variant>`), written once and never modified. `put` moves a
finished local file in and returns only when it is durable: the file is fsync'd, renamed
atomically into place, and its directory fsync'd, so a crash leaves either the whole blob or none.
An S3 or CQL store can implement the same Protocol later.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

READ_CHUNK_BYTES = 64 * 1024
_HASH_CHUNK_BYTES = 1024 * 1024


class BlobMissing(Exception):
    """A key the metadata refers to has no blob (lost or never written)."""


class BlobStore(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Move the local file `source` in under `key`; durable when this returns."""
        ...

    async def digest(self, key: str) -> tuple[str, int]:
        """Hex SHA-256 and size of the stored bytes, read back from storage."""
        ...

    def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The stored bytes in chunks."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error (deletes are retried)."""
        ...

    async def keys(self) -> list[str]:
        """Every stored key (for the start-up sweep of orphans)."""
        ...


def blob_key(photo_id: int, variant: str) -> str:
    return f"{photo_id}.{variant}"


def photo_id_of(key: str) -> int | None:
    """The photo a key belongs to, or None for a name this store did not make."""
    head, _, _ = key.partition(".")
    return int(head) if head.isdigit() else None


def fsync_directory(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FilesystemBlobStore:
    """Blobs as files under `root`, fanned out into 256 directories by a hash of the key."""

    def __init__(self, root: Path, threads: int = 4) -> None:
        self.root = root
        self._io = ThreadPoolExecutor(threads, thread_name_prefix="blobs")

    async def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    async def stop(self) -> None:
        self._io.shutdown(wait=True)

    def path(self, key: str) -> Path:
        if not key or "/" in key or key.startswith("."):
            raise ValueError(f"bad blob key {key!r}")
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:2] / key

    async def _run(self, fn, *args):  # type: ignore[no-untyped-def]
        return await asyncio.get_running_loop().run_in_executor(self._io, fn, *args)

    async def put(self, key: str, source: Path) -> None:
        await self._run(self._put, self.path(key), source)

    @staticmethod
    def _put(target: Path, source: Path) -> None:
        with open(source, "rb") as handle:
            os.fsync(handle.fileno())
        created = not target.parent.exists()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        fsync_directory(target.parent)
        if created:
            fsync_directory(target.parent.parent)

    async def digest(self, key: str) -> tuple[str, int]:
        return await self._run(self._digest, self.path(key))

    @staticmethod
    def _digest(path: Path) -> tuple[str, int]:
        hasher = hashlib.sha256()
        size = 0
        try:
            with open(path, "rb") as handle:
                while block := handle.read(_HASH_CHUNK_BYTES):
                    hasher.update(block)
                    size += len(block)
        except FileNotFoundError as exc:
            raise BlobMissing(path.name) from exc
        return hasher.hexdigest(), size

    async def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            handle = await self._run(open, path, "rb")
        except FileNotFoundError as exc:
            raise BlobMissing(key) from exc
        try:
            while chunk := await self._run(handle.read, chunk_bytes):
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        await self._run(self._delete, self.path(key))

    @staticmethod
    def _delete(path: Path) -> None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()

    async def keys(self) -> list[str]:
        return await self._run(self._keys)

    def _keys(self) -> list[str]:
        return [entry.name for entry in self.root.glob("*/*") if entry.is_file()]
