"""Where photo bytes live: a small blob-store interface, its filesystem implementation, and the checks
every download makes whatever the store.

Blobs are named by key (`<photo_id>.<variant>`), written once and never modified. `put` moves a
finished local file in and returns only when it is durable: the file is fsync'd, renamed
atomically into place, and its directory fsync'd, so a crash leaves either the whole blob or none.
The CQL implementation (chunked rows in the cluster) is in cql_blobs.py, the object-store one (S3 API)
in s3_blobs.py; open_stores (service.py) picks one by SHUTTER_BLOB_STORE.

Orphans. Bytes are written before their photo's row, and deleted after it, so a crash can leave
bytes no photo refers to. `sweep_candidates` lists the keys whose fate the sweep (sweeper.py) must
decide, in batches; `expect_deletion` makes sure a delete that dies half-way is among them.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol, runtime_checkable

from services.photo.store import BlobInfo
from services.runtime.errors import DataLoss

READ_CHUNK_BYTES = 64 * 1024
_HASH_CHUNK_BYTES = 1024 * 1024
SWEEP_BATCH = 500
# How old a key must be before a shared store's sweep judges it: far beyond an upload's time from its
# first byte to its commit, the idempotency lease (cql.CLAIM_LEASE_MS) and batchlog replay of a commit
# that timed out. Every key that old either got its photo row long ago, or never will.
SWEEP_MIN_AGE_MS = 3_600_000


class BlobMissing(DataLoss):
    """A key the metadata refers to has no blob (lost or never written)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"stored bytes for {key} are missing")
        self.key = key


class BlobCorrupt(DataLoss):
    """The stored bytes do not match the checksum the store recorded for them."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"stored bytes for {key} are corrupt: {problem}")
        self.key = key


class BlobStore(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Move the local file `source` in under `key`; durable when this returns."""
        ...

    async def digest(self, key: str) -> tuple[str, int]:
        """Hex SHA-256 and size of the stored bytes as storage has them: the filesystem hashes the
        file; CQL reads the checksum it recorded, and `read` verifies every chunk against it."""
        ...

    def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        """The stored bytes in chunks; BlobMissing, or BlobCorrupt where the store can tell."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the blob; a missing key is not an error (deletes are retried)."""
        ...

    async def expect_deletion(self, keys: list[str]) -> None:
        """Called before the photo row of `keys` is deleted: if the blobs' own delete never happens
        (a crash in between), the sweep must still find them."""
        ...

    def sweep_candidates(self) -> AsyncIterator[list[str]]:
        """Keys the orphan sweep must judge, in batches: stored keys whose photo row may not exist, old
        enough that no upload is still on its way to committing them. A batch counts as judged when
        the next one is asked for; a sweep that stops early is shown it again next time."""
        ...


@runtime_checkable
class SignsDownloads(Protocol):
    """A store clients can fetch from directly (the object store): bytes skip the service."""

    async def presigned_url(self, key: str, content_type: str) -> tuple[str, int]:
        """A short-lived GET URL for `key` and its lifetime in seconds."""
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


async def check_stored(blobs: BlobStore, key: str, info: BlobInfo) -> None:
    """DATA_LOSS unless the stored bytes still have the checksum and size acknowledged at upload."""
    digest, size = await blobs.digest(key)  # BlobMissing is a DataLoss
    if digest != info.sha256 or size != info.byte_size:
        raise DataLoss(f"stored bytes for {key} do not match their checksum")


async def verified_chunks(
    blobs: BlobStore, key: str, info: BlobInfo, chunk_bytes: int = READ_CHUNK_BYTES
) -> AsyncIterator[bytes]:
    """The stored bytes, hashed as they go: the stream ends in DATA_LOSS when they are missing, when
    the store finds a chunk corrupt (before sending it), or when the whole is not what was acknowledged."""
    hasher = hashlib.sha256()
    async for chunk in blobs.read(key, chunk_bytes):  # BlobMissing and BlobCorrupt are DataLoss
        hasher.update(chunk)
        yield chunk
    if hasher.hexdigest() != info.sha256:
        raise DataLoss(f"stored bytes for {key} changed while being sent")


class FilesystemBlobStore:
    """Blobs as files under `root`, fanned out into 256 directories by a hash of the key.

    A directory private to one process has no upload in flight at start-up: every file is a sweep
    candidate then, and the sweep runs only at start-up (a crash is what leaves orphans here). Replicas
    sharing one directory (one machine) pass `settle_seconds`: only files older than that are candidates,
    since a sibling's upload may be between its blob and its row.
    """

    def __init__(self, root: Path, threads: int = 4, settle_seconds: float = 0.0) -> None:
        self.root = root
        self._settle_seconds = settle_seconds
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

    async def expect_deletion(self, keys: list[str]) -> None:
        """Nothing to record: the start-up sweep lists every file."""

    async def sweep_candidates(self) -> AsyncIterator[list[str]]:
        keys = await self._run(self._settled_keys) if self._settle_seconds else await self.keys()
        for start in range(0, len(keys), SWEEP_BATCH):
            yield keys[start : start + SWEEP_BATCH]

    async def keys(self) -> list[str]:
        """Every stored key."""
        return await self._run(self._keys)

    def _keys(self) -> list[str]:
        return [entry.name for entry in self.root.glob("*/*") if entry.is_file()]

    def _settled_keys(self) -> list[str]:
        """Keys whose file is older than the settle time (a file gone meanwhile is nobody's candidate)."""
        before = time.time() - self._settle_seconds
        settled = []
        for entry in self.root.glob("*/*"):
            with contextlib.suppress(FileNotFoundError):
                if entry.is_file() and entry.stat().st_mtime < before:
                    settled.append(entry.name)
        return settled
