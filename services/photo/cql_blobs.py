"""Photo bytes in the CQL cluster: chunked rows behind the BlobStore Protocol.

Kept for small clusters (SHUTTER_BLOB_STORE=cql); an object store (s3_blobs.py) is the default on the
cluster path. Bytes in the cluster are one system fewer to run; 64 KB chunks keep every mutation small and a blob's
partition bounded by the upload limit. A blob is its chunks plus a header written last, so a put that
died half-way reads as missing, never short; orphans are found through a time-bucketed work list, not
a scan. Why rows and not an object store (and when to switch), tables, sweep, reads: docs/storage/photo.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from services.photo.blobs import READ_CHUNK_BYTES, SWEEP_MIN_AGE_MS, BlobCorrupt, BlobMissing, blob_key
from services.runtime.cql import READ_FAST, READ_STRONG, WRITE_DURABLE, CqlDatabase, Query
from services.runtime.cql_buckets import BucketCursor, shard_of

log = logging.getLogger("shutter.photo.cql_blobs")

CHUNK_BYTES = 64 * 1024
WINDOW_CHUNKS = 16
SWEEP_SHARD_BITS = 4
SWEEP_SHARDS = 1 << SWEEP_SHARD_BITS
SWEEP_BUCKET_MS = 60_000
_SWEEP_PAGE = 500
_CURSOR_NAME = "sweep"
SWEEP_CURSOR = BucketCursor("blob_sweep_cursor")

BLOB_TABLES = (
    """CREATE TABLE IF NOT EXISTS photo_blobs (
        photo_id bigint,
        variant text,
        chunk_index int,
        data blob,
        chunk_sha256 blob,
        sha256 text static,
        byte_size bigint static,
        chunk_count int static,
        PRIMARY KEY ((photo_id, variant), chunk_index)
    ) WITH CLUSTERING ORDER BY (chunk_index ASC)""",
    """CREATE TABLE IF NOT EXISTS blob_uploads (
        shard int,
        bucket bigint,
        photo_id bigint,
        variant text,
        PRIMARY KEY ((shard, bucket), photo_id, variant)
    )""",
    SWEEP_CURSOR.ddl,
)

WRITE_CHUNK = Query(
    "INSERT INTO photo_blobs (photo_id, variant, chunk_index, data, chunk_sha256) VALUES (?, ?, ?, ?, ?)",
    WRITE_DURABLE,
)
WRITE_HEADER = Query(
    "UPDATE photo_blobs SET sha256 = ?, byte_size = ?, chunk_count = ? WHERE photo_id = ? AND variant = ?",
    WRITE_DURABLE,
)
_HEADER = "SELECT sha256, byte_size, chunk_count FROM photo_blobs WHERE photo_id = ? AND variant = ? LIMIT 1"
READ_HEADER = Query(_HEADER, READ_FAST)
READ_HEADER_STRONG = Query(_HEADER, READ_STRONG)
_WINDOW = (
    "SELECT chunk_index, data, chunk_sha256 FROM photo_blobs"
    " WHERE photo_id = ? AND variant = ? AND chunk_index >= ? AND chunk_index < ?"
)
READ_WINDOW = Query(_WINDOW, READ_FAST)
READ_WINDOW_STRONG = Query(_WINDOW, READ_STRONG)
DELETE_BLOB = Query("DELETE FROM photo_blobs WHERE photo_id = ? AND variant = ?", WRITE_DURABLE)
RECORD_UPLOAD = Query("INSERT INTO blob_uploads (shard, bucket, photo_id, variant) VALUES (?, ?, ?, ?)", WRITE_DURABLE)
READ_UPLOADS = Query("SELECT photo_id, variant FROM blob_uploads WHERE shard = ? AND bucket = ?", READ_STRONG)
DROP_UPLOADS = Query("DELETE FROM blob_uploads WHERE shard = ? AND bucket = ?", WRITE_DURABLE)


def split_key(key: str) -> tuple[int, str]:
    """(photo_id, variant) of a `<photo_id>.<variant>` key; ValueError for anything else."""
    head, _, variant = key.partition(".")
    if not head.isdigit() or not variant:
        raise ValueError(f"bad blob key {key!r}")
    return int(head), variant


def sweep_shard(photo_id: int) -> int:
    return shard_of(photo_id, SWEEP_SHARD_BITS)


class CqlBlobStore:
    """BlobStore on the photo service's keyspace (the same CqlDatabase as its CqlPhotoStore)."""

    def __init__(self, db: CqlDatabase, clock: Callable[[], float] = time.time, threads: int = 2) -> None:
        self._db = db
        self._clock = clock
        self._files = ThreadPoolExecutor(threads, thread_name_prefix="cql-blobs")

    async def start(self) -> None:
        """Create the sweep cursor once (the first replica to start wins): nothing was recorded before."""
        await SWEEP_CURSOR.init(self._db, _CURSOR_NAME, self._bucket_now() - 1)

    async def stop(self) -> None:
        self._files.shutdown(wait=True)

    def _bucket_now(self) -> int:
        return int(self._clock() * 1000) // SWEEP_BUCKET_MS

    async def put(self, key: str, source: Path) -> None:
        photo_id, variant = split_key(key)
        await self._record(photo_id, variant)
        loop = asyncio.get_running_loop()
        whole = hashlib.sha256()
        size = 0
        index = 0
        handle = await loop.run_in_executor(self._files, open, source, "rb")
        try:
            while window := await loop.run_in_executor(self._files, _read_window, handle):
                writes = []
                for data in window:
                    whole.update(data)
                    size += len(data)
                    writes.append(
                        self._db.execute(WRITE_CHUNK, (photo_id, variant, index, data, hashlib.sha256(data).digest()))
                    )
                    index += 1
                await asyncio.gather(*writes)
        finally:
            handle.close()
        await self._db.execute(WRITE_HEADER, (whole.hexdigest(), size, index, photo_id, variant))
        await loop.run_in_executor(self._files, source.unlink)

    async def digest(self, key: str) -> tuple[str, int]:
        header = await self._header(*split_key(key))
        return header.sha256, header.byte_size

    async def read(self, key: str, chunk_bytes: int = READ_CHUNK_BYTES) -> AsyncIterator[bytes]:
        photo_id, variant = split_key(key)
        header = await self._header(photo_id, variant)
        whole = hashlib.sha256()
        pending = b""
        upcoming = asyncio.ensure_future(self._window(photo_id, variant, 0, header.chunk_count))
        try:
            for start in range(0, header.chunk_count, WINDOW_CHUNKS):
                chunks = await upcoming
                following = start + WINDOW_CHUNKS
                if following < header.chunk_count:
                    upcoming = asyncio.ensure_future(self._window(photo_id, variant, following, header.chunk_count))
                for data in chunks:
                    whole.update(data)
                    pending += data
                    while len(pending) >= chunk_bytes:
                        yield pending[:chunk_bytes]
                        pending = pending[chunk_bytes:]
        finally:
            if not upcoming.done():
                upcoming.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await upcoming
        if whole.hexdigest() != header.sha256:
            raise BlobCorrupt(key, "chunks do not hash to the recorded SHA-256")
        if pending:
            yield pending

    async def _header(self, photo_id: int, variant: str) -> Any:
        for query in (READ_HEADER, READ_HEADER_STRONG):
            rows = await self._db.execute(query, (photo_id, variant))
            if rows and rows[0].sha256 is not None:
                return rows[0]
        raise BlobMissing(blob_key(photo_id, variant))

    async def _window(self, photo_id: int, variant: str, start: int, chunk_count: int) -> list[bytes]:
        """Chunks start.. of one window, each checked; a bad window is read again from a quorum."""
        end = min(start + WINDOW_CHUNKS, chunk_count)
        problem = ""
        for query in (READ_WINDOW, READ_WINDOW_STRONG):
            rows = await self._db.execute(query, (photo_id, variant, start, end))
            problem = _window_problem(rows, start, end)
            if not problem:
                return [row.data for row in rows]
        raise BlobCorrupt(blob_key(photo_id, variant), problem)

    async def delete(self, key: str) -> None:
        await self._db.execute(DELETE_BLOB, split_key(key))

    async def expect_deletion(self, keys: list[str]) -> None:
        await asyncio.gather(*(self._record(*split_key(key)) for key in keys))

    async def _record(self, photo_id: int, variant: str) -> None:
        await self._db.execute(RECORD_UPLOAD, (sweep_shard(photo_id), self._bucket_now(), photo_id, variant))

    async def sweep_candidates(self) -> AsyncIterator[list[str]]:
        bucket = await SWEEP_CURSOR.read(self._db, _CURSOR_NAME)
        settled_before = (int(self._clock() * 1000) - SWEEP_MIN_AGE_MS) // SWEEP_BUCKET_MS
        while bucket < settled_before:
            used_shards = []
            for shard in range(SWEEP_SHARDS):
                paging_state = None
                while True:
                    page = await self._db.page(READ_UPLOADS, (shard, bucket), _SWEEP_PAGE, paging_state)
                    if page.rows:
                        yield [blob_key(row.photo_id, row.variant) for row in page.rows]
                        used_shards.append(shard)
                    paging_state = page.paging_state
                    if paging_state is None:
                        break
            # Every key of the bucket is judged (the caller asked for what follows): forget the bucket.
            await asyncio.gather(*(self._db.execute(DROP_UPLOADS, (shard, bucket)) for shard in set(used_shards)))
            bucket += 1
            await SWEEP_CURSOR.move(self._db, _CURSOR_NAME, bucket)


def _read_window(handle: Any) -> list[bytes]:
    chunks = []
    while len(chunks) < WINDOW_CHUNKS and (data := handle.read(CHUNK_BYTES)):
        chunks.append(data)
    return chunks


def _window_problem(rows: list[Any], start: int, end: int) -> str:
    """What is wrong with a window of chunk rows, or "" when every chunk is there and intact."""
    if [row.chunk_index for row in rows] != list(range(start, end)):
        return f"chunks {start}..{end - 1} are incomplete"
    for row in rows:
        if row.data is None or hashlib.sha256(row.data).digest() != row.chunk_sha256:
            return f"chunk {row.chunk_index} fails its checksum"
    return ""
